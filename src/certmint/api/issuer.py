"""Issuer (namespaced) and ClusterIssuer (cluster-scoped): where certificates are signed."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import Field, StringConstraints

from certmint.api.common import (
    CONDITIONS_FIELD,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    Condition,
    ObjectMeta,
    beta_field,
)
from certmint.api.duration import DURATION_PATTERN
from certmint.api.kinds import API_VERSION, CLUSTER_ISSUERS, ISSUERS
from certmint.api.trustbundle import LabelSelector
from certmint.pki import KeyAlgorithm, Usage
from certmint.pki.ca import BACKDATE

# Minimums of a self-signed CA's lifetime and rotation: enforced by the API server (CEL below) and
# again in planning (planning.issuers.ca.schedule_error), so an Issuer stored before these rules
# cannot make its CA rotate in a loop either. They are floors against loops, not advice: the
# defaults (caDuration 8760h, propagationDelay 5m, reissueWindow 10m) are what a cluster wants.
MIN_CA_DURATION: Final = "5m"
"""A generated CA is backdated by a minute; a shorter CA would be mostly backdating."""
MIN_PROPAGATION_DELAY: Final = "5s"
"""The shortest time between two steps of a rotation (prepare, activate, retire)."""
MIN_REISSUE_WINDOW: Final = "10s"
"""At 0 every certificate of the issuer would be re-issued in the same instant of each activation."""
DEFAULT_ROTATE_BEFORE_PERCENTAGE: Final = 34
DEFAULT_PROPAGATION_DELAY: Final = "5m"
DEFAULT_REISSUE_WINDOW: Final = "10m"
DEFAULT_CA_DURATION: Final = "8760h"


def _duration_field(default: str, wire_name: str, description: str, minimum: str = "1m") -> Any:
    """A Go duration of at least `minimum` (a minute unless said otherwise), checked by the API server."""
    return Field(
        default=default,
        pattern=DURATION_PATTERN,
        max_length=32,
        description=f"{description} At least {minimum}.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"duration(self) >= duration('{minimum}')",
                    "message": f"{wire_name} must be at least {minimum}",
                }
            ]
        },
    )


def _schedule_rule() -> Any:
    """A fresh CA signs at least two propagation delays and one reissue window before its own
    rotation is due: the time a whole rotation (prepare, activate, re-issue, retire) takes at the
    least, so a rotation is never due the moment the previous one ends. In whole seconds, with the
    CA's one minute of backdating: caDuration - (caDuration + 1m) * p / 100 >= 2 * delay + window."""
    p = f"self.?rotation.?rotateBeforePercentage.orValue({DEFAULT_ROTATE_BEFORE_PERCENTAGE})"
    ca = f"duration(self.?caDuration.orValue('{DEFAULT_CA_DURATION}')).getSeconds()"
    delay = f"duration(self.?rotation.?propagationDelay.orValue('{DEFAULT_PROPAGATION_DELAY}')).getSeconds()"
    window = f"duration(self.?rotation.?reissueWindow.orValue('{DEFAULT_REISSUE_WINDOW}')).getSeconds()"
    backdate = int(BACKDATE.total_seconds())
    return {
        "rule": f"{ca} * (100 - {p}) - {backdate} * {p} >= 100 * (2 * {delay} + {window})",
        "message": SCHEDULE_MESSAGE,
    }


SCHEDULE_MESSAGE: Final = (
    "rotation would be due too soon: a new CA must sign for at least 2 x propagationDelay + "
    "reissueWindow before rotateBeforePercentage of its life (caDuration plus 1m of backdating) "
    "remains; lengthen caDuration or lower rotateBeforePercentage"
)


class CAKeySpec(ApiModel):
    algorithm: KeyAlgorithm = Field(default=KeyAlgorithm.ECDSA, description="Key algorithm of the CA.")
    size: int | None = Field(
        default=None,
        description="Key size: 256 or 384 for ECDSA (default 256), 2048/3072/4096 for RSA (default 2048).",
    )


class CARotation(ApiModel):
    """Automatic CA rotation with overlapping trust: prepare (trust old + new), activate (new signs,
    leaves re-issued), retire (old CA leaves the bundles once its last leaf has expired)."""

    rotate_before_percentage: int = Field(
        default=DEFAULT_ROTATE_BEFORE_PERCENTAGE,
        ge=1,
        le=90,
        description="Start a rotation when this percentage of the CA's lifetime remains.",
    )
    propagation_delay: str = _duration_field(
        DEFAULT_PROPAGATION_DELAY,
        "propagationDelay",
        "How long the next CA is trusted before it signs: time for bundles to reach every pod.",
        MIN_PROPAGATION_DELAY,
    )
    reissue_window: str = _duration_field(
        DEFAULT_REISSUE_WINDOW,
        "reissueWindow",
        "After activation, existing certificates are re-issued spread over this window.",
        MIN_REISSUE_WINDOW,
    )


