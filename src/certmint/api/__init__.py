"""The certmint.dev/v1 API (v1alpha1 still served, the same schema): pydantic models of the CRDs
and the CRD YAML generated from them."""

from certmint.api.certificate import (
    AdditionalOutputFormat,
    Certificate,
    CertificateSpec,
    CertificateStatus,
    Identity,
    IssuerRef,
    KeystoresSpec,
    PKCS12Keystore,
    PrivateKeySpec,
    SecretKeySelector,
    SecretTemplate,
)
from certmint.api.common import Condition, ConditionStatus, ObjectMeta
from certmint.api.duration import parse_duration
from certmint.api.issuer import (
    CAIssuer,
    CAStatus,
    ClusterIssuer,
    Issuer,
    IssuerSpec,
    IssuerStatus,
    SelfSignedIssuer,
)
from certmint.api.kinds import API_VERSION, GROUP, VERSION
from certmint.api.namespacedtrustbundle import NamespacedBundleSource, NamespacedTrustBundle
from certmint.api.trustbundle import (
    BundleSource,
    BundleTarget,
    LabelSelector,
    TrustBundle,
    TrustBundleSpec,
    TrustBundleStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AdditionalOutputFormat",
    "BundleSource",
    "BundleTarget",
    "CAIssuer",
    "CAStatus",
    "Certificate",
    "CertificateSpec",
    "CertificateStatus",
    "ClusterIssuer",
    "Condition",
    "ConditionStatus",
    "Identity",
    "Issuer",
    "IssuerRef",
    "IssuerSpec",
    "IssuerStatus",
    "KeystoresSpec",
    "LabelSelector",
    "NamespacedBundleSource",
    "NamespacedTrustBundle",
    "ObjectMeta",
    "PKCS12Keystore",
    "PrivateKeySpec",
    "SecretKeySelector",
    "SecretTemplate",
    "SelfSignedIssuer",
    "TrustBundle",
    "TrustBundleSpec",
    "TrustBundleStatus",
    "parse_duration",
]
