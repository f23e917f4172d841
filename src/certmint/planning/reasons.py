"""Every reason certmint reports, in one place: condition reasons, event reasons and metric labels.

Machine-readable CamelCase, as the Kubernetes API conventions ask; code compares these constants,
never string literals.
"""

from typing import Final

from certmint.pki.errors import (
    CA_EXPIRED,
    INVALID_CERTIFICATE,
    INVALID_CRL,
    INVALID_KEY,
    INVALID_REQUEST,
    INVALID_SIGNATURE,
    KEY_MISMATCH,
    NOT_A_CA,
    REQUEST_TOO_LARGE,
    TOO_MANY_NAMES,
    TOO_MANY_PEM_BLOCKS,
    VERIFICATION_FAILED,
)

__all__ = [
    "CA_EXPIRED",
    "INVALID_CERTIFICATE",
    "INVALID_CRL",
    "INVALID_KEY",
    "INVALID_REQUEST",
    "INVALID_SIGNATURE",
    "KEY_MISMATCH",
    "NOT_A_CA",
    "REQUEST_TOO_LARGE",
    "TOO_MANY_NAMES",
    "TOO_MANY_PEM_BLOCKS",
    "VERIFICATION_FAILED",
]

# Why a Certificate gets a new certificate (planning.certificates.triggers, in that order).
SECRET_MISSING: Final = "SecretMissing"
SECRET_INVALID: Final = "SecretInvalid"
ADOPTED: Final = "Adopted"
"""An existing Secret certmint never wrote, invited for adoption: issued once, in place."""
KEY_DOES_NOT_MATCH: Final = "KeyMismatch"
ISSUER_CHANGED: Final = "IssuerChanged"
DEFAULT_ISSUER_CHANGED: Final = "DefaultIssuerChanged"
"""A Certificate without issuerRef whose certificate a former default issuer signed: re-issued at its
point in the new default's reissueWindow (planning.defaults)."""
REVOKED: Final = "Revoked"
CA_ROTATED: Final = "CARotated"
SPEC_CHANGED: Final = "SpecChanged"
RENEW_REQUESTED: Final = "RenewRequested"
SECRET_INCOMPLETE: Final = "SecretIncomplete"
EXPIRED: Final = "Expired"
RENEWING: Final = "Renewing"
RENEWAL_TRIGGERS: Final = frozenset({RENEWING, EXPIRED})
"""Triggers that count as a renewal rather than a re-issue in events and metrics."""

# Why a Certificate cannot be issued (Ready=False).
INVALID_SPEC: Final = "InvalidSpec"
ISSUER_NOT_FOUND: Final = "IssuerNotFound"
ISSUER_NOT_READY: Final = "IssuerNotReady"
POLICY_DENIED: Final = "PolicyDenied"
OUTSIDE_NAME_CONSTRAINTS: Final = "OutsideNameConstraints"
"""A name the issuer's CA (or a CA above it) may not certify under its RFC 5280 name constraints:
every verifier would reject the certificate, so certmint does not sign it."""
DURATION_EXCEEDS_ISSUER: Final = "DurationExceedsIssuer"
SECRET_CONFLICT: Final = "SecretConflict"
"""The Secret is another's: a Certificate's secretName managed by another Certificate, or a TrustBundle's
`secret` target where a Secret of that name certmint did not create for it exists (never written)."""
SECRET_REJECTED: Final = "SecretRejected"
PASSWORD_SECRET_NOT_FOUND: Final = "PasswordSecretNotFound"
NO_DEFAULT_ISSUER: Final = "NoDefaultIssuer"
"""No issuerRef and no issuer marked default for the namespace: waits for one."""
AMBIGUOUS_DEFAULT_ISSUER: Final = "AmbiguousDefaultIssuer"
"""Two or more issuers are the default of the same scope: none is used (also the Default condition
reason of each of them)."""

# Events and metric results of a successful issuance; the Ready reason.
ISSUED: Final = "Issued"
RENEWED: Final = "Renewed"
REISSUED: Final = "Reissued"
READY: Final = "Ready"

