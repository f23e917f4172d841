"""planning.shards: stable buckets, and a ring whose slots own every bucket exactly once."""

import pytest

from certmint.planning.shards import BUCKETS, WHOLE, Shard, object_bucket, read_bucket, secret_bucket


def test_buckets_are_stable_and_in_range() -> None:
    # Pinned: a bucket is written on objects as a label, so its function must never change.
    assert secret_bucket("shop", "web-tls") == secret_bucket("shop", "web-tls")
    assert secret_bucket("shop", "web-tls") == 26
    assert object_bucket("Issuer", "shop", "ca") == 18
    assert all(0 <= secret_bucket("ns", f"s{i}") < BUCKETS for i in range(1000))


def test_the_kind_and_the_namespace_are_part_of_the_bucket() -> None:
    spread = {object_bucket(kind, ns, "same") for kind in ("Issuer", "ClusterIssuer") for ns in "abcdefgh"}
    assert len(spread) > 4


@pytest.mark.parametrize("slots", [1, 2, 3, 4, 7, 8, 64])
def test_every_bucket_has_exactly_one_slot(slots: int) -> None:
    ring = [Shard(slot, slots) for slot in range(slots)]
    for bucket in range(BUCKETS):
        assert sum(shard.owns(bucket) for shard in ring) == 1
    sizes = [len(shard.buckets()) for shard in ring]
    assert max(sizes) - min(sizes) <= 1


def test_a_whole_ring_selects_nothing_and_a_split_one_its_buckets_and_the_shared_ones() -> None:
    assert WHOLE.whole
    assert WHOLE.selector() == ""
    selector = Shard(1, 32).selector()
    assert selector == "certmint.dev/bucket in (1,33,shared)"


def test_bucket_labels_are_read_strictly() -> None:
    assert read_bucket("7") == 7
    assert [read_bucket(value) for value in (None, "shared", "64", "-1", "x", "")] == [None] * 6


@pytest.mark.parametrize(("slot", "slots"), [(0, 0), (2, 2), (-1, 3), (0, BUCKETS + 1)])
def test_an_impossible_ring_is_refused(slot: int, slots: int) -> None:
    with pytest.raises(ValueError, match="slot"):
        Shard(slot, slots)