MAX_SUBTREES = 32
"""Entries per kind and side of spec.selfSigned.nameConstraints: what a CA certificate carries (and
every verifier walks) on every handshake stays small."""
_DOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBTREE_PATTERN = f"^{_DOMAIN}$"
URI_SUBTREE_PATTERN = f"^\\.?{_DOMAIN}$"
# A mailbox (local part: printable ASCII but '@' and space), a host, or .domain.
EMAIL_SUBTREE_PATTERN = f"^([!-?A-~]+@{_DOMAIN}|\\.?{_DOMAIN})$"
CIDR_PATTERN = r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"

DNSSubtree = Annotated[str, StringConstraints(max_length=253, pattern=DNS_SUBTREE_PATTERN)]
URISubtree = Annotated[str, StringConstraints(max_length=254, pattern=URI_SUBTREE_PATTERN)]
EmailSubtree = Annotated[str, StringConstraints(max_length=320, pattern=EMAIL_SUBTREE_PATTERN)]
CIDR = Annotated[str, StringConstraints(max_length=49, pattern=CIDR_PATTERN)]


class NameSubtrees(ApiModel):
    """RFC 5280 subtrees of one side (permitted or excluded) of a CA's name constraints."""

    dns_domains: list[DNSSubtree] | None = Field(
        default=None,
        alias="dnsDomains",
        max_length=MAX_SUBTREES,
        description="DNS subtrees: 'shop.svc' covers shop.svc and every name below it (a.shop.svc), never "
        "a sibling such as evil-shop.svc. No leading dot and no wildcard.",
    )
    ip_ranges: list[CIDR] | None = Field(
        default=None,
        alias="ipRanges",
        max_length=MAX_SUBTREES,
        description="IP networks as CIDRs (10.0.0.0/8, fd00::/8), host bits zero. 0.0.0.0/0 and ::/0 "
        "under excluded forbid every IP address.",
    )
    uri_domains: list[URISubtree] | None = Field(
        default=None,
        alias="uriDomains",
        max_length=MAX_SUBTREES,
        description="Hosts of URI SANs: 'cluster.local' is exactly that host (every SPIFFE ID of trust "
        "domain cluster.local, whatever its path), '.example.com' any host below it. X.509 cannot "
        "constrain a URI's path. OpenSSL, BoringSSL and Go enforce these; pyca/cryptography and "
        "rustls reject every certificate with a URI SAN under such a CA.",
    )
    email_addresses: list[EmailSubtree] | None = Field(
        default=None,
        max_length=MAX_SUBTREES,
        description="Email subtrees: 'user@example.com' one mailbox, 'example.com' every mailbox at that "
        "host, '.example.com' every mailbox at a host below it.",
    )


class NameConstraintsSpec(ApiModel):
    """RFC 5280 name constraints written into the CA certificate (critical), so that verifiers refuse
    any certificate this CA's key signs for other names, certmint or not. Applied when the CA is next
    made (creation or rotation); an existing CA is not rewritten. Unset on a namespaced Issuer: the
    names its namespace may hold (see the README); `{}` there: none at all."""

    permitted: NameSubtrees | None = Field(
        default=None,
        description="Only names in these subtrees; a kind of name with no entry here is not limited.",
    )
    excluded: NameSubtrees | None = Field(
        default=None, description="Never names in these subtrees, even if permitted."
    )


