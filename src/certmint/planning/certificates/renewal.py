"""When a certificate is renewed: from the requested validity, notAfter - renewBefore, minus a small
per-certificate jitter, and never sooner than a floor after the issuance, whatever the spec says."""

from datetime import datetime, timedelta

from certmint.pki.ca import BACKDATE
from certmint.planning.jitter import MAX_JITTER, jitter, spread

__all__ = ["MAX_JITTER", "jitter", "renewal_floor", "renewal_time", "spread"]

MIN_RENEWAL_INTERVAL = timedelta(seconds=30)
"""No certificate is renewed on schedule sooner than this after it was issued."""
MIN_RENEWAL_FRACTION = 1 / 3
"""Nor sooner than this fraction of its requested lifetime: renewBefore close to the duration
(99%, or 59s of 1m) would otherwise re-issue many times a minute."""


def renewal_floor(lifetime: timedelta) -> timedelta:
    """The shortest time between an issuance and its scheduled renewal."""
    return min(max(lifetime * MIN_RENEWAL_FRACTION, MIN_RENEWAL_INTERVAL), lifetime)


def renewal_time(
    not_before: datetime,
    not_after: datetime,
    renew_before: timedelta | None,
    renew_before_percentage: int | None,
    seed: str,
    requested: timedelta | None = None,
) -> datetime:
    """`requested`: the lifetime the Certificate asked for. The issuance time is notBefore plus the
    back-dating; the schedule is computed from that and the requested lifetime, not from the
    back-dated validity (which is longer, and would make percentages bite early)."""
    issued_at = min(not_before + BACKDATE, not_after)
    lifetime = requested if requested is not None else not_after - issued_at
    if lifetime <= timedelta(0):
        return not_after
    end = min(not_after, issued_at + lifetime)
    if renew_before is None:
        percentage = renew_before_percentage if renew_before_percentage is not None else 100 / 3
        renew_before = lifetime * (percentage / 100)
    if renew_before >= lifetime:
        # The CA clamped the lifetime below renewBefore; renewing at once would loop, so use the default.
        renew_before = lifetime / 3
    scheduled = end - renew_before - jitter(lifetime, seed)
    # Never before the floor; never after the end either (a CA that clamped the validity below it).
    return min(max(scheduled, issued_at + renewal_floor(lifetime)), end)
