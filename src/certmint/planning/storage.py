"""Storage-version migration, the pure part: whether a CRD's objects may and must be moved to the
storage version (VERSION), and how fast the writes that move them may go.

Kubernetes stores each object at the version that was the storage version when it was last written;
a CRD's status.storedVersions lists every version objects may still be stored at. A version can be
dropped from the CRD only once it is no longer listed there, and only a writer that rewrote every
object may take it out (kube.migration does, then sets storedVersions to [VERSION])."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certmint.api.kinds import GROUP, VERSION, Resource

DEFAULT_WRITES_PER_SECOND = 50.0
"""How fast a migration rewrites objects: 100,000 objects take half an hour, and the API server and
etcd see a steady trickle instead of a burst."""


def crd_name(resource: Resource) -> str:
    return f"{resource.plural}.{GROUP}"


@dataclass(frozen=True)
class StorageCheck:
    """What a CRD allows a migration of its objects to do."""

    crd: str
    stored_versions: tuple[str, ...]
    """status.storedVersions as read (empty when the CRD is missing)."""
    generation: int = 0
    """metadata.generation: the same at the end of a migration as at its start means the CRD's spec,
    and so its storage version, did not change while the objects were rewritten."""
    refusal: str = ""
    """Why nothing may be written; empty when the CRD stores VERSION."""

    @property
    def needed(self) -> bool:
        """Objects may still be stored at another version: they must be rewritten first."""
        return not self.refusal and self.stored_versions != (VERSION,)


def check_storage(resource: Resource, crd: Mapping[str, Any] | None) -> StorageCheck:
    """Whether `crd` (as read from the API server; None when missing) lets a migration rewrite its
    objects at VERSION: only when VERSION is its storage version, else every write would store the
    objects at the old version again and storedVersions may not lose it."""
    name = crd_name(resource)
    if crd is None:
        return StorageCheck(
            name, (), refusal=f"CustomResourceDefinition {name} not found: install certmint's CRDs first"
        )
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    status = crd.get("status") if isinstance(crd.get("status"), dict) else {}
    stored = tuple(str(version) for version in (status or {}).get("storedVersions") or [])
    storage = [
        str(version.get("name"))
        for version in (spec or {}).get("versions") or []
        if isinstance(version, dict) and version.get("storage") is True
    ]
    if storage != [VERSION]:
        found = storage[0] if storage else "no version"
        return StorageCheck(
            name,
            stored,
            refusal=f"CustomResourceDefinition {name} stores {found}, not {VERSION}: "
            "apply this release's CRDs (crds/, or the chart's) first",
        )
    return StorageCheck(name, stored, _generation(crd))


def _generation(crd: Mapping[str, Any]) -> int:
    metadata = crd.get("metadata")
    generation = metadata.get("generation") if isinstance(metadata, dict) else None
    return generation if isinstance(generation, int) else 0


def next_write_at(previous: float | None, now: float, writes_per_second: float) -> float:
    """When the next write may go: 1/writes_per_second after the previous one, and never before
    `now`. A write that is late (the API server was slow) does not earn a burst to catch up."""
    if previous is None:
        return now
    return max(now, previous + 1.0 / writes_per_second)
