"""Pure decisions for TrustBundles: which namespaces get the ConfigMap, which lose it, what it holds."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certmint.api import LabelSelector, NamespacedTrustBundle, TrustBundle
from certmint.api.trustbundle import RESERVED_CONFIGMAP_NAMES
from certmint.pki import (
    PKIError,
    TrustBundleContent,
    certificates_to_pem,
    load_certificates_pem,
    pkcs12_truststore,
)
from certmint.planning import reasons
from certmint.planning.cluster_trust import (
    ClusterTrustBundleManifest,
    Held,
    NotOwned,
    Publication,
    manifest,
    trust_bundle_owner_labels,
    trust_bundle_target_name,
)
from certmint.planning.contest import Contest, DataWriter, contest
from certmint.planning.selectors import selector_matches


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


def configmap_keys(content: ConfigMapContent) -> list[str]:
    return [*content.data, *content.binary_data]


def configmap_content(
    bundle: TrustBundle | NamespacedTrustBundle, content: TrustBundleContent, crls: bytes
) -> ConfigMapContent:
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
    keys: Sequence[str],
    now: datetime,
) -> dict[str, Contest]:
    """Namespaces about to be written whose copy (ConfigMap or Secret) another field manager changed
    in one of our data `keys`: putting it back follows planning.contest's backoff instead of
    answering every write of theirs."""
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


@dataclass(frozen=True)
class TrustChange:
    added: tuple[x509.Certificate, ...]
    removed: tuple[x509.Certificate, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def trust_change(published: Iterable[str], current: Sequence[x509.Certificate]) -> TrustChange:
    """Which CA certificates enter and leave, compared with what the existing ConfigMaps hold
    (`published`: their PEM, one per namespace). Nothing published before is no change: a first
    publication creates trust, it does not alter anyone's."""
    before: dict[bytes, x509.Certificate] = {}
    for pem in published:
        try:
            certificates = load_certificates_pem(pem.encode())
        except PKIError:
            continue  # an unreadable hand edit: what it trusted is unknown, so not reported as left
        before.update((_der(certificate), certificate) for certificate in certificates)
    if not before:
        return TrustChange((), ())
    after = {_der(certificate): certificate for certificate in current}
    return TrustChange(
        added=tuple(certificate for der, certificate in after.items() if der not in before),
        removed=tuple(certificate for der, certificate in before.items() if der not in after),
    )


def describe_trust_change(change: TrustChange) -> str:
    """E.g. `trusted now: CN=ca 2 (sha256 3f2a…); no longer trusted: CN=ca 1 (sha256 9b01…)`."""
    parts = []
    if change.added:
        parts.append("trusted now: " + ", ".join(_describe(certificate) for certificate in change.added))
    if change.removed:
        parts.append(
            "no longer trusted: " + ", ".join(_describe(certificate) for certificate in change.removed)
        )
    return "; ".join(parts)


def _describe(certificate: x509.Certificate) -> str:
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()[:16]
    return f"{certificate.subject.rfc4514_string()} (sha256 {fingerprint})"


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def cluster_trust_bundle_target(
    bundle: TrustBundle, certificates: Sequence[x509.Certificate]
) -> ClusterTrustBundleManifest:
    """The ClusterTrustBundle a `clusterTrustBundle` target publishes: certmint-<name>, no signer name,
    labelled with the bundle's UID and garbage-collected with it."""
    name = bundle.metadata.name
    wanted = manifest(
        trust_bundle_target_name(name),
        "",
        certificates_to_pem(list(certificates)),
        trust_bundle_owner_labels(bundle.metadata.uid),
    )
    return replace(wanted, owner=(bundle.api_version, bundle.kind, name, bundle.metadata.uid))


def cluster_trust_bundle_problem(name: str, result: Publication) -> tuple[str, str] | None:
    """(reason, message) when the target is not as wanted."""
    if isinstance(result, NotOwned):
        return (
            reasons.CLUSTER_TRUST_BUNDLE_NOT_OWNED,
            f"ClusterTrustBundle {name} exists and certmint did not create it: it is left as it is",
        )
    if isinstance(result, Held):
        return reasons.CLUSTER_TRUST_BUNDLE_CONTESTED, result.contest.message("ClusterTrustBundle", name)
    return None
