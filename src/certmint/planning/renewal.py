"""When a certificate is renewed: notAfter - renewBefore, minus a small per-certificate jitter."""

import hashlib
from datetime import datetime, timedelta

MAX_JITTER = timedelta(minutes=5)
JITTER_FRACTION_OF_LIFETIME = 0.02


def jitter(lifetime: timedelta, seed: str) -> timedelta:
    """Deterministic in the seed (a Certificate's UID), so restarts keep the same schedule, yet spread
    across certificates so that thousands created together do not renew in the same second."""
    unit = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64
    return min(lifetime * JITTER_FRACTION_OF_LIFETIME, MAX_JITTER) * unit


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
