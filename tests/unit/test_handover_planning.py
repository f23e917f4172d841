"""Handing a cert-manager Secret over to certmint, as planned: adopted with exactly one issuance,
written in place; and spec.certManagerAnnotations, the cert-manager.io/* annotations written with
certmint's own, removed (only those certmint wrote) when turned off."""

import base64
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cryptography import x509

from certmint.api import Certificate
from certmint.api.kinds import GROUP
from certmint.kube.secrets import secret_from_body
from certmint.pki import load_ca
from certmint.planning import labels, reasons
from certmint.planning.certificates.actions import Inputs, Keep, SignAndWrite, plan_actions
from certmint.planning.certificates.secret_view import SecretView, view_secret
from certmint.planning.ownership import ownership_annotations, secret_refusal
from certmint.planning.request import issuance_spec
from tests.e2e import cert_manager
from tests.unit.planning_fixtures import (
    NOW,
    action_inputs,
    issued_secret,
    make_certificate,
    ready_issuer,
)

ROOT = cert_manager.root_ca("shop root", lifetime=timedelta(days=365), now=NOW - timedelta(days=1))
"""cert-manager's CA, which the `ca` issuer taking over from cert-manager holds."""
CA = load_ca(ROOT.certificate_pem, ROOT.key_pem, NOW)
ISSUER = ready_issuer(CA)
SERIAL = 0xC0FFEE
CERT_MANAGER_KEYS = {
    labels.CM_CERTIFICATE_NAME,
    labels.CM_ISSUER_NAME,
    labels.CM_ISSUER_KIND,
    labels.CM_ISSUER_GROUP,
    labels.CM_COMMON_NAME,
    labels.CM_ALT_NAMES,
    labels.CM_IP_SANS,
    labels.CM_URI_SANS,
    labels.CM_EMAIL_SANS,
}


def inputs(certificate: Certificate, secret: SecretView | None, **changes: Any) -> Inputs:
    return action_inputs(certificate, secret, ISSUER, SERIAL, **changes)


def owned_by_certmint(secret: SecretView) -> SecretView:
    """As certmint's own write leaves it: its UID marking on it."""
    marked = {**secret.annotations, **ownership_annotations(secret, "uid-web")}
    return replace(secret, annotations=marked)


def test_the_opt_in_writes_cert_managers_annotations_for_what_was_issued() -> None:
    certificate = make_certificate(
        certManagerAnnotations=True,
        commonName="web",
        dnsNames=["web.apps.svc", "web"],
        ipAddresses=["10.0.0.1"],
        uris=["spiffe://td/ns/apps/sa/web"],
        emailAddresses=["ops@example.com"],
        organizations=["Shop", "Ops"],
    )
    plan = plan_actions(inputs(certificate, None))
    assert isinstance(plan, SignAndWrite)
    written = plan.secret.annotations
    assert {key: value for key, value in written.items() if key.startswith("cert-manager.io/")} == {
        labels.CM_CERTIFICATE_NAME: "web",
        labels.CM_ISSUER_NAME: "ca",
        labels.CM_ISSUER_KIND: "Issuer",
        labels.CM_ISSUER_GROUP: GROUP,
        labels.CM_COMMON_NAME: "web",
        labels.CM_ALT_NAMES: "web.apps.svc,web",
        labels.CM_IP_SANS: "10.0.0.1",
        labels.CM_URI_SANS: "spiffe://td/ns/apps/sa/web",
        labels.CM_EMAIL_SANS: "ops@example.com",
        labels.CM_SUBJECT_ORGANIZATIONS: "Shop,Ops",
    }
    # The same write still carries certmint's own record of it.
    assert written[labels.ALT_NAMES] == written[labels.CM_ALT_NAMES]
    assert written[labels.SPEC_DIGEST] == plan.spec.digest


def test_without_the_opt_in_no_cert_manager_annotation_is_written() -> None:
    plan = plan_actions(inputs(make_certificate(organizations=["Shop"]), None))
    assert isinstance(plan, SignAndWrite)
    assert [key for key in plan.secret.annotations if key.startswith(labels.CERT_MANAGER_PREFIX)] == []