# Issuers.
CA_READY: Final = "CAReady"
CA_SECRET_NOT_FOUND: Final = "CASecretNotFound"
CA_SECRET_INVALID: Final = "CASecretInvalid"
CA_KEY_MISMATCH: Final = "CAKeyMismatch"
REVOCATION_LIST_INVALID: Final = "RevocationListInvalid"
CA_GENERATED: Final = "CAGenerated"
CA_ROTATION_PREPARED: Final = "CARotationPrepared"
CA_ROTATION_REQUESTED: Final = "CARotationRequested"
CA_ROTATION_ACTIVATED: Final = "CARotationActivated"
CA_RETIRED: Final = "CARetired"
DEFAULT_ISSUER: Final = "DefaultIssuer"
"""The Default condition of the one issuer marked default in its scope."""
CA_SECRET_NOT_OWNED: Final = "CASecretNotOwned"
"""A selfSigned issuer's CA Secret exists and certmint did not create it for that issuer: neither
used nor written (importFrom, with the Secret's invitation, starts from an existing CA)."""
CA_IMPORTED: Final = "CAImported"
"""A selfSigned issuer's first CA was imported from spec.selfSigned.importFrom (event; reason of the
Imported condition while that CA signs)."""
CA_IMPORT_SOURCE_NOT_FOUND: Final = "CAImportSourceNotFound"
"""The Secret importFrom names does not exist (yet): read again with backoff."""
CA_IMPORT_NOT_ALLOWED: Final = "CAImportNotAllowed"
"""The source Secret does not carry certmint.dev/allow-import-by for this issuer, or an Issuer names
another namespace."""
CA_IMPORT_INVALID: Final = "CAImportInvalid"
"""The source Secret does not hold one root CA certificate and its supported key (missing keys,
oversized data, a chain, a malformed certificate or key)."""
CA_NOT_SELF_SIGNED: Final = "CANotSelfSigned"
"""The CA to import is not a root (an intermediate): certmint's rotation could not keep its chain."""
ROTATION_SCHEDULE_INVALID: Final = "RotationScheduleInvalid"
"""A selfSigned Issuer whose caDuration or rotation is below the minimums (an object stored before
the API server checked them): no CA is used or rotated until the spec is fixed."""

# TrustBundles.
SYNCED: Final = "Synced"
SOURCE_UNAVAILABLE: Final = "SourceUnavailable"
INVALID_SOURCE: Final = "InvalidSource"
CONFIGMAP_CONFLICT: Final = "ConfigMapConflict"
TRUST_CHANGED: Final = "TrustChanged"
"""Event reason on a TrustBundle whose published CA certificates changed."""
SOURCE_OUTSIDE_NAMESPACE: Final = "SourceOutsideNamespace"
"""A NamespacedTrustBundle source names another namespace: refused, never read, nothing published."""

# Tenant safety: what a Certificate or TrustBundle may not make certmint do.
SECRET_NOT_OWNED: Final = "SecretNotOwned"
"""The Secret exists and nothing says it belongs to this Certificate: certmint does not write it."""
SECRET_IS_ISSUER_CA: Final = "SecretIsIssuerCA"
"""The Secret is (or will be) the CA Secret of an Issuer or ClusterIssuer: never a leaf target."""
SECRET_CONTESTED: Final = "SecretContested"
"""Another writer keeps changing the Secret (a Certificate's, or a TrustBundle's published copy);
certmint repairs it only with exponential backoff."""
CONFIGMAP_CONTESTED: Final = "ConfigMapContested"
"""Another writer keeps changing a published ConfigMap; it is put back only with exponential backoff."""
PASSWORD_SECRET_NOT_ALLOWED: Final = "PasswordSecretNotAllowed"
"""A PKCS#12 passwordSecretRef names a Secret that did not opt in to being read for Certificates."""
RESERVED_NAME: Final = "ReservedName"
"""A TrustBundle named like a ConfigMap Kubernetes itself publishes."""

