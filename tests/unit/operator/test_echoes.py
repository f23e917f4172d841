"""The invariants of operator.echoes.EchoLedger, one test each, without a controller."""

from certmint.operator.echoes import EchoLedger
from certmint.operator.state import CERTIFICATE, ISSUER, SECRET, Key

WEB = Key(CERTIFICATE, "apps", "web")
OTHER = Key(CERTIFICATE, "apps", "other")
WEB_SECRET = Key(SECRET, "apps", "web-tls")
CA = Key(ISSUER, "apps", "ca")


def test_the_echo_of_our_write_is_dropped_exactly_once() -> None:
    ledger = EchoLedger()
    ledger.settled(WEB, ((WEB, "7"),))
    assert not ledger.wants_reconcile(WEB, (WEB, "7"), working=False)
    assert ledger.wants_reconcile(WEB, (WEB, "7"), working=False)


def test_only_the_latest_write_of_an_object_is_expected() -> None:
    ledger = EchoLedger()
    ledger.settled(WEB, ((WEB_SECRET, "1"), (WEB_SECRET, "2")))
    assert not ledger.own_write((WEB_SECRET, "1"))
    assert ledger.own_write((WEB_SECRET, "2"))


def test_an_event_without_a_version_is_never_an_echo() -> None:
    ledger = EchoLedger()
    ledger.settled(WEB, ((WEB, ""),))
    assert not ledger.own_write((WEB, ""))
    assert ledger.wants_reconcile(WEB, (WEB, ""), working=False)


def test_another_version_of_the_object_is_not_an_echo_and_keeps_ours_expected() -> None:
    ledger = EchoLedger()
    ledger.settled(WEB, ((WEB, "7"),))
    assert ledger.wants_reconcile(WEB, (WEB, "8"), working=False)
    assert ledger.own_write((WEB, "7"))


def test_an_event_while_working_is_held_and_our_own_write_among_them_is_absorbed() -> None:
    ledger = EchoLedger()
    ledger.started(WEB)
    assert not ledger.wants_reconcile(WEB, (WEB_SECRET, "3"), working=True)
    settled = ledger.settled(WEB, ((WEB_SECRET, "3"),))
    assert not settled.look_again
    assert settled.changed_by_others == frozenset()
    assert not ledger.finished(WEB)
    # Its event already came: the write is not expected again, so the same version reconciles.
    assert ledger.wants_reconcile(WEB, (WEB_SECRET, "3"), working=False)


def test_someone_elses_write_while_working_runs_the_key_again_and_names_the_object() -> None:
    ledger = EchoLedger()
    ledger.started(WEB)
    ledger.wants_reconcile(WEB, (WEB_SECRET, "4"), working=True)
    settled = ledger.settled(WEB, ((WEB_SECRET, "5"),))
    assert settled.look_again
    assert settled.changed_by_others == frozenset({WEB_SECRET})
    assert ledger.own_write((WEB_SECRET, "5"))  # our later write's event is still to come


def test_events_held_for_a_failed_reconcile_run_it_again() -> None:
    ledger = EchoLedger()
    ledger.started(WEB)
    ledger.wants_reconcile(WEB, (WEB, "9"), working=True)
    ledger.failed(WEB)
    assert ledger.finished(WEB)
    assert not ledger.finished(WEB)  # once


def test_a_reconcile_with_nothing_held_need_not_run_again() -> None:
    ledger = EchoLedger()
    ledger.started(WEB)
    ledger.settled(WEB, ())
    assert not ledger.finished(WEB)


def test_waiters_are_woken_once_by_the_issuers_next_successful_reconcile() -> None:
    ledger = EchoLedger()
    ledger.wait(WEB, CA)
    ledger.wait(OTHER, CA)
    ledger.started(CA)
    assert ledger.settled(CA, ()).waiters == frozenset({WEB, OTHER})
    ledger.finished(CA)
    ledger.started(CA)
    assert ledger.settled(CA, ()).waiters == frozenset()


def test_waiters_keep_waiting_when_the_issuers_reconcile_fails() -> None:
    ledger = EchoLedger()
    ledger.wait(WEB, CA)
    ledger.started(CA)
    ledger.failed(CA)
    ledger.finished(CA)
    ledger.started(CA)
    assert ledger.settled(CA, ()).waiters == frozenset({WEB})


def test_a_key_that_starts_waiting_during_the_issuers_reconcile_waits_for_the_next_one() -> None:
    ledger = EchoLedger()
    ledger.started(CA)
    ledger.wait(WEB, CA)
    assert ledger.settled(CA, ()).waiters == frozenset()
    ledger.finished(CA)
    ledger.started(CA)
    assert ledger.settled(CA, ()).waiters == frozenset({WEB})
