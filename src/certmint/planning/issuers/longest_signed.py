"""The longest leaf each replica signed under a CA, recorded in that CA's Secret.

With several replicas, the one that owns an issuer rotates its CA, and the previous CA's overlap must
cover every leaf it signed, also those the other replicas signed for their own Certificates and
CSRs. Each replica records, before it signs a longer leaf than it has recorded for a CA, that CA's
serial and the leaf's duration in an annotation of its own slot (written under a field manager of
its own, so replicas never take each other's fields); the owner takes the longest of them."""

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from cryptography import x509

PREFIX: Final = "longest-signed.certmint.dev/slot-"
_VALUE = re.compile(r"^([0-9a-f]{1,40})/([0-9]{1,12})$")


def annotation(slot: int) -> str:
    return f"{PREFIX}{slot}"


def field_manager(slot: int) -> str:
    return f"certmint-slot-{slot}"


def value(ca_serial: int, duration: timedelta) -> str:
    """`<CA serial, hex>/<whole seconds, rounded up>`."""
    return f"{ca_serial:x}/{math.ceil(duration.total_seconds())}"


def recorded_longest(annotations: Mapping[str, str], ca: x509.Certificate) -> timedelta:
    """The longest duration any slot recorded for `ca`. Records of another CA, or unreadable ones,
    count nothing; none counts longer than the CA's own lifetime (no leaf outlives its CA), so a
    forged record can stretch an overlap no further than the CA itself lives."""
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    longest = timedelta(0)
    for name, text in annotations.items():
        if not name.startswith(PREFIX):
            continue
        found = _VALUE.match(text)
        if found is None or int(found.group(1), 16) != ca.serial_number:
            continue
        longest = max(longest, min(timedelta(seconds=int(found.group(2))), lifetime))
    return longest
