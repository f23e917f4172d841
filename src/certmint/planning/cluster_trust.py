"""ClusterTrustBundles (certificates.k8s.io/v1beta1) certmint publishes: what each should hold, whose
it is, and what to do about the one of that name the API server has.

An issuer with spec.podCertificates publishes one, named after its signer name
(`<signer name with / as :>:primary`, spec.signerName set), holding the CAs its peers must trust
(IssuerView.trust.certificates). A TrustBundle with a `clusterTrustBundle` target publishes one
named `certmint-<bundle>` without a signer name. certmint writes or deletes only a
ClusterTrustBundle it created: one carrying every label of its owner, set by certmint's field
manager. Anyone else's of that name is never touched (NotOwned).
"""

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, TypeAlias

from certmint.planning import labels, reasons
from certmint.planning.contest import Contest, DataWriter, contest, contest_annotations
from certmint.planning.markings import FIELD_MANAGER, marked_by_certmint

API_VERSION: Final = "certificates.k8s.io/v1beta1"
KIND: Final = "ClusterTrustBundle"
PLURAL: Final = "clustertrustbundles"
PRIMARY: Final = "primary"
"""The suffix of an issuer's ClusterTrustBundle name."""
TRUST_BUNDLE_PREFIX: Final = "certmint-"
MAX_NAME: Final = 253
MAX_READ_BLOCKS: Final = 64
"""Most certificates whose fingerprints are read from one ClusterTrustBundle (an issuer's holds three
at most): a bundle someone stuffed costs no more than that."""


ENABLE_FLAG: Final = "--pod-certificates (the chart's podCertificates.enabled)"
ENABLE_API: Final = (
    "the feature gates PodCertificateRequest and ClusterTrustBundle and "
    "--runtime-config=certificates.k8s.io/v1beta1=true on the API server"
)


def cluster_trust_unavailable(enabled: bool, served: bool) -> tuple[str, str] | None:
    """(reason, message) when certmint may not read or write ClusterTrustBundles; None when it may."""
    if not enabled:
        return (
            reasons.POD_CERTIFICATES_DISABLED,
            f"the operator runs without {ENABLE_FLAG}: no ClusterTrustBundle is published",
        )
    if not served:
        return (
            reasons.API_UNAVAILABLE,
            "the API server does not serve certificates.k8s.io/v1beta1 podcertificaterequests and "
            f"clustertrustbundles: enable {ENABLE_API}, then restart the operator",
        )
    return None


def issuer_bundle_name(signer_name: str) -> str:
    """The name the API server requires for a ClusterTrustBundle of that signer, with certmint's suffix."""
    return f"{signer_name.replace('/', ':')}:{PRIMARY}"


def trust_bundle_target_name(bundle: str) -> str:
    return f"{TRUST_BUNDLE_PREFIX}{bundle}"


def issuer_owner_labels(kind: str, namespace: str, name: str) -> dict[str, str]:
    return {
        labels.CLUSTER_TRUST_BUNDLE_LABEL: "true",
        labels.ISSUER_KIND: kind,
        labels.ISSUER_NAME: name,
        labels.ISSUER_NAMESPACE: namespace,
    }


def trust_bundle_owner_labels(bundle_uid: str) -> dict[str, str]:
    """A TrustBundle's: its UID (a name may be longer than a label value), as on its ConfigMaps."""
    return {labels.CLUSTER_TRUST_BUNDLE_LABEL: "true", labels.TRUST_BUNDLE_LABEL: bundle_uid}


@dataclass(frozen=True)
class ClusterTrustBundleManifest:
    """Everything certmint declares of one ClusterTrustBundle."""

    name: str
    signer_name: str
    """Empty for a TrustBundle's target."""
    trust_bundle: str
    """PEM of the CA certificates."""
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...] = ()
    """Only certmint.dev/contested-repairs, while another writer keeps changing it."""
    owner: tuple[str, str, str, str] | None = None
    """(apiVersion, kind, name, uid) of a cluster-scoped owner it is garbage-collected with."""

    def body(self, resource_version: str = "") -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "labels": dict(self.labels)}
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        if self.owner is not None:
            api_version, kind, name, uid = self.owner
            metadata["ownerReferences"] = [
                {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}
            ]
        if resource_version:
            metadata["resourceVersion"] = resource_version
        spec: dict[str, Any] = {"trustBundle": self.trust_bundle}
        if self.signer_name:
            spec["signerName"] = self.signer_name
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def manifest(name: str, signer_name: str, pem: bytes, owner: Mapping[str, str]) -> ClusterTrustBundleManifest:
    return ClusterTrustBundleManifest(name, signer_name, pem.decode("ascii"), tuple(sorted(owner.items())))