def test_subject_organizations_are_written_only_when_the_subject_has_some() -> None:
    plan = plan_actions(inputs(make_certificate(certManagerAnnotations=True), None))
    assert isinstance(plan, SignAndWrite)
    assert set(plan.secret.annotations) >= CERT_MANAGER_KEYS
    assert labels.CM_SUBJECT_ORGANIZATIONS not in plan.secret.annotations
    assert plan.secret.annotations[labels.CM_COMMON_NAME] == ""


def test_a_secret_template_cannot_override_them_but_may_add_its_own() -> None:
    template = {"annotations": {labels.CM_ISSUER_NAME: "forged", "cert-manager.io/owner": "team-a"}}
    on = plan_actions(inputs(make_certificate(certManagerAnnotations=True, secretTemplate=template), None))
    assert isinstance(on, SignAndWrite)
    assert on.secret.annotations[labels.CM_ISSUER_NAME] == "ca"
    assert on.secret.annotations["cert-manager.io/owner"] == "team-a"
    # Off, the template's cert-manager.io annotations are the user's like any other.
    off = plan_actions(inputs(make_certificate(secretTemplate=template), None))
    assert isinstance(off, SignAndWrite)
    assert off.secret.annotations[labels.CM_ISSUER_NAME] == "forged"


def test_turning_it_on_heals_the_metadata_without_a_new_certificate() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, CA)
    turned_on = make_certificate(certManagerAnnotations=True)
    assert issuance_spec(turned_on, "td").digest == spec.digest, "not a change of what is issued"
    plan = plan_actions(inputs(turned_on, owned_by_certmint(secret)))
    assert isinstance(plan, Keep), "no new certificate"
    assert plan.heal is not None
    assert set(plan.heal.annotations) >= CERT_MANAGER_KEYS
    assert plan.heal.annotations[labels.SERIAL_NUMBER] == secret.annotations[labels.SERIAL_NUMBER]
    assert set(plan.heal.data_keys) == {"tls.crt", "tls.key", "ca.crt"}, "the data written as it is"


def test_turning_it_off_removes_only_what_certmint_wrote() -> None:
    with_annotations = make_certificate(certManagerAnnotations=True)
    secret, _ = issued_secret(with_annotations, CA)
    ours = frozenset(key for key in secret.annotations if key.startswith(labels.CERT_MANAGER_PREFIX))
    assert ours >= CERT_MANAGER_KEYS
    written = replace(owned_by_certmint(secret), written_cert_manager_annotations=ours)
    on = plan_actions(inputs(with_annotations, written))
    assert isinstance(on, Keep)
    assert on.heal is None, "nothing to do while it is on"
    off = plan_actions(inputs(make_certificate(), written))
    assert isinstance(off, Keep), "no new certificate"
    assert off.heal is not None, "written again without them, which removes them"
    assert not [key for key in off.heal.annotations if key.startswith(labels.CERT_MANAGER_PREFIX)]
    # cert-manager's own annotations (another field manager's) are not certmint's to remove.
    left_by_cert_manager = replace(written, written_cert_manager_annotations=frozenset())
    untouched = plan_actions(inputs(make_certificate(), left_by_cert_manager))
    assert isinstance(untouched, Keep)
    assert untouched.heal is None


def test_the_view_keeps_only_the_cert_manager_annotations_certmints_field_manager_owns() -> None:
    def owns(*keys: str) -> dict[str, Any]:
        return {"f:metadata": {"f:annotations": {f"f:{key}": {} for key in keys}}}

    body = {
        "metadata": {
            "name": "web-tls",
            "namespace": "apps",
            "annotations": {labels.CM_ALT_NAMES: "a", labels.CM_COMMON_NAME: "b", labels.ALT_NAMES: "a"},
            "managedFields": [
                {
                    "manager": "certmint",
                    "operation": "Apply",
                    "fieldsV1": owns(labels.CM_ALT_NAMES, labels.ALT_NAMES),
                },
                {"manager": "cert-manager-certificates-issuing", "fieldsV1": owns(labels.CM_COMMON_NAME)},
                {"manager": "certmint-watch", "fieldsV1": owns(labels.CM_ISSUER_NAME)},
            ],
        },
        "type": "kubernetes.io/tls",
    }
    view = secret_from_body(body).view()
    assert view.written_cert_manager_annotations == {labels.CM_ALT_NAMES}
    assert view_secret("web-tls", {}, {}, {}).written_cert_manager_annotations == frozenset()