class CAImportSource(ApiModel):
    """A Secret holding an existing root CA (tls.crt: its self-signed certificate, tls.key: its key),
    e.g. cert-manager's CA Secret. Read once, when the issuer's CA Secret does not exist yet, and
    only if the Secret carries the annotation certmint.dev/allow-import-by: <Kind>/<issuer name>,
    which only someone allowed to write that Secret can set."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the Secret, for a ClusterIssuer only (default: the operator's "
        "namespace). An Issuer imports only from its own namespace.",
    )


class SelfSignedIssuer(ApiModel):
    """Bootstraps an in-cluster root CA whose key never leaves its one Secret."""

    import_from: CAImportSource | None = Field(
        default=None,
        description="Start from an existing root CA instead of generating one: its key and certificate "
        "are copied once into the issuer's CA Secret, where it is the current CA until certmint's "
        "rotation replaces it at its due time; leaves it signed stay trusted. Delete the source Secret "
        "afterwards: the key should live in one Secret.",
    )

    common_name: str | None = Field(
        default=None, max_length=64, description="Subject CN of the CA; defaults to 'certmint <issuer name>'."
    )
    organization: str | None = Field(default=None, max_length=64, description="Subject O of the CA.")
    ca_duration: str = _duration_field(
        DEFAULT_CA_DURATION,
        "caDuration",
        "Lifetime of the generated CA certificate (Go duration syntax).",
        MIN_CA_DURATION,
    )
    secret_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Secret holding the CA key and certificate; defaults to '<issuer name>-ca'. For a "
        "ClusterIssuer it lives in the operator's namespace.",
    )
    private_key: CAKeySpec = Field(default_factory=CAKeySpec, description="CA key parameters.")
    rotation: CARotation = Field(default_factory=CARotation, description="Automatic CA rotation.")
    name_constraints: NameConstraintsSpec | None = Field(
        default=None,
        description="RFC 5280 name constraints of the CA. Unset: a namespaced Issuer's CA is limited to "
        "its namespace's Service names and the DNS names, IP addresses and email domains its policy "
        "allows (no IP address or email without a policy; URIs unconstrained); a ClusterIssuer's is "
        "not limited. Set: exactly these ({} for none).",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {"x-kubernetes-validations": [_schedule_rule()]}
    }


class CAIssuer(ApiModel):
    """Signs with an existing CA whose certificate and key are in a Secret (tls.crt, tls.key)."""

    secret_name: str = Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Secret with tls.crt (CA certificate, then its chain) and tls.key. For a ClusterIssuer "
        "it lives in the operator's namespace.",
    )


class IssuancePolicy(ApiModel):
    """What this issuer may sign. With a policy, anything it does not allow is denied: a kind of name
    (DNS names, URIs, IP addresses, email addresses, organizations) whose list is unset is not allowed
    at all. Without one, only the rules that hold everywhere apply (SPIFFE IDs of the own namespace
    and trust domain, no CA certificates unless spec.allowCA)."""

    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces whose Certificates may use this issuer; unset means all."
    )
    allowed_dns_names: list[str] | None = Field(
        default=None,
        alias="allowedDNSNames",
        max_length=64,
        description="Patterns every DNS name must match: '*' stands for one DNS label or part of one; "
        "${namespace} and ${serviceAccount} are replaced by the Certificate's. Unset denies DNS names.",
        json_schema_extra={"items": {"type": "string", "maxLength": 253}},
    )
    allowed_uris: list[str] | None = Field(
        default=None,
        alias="allowedURIs",
        max_length=64,
        description="Patterns every URI (SPIFFE IDs included) must match: '*' stands for anything but '/'; "
        "${namespace} and ${serviceAccount} as for DNS names. Unset denies URIs.",
        json_schema_extra={"items": {"type": "string", "maxLength": 2048}},
    )
    max_duration: str | None = Field(
        default=None, pattern=DURATION_PATTERN, max_length=32, description="Longest certificate lifetime."
    )
    allowed_key_algorithms: list[KeyAlgorithm] | None = Field(
        default=None, max_length=3, description="Key algorithms allowed; unset allows all."
    )
    allowed_usages: list[Usage] | None = Field(
        default=None,
        max_length=8,
        description="Usages a certificate may have (the defaults count when it asks for none); unset "
        "allows all but CA usages.",
    )
    allowed_common_names: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Patterns the commonName must match ('*' and placeholders as for DNS names); a "
        "commonName matching allowedDNSNames is allowed too, as verifiers may treat it as a host name. "
        "Unset: only such DNS-name commonNames.",
        json_schema_extra={"items": {"type": "string", "maxLength": 253}},
    )
    allowed_ip_addresses: list[str] | None = Field(
        default=None,
        alias="allowedIPAddresses",
        max_length=64,
        description="CIDRs every IP address must fall in, e.g. 10.0.0.0/8. Unset denies IP addresses.",
        json_schema_extra={"items": {"type": "string", "maxLength": 49}},
    )
    allowed_email_addresses: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Patterns every email address must match: '*' stands for anything but '@'; "
        "placeholders as for DNS names. Unset denies email addresses.",
        json_schema_extra={"items": {"type": "string", "maxLength": 320}},
    )
    allowed_organizations: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Patterns every subject organization (O) must match: '*' stands for anything; "
        "placeholders as for DNS names. Unset denies organizations.",
        json_schema_extra={"items": {"type": "string", "maxLength": 64}},
    )
    allow_ca: bool = Field(
        default=False,
        alias="allowCA",
        description="Whether isCA certificates may be issued; the issuer's spec.allowCA must allow them too.",
    )


class RevocationSpec(ApiModel):
    crl_duration: str = _duration_field(
        "24h",
        "crlDuration",
        "Validity of each CRL (nextUpdate - thisUpdate); a new one is signed at half of it.",
    )
    distribution_point_url: str | None = Field(
        default=None,
        alias="distributionPointURL",
        max_length=2048,
        pattern=r"^https?://",
        description="Embedded as CRL distribution point in every certificate issued, e.g. "
        "http://certmint.certmint.svc:9402/crl/<issuer>.crl (ClusterIssuer) or "
        ".../crl/<namespace>/<issuer>.crl (Issuer), served by the operator.",
    )
    ocsp_url: str | None = Field(
        default=None,
        alias="ocspURL",
        max_length=2048,
        pattern=r"^https?://",
        description="Turns on the operator's OCSP responder for this issuer and is embedded as the "
        "OCSP URL (authority information access) of every certificate issued from then on, e.g. "
        "http://certmint.certmint.svc:9402/ocsp/clusterissuer/<issuer> (ClusterIssuer) or "
        ".../ocsp/issuer/<namespace>/<issuer> (Issuer).",
    )
    ocsp_response_duration: str = _duration_field(
        "1h",
        "ocspResponseDuration",
        "Validity of each OCSP response (nextUpdate - thisUpdate); a cached response is signed "
        "again at half of it. Clients may cache a good answer this long after a revocation.",
    )


class AutoApproval(ApiModel):
    """Which CertificateSigningRequests certmint approves itself (it needs the chart's
    csrSigner.autoApprove for the RBAC). Anything else waits for a human approver."""

    workload_identity: bool = Field(
        default=False,
        description="Approve a CSR whose requester is a ServiceAccount (system:serviceaccount:<ns>:<sa>) "
        "and whose only identity is that service account's SPIFFE ID. CSRs this issuer could never sign "
        "are denied with the reason.",
    )
    policy_names: bool = Field(
        default=False,
        description="With workloadIdentity and a policy: also approve when the CSR adds names (DNS names, "
        "CN, ...) the issuer's policy allows the service account's namespace.",
    )


class SigningRequests(ApiModel):
    """Kubernetes CertificateSigningRequests addressed to this issuer's signer name:
    issuers.certmint.dev/<namespace>.<name> or clusterissuers.certmint.dev/<name>."""

    auto_approve: AutoApproval = Field(
        default_factory=AutoApproval, description="What certmint approves without a human."
    )


POD_CERTIFICATE_MIN_DURATION: Final = "1h"
"""The API server refuses a pod certificate that lives less than an hour."""
POD_CERTIFICATE_MAX_DURATION: Final = "2184h"
"""91 days: the longest maxExpirationSeconds the API server accepts."""
_POD_DNS_LABEL = r"(\$\{(serviceAccount|namespace|podName)\}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
POD_DNS_TEMPLATE_PATTERN: Final = rf"^{_POD_DNS_LABEL}(\.{_POD_DNS_LABEL})*$"
"""Dot-separated DNS labels, each a literal label or a whole placeholder."""


class PodCertificates(ApiModel):
    """Kubernetes PodCertificateRequests (a pod's `podCertificate` projected volume) addressed to this
    issuer's signer name. Present (even `{}`) to sign them; absent, they are Denied. The key is made on
    the node and never leaves it; the certificate names the pod's SPIFFE ID
    spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccountName>. An Issuer signs only for pods of its
    own namespace; the issuer's policy applies as to Certificates. The issuer's CAs are published as a
    ClusterTrustBundle for its signer name."""

    dns_name_templates: list[
        Annotated[str, StringConstraints(max_length=253, pattern=POD_DNS_TEMPLATE_PATTERN)]
    ] = Field(
        default_factory=list,
        max_length=8,
        description="DNS names every pod certificate carries, from the pod's identity: ${serviceAccount}, "
        "${namespace} and ${podName} are replaced, e.g. ${serviceAccount}.${namespace}.svc. Nothing the "
        "pod asks for (unverifiedUserAnnotations) adds a name.",
    )
    max_duration: str = _duration_field(
        "24h",
        "maxDuration",
        "The longest a pod certificate lives (the pod's maxExpirationSeconds and the policy's maxDuration "
        "may shorten it). A CA rotation keeps the previous CA trusted at least this long. At most 2184h.",
        minimum=POD_CERTIFICATE_MIN_DURATION,
    )
    renew_before_percentage: int | None = Field(
        default=None,
        ge=1,
        le=99,
        description="When the kubelet starts to refresh (beginRefreshAt), as a percentage of the lifetime "
        "left; unset, as a Certificate of that lifetime renews (a third before its end, with jitter). "
        "Kept within the API server's bounds: 10 minutes after notBefore, 10 minutes before notAfter.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.maxDuration) || "
                    f"duration(self.maxDuration) <= duration('{POD_CERTIFICATE_MAX_DURATION}')",
                    "message": f"maxDuration must be at most {POD_CERTIFICATE_MAX_DURATION}",
                }
            ]
        }
    }


class IssuerSpec(ApiModel):
    self_signed: SelfSignedIssuer | None = Field(default=None, description="Bootstrap an in-cluster CA.")
    ca: CAIssuer | None = Field(default=None, description="Use an existing CA from a Secret.")
    policy: IssuancePolicy | None = Field(default=None, description="What this issuer may sign.")
    allow_ca: bool = Field(
        default=False,
        alias="allowCA",
        description="Whether Certificates may ask this issuer for a CA certificate (isCA, cert sign, crl "
        "sign), with or without a policy. Sub-CAs get pathLen 0.",
    )
    revocation: RevocationSpec = Field(
        default_factory=RevocationSpec, description="CRLs and OCSP for revoked certificates."
    )
    signing_requests: SigningRequests = Field(
        default_factory=SigningRequests,
        description="Kubernetes CertificateSigningRequests for this issuer's signer name.",
    )
    default: bool = Field(
        default=False,
        description="The default issuer of Certificates without issuerRef: a ClusterIssuer for every "
        "namespace, an Issuer for its own namespace only (where it wins over a default ClusterIssuer). "
        "Two defaults for the same namespace: neither is used, and the Certificates that need one say so.",
    )
    pod_certificates: PodCertificates | None = beta_field(
        default=None,
        description="Sign Kubernetes PodCertificateRequests for this issuer's signer name and publish its "
        "CAs as a ClusterTrustBundle. Needs Kubernetes' PodCertificateRequest and ClusterTrustBundle APIs "
        "(certificates.k8s.io/v1beta1) and the chart's podCertificates.enabled.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.selfSigned) ? 1 : 0) + (has(self.ca) ? 1 : 0) == 1",
                    "message": "exactly one issuer type must be set: selfSigned or ca",
                }
            ]
        }
    }


class CAStatus(ApiModel):
    subject: str
    not_after: datetime
    fingerprint: str = Field(description="SHA-256 fingerprint of the CA certificate.")
    serial_number: str


class RotationPhase(StrEnum):
    STABLE = "Stable"
    PREPARED = "Prepared"
    """The next CA is trusted (in every bundle) but does not sign yet."""
    OVERLAP = "Overlap"
    """The next CA signs; the previous one stays trusted until its last certificate has expired."""


class RotationStatus(ApiModel):
    phase: RotationPhase
    next_ca: CAStatus | None = None
    previous_ca: CAStatus | None = None
    activates_at: datetime | None = None
    retires_at: datetime | None = None
    next_rotation_at: datetime | None = Field(default=None, description="When the next rotation starts.")


class IssuerStatus(ApiModel):
    conditions: list[Condition] = CONDITIONS_FIELD
    observed_generation: int | None = None
    secret_name: str | None = Field(default=None, description="Secret that holds the CA.")
    ca: CAStatus | None = Field(default=None, description="The CA currently signing certificates.")
    rotation: RotationStatus | None = Field(default=None, description="CA rotation of a selfSigned issuer.")


class Issuer(ApiModel):
    """A CA that signs Certificates in its own namespace."""

    api_version: str = API_VERSION
    kind: str = ISSUERS.kind
    metadata: ObjectMeta
    spec: IssuerSpec
    status: IssuerStatus = Field(default_factory=IssuerStatus)


class ClusterIssuer(Issuer):
    """A CA that signs Certificates in any namespace."""

    kind: str = CLUSTER_ISSUERS.kind
