"""Builders shared by the planning tests: a CA, Certificates and the Secrets certmint would write."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from certmint.api import Certificate
from certmint.pki import (
    CARequest,
    CertificateAuthority,
    alt_names,
    create_root_ca,
    generate_private_key,
    sign_leaf,
)
from certmint.planning.certificates.actions import Inputs
from certmint.planning.certificates.secret import issuer_annotations, secret_data, secret_metadata
from certmint.planning.certificates.secret_view import SecretView, view_secret
from certmint.planning.defaults import Resolved
from certmint.planning.issuer_view import IssuerView, Signing
from certmint.planning.request import IssuanceSpec, issuance_spec

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make_ca(name: str = "test CA", days: int = 365) -> CertificateAuthority:
    return create_root_ca(CARequest(common_name=name, duration=timedelta(days=days)), NOW - timedelta(days=1))


def ready_issuer(ca: CertificateAuthority) -> IssuerView:
    return IssuerView(
        exists=True, ready=True, reason="CAReady", message="CA is valid", signing=Signing(ca=ca)
    )


def with_signing(view: IssuerView, **changes: Any) -> IssuerView:
    return replace(view, signing=replace(view.signing, **changes))


def with_revoking(view: IssuerView, **changes: Any) -> IssuerView:
    return replace(view, revoking=replace(view.revoking, **changes))


CRL_URL = "http://crl.example/ca.crl"
OCSP_URL = "http://ocsp.example/ca"


def publishing_issuer(ca: CertificateAuthority) -> IssuerView:
    """A ready issuer of `ca` that points its leaves at its CRL (CRL_URL) and OCSP responder (OCSP_URL)."""
    return with_revoking(ready_issuer(ca), crl_distribution_point=CRL_URL, ocsp_url=OCSP_URL)


def make_certificate(namespace: str = "apps", name: str = "web", **spec: Any) -> Certificate:
    return Certificate.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
            "spec": {
                "secretName": f"{name}-tls",
                "issuerRef": {"name": "ca"},
                "dnsNames": ["web.apps.svc"],
                "duration": "24h",
                **spec,
            },
        }
    )


def explicit(certificate: Certificate) -> Resolved:
    """The issuer a Certificate with an issuerRef resolves to: that one."""
    if certificate.spec.issuer_ref is None:
        raise ValueError("the Certificate follows the default issuer")
    return Resolved(certificate.spec.issuer_ref)


def issued_secret(
    certificate: Certificate,
    ca: CertificateAuthority,
    issued_at: datetime = NOW,
    trust_domain: str = "td",
    signer: Resolved | None = None,
) -> tuple["FixtureSecret", IssuanceSpec]:
    """`signer`: the issuer the Secret records (by default the Certificate's issuerRef)."""
    spec = issuance_spec(certificate, trust_domain)
    key = generate_private_key(spec.key)
    leaf = sign_leaf(spec.leaf, key.public_key(), ca, issued_at)
    recorded = issuer_annotations((signer or explicit(certificate)).ref)
    metadata = secret_metadata(certificate, leaf.serial_number, alt_names(leaf), spec, recorded)
    data = secret_data(spec, key, leaf, ca, b"secret" if spec.pkcs12 else None)
    return secret_with_data(certificate.spec.secret_name, data, metadata.labels, metadata.annotations), spec


@dataclass(frozen=True)
class FixtureSecret(SecretView):
    """A view that remembers the data it was made from, so a test can change one data key."""

    data: Mapping[str, bytes] = field(default_factory=dict)


def secret_with_data(
    name: str, data: Mapping[str, bytes], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> FixtureSecret:
    view = view_secret(name, data, labels, annotations)
    return FixtureSecret(**{f.name: getattr(view, f.name) for f in fields(SecretView)}, data=dict(data))


def with_annotation(secret: SecretView, key: str, value: str) -> SecretView:
    return replace(secret, annotations={**secret.annotations, key: value})


def with_data(secret: FixtureSecret, **data: bytes) -> FixtureSecret:
    merged = {**secret.data, **{k.replace("_", "."): v for k, v in data.items()}}
    return replace(
        secret_with_data(secret.name, merged, secret.labels, secret.annotations), writers=secret.writers
    )


def action_inputs(
    certificate: Certificate, secret: SecretView | None, issuer: IssuerView, serial: int, **changes: Any
) -> Inputs:
    """What plan_actions gets for a Certificate with an explicit issuerRef, at NOW; `changes` replace
    any of it."""
    planned = Inputs(
        certificate=certificate,
        spec=issuance_spec(certificate, "td"),
        issuer=issuer,
        secret=secret,
        owner_conflict=None,
        secret_refusal=None,
        namespace_labels={},
        now=NOW,
        serial_number=serial,
        resolved=explicit(certificate),
    )
    return replace(planned, **changes)
