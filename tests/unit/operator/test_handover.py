"""The hand-over from cert-manager on the fake API: a Secret cert-manager wrote, invited for adoption,
is taken over with exactly one write, in place, keeping what cert-manager left on it; and
certManagerAnnotations turned on and off rewrites only metadata."""

from datetime import timedelta
from typing import Any

from certmint.api.kinds import CERTIFICATES
from certmint.kube.secrets import secret_from_body
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from tests.e2e import cert_manager
from tests.unit.operator.test_controller import (
    NAMESPACE,
    Harness,
    certificate_body,
    issuer_body,
    ready_reason,
)

CERT_MANAGER_OWNER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "name": "web",
    "uid": "uid-cert-manager-web",
    "controller": True,
    "blockOwnerDeletion": True,
}


def put_as_cert_manager(harness: Harness, manifest: dict[str, Any]) -> None:
    harness.kube.put_secret(secret_from_body(manifest), manager=cert_manager.CERT_MANAGER_FIELD_MANAGER)


def secret_writes(harness: Harness) -> list[str]:
    return [write for write in harness.kube.writes if write.endswith("/web-tls")]


def watch_delivers(harness: Harness, name: str = "web-tls") -> None:
    """The Secret watch reports the Secret as the API server holds it (managedFields included)."""
    harness.controller.secret_event(None, harness.kube.objects[("secrets", NAMESPACE, name)])


def handed_over(harness: Harness) -> tuple[cert_manager.Issued, cert_manager.Issued]:
    """cert-manager's CA Secret held by certmint's `ca` issuer, and cert-manager's Secret of
    Certificate web invited for adoption: (the CA, the leaf cert-manager issued)."""
    now = harness.clock()
    root = cert_manager.root_ca("shop root", lifetime=timedelta(days=365), now=now - timedelta(days=1))
    put_as_cert_manager(
        harness,
        cert_manager.tls_secret(
            NAMESPACE, "root-ca-tls", root, root, certificate_name="root-ca", issuer_name="bootstrap"
        ),
    )
    old = cert_manager.leaf(root, common_name="web", dns_names=("web.apps.svc",), now=now)
    manifest = cert_manager.tls_secret(
        NAMESPACE, "web-tls", old, root, certificate_name="web", issuer_name="ca", owner=CERT_MANAGER_OWNER
    )
    manifest["metadata"]["annotations"][labels.ALLOW_ADOPTION_BY] = "web"
    put_as_cert_manager(harness, manifest)
    harness.add_issuer(issuer_body(ca={"secretName": "root-ca-tls"}))
    return root, old


async def test_a_cert_manager_secret_is_adopted_with_one_write_in_place() -> None:
    harness = Harness()
    root, old = handed_over(harness)
    key = harness.add_certificate(certificate_body(commonName="web"))
    await harness.settle()
    assert ready_reason(harness.status()) == reasons.READY
    assert secret_writes(harness) == ["apply secret apps/web-tls"], "one write, never a delete"
    secret = harness.secret()
    assert secret.type == "kubernetes.io/tls"
    assert secret.data["ca.crt"] == root.certificate_pem, "the same trust anchor in ca.crt"
    leaf = load_certificates_pem(secret.data["tls.crt"])[0]
    assert leaf.serial_number != old.certificate.serial_number
    assert leaf.issuer == root.certificate.subject
    # What cert-manager left stays as it was: certmint does not fight it.
    assert secret.labels[cert_manager.CERT_MANAGER_LABEL] == "true"
    assert secret.owner_uids == {CERT_MANAGER_OWNER["uid"]}
    assert secret.annotations["cert-manager.io/issuer-group"] == "cert-manager.io"
    assert secret.annotations[labels.CERTIFICATE_UID] == "uid-web"
    assert labels.CREATED_FOR not in secret.annotations
    issued = [e for e in harness.kube.events if e.about.kind == "Certificate"]
    assert [(e.reason, e.message.split(":")[0]) for e in issued] == [(reasons.ISSUED, reasons.ADOPTED)]
    # Its own write reported by the watch, then a resync: nothing more is written.
    watch_delivers(harness)
    harness.controller.queue.add(key)
    await harness.settle()
    assert secret_writes(harness) == ["apply secret apps/web-tls"]
    assert len([e for e in harness.kube.events if e.about.kind == "Certificate"]) == 1


def set_cert_manager_annotations(harness: Harness, on: bool) -> None:
    """The user edits the Certificate; its watch reports the new generation."""
    body = harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]
    body["spec"]["certManagerAnnotations"] = on
    body["metadata"]["generation"] += 1
    body["metadata"]["resourceVersion"] += "+"
    harness.controller.certificate_event(None, body)


async def test_cert_manager_annotations_turned_on_then_off_rewrite_only_metadata() -> None:
    harness = Harness()
    handed_over(harness)
    harness.add_certificate(certificate_body(commonName="web"))
    await harness.settle()
    watch_delivers(harness)
    serial = harness.secret().annotations[labels.SERIAL_NUMBER]
    writes = len(secret_writes(harness))

    set_cert_manager_annotations(harness, True)
    await harness.settle()
    secret = harness.secret()
    assert secret.annotations[labels.SERIAL_NUMBER] == serial, "no new certificate"
    assert len(secret_writes(harness)) == writes + 1, "one metadata write"
    assert secret.annotations["cert-manager.io/issuer-group"] == "certmint.dev", (
        "taken over from cert-manager"
    )
    assert secret.annotations["cert-manager.io/issuer-name"] == "ca"
    assert secret.annotations["cert-manager.io/issuer-kind"] == "Issuer"
    assert secret.annotations["cert-manager.io/email-sans"] == ""
    watch_delivers(harness)

    set_cert_manager_annotations(harness, False)
    await harness.settle()
    secret = harness.secret()
    assert secret.annotations[labels.SERIAL_NUMBER] == serial, "no new certificate"
    assert len(secret_writes(harness)) == writes + 2, "one metadata write"
    # certmint removes what only it wrote; a value cert-manager wrote too is still cert-manager's.
    assert "cert-manager.io/issuer-group" not in secret.annotations
    assert "cert-manager.io/email-sans" not in secret.annotations
    assert secret.annotations["cert-manager.io/alt-names"] == "web.apps.svc"
    assert secret.annotations["cert-manager.io/certificate-name"] == "web"
    watch_delivers(harness)
    await harness.settle()
    assert len(secret_writes(harness)) == writes + 2, "and then nothing more"
