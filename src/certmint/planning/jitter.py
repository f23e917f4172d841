"""A deterministic per-object spread, so thousands of objects do not act in the same second: used
by Certificates' renewals and pod certificates' beginRefreshAt alike."""

import hashlib
from datetime import timedelta

MAX_JITTER = timedelta(minutes=5)
JITTER_FRACTION_OF_LIFETIME = 0.02


def spread(seed: str) -> float:
    """A fraction in [0, 1) that is deterministic in the seed (a Certificate's UID), so restarts keep
    the same schedule, yet differs across certificates so thousands do not act in the same second."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


def jitter(lifetime: timedelta, seed: str) -> timedelta:
    return min(lifetime * JITTER_FRACTION_OF_LIFETIME, MAX_JITTER) * spread(seed)
