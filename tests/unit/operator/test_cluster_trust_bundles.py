"""Issue 24 on the fake API: an issuer with spec.podCertificates publishes its CAs as a
ClusterTrustBundle for its signer name, keeps it in step with a CA rotation (which waits for it),
withdraws it, never touches one it did not create, and says so in its PodCertificates condition
when the operator or the API server cannot do pod certificates. Certificates are served throughout."""

import copy
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.operator.state import CLUSTER_ISSUER, Key
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.issuer_view import fingerprint
from tests.e2e import manifests
from tests.kubefake import FakeClock, FakeKube
from tests.unit.operator.test_bundles import BUNDLE as BUNDLE_KEY
from tests.unit.operator.test_bundles import add_bundle, add_namespace, bundle_body, ca_pem, synced
from tests.unit.operator.test_controller import ISSUER_KEY, NAMESPACE, Harness, issuer_body

NAME = "issuers.certmint.dev:apps.ca:primary"
SIGNER = "issuers.certmint.dev/apps.ca"
PLACE = ("clustertrustbundles", None, NAME)
PATH = f"/apis/certificates.k8s.io/v1beta1/clustertrustbundles/{NAME}"


async def harness(*, enabled: bool = True, served: bool = True) -> Harness:
    clock = FakeClock()
    kube = FakeKube(clock=clock, serves_pod_certificate_api=served)
    made = Harness(kube, clock)
    config = OperatorConfig(namespace="certmint", pod_certificates=enabled)
    made.controller = Controller(kube=kube, config=config, clock=clock)
    await made.controller.discover_pod_certificates()
    return made


def opted_in(**self_signed: Any) -> dict[str, Any]:
    return issuer_body(selfSigned=self_signed, podCertificates={})


def issuer_status(made: Harness) -> dict[str, Any]:
    return made.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")].get("status", {})


def condition(made: Harness, type_: str) -> dict[str, Any] | None:
    return next((c for c in issuer_status(made).get("conditions", []) if c["type"] == type_), None)


def ca_certificates(made: Harness) -> list[str]:
    """Fingerprint of the CA Secret's current CA."""
    chain = load_certificates_pem(made.kube.secrets[(NAMESPACE, "ca-ca")].data["tls.crt"])
    return [fingerprint(chain[0])]


def published(made: Harness) -> set[str]:
    body = made.kube.objects[PLACE]
    return {fingerprint(c) for c in load_certificates_pem(body["spec"]["trustBundle"].encode())}


def deliver(made: Harness, event_type: str | None = None, body: dict[str, Any] | None = None) -> None:
    """What the label-selected ClusterTrustBundle watch reports."""
    made.controller.cluster_trust_bundle_event(event_type, copy.deepcopy(body or made.kube.objects[PLACE]))


def bundle_writes(made: Harness) -> list[str]:
    return [w for w in made.kube.writes if "clustertrustbundle" in w]


