"""planning.shards: stable buckets, and a ring whose slots own every bucket exactly once."""

import pytest

from certmint.planning.labels import (
    BUCKET_LABEL,
    ROLE_CA,
    ROLE_LEAF,
    ROLE_TRUST_BUNDLE,
    SECRET_ROLE_LABEL,
    SHARED_BUCKET,
)
from certmint.planning.shards import (
    BUCKETS,
    WHOLE,
    Shard,
    certificate_bucket,
    certificate_selector,
    leaf_bucket_label,
    managed_secret_selector,
    object_bucket,
    object_bucket_label,
    read_bucket,
    secret_bucket,
    secret_bucket_of,
    unbucketed_selector,
)


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


def test_a_single_replica_selects_secrets_as_before_and_no_certificates() -> None:
    assert managed_secret_selector(WHOLE) == SECRET_ROLE_LABEL
    assert certificate_selector(WHOLE) == ""
    assert leaf_bucket_label(WHOLE, "apps", "web-tls") == ""
    assert object_bucket_label(WHOLE, "TrustBundle", "", "shared") == ""


def test_certificates_are_never_selected_as_shared_and_secrets_are() -> None:
    shard = Shard(0, 32)
    assert certificate_selector(shard) == f"{BUCKET_LABEL} in (0,32)"
    assert managed_secret_selector(shard) == f"{SECRET_ROLE_LABEL},{BUCKET_LABEL} in (0,32,{SHARED_BUCKET})"


def test_what_no_selector_reaches_is_what_the_labeller_watches() -> None:
    every = ",".join(str(bucket) for bucket in range(BUCKETS))
    assert unbucketed_selector(shared=False) == f"{BUCKET_LABEL} notin ({every})"
    assert unbucketed_selector(shared=True) == f"{BUCKET_LABEL} notin ({every},{SHARED_BUCKET})"


def test_the_bucket_a_certificate_must_carry_comes_from_its_secrets_name_only() -> None:
    assert certificate_bucket("apps", {"secretName": "web-tls"}) == str(secret_bucket("apps", "web-tls"))
    assert certificate_bucket("apps", {"secretName": 7}) == str(secret_bucket("apps", ""))
    assert certificate_bucket("apps", "not a spec") == str(secret_bucket("apps", ""))


def test_only_a_ca_secret_certmint_marked_is_shared() -> None:
    own = str(secret_bucket("apps", "x"))
    assert secret_bucket_of("apps", "x", ROLE_CA, certmint_ca=True, bundle="") == SHARED_BUCKET
    assert secret_bucket_of("apps", "x", ROLE_CA, certmint_ca=False, bundle="") == own
    assert secret_bucket_of("apps", "x", ROLE_TRUST_BUNDLE, certmint_ca=False, bundle="5") == "5"
    assert secret_bucket_of("apps", "x", ROLE_TRUST_BUNDLE, certmint_ca=False, bundle="") == own
    assert secret_bucket_of("apps", "x", ROLE_LEAF, certmint_ca=True, bundle="5") == own
