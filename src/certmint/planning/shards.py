"""Shards: which replica serves which objects.

Every object certmint serves belongs to one of BUCKETS buckets, by a stable hash of its name. A
Certificate's bucket is that of the Secret it writes (namespace and secretName), so the Certificate,
its Secret and any Certificate competing for that Secret land together. Issuers, bundles, CSRs and
pod certificate requests hash their own kind, namespace and name.

A ring of `slots` slots (one per active replica) owns the buckets: slot s owns every bucket b with
b % slots == s. A replica serves a slot only while it holds that slot's Lease (operator.slots);
`generation` numbers the ring, so that a ring of another size never shares a Lease name with this
one. One slot (the default) owns every bucket: a single replica works exactly as an unsharded one.
"""

import hashlib
from dataclasses import dataclass

from certmint.planning.labels import BUCKET_LABEL, SECRET_ROLE_LABEL, SHARED_BUCKET

BUCKETS = 64
"""Fixed forever: a bucket's label is written on objects and must not move when replicas change.
It also bounds the number of active replicas."""


def _bucket(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def secret_bucket(namespace: str, secret_name: str) -> int:
    """The bucket of a Certificate and of the Secret it writes."""
    return _bucket("secret", namespace, secret_name)


def object_bucket(kind: str, namespace: str, name: str) -> int:
    """The bucket of an issuer, a bundle, a CSR or a pod certificate request: the replica owning it
    does its object-wide work (a CA's bootstrap and rotation, its CRLs, its status)."""
    return _bucket(kind, namespace, name)


def bucket_label(bucket: int) -> str:
    return str(bucket)


def read_bucket(value: str | None) -> int | None:
    """A bucket label's value, or None when it is missing, `shared` or not a bucket."""
    if value is None or not value.isdigit():
        return None
    bucket = int(value)
    return bucket if bucket < BUCKETS else None


@dataclass(frozen=True)
class Shard:
    """The buckets one replica serves: those of its slot in a ring of `slots`."""

    slot: int = 0
    slots: int = 1
    generation: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= BUCKETS:
            raise ValueError(f"slots must be between 1 and {BUCKETS}, not {self.slots}")
        if not 0 <= self.slot < self.slots:
            raise ValueError(f"slot {self.slot} is not one of {self.slots}")

    @property
    def whole(self) -> bool:
        """One slot owning every bucket: no selector, no labelling, today's single replica."""
        return self.slots == 1

    def owns(self, bucket: int) -> bool:
        return bucket % self.slots == self.slot

    def buckets(self) -> tuple[int, ...]:
        return tuple(bucket for bucket in range(BUCKETS) if self.owns(bucket))

    def selector(self) -> str:
        """The label selector of the Certificates and Secrets this replica watches: its buckets, and
        the Secrets every replica watches. Empty for a whole ring (everything is watched)."""
        if self.whole:
            return ""
        values = ",".join([*(bucket_label(bucket) for bucket in self.buckets()), SHARED_BUCKET])
        return f"{BUCKET_LABEL} in ({values})"


WHOLE = Shard()


def managed_secret_selector(shard: Shard) -> str:
    """The label selector of the Secrets a replica of `shard` watches and lists: certmint's own
    (the role label), of its buckets and the shared ones (both terms hold)."""
    return ",".join(filter(None, (SECRET_ROLE_LABEL, shard.selector())))
