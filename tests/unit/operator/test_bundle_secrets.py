"""A TrustBundle's `secret` target (operator/bundles/secrets) on the contract-tested fake API and a fake
clock: the Secret it publishes, a Secret of that name certmint did not create for it (a tenant's, or
one forging the markings), withdrawal when a namespace stops matching or the target goes, repair of
a hand edit with backoff, and the watch events that wake the bundle."""

import base64
import copy
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmint.kube import objects
from certmint.kube.secrets import SecretObject
from certmint.operator.state import TRUST_BUNDLE, Key
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from tests.unit.operator.test_bundles import add_bundle, add_namespace, bundle_body, ca_pem, synced
from tests.unit.operator.test_controller import Harness

BUNDLE = Key(TRUST_BUNDLE, "", "shared")
SECRET = ("apps", "shared")
TENANT = "kubectl-edit"


def with_secret_target(body: dict[str, Any], key: str = "ca.crt") -> dict[str, Any]:
    body["spec"]["target"]["secret"] = {"key": key}
    return body


async def published(harness: Harness, pem: str) -> None:
    add_namespace(harness, "apps", "a")
    add_namespace(harness, "elsewhere", "b")
    add_bundle(harness, with_secret_target(bundle_body(pem)))
    await harness.settle()


def served(harness: Harness) -> dict[str, Any]:
    return harness.kube.objects[("secrets", "apps", "shared")]


def subjects(secret: SecretObject, key: str = "ca.crt") -> set[str]:
    return {c.subject.rfc4514_string() for c in load_certificates_pem(secret.data[key])}


def private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_the_bundle_is_published_as_an_opaque_secret_owned_by_the_bundle_and_counted() -> None:
    harness = Harness()
    await published(harness, ca_pem("first", harness))
    secret = harness.kube.secrets[SECRET]
    assert secret.type == "Opaque"
    assert subjects(secret) == {"CN=first"}
    assert set(secret.data) == {"ca.crt"}
    assert secret.labels == {
        labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE,
        labels.TRUST_BUNDLE_LABEL: "uid-shared",
    }
    assert labels.TRUST_BUNDLE_LABEL in secret.certmint_labels, "marked by certmint's own field manager"
    assert secret.annotations[labels.TRUST_BUNDLE_NAME] == "shared"
    assert secret.annotations[labels.BUNDLE_DIGEST].startswith("sha256:")
    assert served(harness)["metadata"]["ownerReferences"] == [
        {"apiVersion": "certmint.dev/v1", "kind": "TrustBundle", "name": "shared", "uid": "uid-shared"}
    ]
    assert ("elsewhere", "shared") not in harness.kube.secrets
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("True", reasons.SYNCED)
    assert condition["message"] == "1 certificates published to 1 namespaces, as a Secret in 1"


async def test_the_secret_holds_only_certificates_even_when_a_source_pasted_a_private_key() -> None:
    harness = Harness()
    await published(harness, ca_pem("first", harness) + private_key_pem())
    secret = harness.kube.secrets[SECRET]
    assert subjects(secret) == {"CN=first"}
    assert b"PRIVATE KEY" not in secret.data["ca.crt"]
    assert "PRIVATE KEY" not in str(served(harness))


async def test_the_key_of_the_secret_follows_the_target() -> None:
    harness = Harness()
    add_namespace(harness, "apps", "a")
    add_bundle(harness, with_secret_target(bundle_body(ca_pem("first", harness)), key="bundle.pem"))
    await harness.settle()
    assert set(harness.kube.secrets[SECRET].data) == {"bundle.pem"}


async def test_a_secret_of_that_name_certmint_did_not_create_is_never_written_and_reported() -> None:
    harness = Harness()
    theirs = SecretObject("shared", "apps", "Opaque", {"ca.crt": b"theirs"}, {}, {}, "")
    harness.kube.put_secret(theirs, TENANT)
    await published(harness, ca_pem("first", harness))
    assert harness.kube.secrets[SECRET].data == {"ca.crt": b"theirs"}
    assert not [w for w in harness.kube.writes if w.endswith("secret apps/shared")], "the create was refused"
    assert harness.kube.configmaps[("apps", "shared")].data["ca.crt"], (
        "the ConfigMap is published all the same"
    )
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.SECRET_CONFLICT)
    assert "a Secret named shared" in condition["message"]
    assert "apps" in condition["message"]
    assert harness.controller.queue.scheduled(BUNDLE) is not None, "looked at again with backoff"


