"""The Secret a Certificate is written to: its data keys, labels and annotations."""

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509

from certmint.api import Certificate
from certmint.api.certificate import IssuerRef, OutputFormatType
from certmint.api.kinds import GROUP
from certmint.pki import (
    AltNames,
    CertificateAuthority,
    PrivateKey,
    certificates_to_pem,
    combined_pem,
    encode_private_key_der,
    encode_private_key_pem,
    pkcs12_keystore,
    pkcs12_truststore,
    serial_hex,
)
from certmint.planning import labels
from certmint.planning.request import IssuanceSpec

KEYSTORE_KEY = "keystore.p12"
TRUSTSTORE_KEY = "truststore.p12"
COMBINED_PEM_KEY = "tls-combined.pem"
KEY_DER_KEY = "key.der"


@dataclass(frozen=True)
class SecretMetadata:
    labels: dict[str, str]
    annotations: dict[str, str]


def output_keys(spec: IssuanceSpec) -> list[str]:
    keys = ["tls.crt", "tls.key", "ca.crt"]
    if spec.pkcs12 is not None:
        keys += [KEYSTORE_KEY, TRUSTSTORE_KEY]
    if OutputFormatType.COMBINED_PEM in spec.output_formats:
        keys.append(COMBINED_PEM_KEY)
    if OutputFormatType.DER in spec.output_formats:
        keys.append(KEY_DER_KEY)
    return keys


def secret_data(
    spec: IssuanceSpec,
    private_key: PrivateKey,
    leaf: x509.Certificate,
    ca: CertificateAuthority,
    pkcs12_password: bytes | None,
) -> dict[str, bytes]:
    """Everything a pod mounts. The CA's private key is never part of it."""
    chain = [leaf, *ca_chain(ca)]
    roots = [ca.root]
    data = {
        "tls.crt": certificates_to_pem(chain),
        "tls.key": encode_private_key_pem(private_key, spec.key_encoding),
        "ca.crt": certificates_to_pem(roots),
    }
    if spec.pkcs12 is not None:
        if pkcs12_password is None:
            raise ValueError("a PKCS#12 keystore needs its password")
        data[KEYSTORE_KEY] = pkcs12_keystore(
            private_key, leaf, chain[1:], pkcs12_password, spec.pkcs12.profile
        )
        data[TRUSTSTORE_KEY] = pkcs12_truststore(roots, pkcs12_password, spec.pkcs12.profile)
    if OutputFormatType.COMBINED_PEM in spec.output_formats:
        data[COMBINED_PEM_KEY] = combined_pem(private_key, chain)
    if OutputFormatType.DER in spec.output_formats:
        data[KEY_DER_KEY] = encode_private_key_der(private_key)
    return data


def ca_chain(ca: CertificateAuthority) -> list[x509.Certificate]:
    """The issuing CA and its intermediates, without a self-signed root (verifiers bring their own)."""
    chain = [ca.certificate, *ca.chain]
    return [cert for cert in chain if cert.issuer != cert.subject]


def issuer_annotations(ref: IssuerRef) -> dict[str, str]:
    """The Secret's record of the issuer that signed its certificate."""
    return {labels.ISSUER_NAME: ref.name, labels.ISSUER_KIND: ref.kind.value}


def recorded_issuer(annotations: Mapping[str, str]) -> dict[str, str]:
    """The issuer annotations a Secret carries, as they are (none when it carries none)."""
    return {key: annotations[key] for key in (labels.ISSUER_NAME, labels.ISSUER_KIND) if key in annotations}


