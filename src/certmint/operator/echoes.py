"""Which watch events call for a reconcile, given the operator's own writes and the reconciles
running: the controller asks this ledger and does what it answers.

Every write certmint makes (a status patch, a Secret) comes back as a watch event. Reconciling
on it would only find everything as written, so each reconcile's outcome names the
(object, resourceVersion) of its writes, and the ledger drops their events. Invariants, each
tested in tests/unit/operator/test_echoes.py:

- The event of our own latest write to an object is dropped exactly once: the same version
  arriving again (a relisting) is an event like any other. Only the latest write per object is
  expected; an event without a resourceVersion is never an echo.
- An event about a key whose reconcile is running is held, not queued: once the reconcile's
  outcome is known, held events that were its own writes are absorbed, and any other one makes
  the key run once more. The objects of those others' events are reported, so that a view our
  write left does not replace the newer one the watch brought.
- An own write whose event was already held during the reconcile is not expected again.
- A reconcile that ends without an outcome (it failed) runs again if any event was held for it.
- A key waiting for an issuer is woken by that issuer's next successful reconcile, exactly once;
  when that reconcile fails, it keeps waiting for the one after. A key that starts waiting while
  the issuer's reconcile runs waits for the following one.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from certmint.operator.state import Key

Source = tuple[Key, str]
"""An object and the resourceVersion a watch event carried for it (empty when none)."""


@dataclass(frozen=True)
class Settled:
    """What a reconcile's outcome leaves to do about events held while it ran."""

    look_again: bool
    """Someone else wrote while the reconcile ran: its plan may be stale."""
    changed_by_others: frozenset[Key]
    """Objects those other writes touched."""
    waiters: frozenset[Key]
    """Keys that waited for this reconcile (of an issuer), to be queued now."""


@dataclass
class EchoLedger:
    _expected: dict[Key, str] = field(default_factory=dict)
    """resourceVersions of our own latest writes, whose events are yet to come."""
    _held: defaultdict[Key, list[Source]] = field(default_factory=lambda: defaultdict(list))
    """Events for a key whose reconcile is running, by that key."""
    _waiters: defaultdict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))
    """Keys to reconcile once an issuer's next reconcile is done, by that issuer."""
    _taken: dict[Key, set[Key]] = field(default_factory=dict)
    """Waiters of a reconcile that is running: woken by its success, put back by its failure."""

    def own_write(self, source: Source) -> bool:
        """Whether this event is the echo of our latest write to the object; answered True once."""
        key, version = source
        if version and self._expected.get(key) == version:
            del self._expected[key]
            return True
        return False

    def wants_reconcile(self, key: Key, source: Source, working: bool) -> bool:
        """Whether an event about `source` should queue `key` now: not our own write's echo, and not
        while `key` is being worked (`working`): then it is held until the reconcile settles."""
        if self.own_write(source):
            return False
        if working:
            self._held[key].append(source)
            return False
        return True

    def wait(self, waiter: Key, issuer: Key) -> None:
        self._waiters[issuer].add(waiter)

    def started(self, key: Key) -> None:
        """A reconcile of `key` begins: the keys waiting for it now are the ones it wakes."""
        self._taken[key] = self._waiters.pop(key, set())

    def settled(self, key: Key, own_writes: tuple[Source, ...]) -> Settled:
        """The reconcile of `key` produced an outcome with these writes, in order."""
        held = self._held.pop(key, [])
        own = set(own_writes)
        foreign = [source for source in held if source not in own]
        for written, version in own_writes:  # in order: a later write's version wins
            if version and (written, version) not in held:
                self._expected[written] = version
        return Settled(
            look_again=bool(foreign),
            changed_by_others=frozenset(source[0] for source in foreign),
            waiters=frozenset(self._taken.pop(key, set())),
        )

    def failed(self, key: Key) -> None:
        """The reconcile of `key` failed: the keys waiting for it wait for the next one."""
        self._waiters[key] |= self._taken.pop(key, set())

    def finished(self, key: Key) -> bool:
        """The reconcile of `key` is over; True when events were held for it that no outcome settled
        (it failed): it must run again."""
        self._taken.pop(key, None)
        return bool(self._held.pop(key, None))
