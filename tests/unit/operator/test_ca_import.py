"""spec.selfSigned.importFrom through the operator, on the fake API and a fake clock: one read of the
source, the issuer's CA Secret created with the imported CA, the Imported condition and event, a
refusal retried with backoff until the Secret invites the issuer, importFrom ignored once the CA
Secret exists, and the imported CA rotated on its own schedule. The key never leaves the CA Secret."""

import json
from datetime import timedelta
from typing import Any

from cryptography import x509

from certmint.api.kinds import IMPORTED, ISSUERS, READY
from certmint.kube.secrets import SecretObject
from certmint.pki import issued_by, load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.issuers.ca_secret import IMPORTED_FROM
from tests.e2e import manifests
from tests.e2e.cert_manager import Issued, ca_secret_data, leaf, root_ca
from tests.unit.operator.test_controller import (
    ISSUER_KEY,
    NAMESPACE,
    Harness,
    certificate_body,
    ready_reason,
)

SOURCE = "root-ca"
ALLOWED = {labels.ALLOW_IMPORT_BY: "Issuer/ca"}


def importing_issuer(generation: int = 1, source: str = SOURCE, **self_signed: Any) -> dict[str, Any]:
    meta = {"uid": "uid-ca", "generation": generation, "resourceVersion": f"i{generation}"}
    spec = {"importFrom": {"name": source}, **self_signed}
    return manifests.issuer(NAMESPACE, "ca", meta, selfSigned=spec)


def put_source(harness: Harness, foreign: Issued, annotations: dict[str, str]) -> None:
    harness.kube.put_secret(
        SecretObject(SOURCE, NAMESPACE, "kubernetes.io/tls", ca_secret_data(foreign), {}, annotations, "")
    )


def issuer_status(harness: Harness) -> dict[str, Any]:
    status: dict[str, Any] = harness.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")].get("status", {})
    return status


def condition(harness: Harness, type_: str) -> dict[str, Any] | None:
    return next((c for c in issuer_status(harness).get("conditions", []) if c["type"] == type_), None)


def assert_key_only_in_the_ca_secrets(harness: Harness, foreign: Issued) -> None:
    """No status, event or other Secret than the source and the CA Secret carries the key."""
    body = foreign.key_pem.decode().splitlines()[2]
    published = json.dumps(
        [issuer_status(harness), [e.message for e in harness.kube.events]], default=str
    ) + "".join(
        value.decode(errors="replace")
        for (namespace, name), secret in harness.kube.secrets.items()
        if name not in (SOURCE, "ca-ca")
        for value in secret.data.values()
    )
    assert body not in published
    assert "PRIVATE KEY" not in json.dumps(issuer_status(harness))


async def imported(harness: Harness, foreign: Issued, **self_signed: Any) -> None:
    put_source(harness, foreign, ALLOWED)
    harness.add_issuer(importing_issuer(**self_signed))
    harness.add_certificate(certificate_body())
    await harness.settle()


async def test_an_invited_root_ca_is_imported_once_and_signs() -> None:
    harness = Harness()
    foreign = root_ca(now=harness.clock())
    await imported(harness, foreign)

    ca_secret = harness.kube.secrets[(NAMESPACE, "ca-ca")]
    assert ca_secret.data["tls.crt"] == foreign.certificate_pem, "the CA certificate is kept as it was"
    assert ca_secret.labels[labels.SECRET_ROLE_LABEL] == labels.ROLE_CA
    assert ca_secret.annotations[IMPORTED_FROM] == f"{NAMESPACE}/{SOURCE}"
    assert ready_reason(harness.status()) == reasons.READY
    issued = load_certificates_pem(harness.secret().data["tls.crt"])[0]
    issued.verify_directly_issued_by(foreign.certificate)

    ready = condition(harness, READY)
    assert ready is not None
    assert ready["status"] == "True"
    marked = condition(harness, IMPORTED)
    assert marked is not None
    assert marked["status"] == "True"
    assert marked["reason"] == reasons.CA_IMPORTED
    assert f"delete Secret {NAMESPACE}/{SOURCE}" in marked["message"]
    assert [e.message for e in harness.kube.events if e.reason == reasons.CA_IMPORTED] == [
        f"imported CA CN=corp root from Secret {NAMESPACE}/{SOURCE}"
    ]
    assert harness.kube.reads.count(f"get secret {NAMESPACE}/{SOURCE}") == 1, "read once"
    assert not [w for w in harness.kube.writes if SOURCE in w], "the source is never written"
    assert_key_only_in_the_ca_secrets(harness, foreign)


async def test_a_refused_import_is_retried_with_backoff_until_the_secret_invites_the_issuer() -> None:
    harness = Harness()
    foreign = root_ca(now=harness.clock())
    put_source(harness, foreign, {labels.ALLOW_IMPORT_BY: "Issuer/someone-else"})
    harness.add_issuer(importing_issuer())
    await harness.step(ISSUER_KEY)
    view = harness.controller.state.issuer_views[ISSUER_KEY]
    assert view.reason == reasons.CA_IMPORT_NOT_ALLOWED
    assert f"{labels.ALLOW_IMPORT_BY}=Issuer/ca" in view.message
    assert (NAMESPACE, "ca-ca") not in harness.kube.secrets, "nothing generated in its place"
    assert harness.controller.queue.failures(ISSUER_KEY) == 1
    assert harness.controller.queue.scheduled(ISSUER_KEY) is not None, "read again later"
    warnings = [e for e in harness.kube.events if e.kind == "Warning"]
    assert [e.reason for e in warnings] == [reasons.CA_IMPORT_NOT_ALLOWED]

    put_source(harness, foreign, ALLOWED)
    harness.controller.queue.add(ISSUER_KEY)
    await harness.step(ISSUER_KEY)
    assert harness.controller.state.issuer_views[ISSUER_KEY].ready
    assert harness.kube.secrets[(NAMESPACE, "ca-ca")].data["tls.crt"] == foreign.certificate_pem
    assert harness.controller.queue.failures(ISSUER_KEY) == 0


