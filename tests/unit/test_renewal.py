from datetime import UTC, datetime, timedelta

from certmint.planning.renewal import MAX_JITTER, jitter, renewal_time

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_default_renews_at_two_thirds_of_the_lifetime_minus_jitter() -> None:
    end = START + timedelta(hours=24)
    at = renewal_time(START, end, None, None, seed="uid-1")
    expected = START + timedelta(hours=16)
    assert expected - jitter(timedelta(hours=24), "uid-1") == at
    assert expected - timedelta(hours=24) * 0.02 <= at <= expected


def test_renew_before_and_percentage() -> None:
    end = START + timedelta(minutes=2)
    assert renewal_time(START, end, timedelta(minutes=1), None, "s") == end - timedelta(minutes=1) - jitter(
        timedelta(minutes=2), "s"
    )
    at = renewal_time(START, end, None, 25, "s")
    assert at == end - timedelta(seconds=30) - jitter(timedelta(minutes=2), "s")


def test_renew_before_beyond_a_clamped_lifetime_falls_back_to_the_default() -> None:
    end = START + timedelta(hours=1)
    at = renewal_time(START, end, timedelta(hours=2), None, "s")
    assert START < at <= end - timedelta(minutes=20)


def test_jitter_is_deterministic_bounded_and_spread() -> None:
    lifetime = timedelta(days=90)
    values = {jitter(lifetime, f"uid-{n}") for n in range(1000)}
    assert jitter(lifetime, "uid-7") == jitter(lifetime, "uid-7")
    assert all(timedelta(0) <= value <= MAX_JITTER for value in values)
    # 1,000 certificates created together renew at 1,000 distinct moments spread over the window.
    assert len(values) == 1000
    assert max(values) - min(values) > MAX_JITTER * 0.9
