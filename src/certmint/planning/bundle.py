"""Pure decisions for TrustBundles: which namespaces get the ConfigMap, which lose it, what it holds."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from certmint.api import LabelSelector, TrustBundle
from certmint.api.trustbundle import RESERVED_CONFIGMAP_NAMES, LabelSelectorOperator
from certmint.pki import TrustBundleContent, pkcs12_truststore
from certmint.planning.contest import Contest, DataWriter, contest


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


def contested_targets(
    write: tuple[str, ...],
    writers: Mapping[str, tuple[DataWriter, ...]],
    annotations: Mapping[str, Mapping[str, str]],
    desired: ConfigMapContent,
    now: datetime,
) -> dict[str, Contest]:
    """Namespaces about to be written whose ConfigMap another field manager changed: putting it back
    follows planning.contest's backoff instead of answering every write of theirs."""
    keys = [*desired.data, *desired.binary_data]
    found = {}
    for namespace in write:
        contested = contest(writers.get(namespace, ()), keys, annotations.get(namespace, {}), now)
        if contested is not None:
            found[namespace] = contested
    return found


def hold_back(
    plan: TargetPlan, contests: Mapping[str, Contest], now: datetime
) -> tuple[TargetPlan, dict[str, Contest]]:
    """The plan without the contested writes that are not due yet, and those held back."""
    held = {namespace: found for namespace, found in contests.items() if found.due > now}
    write = tuple(namespace for namespace in plan.write if namespace not in held)
    return TargetPlan(write=write, delete=plan.delete), held
