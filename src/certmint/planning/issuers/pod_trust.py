"""An issuer's ClusterTrustBundle (spec.podCertificates): what it publishes, and the issuer's
PodCertificates condition. Issuer Ready is never affected: Certificates are served either way."""

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509

from certmint.pki import certificates_to_pem
from certmint.planning import reasons
from certmint.planning.cluster_trust import (
    ENABLE_API,
    ENABLE_FLAG,
    ClusterTrustBundleManifest,
    ClusterTrustBundleObject,
    Create,
    Held,
    Keep,
    NotOwned,
    Publication,
    Update,
    issuer_bundle_name,
    issuer_owner_labels,
    manifest,
    published_fingerprints,
)


@dataclass(frozen=True)
class PodTrust:
    """Where an issuer's ClusterTrustBundle is and whose labels make it certmint's."""

    name: str
    signer_name: str
    owner: Mapping[str, str]


def pod_trust(kind: str, namespace: str, name: str, signer_name: str) -> PodTrust:
    return PodTrust(issuer_bundle_name(signer_name), signer_name, issuer_owner_labels(kind, namespace, name))


def wanted_bundle(trust: PodTrust, certificates: tuple[x509.Certificate, ...]) -> ClusterTrustBundleManifest:
    """The issuer's CAs as its peers must trust them now (current, next, previous)."""
    return manifest(trust.name, trust.signer_name, certificates_to_pem(list(certificates)), trust.owner)


@dataclass(frozen=True)
class PodCertificatesCondition:
    status: bool
    reason: str
    message: str


def unavailable(
    kind: str, namespace: str, name: str, enabled: bool, served: bool
) -> PodCertificatesCondition | None:
    """The condition of an opted-in issuer when pod certificates cannot work; None when they can."""
    where = f"{kind} {namespace + '/' if namespace else ''}{name}"
    if not enabled:
        return PodCertificatesCondition(
            False,
            reasons.POD_CERTIFICATES_DISABLED,
            f"{where} sets spec.podCertificates but the operator runs without {ENABLE_FLAG}: no "
            "PodCertificateRequest is signed and no ClusterTrustBundle published; Certificates are served",
        )
    if not served:
        return PodCertificatesCondition(
            False,
            reasons.API_UNAVAILABLE,
            f"the API server does not serve certificates.k8s.io/v1beta1 podcertificaterequests and "
            f"clustertrustbundles: enable {ENABLE_API}, then restart the operator; Certificates are served",
        )
    return None


def published(trust: PodTrust, result: Publication) -> PodCertificatesCondition:
    """The condition after publishing (Create, Update or Keep: published)."""
    if isinstance(result, NotOwned):
        return PodCertificatesCondition(
            False,
            reasons.CLUSTER_TRUST_BUNDLE_NOT_OWNED,
            f"ClusterTrustBundle {trust.name} exists and certmint did not create it: it is left as it is, "
            f"so pods projecting signer {trust.signer_name} do not get this issuer's CAs from certmint. "
            "Delete it to let certmint publish them.",
        )
    if isinstance(result, Held):
        return PodCertificatesCondition(
            False,
            reasons.CLUSTER_TRUST_BUNDLE_CONTESTED,
            result.contest.message("ClusterTrustBundle", trust.name),
        )
    if isinstance(result, (Create, Update, Keep)):
        return PodCertificatesCondition(
            True,
            reasons.POD_CERTIFICATES_PUBLISHED,
            f"ClusterTrustBundle {trust.name} publishes this issuer's CAs for signer {trust.signer_name}",
        )
    raise ValueError(f"not a publication of an opted-in issuer: {result!r}")


def published_by_cluster_trust_bundle(
    trust: PodTrust, found: ClusterTrustBundleObject | None
) -> dict[str, frozenset[str]]:
    """For planning.issuers.rotation.lagging_bundles: the fingerprints certmint's ClusterTrustBundle of
    this issuer publishes (nothing when it is not certmint's, or absent: it holds no rotation back)."""
    if found is None or not found.owned_by(trust.owner) or found.signer_name != trust.signer_name:
        return {}
    return {f"ClusterTrustBundle {trust.name}": published_fingerprints(found.trust_bundle)}
