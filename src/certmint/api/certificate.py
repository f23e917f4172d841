"""Certificate: a workload identity that certmint keeps valid in a Secret."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from certmint.api.common import (
    CONDITIONS_FIELD,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    Condition,
    ObjectMeta,
)
from certmint.api.duration import DURATION_PATTERN
from certmint.api.kinds import API_VERSION, CERTIFICATES, CLUSTER_ISSUERS, ISSUERS
from certmint.pki import (
    MAX_NAMES_PER_KIND,
    MAX_ORGANIZATIONS,
    KeyAlgorithm,
    KeyEncoding,
    PKCS12Profile,
    Usage,
)

MAX_SANS = MAX_NAMES_PER_KIND
"""The CRD's maxItems per kind of SAN: the same cap validate_leaf_request and load_csr enforce."""


class IssuerKind(StrEnum):
    ISSUER = ISSUERS.kind
    CLUSTER_ISSUER = CLUSTER_ISSUERS.kind


class IssuerRef(ApiModel):
    """An Issuer in the Certificate's own namespace, or a ClusterIssuer. There is no namespace field:
    a Certificate can never borrow another namespace's Issuer."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    kind: IssuerKind = IssuerKind.ISSUER


class RotationPolicy(StrEnum):
    ALWAYS = "Always"
    NEVER = "Never"


class PrivateKeySpec(ApiModel):
    algorithm: KeyAlgorithm = Field(
        default=KeyAlgorithm.ECDSA, description="ECDSA (default), RSA or Ed25519."
    )
    size: int | None = Field(
        default=None,
        description="256 or 384 for ECDSA (default 256); 2048, 3072 or 4096 for RSA (default 2048); "
        "must be unset for Ed25519.",
    )
    rotation_policy: RotationPolicy = Field(
        default=RotationPolicy.ALWAYS,
        description="Always: a new key on every issuance. Never: reuse the key already in the Secret.",
    )
    encoding: KeyEncoding = Field(
        default=KeyEncoding.PKCS1, description="PEM encoding of tls.key: PKCS1 (traditional) or PKCS8."
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.algorithm != 'ECDSA' || !has(self.size) || self.size in [256, 384]",
                    "message": "ECDSA size must be 256 or 384",
                },
                {
                    "rule": "self.algorithm != 'RSA' || !has(self.size) || self.size in [2048, 3072, 4096]",
                    "message": "RSA size must be 2048, 3072 or 4096",
                },
                {
                    "rule": "self.algorithm != 'Ed25519' || !has(self.size)",
                    "message": "Ed25519 keys have no size",
                },
            ]
        }
    }


class SecretTemplate(ApiModel):
    labels: dict[str, str] = Field(default_factory=dict, description="Labels copied onto the Secret.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations copied onto the Secret."
    )


class SecretKeySelector(ApiModel):
    name: str = Field(
        max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Secret in the same namespace."
    )
    key: str = Field(default="password", max_length=253, description="Key within the Secret.")


class PKCS12Keystore(ApiModel):
    create: bool = Field(default=True, description="Write keystore.p12 and truststore.p12 into the Secret.")
    password_secret_ref: SecretKeySelector = Field(description="Password protecting both stores.")
    profile: PKCS12Profile = Field(
        default=PKCS12Profile.MODERN,
        description="Modern (AES-256, PBKDF2, SHA-256 MAC) or a legacy profile for old Java/Windows.",
    )


class KeystoresSpec(ApiModel):
    pkcs12: PKCS12Keystore | None = None


class OutputFormatType(StrEnum):
    COMBINED_PEM = "CombinedPEM"
    DER = "DER"


class AdditionalOutputFormat(ApiModel):
    type: OutputFormatType = Field(description="CombinedPEM writes tls-combined.pem; DER writes key.der.")


class Identity(ApiModel):
    service_account: str = Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Issue the SPIFFE ID spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.",
    )


def _san_field(description: str, max_length: int) -> Any:
    return Field(
        default_factory=list,
        max_length=MAX_SANS,
        description=description,
        json_schema_extra={"items": {"type": "string", "maxLength": max_length}},
    )


class CertificateSpec(ApiModel):
    secret_name: str = Field(
        max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Secret the certificate is written to."
    )
    issuer_ref: IssuerRef | None = Field(
        default=None,
        description="Issuer in this namespace, or a ClusterIssuer. Absent: the default issuer (an Issuer "
        "of this namespace marked default, else the ClusterIssuer marked default).",
    )
    common_name: str | None = Field(
        default=None, max_length=64, description="Subject CN (max 64 characters)."
    )
    organizations: list[str] = Field(
        default_factory=list, max_length=MAX_ORGANIZATIONS, description="Subject O values."
    )
    dns_names: list[str] = _san_field("DNS subject alternative names.", 253)
    ip_addresses: list[str] = _san_field("IP address subject alternative names.", 45)
    uris: list[str] = _san_field("URI subject alternative names (e.g. SPIFFE IDs).", 2048)
    email_addresses: list[str] = _san_field("Email subject alternative names.", 320)
    identity: Identity | None = Field(default=None, description="A SPIFFE workload identity.")
    duration: str = Field(
        default="24h",
        pattern=DURATION_PATTERN,
        max_length=32,
        description="Requested lifetime (Go duration syntax), at least 1m.",
    )
    renew_before: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        max_length=32,
        description="Renew this long before expiry. Default: a third of the lifetime.",
    )
    renew_before_percentage: int | None = Field(
        default=None, ge=1, le=99, description="Renew when this percentage of the lifetime remains."
    )
    usages: list[Usage] = Field(
        default_factory=list,
        max_length=8,
        description="Key usages and extended key usages. Default: digital signature, key encipherment "
        "(RSA only), server auth, client auth.",
    )
    is_ca: bool = Field(default=False, alias="isCA", description="Issue a CA certificate.")
    private_key: PrivateKeySpec = Field(default_factory=PrivateKeySpec)
    secret_template: SecretTemplate | None = Field(default=None, description="Metadata for the Secret.")
    keystores: KeystoresSpec | None = None
    additional_output_formats: list[AdditionalOutputFormat] = Field(default_factory=list, max_length=2)
    cert_manager_annotations: bool = Field(
        default=False,
        description="Also write the cert-manager.io/* annotations cert-manager puts on its Secrets "
        "(certificate-name, issuer-name, issuer-kind, issuer-group, common-name, alt-names, ip-sans, "
        "uri-sans, email-sans, subject-organizations), for backup scripts and dashboards that filter on "
        "them after a migration from cert-manager.",
    )
    cleanup_secret_on_delete: bool = Field(
        default=False,
        description="Delete the Secret with the Certificate (through an ownerReference; no finalizer).",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "duration(self.duration) >= duration('1m')",
                    "message": "duration must be at least 1m",
                },
                {
                    "rule": "!has(self.renewBefore) || duration(self.renewBefore) > duration('0s')",
                    "message": "renewBefore must be positive",
                },
                {
                    "rule": "!has(self.renewBefore) || duration(self.renewBefore) < duration(self.duration)",
                    "message": "renewBefore must be shorter than duration",
                },
                {
                    "rule": "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
                    "message": "renewBefore and renewBeforePercentage are mutually exclusive",
                },
                {
                    "rule": "has(self.commonName) || has(self.identity)"
                    " || (has(self.dnsNames) && size(self.dnsNames) > 0)"
                    " || (has(self.ipAddresses) && size(self.ipAddresses) > 0)"
                    " || (has(self.uris) && size(self.uris) > 0)"
                    " || (has(self.emailAddresses) && size(self.emailAddresses) > 0)",
                    "message": "at least one of commonName, dnsNames, ipAddresses, uris, emailAddresses or "
                    "identity must be set",
                },
            ]
        }
    }


class CertificateStatus(ApiModel):
    conditions: list[Condition] = CONDITIONS_FIELD
    observed_generation: int | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    renewal_time: datetime | None = None
    serial_number: str | None = None
    revision: int | None = Field(default=None, description="Number of issuances so far.")
    last_failure_time: datetime | None = Field(default=None, description="When the current failure began.")
    issuer_ref: IssuerRef | None = Field(
        default=None,
        description="The issuer this Certificate resolved to: spec.issuerRef, or the default issuer.",
    )


class Certificate(ApiModel):
    """A certificate certmint keeps valid and renewed in a Secret."""

    api_version: str = API_VERSION
    kind: str = CERTIFICATES.kind
    metadata: ObjectMeta
    spec: CertificateSpec
    status: CertificateStatus = Field(default_factory=CertificateStatus)
