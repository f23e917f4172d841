"""The certmint.dev resources' names, declared once: group and version, each kind with its plural
and scope, and the condition types their statuses carry. The CRDs (api.crd), the watches and
status writes (operator), the CLI, the tests and the bench all read them from here."""

from dataclasses import dataclass

GROUP = "certmint.dev"
VERSION = "v1"
"""The storage version, and the version certmint reads and writes."""
API_VERSION = f"{GROUP}/{VERSION}"
DEPRECATED_VERSIONS = ("v1alpha1",)
"""Still served, with the same schema (no conversion webhook: the API server only rewrites
apiVersion), so that manifests and clients of an earlier release keep working for one more
release. `certmint migrate` moves what etcd stores at them to VERSION; then a release can drop them."""

READY = "Ready"
"""The condition type of Certificates and issuers: whether they serve."""
SYNCED = "Synced"
"""The condition type of TrustBundles and NamespacedTrustBundles: whether every selected namespace
publishes the bundle."""
CA_PUBLISHED = "CAPublished"
"""The condition type of an issuer preparing its next CA: whether every TrustBundle publishes it."""
IMPORTED = "Imported"
"""The condition type of a selfSigned issuer whose current CA was imported (spec.selfSigned.importFrom):
present, True, while that CA is the current one; its message names the source Secret to delete."""
POD_CERTIFICATES = "PodCertificates"
"""The condition type of an issuer with spec.podCertificates: whether it signs PodCertificateRequests
and publishes its ClusterTrustBundle (Ready is not affected: Certificates are served either way)."""
DEFAULT = "Default"
"""An issuer marked spec.default: True while it is the one default of its scope; its
lastTransitionTime to True is when it became the default (Certificates that followed another
default are re-issued spread over its reissueWindow from then)."""


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    namespaced: bool
    condition: str
    """The condition type that says whether an object of this kind does its job."""


CERTIFICATES = Resource("Certificate", "certificates", namespaced=True, condition=READY)
ISSUERS = Resource("Issuer", "issuers", namespaced=True, condition=READY)
CLUSTER_ISSUERS = Resource("ClusterIssuer", "clusterissuers", namespaced=False, condition=READY)
TRUST_BUNDLES = Resource("TrustBundle", "trustbundles", namespaced=False, condition=SYNCED)
NAMESPACED_TRUST_BUNDLES = Resource(
    "NamespacedTrustBundle", "namespacedtrustbundles", namespaced=True, condition=SYNCED
)
RESOURCES = (CERTIFICATES, ISSUERS, CLUSTER_ISSUERS, TRUST_BUNDLES, NAMESPACED_TRUST_BUNDLES)

_BY_KIND = {resource.kind: resource for resource in RESOURCES}
_BY_PLURAL = {resource.plural: resource for resource in RESOURCES}


def by_kind(kind: str) -> Resource:
    return _BY_KIND[kind]


def by_plural(plural: str) -> Resource:
    return _BY_PLURAL[plural]