def secret_metadata(
    certificate: Certificate,
    serial_number: int,
    summary: AltNames,
    spec: IssuanceSpec,
    issuer: Mapping[str, str],
    markings: Mapping[str, str] | None = None,
    bucket: str = "",
) -> SecretMetadata:
    """For the leaf of `serial_number` whose subjectAltName is `summary`, signed by `issuer` (its
    annotations: issuer_annotations). `markings`: certmint's ownership and contest annotations
    (planning.ownership, planning.contest). `bucket`: its shard bucket label (planning.shards), ""
    with a single replica: a Secret whose bucket label lies is healed like any changed label. With
    spec.certManagerAnnotations, cert-manager's
    annotations too, in the same write; they win over a secretTemplate's of the same key."""
    template = certificate.spec.secret_template
    cert_manager = certificate.spec.cert_manager_annotations
    annotations = {
        **_foreign_keys(template.annotations if template else {}),
        labels.CERTIFICATE_NAME: certificate.metadata.name,
        **issuer,
        labels.SERIAL_NUMBER: serial_hex(serial_number),
        labels.SPEC_DIGEST: spec.digest,
        **({labels.RENEW_REQUEST: spec.renew_request} if spec.renew_request else {}),
        **({labels.REVOKE_REQUEST: spec.revoke.token} if spec.revoke else {}),
        labels.COMMON_NAME: spec.leaf.common_name or "",
        labels.ALT_NAMES: ",".join(summary.dns_names),
        labels.IP_SANS: ",".join(summary.ip_addresses),
        labels.URI_SANS: ",".join(summary.uris),
        labels.EMAIL_SANS: ",".join(summary.email_addresses),
        **(markings or {}),
        **(cert_manager_annotations(certificate, summary, spec, issuer) if cert_manager else {}),
    }
    secret_labels = {
        **_foreign_keys(template.labels if template else {}),
        labels.SECRET_ROLE_LABEL: labels.ROLE_LEAF,
        **({labels.BUCKET_LABEL: bucket} if bucket else {}),
    }
    return SecretMetadata(labels=secret_labels, annotations=annotations)


def cert_manager_annotations(
    certificate: Certificate, summary: AltNames, spec: IssuanceSpec, issuer: Mapping[str, str]
) -> dict[str, str]:
    """The annotations cert-manager puts on its Secrets, with the values of what certmint issued,
    for the tools that filter on them. issuer-group says who really issued it: certmint.dev."""
    organizations = spec.leaf.organization
    return {
        labels.CM_CERTIFICATE_NAME: certificate.metadata.name,
        labels.CM_ISSUER_NAME: issuer.get(labels.ISSUER_NAME, ""),
        labels.CM_ISSUER_KIND: issuer.get(labels.ISSUER_KIND, ""),
        labels.CM_ISSUER_GROUP: GROUP,
        labels.CM_COMMON_NAME: spec.leaf.common_name or "",
        labels.CM_ALT_NAMES: ",".join(summary.dns_names),
        labels.CM_IP_SANS: ",".join(summary.ip_addresses),
        labels.CM_URI_SANS: ",".join(summary.uris),
        labels.CM_EMAIL_SANS: ",".join(summary.email_addresses),
        # As cert-manager does: only when the subject has organizations.
        **({labels.CM_SUBJECT_ORGANIZATIONS: ",".join(organizations)} if organizations else {}),
    }


def _foreign_keys(template: Mapping[str, str]) -> dict[str, str]:
    """A secretTemplate may not forge certmint's own markings (ownership, adoption, roles)."""
    return {key: value for key, value in template.items() if not key.startswith(labels.PREFIX)}


def metadata_drift(
    desired: SecretMetadata,
    actual_labels: Mapping[str, str],
    actual_annotations: Mapping[str, str],
    written_cert_manager_annotations: frozenset[str] = frozenset(),
) -> bool:
    """True when a label or annotation we set is missing or was changed by someone else, or when a
    cert-manager annotation certmint wrote (`written_cert_manager_annotations`, from managedFields)
    is no longer wanted: certManagerAnnotations was turned off. The write that heals it no longer
    declares it, which removes it; one another writer owns too stays, and is no longer ours."""
    return (
        any(actual_labels.get(k) != v for k, v in desired.labels.items())
        or any(actual_annotations.get(k) != v for k, v in desired.annotations.items())
        or any(key not in desired.annotations for key in written_cert_manager_annotations)
    )
