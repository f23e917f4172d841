"""How a conversion is asked for, and what it knows about the other objects of the same input."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from certmint.convert.findings import ObjectRef


class CAIssuers(StrEnum):
    """What a cert-manager `ca` issuer becomes."""

    IMPORT = "import"
    """A certmint selfSigned issuer importing the CA from the Secret: the CA is kept and gains rotation."""
    CA = "ca"
    """A certmint `ca` issuer signing with the Secret as it is: the CA never rotates."""


DEFAULT_CERT_MANAGER_NAMESPACE = "cert-manager"
"""cert-manager's --cluster-resource-namespace and trust-manager's trust namespace, by default."""


@dataclass(frozen=True)
class Options:
    trust_namespace: str = DEFAULT_CERT_MANAGER_NAMESPACE
    """Where trust-manager reads the ConfigMaps and Secrets of a Bundle's sources."""
    cluster_resource_namespace: str = DEFAULT_CERT_MANAGER_NAMESPACE
    """Where cert-manager reads a ClusterIssuer's CA Secret."""
    cert_manager_annotations: bool = False
    """Set spec.certManagerAnnotations on every Certificate."""
    ca_issuers: CAIssuers = CAIssuers.IMPORT


@dataclass(frozen=True)
class Context:
    """What converting one object needs to know of the others in the same input."""

    options: Options
    unusable_issuers: Mapping[ObjectRef, str] = field(default_factory=dict)
    """Issuers of the input that convert to no certmint issuer, and why (a Certificate using one is
    refused)."""
