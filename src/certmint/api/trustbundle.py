"""TrustBundle (cluster-scoped): CA certificates delivered as a ConfigMap into chosen namespaces."""

from enum import StrEnum

from pydantic import Field
from pydantic.config import JsonDict

from certmint.api.certificate import IssuerKind
from certmint.api.common import (
    CONDITIONS_FIELD,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    Condition,
    ObjectMeta,
    beta_field,
)
from certmint.api.kinds import API_VERSION, TRUST_BUNDLES

RESERVED_CONFIGMAP_NAMES = ("kube-root-ca.crt", "openshift-service-ca.crt")
"""ConfigMaps Kubernetes (and OpenShift) publish into every namespace themselves: a TrustBundle of
that name would race their publisher and could hand pods the wrong API server CA."""


NOT_A_RESERVED_NAME: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "!(self.metadata.name in "
            + "["
            + ", ".join(f"'{name}'" for name in RESERVED_CONFIGMAP_NAMES)
            + "])",
            "message": "this ConfigMap name is published by Kubernetes itself; name the TrustBundle "
            "differently",
        }
    ]
}
"""The API server's rule on the name of every bundle kind (its ConfigMap's name)."""


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    key: str
    operator: LabelSelectorOperator
    values: list[str] = Field(default_factory=list)


class LabelSelector(ApiModel):
    """A Kubernetes label selector; empty selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class IssuerSource(ApiModel):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    kind: IssuerKind = IssuerKind.ISSUER
    namespace: str | None = Field(
        default=None, description="Namespace of an Issuer; unset for ClusterIssuer."
    )


class ObjectKeySource(ApiModel):
    namespace: str
    name: str
    key: str = "ca.crt"


EXACTLY_ONE_SOURCE: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "(has(self.issuer) ? 1 : 0) + (has(self.secret) ? 1 : 0)"
            " + (has(self.configMap) ? 1 : 0) + (has(self.inlinePEM) ? 1 : 0) == 1",
            "message": "each source must set exactly one of issuer, secret, configMap or inlinePEM",
        }
    ]
}
"""The rule of every bundle kind's source, checked by the API server."""


class BundleSource(ApiModel):
    """Exactly one of issuer, secret, configMap or inlinePEM."""

    issuer: IssuerSource | None = None
    secret: ObjectKeySource | None = None
    config_map: ObjectKeySource | None = None
    inline_pem: str | None = Field(default=None, alias="inlinePEM")

    model_config = ApiModel.model_config | {"json_schema_extra": EXACTLY_ONE_SOURCE}


class PKCS12Target(ApiModel):
    key: str = "truststore.p12"
    password: str = Field(
        default="changeit",
        min_length=1,
        max_length=128,
        description="Password of the truststore; Java's default, as a truststore holds only public data.",
    )


class ClusterTrustBundleTarget(ApiModel):
    """Also publish the bundle's CA certificates as a ClusterTrustBundle (certificates.k8s.io/v1beta1)
    named certmint-<TrustBundle name>, without a signer name: pods project it with
    `clusterTrustBundle: {name: certmint-<name>, path: ...}`. Needs the operator's --pod-certificates
    and an API server serving ClusterTrustBundles; a ClusterTrustBundle of that name certmint did not
    create is never written."""


class SecretTarget(ApiModel):
    """Also publish the bundle as a Secret of the TrustBundle's name (type Opaque, labelled
    certmint.dev/trust-bundle), for consumers that read CA certificates only from a Secret
    (ingress-nginx auth-tls-secret, many Helm charts). A Secret of that name certmint did not create
    for this bundle is never written."""

    key: str = Field(
        default="ca.crt",
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Secret key of the PEM bundle.",
    )


class TargetFormats(ApiModel):
    """What a bundle publishes in each of its namespaces (a ConfigMap, and a Secret if asked): the
    fields of every bundle kind's target."""

    config_map_key: str = Field(default="ca.crt", description="ConfigMap key of the PEM bundle.")
    combined_key: str | None = Field(default=None, description="Also write the bundle under this key.")
    crl_key: str = Field(
        default="ca.crl",
        description="ConfigMap key of the issuers' CRLs (PEM); written when an issuer source has any.",
    )
    pkcs12: PKCS12Target | None = Field(default=None, description="Also write a PKCS#12 truststore.")
    secret: SecretTarget | None = Field(
        default=None,
        description="Also publish the PEM bundle as a Secret of the same name in the same namespaces.",
    )


class BundleTarget(TargetFormats):
    namespace_selector: LabelSelector = Field(
        default_factory=LabelSelector, description="Namespaces receiving the ConfigMap; empty means all."
    )
    cluster_trust_bundle: ClusterTrustBundleTarget | None = beta_field(
        default=None,
        description="Also publish the CA certificates as the ClusterTrustBundle certmint-<name> (no signer "
        "name); deleted with the TrustBundle or when this is removed.",
    )


class TrustBundleSpec(ApiModel):
    sources: list[BundleSource] = Field(min_length=1, max_length=64)
    target: BundleTarget = Field(default_factory=BundleTarget)


class SourceStatus(ApiModel):
    """What the bundle publishes for one source: kept when the source fails, so its CAs stay."""

    source: str = Field(
        description="The source: Issuer/<ns>/<name>, ClusterIssuer/<name>, "
        "Secret|ConfigMap/<ns>/<name>/<key> or inlinePEM/<sha256 prefix>."
    )
    synced: bool = Field(description="Published as read now; false: its last published content is kept.")
    fingerprints: list[str] = Field(
        default_factory=list, description="SHA-256 of the CA certificates published for it, in every copy."
    )
    certificates: str = Field(default="", description="Those CA certificates (PEM).")
    crls: str = Field(default="", description="The CRLs published for it (PEM).")
    message: str | None = None


class TrustBundleStatus(ApiModel):
    conditions: list[Condition] = CONDITIONS_FIELD
    observed_generation: int | None = None
    namespace_count: int | None = None
    digest: str | None = None
    sources: list[SourceStatus] = Field(
        default_factory=list,
        description="Per source, what every published copy holds; a failing source keeps its last.",
    )


class TrustBundle(ApiModel):
    """CA certificates published as a ConfigMap of the same name in every selected namespace."""

    api_version: str = API_VERSION
    kind: str = TRUST_BUNDLES.kind
    metadata: ObjectMeta
    spec: TrustBundleSpec
    status: TrustBundleStatus = Field(default_factory=TrustBundleStatus)

    model_config = ApiModel.model_config | {"json_schema_extra": NOT_A_RESERVED_NAME}
