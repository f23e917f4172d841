"""When a certificate is renewed: notAfter - renewBefore, minus a small per-certificate jitter."""

import hashlib
from datetime import datetime, timedelta

MAX_JITTER = timedelta(minutes=5)
JITTER_FRACTION_OF_LIFETIME = 0.02


def spread(seed: str) -> float:
    """A fraction in [0, 1) that is deterministic in the seed (a Certificate's UID), so restarts keep
    the same schedule, yet differs across certificates so thousands do not act in the same second."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


def jitter(lifetime: timedelta, seed: str) -> timedelta:
    return min(lifetime * JITTER_FRACTION_OF_LIFETIME, MAX_JITTER) * spread(seed)


def renewal_time(
    not_before: datetime,
    not_after: datetime,
    renew_before: timedelta | None,
    renew_before_percentage: int | None,
    seed: str,
) -> datetime:
    lifetime = not_after - not_before
    if renew_before is None:
        percentage = renew_before_percentage if renew_before_percentage is not None else 100 / 3
        renew_before = lifetime * (percentage / 100)
    if renew_before >= lifetime:
        # The CA clamped the lifetime below renewBefore; renewing at once would loop, so use the default.
        renew_before = lifetime / 3
    return not_after - renew_before - jitter(lifetime, seed)
