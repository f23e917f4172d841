"""NamespacedTrustBundle: CA certificates a namespace owner publishes as a ConfigMap into its own
namespace, from sources that namespace may read (its own Issuers, ConfigMaps and Secrets, any
ClusterIssuer's public CA, inline PEM). A source spelling another namespace is refused, never read."""

from pydantic import Field

from certmint.api.certificate import IssuerKind
from certmint.api.common import DNS_SUBDOMAIN_PATTERN, ApiModel, ObjectMeta
from certmint.api.kinds import API_VERSION, NAMESPACED_TRUST_BUNDLES
from certmint.api.trustbundle import (
    EXACTLY_ONE_SOURCE,
    NOT_A_RESERVED_NAME,
    TargetFormats,
    TrustBundleStatus,
)

MAX_INLINE_PEM_BYTES = 256 * 1024
"""An inline PEM source's size: a tenant's object, bounded before anything parses it."""

OWN_NAMESPACE_ONLY = (
    "Only the bundle's own namespace (the default when unset); any other is refused on the Synced "
    "condition and never read."
)


class LocalIssuerSource(ApiModel):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    kind: IssuerKind = IssuerKind.ISSUER
    namespace: str | None = Field(
        default=None, max_length=63, description=f"For an Issuer. {OWN_NAMESPACE_ONLY}"
    )


class LocalObjectKeySource(ApiModel):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    key: str = Field(default="ca.crt", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    namespace: str | None = Field(default=None, max_length=63, description=OWN_NAMESPACE_ONLY)


class NamespacedBundleSource(ApiModel):
    """Exactly one of issuer, secret, configMap or inlinePEM."""

    issuer: LocalIssuerSource | None = Field(
        default=None, description="An Issuer of this namespace, or any ClusterIssuer (its CA is public)."
    )
    secret: LocalObjectKeySource | None = Field(default=None, description="A Secret of this namespace.")
    config_map: LocalObjectKeySource | None = Field(
        default=None, description="A ConfigMap of this namespace."
    )
    inline_pem: str | None = Field(default=None, alias="inlinePEM", max_length=MAX_INLINE_PEM_BYTES)

    model_config = ApiModel.model_config | {"json_schema_extra": EXACTLY_ONE_SOURCE}


class NamespacedBundleTarget(TargetFormats):
    """The ConfigMap (and, with `secret`, the Secret) of the bundle's name in the bundle's own
    namespace; a ConfigMap or Secret of that name certmint did not create for this bundle is never
    written."""


class NamespacedTrustBundleSpec(ApiModel):
    sources: list[NamespacedBundleSource] = Field(min_length=1, max_length=64)
    target: NamespacedBundleTarget = Field(default_factory=NamespacedBundleTarget)


class NamespacedTrustBundle(ApiModel):
    """CA certificates published as a ConfigMap of the same name in the bundle's own namespace."""

    api_version: str = API_VERSION
    kind: str = NAMESPACED_TRUST_BUNDLES.kind
    metadata: ObjectMeta
    spec: NamespacedTrustBundleSpec
    status: TrustBundleStatus = Field(default_factory=TrustBundleStatus)

    model_config = ApiModel.model_config | {"json_schema_extra": NOT_A_RESERVED_NAME}
