"""planning.cluster_trust and planning.issuers.pod_trust: what a ClusterTrustBundle certmint publishes
holds, whose it is, and what is done about the one of that name the API server has."""

from datetime import UTC, datetime, timedelta
from typing import Any

from certmint.pki import CARequest, certificates_to_pem, create_root_ca
from certmint.planning import labels, reasons
from certmint.planning.cluster_trust import (
    ClusterTrustBundleObject,
    Create,
    Delete,
    Held,
    Keep,
    NotOwned,
    Update,
    issuer_bundle_name,
    plan_publication,
    published_fingerprints,
    read_cluster_trust_bundle,
    trust_bundle_target_name,
)
from certmint.planning.contest import DataWriter
from certmint.planning.issuer_view import fingerprint
from certmint.planning.issuers.pod_trust import (
    pod_trust,
    published,
    published_by_cluster_trust_bundle,
    unavailable,
    wanted_bundle,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TRUST = pod_trust("Issuer", "team-a", "ca", "issuers.certmint.dev/team-a.ca")
CA = create_root_ca(CARequest("pod-ca", timedelta(days=30)), NOW).certificate
NEXT = create_root_ca(CARequest("pod-ca-next", timedelta(days=30)), NOW).certificate


def existing(
    trust_bundle: str, *, ours: bool = True, writers: tuple[DataWriter, ...] = ()
) -> ClusterTrustBundleObject:
    return ClusterTrustBundleObject(
        name=TRUST.name,
        uid="uid-1",
        resource_version="7",
        signer_name=TRUST.signer_name,
        trust_bundle=trust_bundle,
        labels=dict(TRUST.owner),
        marked_by_certmint=ours,
        writers=writers,
    )


def test_names_follow_the_api_servers_rules() -> None:
    assert issuer_bundle_name("issuers.certmint.dev/team-a.ca") == "issuers.certmint.dev:team-a.ca:primary"
    assert (
        issuer_bundle_name("clusterissuers.certmint.dev/root") == "clusterissuers.certmint.dev:root:primary"
    )
    assert trust_bundle_target_name("shared") == "certmint-shared"
    assert TRUST.owner == {
        labels.CLUSTER_TRUST_BUNDLE_LABEL: "true",
        labels.ISSUER_KIND: "Issuer",
        labels.ISSUER_NAME: "ca",
        labels.ISSUER_NAMESPACE: "team-a",
    }


def test_publication_creates_updates_keeps_and_deletes_only_its_own() -> None:
    wanted = wanted_bundle(TRUST, (CA, NEXT))
    assert plan_publication(TRUST.name, wanted, None, TRUST.owner, NOW) == Create(wanted)
    assert plan_publication(TRUST.name, wanted, existing(wanted.trust_bundle), TRUST.owner, NOW) == Keep(
        TRUST.name
    )
    older = existing(certificates_to_pem([CA]).decode())
    assert plan_publication(TRUST.name, wanted, older, TRUST.owner, NOW) == Update(wanted, "7")
    assert plan_publication(TRUST.name, None, older, TRUST.owner, NOW) == Delete(TRUST.name, "uid-1", "7")
    assert plan_publication(TRUST.name, None, None, TRUST.owner, NOW) == Keep(TRUST.name)
    # Carrying certmint's labels, but not written by certmint: someone else's.
    theirs = existing(certificates_to_pem([CA]).decode(), ours=False)
    assert plan_publication(TRUST.name, wanted, theirs, TRUST.owner, NOW) == NotOwned(TRUST.name)
    assert plan_publication(TRUST.name, None, theirs, TRUST.owner, NOW) == Keep(TRUST.name)
    # Another issuer's labels: not this issuer's.
    other = pod_trust("Issuer", "team-b", "ca", "issuers.certmint.dev/team-b.ca")
    assert plan_publication(TRUST.name, wanted, older, other.owner, NOW) == NotOwned(TRUST.name)


def test_a_writer_that_keeps_changing_it_is_answered_with_backoff() -> None:
    wanted = wanted_bundle(TRUST, (CA,))
    edited = certificates_to_pem([NEXT]).decode()
    first = existing(
        edited,
        writers=(
            DataWriter("certmint", NOW - timedelta(minutes=10), frozenset({"signerName"})),
            DataWriter("kubectl-edit", NOW, frozenset({"trustBundle"})),
        ),
    )
    repair = plan_publication(TRUST.name, wanted, first, TRUST.owner, NOW)
    assert isinstance(repair, Update)
    assert repair.contest is not None
    assert dict(repair.manifest.annotations) == {labels.CONTESTED_REPAIRS: "1"}
    again = ClusterTrustBundleObject(
        **{
            **first.__dict__,
            "annotations": {labels.CONTESTED_REPAIRS: "3"},
            "writers": (
                DataWriter("certmint", NOW, frozenset({"signerName"})),
                DataWriter("kubectl-edit", NOW + timedelta(seconds=1), frozenset({"trustBundle"})),
            ),
        }
    )
    held = plan_publication(TRUST.name, wanted, again, TRUST.owner, NOW + timedelta(seconds=1))
    assert isinstance(held, Held)
    assert held.contest.due == NOW + timedelta(seconds=4)
    condition = published(TRUST, held)
    assert (condition.status, condition.reason) == (False, reasons.CLUSTER_TRUST_BUNDLE_CONTESTED)
    assert "kubectl-edit" in condition.message


def test_fingerprints_are_those_of_the_certificates_it_holds() -> None:
    pem = certificates_to_pem([CA, NEXT]).decode()
    assert published_fingerprints(pem) == {fingerprint(CA), fingerprint(NEXT)}
    assert (
        published_fingerprints("-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n") == frozenset()
    )
    assert published_fingerprints("garbage") == frozenset()
    stuffed = pem * 100
    assert len(published_fingerprints(stuffed)) == 2


def test_only_certmints_own_bundle_holds_a_rotation_back() -> None:
    pem = certificates_to_pem([CA]).decode()
    assert published_by_cluster_trust_bundle(TRUST, existing(pem)) == {
        f"ClusterTrustBundle {TRUST.name}": frozenset({fingerprint(CA)})
    }
    assert published_by_cluster_trust_bundle(TRUST, existing(pem, ours=False)) == {}
    assert published_by_cluster_trust_bundle(TRUST, None) == {}


def test_conditions_say_what_to_enable() -> None:
    disabled = unavailable("Issuer", "team-a", "ca", enabled=False, served=True)
    assert disabled is not None
    assert (disabled.status, disabled.reason) == (False, reasons.POD_CERTIFICATES_DISABLED)
    assert "--pod-certificates" in disabled.message
    missing = unavailable("Issuer", "team-a", "ca", enabled=True, served=False)
    assert missing is not None
    assert missing.reason == reasons.API_UNAVAILABLE
    assert "ClusterTrustBundle" in missing.message
    assert unavailable("Issuer", "team-a", "ca", enabled=True, served=True) is None
    ok = published(TRUST, Keep(TRUST.name))
    assert (ok.status, ok.reason) == (True, reasons.POD_CERTIFICATES_PUBLISHED)
    assert TRUST.name in ok.message
    refused = published(TRUST, NotOwned(TRUST.name))
    assert (refused.status, refused.reason) == (False, reasons.CLUSTER_TRUST_BUNDLE_NOT_OWNED)


def test_a_served_object_is_read_with_who_wrote_its_label() -> None:
    body: dict[str, Any] = {
        "metadata": {
            "name": TRUST.name,
            "uid": "u",
            "resourceVersion": "3",
            "labels": dict(TRUST.owner),
            "managedFields": [
                {
                    "manager": "certmint",
                    "operation": "Update",
                    "time": "2026-06-01T12:00:00Z",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {f"f:{labels.CLUSTER_TRUST_BUNDLE_LABEL}": {}}},
                        "f:spec": {"f:trustBundle": {}, "f:signerName": {}},
                    },
                }
            ],
        },
        "spec": {"signerName": TRUST.signer_name, "trustBundle": "pem"},
    }
    found = read_cluster_trust_bundle(body)
    assert found.owned_by(TRUST.owner)
    assert found.writers == (DataWriter("certmint", NOW, frozenset({"trustBundle", "signerName"})),)
    body["metadata"]["managedFields"][0]["manager"] = "someone"
    assert not read_cluster_trust_bundle(body).owned_by(TRUST.owner)
    assert read_cluster_trust_bundle({"metadata": "x", "spec": 3}).name == ""