async def test_a_secret_forging_the_bundles_markings_is_not_taken_for_its_copy() -> None:
    harness = Harness()
    forged = SecretObject(
        "shared",
        "apps",
        "Opaque",
        {"ca.crt": b"theirs"},
        {labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE, labels.TRUST_BUNDLE_LABEL: "uid-shared"},
        {labels.TRUST_BUNDLE_NAME: "shared"},
        "",
        owner_uids=frozenset({"uid-shared"}),
    )
    harness.kube.put_secret(forged, TENANT)
    await published(harness, ca_pem("first", harness))
    assert harness.kube.secrets[SECRET].data == {"ca.crt": b"theirs"}, "neither written nor repaired"
    assert (synced(harness)["status"], synced(harness)["reason"]) == ("False", reasons.SECRET_CONFLICT)

    add_namespace(harness, "apps", "b")  # no longer selected: a copy of ours would be withdrawn
    await harness.settle()
    assert SECRET in harness.kube.secrets, "not ours: never deleted"


async def test_a_namespace_that_stops_matching_and_a_removed_target_withdraw_only_the_bundles_secrets() -> (
    None
):
    harness = Harness()
    pem = ca_pem("first", harness)
    add_namespace(harness, "web", "a")
    await published(harness, pem)
    assert {SECRET, ("web", "shared")} <= set(harness.kube.secrets)
    unrelated = SecretObject("other", "apps", "Opaque", {"x": b"y"}, {}, {}, "")
    harness.kube.put_secret(unrelated, TENANT)

    add_namespace(harness, "apps", "b")
    await harness.settle()
    assert SECRET not in harness.kube.secrets
    assert "delete secret apps/shared" in harness.kube.writes
    assert ("web", "shared") in harness.kube.secrets

    add_bundle(harness, bundle_body(pem, version="b2"))  # the secret target removed
    await harness.settle()
    assert ("web", "shared") not in harness.kube.secrets
    assert ("web", "shared") in harness.kube.configmaps, "the ConfigMap target stays"
    assert ("apps", "other") in harness.kube.secrets
    assert [w for w in harness.kube.writes if w.startswith("delete secret")] == [
        "delete secret apps/shared",
        "delete secret web/shared",
    ]
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("True", reasons.SYNCED)
    assert "Secret" not in condition["message"]


async def test_a_deleted_or_edited_copy_is_put_back_and_a_second_edit_only_with_backoff() -> None:
    harness = Harness()
    await published(harness, ca_pem("first", harness))
    last = copy.deepcopy(served(harness))  # a DELETED event carries the object as it last was
    harness.kube.take_secret("apps", "shared")
    harness.controller.secret_event("DELETED", last)
    await harness.settle()
    assert subjects(harness.kube.secrets[SECRET]) == {"CN=first"}, "recreated"

    harness.clock.advance(timedelta(seconds=30))
    await _tamper(harness, b"tampered once")
    harness.controller.secret_event("MODIFIED", served(harness))
    await harness.settle()
    assert subjects(harness.kube.secrets[SECRET]) == {"CN=first"}, "a first change is put right at once"
    assert harness.kube.secrets[SECRET].annotations[labels.CONTESTED_REPAIRS] == "1"

    await _tamper(harness, b"tampered again")
    harness.controller.secret_event("MODIFIED", served(harness))
    await harness.settle()
    assert harness.kube.secrets[SECRET].data["ca.crt"] == b"tampered again", "held back"
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.SECRET_CONTESTED)
    assert TENANT in condition["message"]
    assert "Secret apps/shared" in condition["message"]
    assert harness.controller.queue.scheduled(BUNDLE) is not None

    harness.clock.advance(timedelta(seconds=1))
    harness.controller.queue.add(BUNDLE)
    await harness.settle()
    assert subjects(harness.kube.secrets[SECRET]) == {"CN=first"}
    assert harness.kube.secrets[SECRET].annotations[labels.CONTESTED_REPAIRS] == "2"


async def test_only_a_copy_certmint_marked_wakes_the_bundle() -> None:
    harness = Harness()
    await published(harness, ca_pem("first", harness))
    assert not harness.controller.queue.queued(BUNDLE)
    harness.controller.secret_event("MODIFIED", served(harness))
    assert harness.controller.queue.queued(BUNDLE), "our copy changed: the bundle looks again"
    await harness.settle()

    forged = SecretObject(
        "shared",
        "web",
        "Opaque",
        {"ca.crt": b"x"},
        {labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE, labels.TRUST_BUNDLE_LABEL: "uid-shared"},
        {labels.TRUST_BUNDLE_NAME: "shared"},
        "",
    )
    harness.kube.put_secret(forged, TENANT)
    harness.controller.secret_event("ADDED", harness.kube.objects[("secrets", "web", "shared")])
    assert not harness.controller.queue.queued(BUNDLE), "a tenant's forgery wakes nobody's bundle"


async def _tamper(harness: Harness, data: bytes) -> None:
    """Another writer forces its own ca.crt into the published copy."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "shared", "namespace": "apps"},
        "data": {"ca.crt": base64.b64encode(data).decode()},
    }
    await harness.kube.server_side_apply(objects.core_path("secrets", "apps", "shared"), body, TENANT)