def cert_manager_secret(certificate: Certificate, **annotations: str) -> tuple[SecretView, x509.Certificate]:
    """Certificate web's Secret as cert-manager wrote it, signed by the issuer's CA (CA), invited
    for adoption by `annotations`; and the certificate in it."""
    issued = cert_manager.leaf(ROOT, common_name="web", dns_names=tuple(certificate.spec.dns_names), now=NOW)
    manifest = cert_manager.tls_secret(
        "apps", "web-tls", issued, ROOT, certificate_name="web", issuer_name="ca-issuer"
    )
    metadata = manifest["metadata"]
    data = {key: base64.b64decode(value) for key, value in manifest["data"].items()}
    view = view_secret(
        "web-tls",
        data,
        metadata["labels"],
        {**metadata["annotations"], **annotations},
        owner_uids=frozenset({"uid-cert-manager-web"}),
        writers=(),
    )
    return view, issued.certificate


def old_issuer(old: x509.Certificate) -> x509.Certificate:
    assert old.issuer == ROOT.certificate.subject
    return ROOT.certificate


def test_an_invited_cert_manager_secret_is_issued_once_in_place() -> None:
    certificate = make_certificate(cleanupSecretOnDelete=True)
    secret, old = cert_manager_secret(certificate, **{labels.ALLOW_ADOPTION_BY: "web"})
    assert secret_refusal("web", "uid-web", "web-tls", secret, frozenset()) is None, "invited"
    # Valid, from the issuer's own CA, the names of the spec: replaced all the same, once.
    plan = plan_actions(inputs(certificate, secret))
    assert isinstance(plan, SignAndWrite)
    assert plan.why.reason == reasons.ADOPTED
    assert plan.ca.certificate == old_issuer(old), "signed by the CA that signed cert-manager's"
    assert plan.event.reason == reasons.ISSUED
    write = plan.secret
    assert not write.create, "written in place, the Secret never goes away"
    assert "ca.crt" in write.data_keys
    assert not write.owner_reference, "an adopted Secret outlives the Certificate"
    assert labels.CREATED_FOR not in write.annotations
    assert write.annotations[labels.CERTIFICATE_UID] == "uid-web"
    # What the write leaves is kept: nothing more to issue.
    after, _ = issued_secret(certificate, CA)
    kept_annotations = {**secret.annotations, **after.annotations, **write.annotations}
    written = replace(after, annotations=kept_annotations, labels={**secret.labels, **write.labels})
    assert isinstance(plan_actions(inputs(certificate, written, now=NOW + timedelta(minutes=1))), Keep)
    assert old.serial_number != int(written.annotations[labels.SERIAL_NUMBER].replace(":", ""), 16)


def test_a_certmint_secret_that_lost_its_spec_digest_is_not_taken_for_an_adopted_one() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    stripped = owned_by_certmint(secret)
    stripped = replace(
        stripped, annotations={k: v for k, v in stripped.annotations.items() if k != labels.SPEC_DIGEST}
    )
    plan = plan_actions(inputs(certificate, stripped))
    assert isinstance(plan, SignAndWrite)
    assert plan.why.reason == reasons.SPEC_CHANGED


def test_adoption_is_the_reason_whatever_else_is_wrong_with_the_old_certificate() -> None:
    # cert-manager's Secret from another CA (the certmint issuer has a CA of its own): still one
    # issuance, and the reason says why first.
    other = cert_manager.root_ca("other root", lifetime=timedelta(days=365), now=NOW - timedelta(days=1))
    issued = cert_manager.leaf(other, common_name="web", dns_names=("web.apps.svc",), now=NOW)
    manifest = cert_manager.tls_secret(
        "apps", "web-tls", issued, other, certificate_name="web", issuer_name="x"
    )
    data = {key: base64.b64decode(value) for key, value in manifest["data"].items()}
    secret = view_secret("web-tls", data, {}, {labels.ALLOW_ADOPTION_BY: "web"})
    plan = plan_actions(inputs(make_certificate(), secret))
    assert isinstance(plan, SignAndWrite)
    assert plan.why.reason == reasons.ADOPTED
