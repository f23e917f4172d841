"""Pure decisions for TrustBundles: which namespaces get the ConfigMap, which lose it, what it holds."""

from collections.abc import Mapping
from dataclasses import dataclass

from certmint.api import LabelSelector, TrustBundle
from certmint.api.trustbundle import RESERVED_CONFIGMAP_NAMES, LabelSelectorOperator
from certmint.pki import TrustBundleContent, pkcs12_truststore


def reserved_name_refusal(name: str) -> str | None:
    if name in RESERVED_CONFIGMAP_NAMES:
        return (
            f"ConfigMap name {name} is published by Kubernetes itself into every namespace; name the "
            "TrustBundle differently"
        )
    return None


@dataclass(frozen=True)
class TargetPlan:
    write: tuple[str, ...]
    """Namespaces whose ConfigMap is missing or holds another digest."""
    delete: tuple[str, ...]
    """Namespaces holding our ConfigMap that no longer match."""


@dataclass(frozen=True)
class ConfigMapContent:
    data: dict[str, str]
    binary_data: dict[str, bytes]


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; an empty selector matches everything."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        match requirement.operator:
            case LabelSelectorOperator.IN:
                ok = present and value in requirement.values
            case LabelSelectorOperator.NOT_IN:
                ok = not present or value not in requirement.values
            case LabelSelectorOperator.EXISTS:
                ok = present
            case LabelSelectorOperator.DOES_NOT_EXIST:
                ok = not present
        if not ok:
            return False
    return True


def plan_targets(
    selector: LabelSelector,
    namespaces: Mapping[str, Mapping[str, str]],
    existing: Mapping[str, ConfigMapContent],
    desired: ConfigMapContent,
) -> TargetPlan:
    """`namespaces`: name → labels of live namespaces; `existing`: namespace → our ConfigMap's content.

    Content is compared, not a digest annotation, so a hand-edited ConfigMap is put right.
    """
    wanted = {name for name, labels in namespaces.items() if selector_matches(selector, labels)}
    write = sorted(name for name in wanted if name not in existing or not _same(existing[name], desired))
    delete = sorted(name for name in existing if name not in wanted)
    return TargetPlan(write=tuple(write), delete=tuple(delete))


def _same(actual: ConfigMapContent, desired: ConfigMapContent) -> bool:
    # PKCS#12 files differ on every serialization (random salts); their presence is what counts.
    return actual.data == desired.data and set(actual.binary_data) == set(desired.binary_data)


def configmap_content(bundle: TrustBundle, content: TrustBundleContent, crls: bytes) -> ConfigMapContent:
    """`crls`: the PEM CRLs of the bundle's issuer sources; the key is left out when there are none."""
    target = bundle.spec.target
    pem = content.pem.decode()
    data = {target.config_map_key: pem}
    if target.combined_key:
        data[target.combined_key] = pem
    if crls:
        data[target.crl_key] = crls.decode()
    binary = {}
    if target.pkcs12 is not None:
        binary[target.pkcs12.key] = pkcs12_truststore(content.certificates, target.pkcs12.password.encode())
    return ConfigMapContent(data=data, binary_data=binary)
