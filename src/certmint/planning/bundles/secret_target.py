"""Pure decisions for a bundle's Secret target: what the Secret holds and is marked with, which
namespaces get it, which lose it.

A function of the bundle's identity, the namespaces it publishes to and its content only, so every
bundle kind publishes its Secrets the same way.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certmint.pki import certificates_to_pem
from certmint.planning import labels
from certmint.planning.bundles.targets import TargetPlan, contested_targets, hold_back
from certmint.planning.contest import Contest, DataWriter, contest_annotations

SECRET_TYPE = "Opaque"
"""Not kubernetes.io/tls: that type requires tls.key, and a bundle holds no key."""


@dataclass(frozen=True)
class BundleIdentity:
    """The bundle a published copy belongs to: its owner reference and its markings."""

    api_version: str
    kind: str
    name: str
    uid: str
    bucket: str = ""
    """The bundle's bucket label (planning.shards), so that the replica owning the bundle sees its
    copies; "" with a single replica."""


@dataclass(frozen=True)
class SecretContent:
    data: Mapping[str, bytes]
    digest: str


@dataclass(frozen=True)
class PublishedSecret:
    """One of the bundle's Secrets as listed: created by certmint for this bundle."""

    namespace: str
    data: Mapping[str, bytes]
    annotations: Mapping[str, str]
    writers: tuple[DataWriter, ...]
    uid: str
    resource_version: str


@dataclass(frozen=True)
class SecretPlan:
    targets: TargetPlan
    """Namespaces to write (missing, or holding other data) and to withdraw from."""
    contests: Mapping[str, Contest]
    """Namespaces about to be written whose Secret another writer changed: the backoff markings."""
    held: Mapping[str, Contest]
    """Contested namespaces whose repair is not due yet: left as they are for now."""


def secret_content(key: str, certificates: Sequence[x509.Certificate], digest: str) -> SecretContent:
    """The PEM of the bundle's parsed CA certificates under `key`: re-encoded from certificates, so
    nothing else a source's PEM held (a private key pasted with them) can reach the Secret."""
    return SecretContent({key: certificates_to_pem(certificates)}, digest)


def secret_labels(identity: BundleIdentity) -> dict[str, str]:
    """The role label puts the copy in the operator's one selected Secret watch; the UID label
    finds a bundle's copies."""
    return {
        labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE,
        labels.TRUST_BUNDLE_LABEL: identity.uid,
        **({labels.BUCKET_LABEL: identity.bucket} if identity.bucket else {}),
    }


def secret_annotations(identity: BundleIdentity, digest: str, contested: Contest | None) -> dict[str, str]:
    return {
        labels.TRUST_BUNDLE_NAME: identity.name,
        labels.BUNDLE_DIGEST: digest,
        **contest_annotations(contested),
    }


def plan_secrets(
    wanted: frozenset[str],
    existing: Mapping[str, PublishedSecret],
    content: SecretContent | None,
    now: datetime,
) -> SecretPlan:
    """`wanted`: the namespaces the bundle publishes to; `existing`: namespace → its Secret there;
    `content` None when the bundle has no Secret target (then every copy is withdrawn). Data is
    compared, not the digest annotation, so a hand-edited copy is put right."""
    if content is None:
        return SecretPlan(TargetPlan(write=(), delete=tuple(sorted(existing))), {}, {})
    write = tuple(
        sorted(
            namespace
            for namespace in wanted
            if namespace not in existing or dict(existing[namespace].data) != dict(content.data)
        )
    )
    delete = tuple(sorted(namespace for namespace in existing if namespace not in wanted))
    contests = contested_targets(
        write,
        {namespace: found.writers for namespace, found in existing.items()},
        {namespace: found.annotations for namespace, found in existing.items()},
        list(content.data),
        now,
    )
    targets, held = hold_back(TargetPlan(write=write, delete=delete), contests, now)
    return SecretPlan(targets, contests, held)