async def test_an_opted_in_issuer_publishes_its_ca_for_its_signer_name() -> None:
    made = await harness()
    made.add_issuer(opted_in())
    await made.settle()
    body = made.kube.objects[PLACE]
    assert body["spec"]["signerName"] == SIGNER
    assert published(made) == set(ca_certificates(made))
    assert body["metadata"]["labels"] == {
        labels.CLUSTER_TRUST_BUNDLE_LABEL: "true",
        labels.ISSUER_KIND: "Issuer",
        labels.ISSUER_NAME: "ca",
        labels.ISSUER_NAMESPACE: NAMESPACE,
    }
    state = condition(made, "PodCertificates")
    assert state is not None
    assert (state["status"], state["reason"]) == ("True", reasons.POD_CERTIFICATES_PUBLISHED)
    assert NAME in state["message"]
    ready = condition(made, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    assert made.controller.state.cluster_trust_bundles[NAME].trust_bundle == body["spec"]["trustBundle"]
    # Our own write coming back through the watch reconciles nothing, and a resync writes nothing.
    deliver(made)
    assert not made.controller.queue.queued(ISSUER_KEY)
    writes = bundle_writes(made)
    made.controller.queue.add(ISSUER_KEY)
    await made.settle()
    assert bundle_writes(made) == writes


async def test_a_rotation_publishes_the_next_ca_before_it_signs_and_waits_for_the_bundle() -> None:
    made = await harness()
    spec = {"caDuration": "24h", "rotation": {"propagationDelay": "5s"}}
    made.add_issuer(opted_in(**spec))
    await made.settle()
    (current,) = ca_certificates(made)
    rotated = opted_in(**spec)
    rotated["metadata"]["annotations"] = {"certmint.dev/rotate-ca": "now"}
    rotated["metadata"]["resourceVersion"] = "i2"
    made.add_issuer(rotated)
    await made.step(ISSUER_KEY)  # Prepare: the next CA is published with the current one
    assert issuer_status(made)["rotation"]["phase"] == "Prepared"
    assert len(published(made)) == 2
    assert current in published(made)
    # Someone puts the bundle back to the current CA only: the activation waits for it.
    stale = copy.deepcopy(made.kube.objects[PLACE])
    only_current = next(
        block
        for block in stale["spec"]["trustBundle"].split("-----END CERTIFICATE-----")
        if block.strip()
        and fingerprint(load_certificates_pem((block + "-----END CERTIFICATE-----").encode())[0]) == current
    )
    stale["spec"]["trustBundle"] = only_current.strip() + "\n-----END CERTIFICATE-----\n"
    made.clock.advance(timedelta(seconds=1))
    await made.kube.request("PUT", PATH, body=stale, query=[("fieldManager", "kubectl-edit")])
    assert published(made) == {current}
    deliver(made)
    assert made.controller.queue.queued(ISSUER_KEY), "an edit of certmint's bundle wakes its issuer"
    made.clock.advance(timedelta(seconds=5))  # the propagation delay is over
    await made.step(ISSUER_KEY)
    assert issuer_status(made)["rotation"]["phase"] == "Prepared", "does not sign before the bundle holds it"
    waiting = condition(made, "CAPublished")
    assert waiting is not None
    assert waiting["reason"] == reasons.BUNDLES_LAGGING
    assert NAME in waiting["message"]
    assert len(published(made)) == 2, "the edit is repaired"
    made.clock.advance(timedelta(seconds=30))
    made.controller.queue.add(ISSUER_KEY)
    await made.step(ISSUER_KEY)
    assert issuer_status(made)["rotation"]["phase"] == "Overlap"
    (signing,) = ca_certificates(made)
    assert signing != current
    assert published(made) == {signing, current}, "the new CA signs, the previous one stays trusted"


async def test_pod_certificates_keep_the_previous_ca_trusted_for_their_longest_lifetime() -> None:
    made = await harness()
    spec = {"caDuration": "2000h", "rotation": {"propagationDelay": "5s", "reissueWindow": "1h"}}
    body = issuer_body(selfSigned=spec, podCertificates={"maxDuration": "72h"}, policy={"maxDuration": "48h"})
    made.add_issuer(body)
    await made.settle()
    rotation = issuer_status(made)["rotation"]
    made.clock.now = datetime.fromisoformat(rotation["nextRotationAt"].replace("Z", "+00:00"))
    made.controller.queue.add(ISSUER_KEY)
    await made.step(ISSUER_KEY)  # Prepare
    made.clock.advance(timedelta(seconds=5))
    made.controller.queue.add(ISSUER_KEY)
    await made.step(ISSUER_KEY)  # Activate
    rotation = issuer_status(made)["rotation"]
    assert rotation["phase"] == "Overlap"
    retires = datetime.fromisoformat(rotation["retiresAt"].replace("Z", "+00:00"))
    assert retires - made.clock.now >= timedelta(hours=48), "the policy caps podCertificates.maxDuration"
    assert retires - made.clock.now < timedelta(hours=72)


async def test_opting_out_or_deleting_the_issuer_withdraws_its_bundle() -> None:
    made = await harness()
    made.add_issuer(opted_in())
    await made.settle()
    deliver(made)
    out = issuer_body(selfSigned={})
    out["metadata"]["resourceVersion"] = "i2"
    made.add_issuer(out)
    await made.settle()
    assert PLACE not in made.kube.objects
    assert condition(made, "PodCertificates") is None
    assert NAME not in made.controller.state.cluster_trust_bundles

    back = opted_in()
    back["metadata"]["resourceVersion"] = "i3"
    made.add_issuer(back)
    await made.settle()
    deliver(made)
    assert PLACE in made.kube.objects
    gone = made.kube.objects.pop((ISSUERS.plural, NAMESPACE, "ca"))
    made.controller.issuer_event("Issuer", "DELETED", gone)
    await made.settle()
    assert PLACE not in made.kube.objects


async def test_a_bundle_certmint_did_not_create_is_never_written_nor_deleted() -> None:
    made = await harness()
    theirs = {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": NAME, "labels": {labels.CLUSTER_TRUST_BUNDLE_LABEL: "true"}},
        "spec": {
            "signerName": SIGNER,
            "trustBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        },
    }
    await made.kube.request(
        "POST",
        "/apis/certificates.k8s.io/v1beta1/clustertrustbundles",
        body=theirs,
        query=[("fieldManager", "admin")],
    )
    before = copy.deepcopy(made.kube.objects[PLACE])
    writes = bundle_writes(made)
    made.add_issuer(opted_in())
    await made.settle()
    deliver(made)  # their labels copy certmint's: still not certmint's
    await made.settle()
    assert made.kube.objects[PLACE] == before
    state = condition(made, "PodCertificates")
    assert state is not None
    assert (state["status"], state["reason"]) == ("False", reasons.CLUSTER_TRUST_BUNDLE_NOT_OWNED)
    ready = condition(made, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    out = issuer_body(selfSigned={})
    out["metadata"]["resourceVersion"] = "i2"
    made.add_issuer(out)
    await made.settle()
    assert made.kube.objects[PLACE] == before, "opting out deletes only certmint's own"
    assert bundle_writes(made) == writes, "certmint wrote nothing to it (its one create was refused)"


async def test_without_the_api_the_issuer_says_so_and_serves_certificates() -> None:
    made = await harness(served=False)
    assert not made.controller.state.pod_certificate_api
    made.add_issuer(opted_in())
    await made.settle()
    state = condition(made, "PodCertificates")
    assert state is not None
    assert (state["status"], state["reason"]) == ("False", reasons.API_UNAVAILABLE)
    assert "ClusterTrustBundle" in state["message"]
    assert "--runtime-config=certificates.k8s.io/v1beta1=true" in state["message"]
    ready = condition(made, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    assert not any("clustertrustbundle" in entry for entry in made.kube.writes + made.kube.reads)


async def test_with_the_flag_off_no_bundle_is_read_or_written_and_the_issuer_says_so() -> None:
    made = await harness(enabled=False)
    made.add_issuer(opted_in())
    await made.settle()
    state = condition(made, "PodCertificates")
    assert state is not None
    assert (state["status"], state["reason"]) == ("False", reasons.POD_CERTIFICATES_DISABLED)
    assert "--pod-certificates" in state["message"]
    assert not any(
        "clustertrustbundle" in entry or "certificates.k8s.io" in entry
        for entry in made.kube.writes + made.kube.reads
    )
    assert PLACE not in made.kube.objects


# TrustBundle target `clusterTrustBundle`

TARGET = ("clustertrustbundles", None, "certmint-shared")


def with_target(made: Harness, pem: str, target: bool = True, version: str = "b1") -> dict[str, Any]:
    body = bundle_body(pem, version)
    if target:
        body["spec"]["target"]["clusterTrustBundle"] = {}
    add_bundle(made, body)
    return body


async def test_a_trust_bundle_target_publishes_its_certificates_as_a_ctb_and_withdraws_them() -> None:
    made = await harness()
    add_namespace(made, "apps", "a")
    pem = ca_pem("inline-ca", made)
    with_target(made, pem)
    await made.settle()
    body = made.kube.objects[TARGET]
    assert "signerName" not in body["spec"]
    assert body["spec"]["trustBundle"] == pem
    assert body["metadata"]["labels"] == {
        labels.CLUSTER_TRUST_BUNDLE_LABEL: "true",
        labels.TRUST_BUNDLE_LABEL: "uid-shared",
    }
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-shared", "deleted with the TrustBundle"
    assert synced(made)["status"] == "True"
    deliver(made, body=body)
    assert not made.controller.queue.queued(BUNDLE_KEY), "our own write wakes nobody"
    # Someone deletes it: the bundle puts it back.
    gone = made.kube.objects.pop(TARGET)
    deliver(made, "DELETED", gone)
    assert made.controller.queue.queued(BUNDLE_KEY)
    await made.settle()
    assert made.kube.objects[TARGET]["spec"]["trustBundle"] == pem
    deliver(made, body=made.kube.objects[TARGET])
    with_target(made, pem, target=False, version="b2")
    await made.settle()
    assert TARGET not in made.kube.objects
    assert made.kube.configmaps[("apps", "shared")].data["ca.crt"] == pem, "the ConfigMaps stay"


async def test_a_trust_bundle_target_never_writes_a_ctb_it_did_not_create() -> None:
    made = await harness()
    add_namespace(made, "apps", "a")
    theirs = {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": "certmint-shared"},
        "spec": {"trustBundle": ca_pem("admins", made)},
    }
    await made.kube.request(
        "POST",
        "/apis/certificates.k8s.io/v1beta1/clustertrustbundles",
        body=theirs,
        query=[("fieldManager", "admin")],
    )
    before = copy.deepcopy(made.kube.objects[TARGET])
    with_target(made, ca_pem("inline-ca", made))
    await made.settle()
    assert made.kube.objects[TARGET] == before
    state = synced(made)
    assert (state["status"], state["reason"]) == ("False", reasons.CLUSTER_TRUST_BUNDLE_NOT_OWNED)
    assert ("apps", "shared") in made.kube.configmaps, "the ConfigMaps are published all the same"


async def test_a_trust_bundle_target_without_pod_certificates_makes_no_ctb_call() -> None:
    made = await harness(enabled=False)
    add_namespace(made, "apps", "a")
    with_target(made, ca_pem("inline-ca", made))
    await made.settle()
    state = synced(made)
    assert (state["status"], state["reason"]) == ("False", reasons.POD_CERTIFICATES_DISABLED)
    assert ("apps", "shared") in made.kube.configmaps
    assert not any(
        "clustertrustbundle" in entry or "certificates.k8s.io" in entry
        for entry in made.kube.writes + made.kube.reads
    )


async def test_a_cluster_issuer_publishes_under_its_own_signer_name() -> None:
    made = await harness()
    body = manifests.cluster_issuer(
        "root",
        {"uid": "uid-root", "generation": 1, "resourceVersion": "r1"},
        selfSigned={},
        podCertificates={},
    )
    made.kube.objects[(CLUSTER_ISSUERS.plural, None, "root")] = body
    made.controller.issuer_event(CLUSTER_ISSUER, None, body)
    await made.settle()
    found = made.kube.objects[("clustertrustbundles", None, "clusterissuers.certmint.dev:root:primary")]
    assert found["spec"]["signerName"] == "clusterissuers.certmint.dev/root"
    assert found["metadata"]["labels"][labels.ISSUER_KIND] == "ClusterIssuer"
    # Its own write coming back wakes nothing; someone's edit wakes the ClusterIssuer.
    made.controller.cluster_trust_bundle_event(None, copy.deepcopy(found))
    assert not made.controller.queue.queued(Key(CLUSTER_ISSUER, "", "root"))
    edited = copy.deepcopy(found)
    edited["metadata"]["resourceVersion"] = "999"
    made.controller.cluster_trust_bundle_event(None, edited)
    assert made.controller.queue.queued(Key(CLUSTER_ISSUER, "", "root"))


async def test_opting_in_with_the_flag_off_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    made = await harness(enabled=False)
    with caplog.at_level(logging.WARNING, logger="certmint.controller"):
        made.add_issuer(opted_in())
        again = opted_in()
        again["metadata"]["resourceVersion"] = "i2"
        made.add_issuer(again)
    told = [r for r in caplog.records if "sets spec.podCertificates" in r.getMessage()]
    assert len(told) == 1
    assert "--pod-certificates" in told[0].getMessage()