@dataclass(frozen=True)
class ClusterTrustBundleObject:
    """A ClusterTrustBundle as the API server serves it: the fields certmint reads."""

    name: str
    uid: str
    resource_version: str
    signer_name: str
    trust_bundle: str
    labels: Mapping[str, str]
    marked_by_certmint: bool
    """Whether certmint's field manager wrote its certmint.dev/cluster-trust-bundle label."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    writers: tuple[DataWriter, ...] = ()
    """Per field manager, the spec fields it owns (trustBundle, signerName) and when it last wrote."""

    def owned_by(self, owner: Mapping[str, str]) -> bool:
        """Certmint's own for this owner: every owner label, written by certmint."""
        return self.marked_by_certmint and all(self.labels.get(k) == v for k, v in owner.items())


def read_cluster_trust_bundle(body: Mapping[str, Any]) -> ClusterTrustBundleObject:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    assert isinstance(spec, Mapping)
    found_labels = metadata.get("labels")
    found_annotations = metadata.get("annotations")
    managed = metadata.get("managedFields")
    return ClusterTrustBundleObject(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        signer_name=str(spec.get("signerName") or ""),
        trust_bundle=str(spec.get("trustBundle") or ""),
        labels={str(k): str(v) for k, v in found_labels.items()} if isinstance(found_labels, Mapping) else {},
        marked_by_certmint=marked_by_certmint(
            body, labels.CLUSTER_TRUST_BUNDLE_LABEL, frozenset({FIELD_MANAGER})
        ),
        annotations=(
            {str(k): str(v) for k, v in found_annotations.items()}
            if isinstance(found_annotations, Mapping)
            else {}
        ),
        writers=spec_writers(managed if isinstance(managed, list) else []),
    )


def spec_writers(entries: list[Any]) -> tuple[DataWriter, ...]:
    """Per managedFields entry: the spec fields that field manager owns."""
    writers = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        recorded = entry.get("fieldsV1")
        spec = recorded.get("f:spec") if isinstance(recorded, Mapping) else None
        owned = (
            [key[2:] for key in spec if isinstance(key, str) and key.startswith("f:")]
            if isinstance(spec, Mapping)
            else []
        )
        writers.append(
            DataWriter(str(entry.get("manager") or ""), _time(entry.get("time")), frozenset(owned))
        )
    return tuple(writers)


def _time(stamp: object) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


@dataclass(frozen=True)
class Create:
    manifest: ClusterTrustBundleManifest


@dataclass(frozen=True)
class Update:
    manifest: ClusterTrustBundleManifest
    resource_version: str
    """The version read: the update fails (409) if anyone wrote since."""
    contest: Contest | None = None
    """Another writer changed it: this is a repair (planning.contest's backoff)."""


@dataclass(frozen=True)
class Held:
    """Another writer keeps changing it: the repair waits for planning.contest's backoff."""

    name: str
    contest: Contest


@dataclass(frozen=True)
class Delete:
    name: str
    uid: str
    resource_version: str


@dataclass(frozen=True)
class Keep:
    """Already as wanted (or, when withdrawing, nothing of certmint's there)."""

    name: str


@dataclass(frozen=True)
class NotOwned:
    """A ClusterTrustBundle of that name that certmint did not create: never written nor deleted."""

    name: str


Publication: TypeAlias = Create | Update | Delete | Keep | NotOwned | Held


def plan_publication(
    name: str,
    wanted: ClusterTrustBundleManifest | None,
    existing: ClusterTrustBundleObject | None,
    owner: Mapping[str, str],
    now: datetime,
) -> Publication:
    """`wanted` None: certmint's ClusterTrustBundle of that name is to go (the owner opted out or is
    gone). `existing`: what the API server has under `name`. A change someone else made is put
    back, with planning.contest's backoff when they keep making it."""
    if existing is None:
        return Create(wanted) if wanted is not None else Keep(name)
    if not existing.owned_by(owner):
        return NotOwned(name) if wanted is not None else Keep(name)
    if wanted is None:
        return Delete(name, existing.uid, existing.resource_version)
    if (
        existing.trust_bundle == wanted.trust_bundle
        and existing.signer_name == wanted.signer_name
        and all(existing.labels.get(k) == v for k, v in wanted.labels)
    ):
        return Keep(name)
    found = contest(existing.writers, ("trustBundle", "signerName"), existing.annotations, now)
    if found is not None and found.due > now:
        return Held(name, found)
    return Update(
        replace(wanted, annotations=tuple(contest_annotations(found).items())),
        existing.resource_version,
        found,
    )


def published_fingerprints(trust_bundle: str) -> frozenset[str]:
    """SHA-256 (hex) of the DER of each CERTIFICATE block: what a rotation compares with its next CA
    (planning.issuer_view.fingerprint). At most MAX_READ_BLOCKS blocks; a block that is not base64 counts
    as nothing."""
    found: set[str] = set()
    text = trust_bundle.encode("ascii", "replace")
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    position = text.find(begin)
    while position >= 0 and len(found) < MAX_READ_BLOCKS:
        stop = text.find(end, position)
        if stop < 0:
            break
        try:
            der = base64.b64decode(b"".join(text[position + len(begin) : stop].split()), validate=True)
        except (binascii.Error, ValueError):
            der = b""
        if der:
            found.add(hashlib.sha256(der).hexdigest())
        position = text.find(begin, stop)
    return frozenset(found)
