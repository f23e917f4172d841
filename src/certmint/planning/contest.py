"""Another writer that keeps changing what certmint wrote: repair with exponential backoff, not a duel.

A change someone makes to a Secret is repaired at once the first time. If the other writer changes
it again soon after, each further repair waits twice as long after certmint's last write (1 s up to
5 min, the work queue's backoff), and the Certificate's condition names that writer (its field
manager, from managedFields). A writer that stays quiet for three times the current delay starts
the count over. The count lives on the Secret, so restarts do not reset it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from certmint.planning import labels

OWN_MANAGER_PREFIX = "certmint"
INITIAL_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
QUIET_FACTOR = 3


@dataclass(frozen=True)
class DataWriter:
    """One managedFields entry: who last wrote which data keys, and when."""

    manager: str
    time: datetime | None
    keys: frozenset[str]


@dataclass(frozen=True)
class Contest:
    writer: str
    """The field manager that changed what certmint wrote."""
    repairs: int
    """Repairs in a row, this one included."""
    due: datetime
    """No repair before this."""

    def message(self, object_kind: str, name: str) -> str:
        return (
            f"{object_kind} {name} was changed by field manager {self.writer!r}; certmint puts it back "
            f"with exponential backoff (repair {self.repairs}, not before {self.due:%Y-%m-%dT%H:%M:%SZ}). "
            f"Stop the other writer, or point one of the two at another {object_kind}."
        )


def repair_delay(repairs_before: int) -> timedelta:
    if repairs_before <= 0:
        return timedelta(0)
    return min(INITIAL_DELAY * float(2 ** min(repairs_before - 1, 30)), MAX_DELAY)


def contest(
    writers: Iterable[DataWriter], keys: Iterable[str], annotations: Mapping[str, str], now: datetime
) -> Contest | None:
    """None when no other writer holds any of `keys` (our data keys); else when a repair may come."""
    wanted = set(keys)
    writers = list(writers)
    foreign = [w for w in writers if not w.manager.startswith(OWN_MANAGER_PREFIX) and w.keys & wanted]
    if not foreign:
        return None
    latest = max(foreign, key=lambda w: w.time.timestamp() if w.time else 0.0)
    ours = [w.time for w in writers if w.manager.startswith(OWN_MANAGER_PREFIX) and w.time is not None]
    last_ours = max(ours) if ours else None
    repairs_before = _count(annotations.get(labels.CONTESTED_REPAIRS))
    delay = repair_delay(repairs_before)
    # managedFields keep whole seconds, and a due repair may run a little late: hence the margin.
    if (
        last_ours is None
        or latest.time is None
        or latest.time - last_ours > QUIET_FACTOR * max(delay, INITIAL_DELAY)
    ):
        return Contest(writer=latest.manager, repairs=1, due=now)
    return Contest(writer=latest.manager, repairs=repairs_before + 1, due=last_ours + delay)


def contest_annotations(found: Contest | None) -> dict[str, str]:
    """Written with a repair: how many repairs in a row, for the next delay."""
    return {labels.CONTESTED_REPAIRS: str(found.repairs)} if found is not None else {}


def _count(text: str | None) -> int:
    try:
        return max(int(text or "0"), 0)
    except ValueError:
        return 0