# CertificateSigningRequests (certificates.k8s.io/v1) addressed to certmint's signers.
UNKNOWN_SIGNER: Final = "UnknownSigner"
"""A signerName under certmint's prefixes that names no issuer the way certmint spells them."""
REQUESTER_NOT_ALLOWED: Final = "RequesterNotAllowed"
"""A service account asked an Issuer of another namespace: identities never cross namespaces."""
UNSUPPORTED_USAGE: Final = "UnsupportedUsage"
CSR_ISSUED: Final = "CertificateIssued"
"""Event on a CSR whose certificate certmint wrote."""
AUTO_APPROVED: Final = "CertmintAutoApproved"
"""Approved condition reason: a service account asked for exactly its own workload identity."""
AUTO_DENIED: Final = "CertmintDenied"
"""Denied condition reason (the message names the rule): the request could never be signed."""

# TrustBundles with a failing or refused source (issue 27): the others are published all the same.
UNCONSTRAINED_ISSUER_CA: Final = "UnconstrainedIssuerCA"
"""A namespaced Issuer's CA has no NameConstraints: it is not published into other namespaces."""
# CA rotation waiting for the TrustBundles that include the issuer.
CA_PUBLISHED: Final = "CAPublished"
"""Condition type on a rotating Issuer, and its reason when every bundle publishes the next CA."""
BUNDLES_LAGGING: Final = "BundlesLagging"
"""The next CA waits for TrustBundles that still publish only the current one."""
CA_ACTIVATED_UNPUBLISHED: Final = "CAActivatedUnpublished"
"""Warning event: the wait's bound passed, the next CA signs although some bundles lag."""

# PodCertificateRequests (certificates.k8s.io/v1beta1) addressed to certmint's signers.
POD_CERTIFICATES_NOT_ENABLED: Final = "PodCertificatesNotEnabled"
"""Denied: the issuer has no spec.podCertificates (the message says how to opt in)."""
UNSUPPORTED_KEY_TYPE: Final = "UnsupportedKeyType"
"""Denied: a key type certmint does not sign. Spelled exactly as Kubernetes documents it."""
UNKNOWN_USER_ANNOTATION: Final = "UnknownUserAnnotation"
"""Denied: spec.unverifiedUserAnnotations names a key certmint does not document (none yet)."""
POD_MISMATCH: Final = "PodMismatch"
"""Denied: the request does not match the live Pod it names (uid, service account, node, or the
pod has no podCertificate volume source for this signer)."""
POD_CERTIFICATE_TOO_SHORT: Final = "PodCertificateTooShort"
"""Failed: the lifetime left (the policy's maxDuration, the CA's own end) is under the API server's 1h."""
POD_CERTIFICATE_ISSUED: Final = "PodCertificateIssued"
"""Issued condition reason and event on a PodCertificateRequest certmint signed."""

# Pod certificates' trust: the issuer's ClusterTrustBundle (issue 24). Condition PodCertificates.
POD_CERTIFICATES_PUBLISHED: Final = "Published"
"""The issuer's ClusterTrustBundle publishes its CAs (PodCertificates True)."""
POD_CERTIFICATES_DISABLED: Final = "PodCertificatesDisabled"
"""The operator runs without --pod-certificates while the issuer opts in."""
API_UNAVAILABLE: Final = "APIUnavailable"
"""The API server does not serve certificates.k8s.io/v1beta1 PodCertificateRequests and
ClusterTrustBundles (feature gates off, or an older Kubernetes)."""
CLUSTER_TRUST_BUNDLE_NOT_OWNED: Final = "ClusterTrustBundleNotOwned"
"""A ClusterTrustBundle of the name certmint publishes under exists and certmint did not create it:
left as it is."""
CLUSTER_TRUST_BUNDLE_CONTESTED: Final = "ClusterTrustBundleContested"
"""Another writer keeps changing certmint's ClusterTrustBundle: repaired with backoff."""
CLUSTER_TRUST_BUNDLE_WRITE_FAILED: Final = "ClusterTrustBundleWriteFailed"
"""The API server refused certmint's write of the issuer's ClusterTrustBundle (RBAC, a conflict):
retried; Certificates are served meanwhile."""

# Issuers across replicas (issue 25).
WAITING_FOR_OWNER: Final = "WaitingForOwner"
"""A replica that does not own the issuer found no usable CA Secret yet: the owning replica creates
it; this one only reads it."""
