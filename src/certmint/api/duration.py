"""Go-style durations ("2160h", "1h30m", "90s"), the format Kubernetes users know from cert-manager.

CEL's duration() in the API server parses the same syntax, so cross-field rules such as
renewBefore < duration can be checked by the API server itself.
"""

import re
from datetime import timedelta

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"

MAX_SECONDS = (2**63 - 1) / 1e9
"""Go's time.Duration is an int64 of nanoseconds; longer would also overflow datetime arithmetic."""
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_WHOLE = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> timedelta:
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}: use Go syntax such as '2160h', '1h30m' or '90s'")
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} exceeds the longest Go duration (about 2562047h)")
    return timedelta(seconds=seconds)