async def test_a_missing_source_is_reported_and_nothing_is_generated_in_its_place() -> None:
    harness = Harness()
    harness.add_issuer(importing_issuer())
    await harness.step(ISSUER_KEY)
    assert harness.controller.state.issuer_views[ISSUER_KEY].reason == reasons.CA_IMPORT_SOURCE_NOT_FOUND
    assert (NAMESPACE, "ca-ca") not in harness.kube.secrets


async def test_once_the_ca_secret_exists_import_from_is_ignored() -> None:
    harness = Harness()
    foreign = root_ca(now=harness.clock())
    await imported(harness, foreign)
    ca_secret = harness.kube.secrets[(NAMESPACE, "ca-ca")]
    reads = len(harness.kube.reads)
    # The user deletes the source, as the Imported condition says, and points importFrom elsewhere.
    harness.kube.take_secret(NAMESPACE, SOURCE)
    harness.add_issuer(importing_issuer(generation=2, source="another-ca"))
    await harness.settle()
    assert harness.controller.state.issuer_views[ISSUER_KEY].ready
    assert harness.kube.secrets[(NAMESPACE, "ca-ca")].resource_version == ca_secret.resource_version
    assert not [r for r in harness.kube.reads[reads:] if "another-ca" in r or SOURCE in r]
    assert ready_reason(harness.status()) == reasons.READY


async def test_an_imported_ca_past_its_rotation_point_rotates_and_its_old_leaves_stay_trusted() -> None:
    harness = Harness()
    now = harness.clock()
    # 90 days made 80 days ago: past the default 34% left, so its rotation starts after the import.
    foreign = root_ca(lifetime=timedelta(days=90), age=timedelta(days=80), now=now)
    old_leaf = leaf(
        foreign, common_name="old.apps.svc", dns_names=("old.apps.svc",), lifetime=timedelta(days=5), now=now
    ).certificate
    await imported(harness, foreign, rotation={"propagationDelay": "5m", "reissueWindow": "10m"})
    assert condition(harness, IMPORTED) is not None

    harness.clock.advance(timedelta(seconds=5))
    harness.controller.queue.add(ISSUER_KEY)
    await harness.step(ISSUER_KEY)
    assert issuer_status(harness)["rotation"]["phase"] == "Prepared"
    trust = _trust(harness)
    assert foreign.certificate in trust, "the imported CA stays trusted beside the next one"
    assert len(trust) == 2

    harness.clock.advance(timedelta(minutes=5))
    harness.controller.queue.add(ISSUER_KEY)
    await harness.step(ISSUER_KEY)
    status = issuer_status(harness)
    assert status["rotation"]["phase"] == "Overlap"
    assert condition(harness, IMPORTED) is None, "the imported CA no longer signs"
    ca_secret = harness.kube.secrets[(NAMESPACE, "ca-ca")]
    assert IMPORTED_FROM not in ca_secret.annotations
    new_ca = load_certificates_pem(ca_secret.data["tls.crt"])[0]
    assert new_ca != foreign.certificate
    assert new_ca.subject.rfc4514_string() == "CN=certmint ca", "the next CA follows the spec"
    # A leaf the imported CA signed before the import is still trusted during the overlap.
    assert _signed_by_a_trusted_ca(old_leaf, _trust(harness))
    reasons_seen = [e.reason for e in harness.kube.events if e.about.name == "ca"]
    assert reasons_seen == [
        reasons.CA_IMPORTED,
        reasons.CA_ROTATION_PREPARED,
        reasons.CA_ROTATION_ACTIVATED,
    ]
    assert_key_only_in_the_ca_secrets(harness, foreign)


def _trust(harness: Harness) -> tuple[x509.Certificate, ...]:
    view = harness.controller.state.issuer_views[ISSUER_KEY]
    assert view.trust is not None
    return view.trust.certificates


def _signed_by_a_trusted_ca(certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...]) -> bool:
    return any(issued_by(certificate, ca) for ca in trusted)


async def test_a_ca_secret_certmint_did_not_create_for_the_issuer_is_neither_used_nor_written() -> None:
    # A selfSigned issuer naming someone's CA Secret as its own would sign with a CA its author may
    # not even read: refused, the Secret untouched; importFrom is the invited way in.
    harness = Harness()
    foreign = root_ca(now=harness.clock())
    put_source(harness, foreign, {})
    writes = len(harness.kube.writes)
    harness.add_issuer(
        manifests.issuer(
            NAMESPACE, "ca", {"uid": "uid-ca", "generation": 1}, selfSigned={"secretName": SOURCE}
        )
    )
    await harness.step(ISSUER_KEY)
    view = harness.controller.state.issuer_views[ISSUER_KEY]
    assert view.reason == reasons.CA_SECRET_NOT_OWNED
    assert f"{labels.ALLOW_IMPORT_BY}=Issuer/ca" in view.message
    assert not [w for w in harness.kube.writes[writes:] if "secret" in w]
    assert harness.controller.queue.scheduled(ISSUER_KEY) is not None, "looked at again with backoff"
