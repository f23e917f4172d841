from datetime import UTC, datetime, timedelta

import pytest

from certmint.pki.ca import BACKDATE
from certmint.planning.certificates.renewal import (
    MAX_JITTER,
    MIN_RENEWAL_INTERVAL,
    jitter,
    renewal_floor,
    renewal_time,
)

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
NOT_BEFORE = ISSUED - BACKDATE
"""Leaves are back-dated by a minute; the schedule counts from the issuance, not from notBefore."""


def test_default_renews_at_two_thirds_of_the_lifetime_minus_jitter() -> None:
    lifetime = timedelta(hours=24)
    at = renewal_time(NOT_BEFORE, ISSUED + lifetime, None, None, "uid-1", lifetime)
    expected = ISSUED + timedelta(hours=16)
    assert expected - jitter(lifetime, "uid-1") == at
    assert expected - lifetime * 0.02 <= at <= expected


def test_renew_before_and_percentage_count_from_the_requested_lifetime() -> None:
    lifetime = timedelta(hours=3)
    end = ISSUED + lifetime
    at = renewal_time(NOT_BEFORE, end, timedelta(hours=1), None, "s", lifetime)
    assert at == end - timedelta(hours=1) - jitter(lifetime, "s")
    at = renewal_time(NOT_BEFORE, end, None, 25, "s", lifetime)
    assert at == end - timedelta(minutes=45) - jitter(lifetime, "s")


@pytest.mark.parametrize(
    ("duration", "renew_before", "percentage"),
    [
        (timedelta(minutes=1), None, 50),
        (timedelta(minutes=1), None, 99),
        (timedelta(minutes=1), timedelta(seconds=59), None),
        (timedelta(minutes=2), timedelta(seconds=119), None),
        (timedelta(hours=24), timedelta(hours=23, minutes=59), None),
        (timedelta(hours=24), None, 99),
    ],
)
def test_no_spec_schedules_a_renewal_sooner_than_the_floor_after_the_issuance(
    duration: timedelta, renew_before: timedelta | None, percentage: int | None
) -> None:
    for seed in ("a", "b", "c", "uid-7"):
        at = renewal_time(NOT_BEFORE, ISSUED + duration, renew_before, percentage, seed, duration)
        assert at - ISSUED >= max(duration / 3, MIN_RENEWAL_INTERVAL)
        assert at <= ISSUED + duration


def test_the_floor_is_a_third_of_the_lifetime_and_at_least_the_minimum() -> None:
    assert renewal_floor(timedelta(minutes=1)) == MIN_RENEWAL_INTERVAL
    assert renewal_floor(timedelta(hours=3)) == timedelta(hours=1)
    assert renewal_floor(timedelta(seconds=20)) == timedelta(seconds=20)


def test_renew_before_beyond_a_clamped_lifetime_falls_back_to_the_default() -> None:
    end = ISSUED + timedelta(hours=1)
    at = renewal_time(NOT_BEFORE, end, timedelta(hours=2), None, "s")
    assert ISSUED < at <= end - timedelta(minutes=20)


def test_a_lifetime_clamped_by_the_ca_renews_within_it() -> None:
    requested = timedelta(hours=24)
    end = ISSUED + timedelta(hours=6)  # the CA ends first
    at = renewal_time(NOT_BEFORE, end, None, None, "s", requested)
    assert at == end, "the floor (8h) lies beyond the clamped end: renew at the end, not after it"


def test_jitter_is_deterministic_bounded_and_spread() -> None:
    lifetime = timedelta(days=90)
    values = {jitter(lifetime, f"uid-{n}") for n in range(1000)}
    assert jitter(lifetime, "uid-7") == jitter(lifetime, "uid-7")
    assert all(timedelta(0) <= value <= MAX_JITTER for value in values)
    # 1,000 certificates created together renew at 1,000 distinct moments spread over the window.
    assert len(values) == 1000
    assert max(values) - min(values) > MAX_JITTER * 0.9
