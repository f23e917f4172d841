"""The operator layer on a fake API and a fake clock: outcomes, echoes, backoff, waiting for issuers,
conflicts, peering pauses and restarts. Each reconcile is driven by hand, one key at a time."""

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

import certmint.kube.gateway
from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.kube.secrets import SecretObject
from certmint.kube.watching import LISTED, SYNCED, WatchEvent
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import DELETED, Controller
from certmint.operator.outcome import Outcome
from certmint.operator.state import CERTIFICATE, ISSUER, Key, State
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.certificates.renewal import spread
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.revocation import REVOKED_KEY, load_revocations
from tests.e2e import manifests
from tests.kubefake import FakeClock, FakeKube

NAMESPACE = "apps"
ISSUER_KEY = Key(ISSUER, NAMESPACE, "ca")


def issuer_body(**spec: Any) -> dict[str, Any]:
    meta = {"uid": "uid-ca", "generation": 1, "resourceVersion": "i1"}
    return manifests.issuer(NAMESPACE, "ca", meta, **(spec or {"selfSigned": {}}))


def certificate_body(
    name: str = "web", secret: str = "web-tls", created: str = "2026-06-01T10:00:00Z", **spec: Any
) -> dict[str, Any]:
    meta = {
        "uid": f"uid-{name}",
        "generation": 1,
        "resourceVersion": f"c-{name}",
        "creationTimestamp": created,
    }
    return manifests.certificate(
        NAMESPACE, name, meta=meta, **{"secretName": secret, "duration": "1h", **spec}
    )


class Harness:
    def __init__(self, kube: FakeKube | None = None, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.kube = kube or FakeKube(clock=self.clock)
        self.controller = Controller(
            kube=self.kube, config=OperatorConfig(namespace="certmint"), clock=self.clock
        )

    def add_issuer(self, body: dict[str, Any]) -> None:
        self.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")] = body
        self.controller.issuer_event(ISSUER, None, body)

    def add_certificate(self, body: dict[str, Any]) -> Key:
        self.kube.objects[(CERTIFICATES.plural, NAMESPACE, body["metadata"]["name"])] = body
        self.controller.certificate_event(None, body)
        return Key(CERTIFICATE, NAMESPACE, body["metadata"]["name"])

    async def step(self, key: Key) -> None:
        """Hand exactly this key to the controller, as a worker would."""
        queue = self.controller.queue
        assert queue.queued(key), f"{key} is not queued"
        while True:
            got = await queue.get()
            if got == key:
                break
            queue.done(got)
            queue.add(got)
        await self.controller.process(key)

    async def settle(self, limit: int = 50) -> None:
        """Process whatever is queued now (not what is scheduled later) until nothing is."""
        queue = self.controller.queue
        for _ in range(limit):
            if not queue.ready():
                return
            await self.controller.process(await queue.get())
        raise AssertionError("the queue never settled")

    def secret(self, name: str = "web-tls") -> SecretObject:
        return self.kube.secrets[(NAMESPACE, name)]

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.kube.objects[(CERTIFICATES.plural, NAMESPACE, name)].get("status", {})

    def secret_event(self, name: str = "web-tls", event_type: str | None = None) -> None:
        """What the Secret watch delivers for the Secret as it is now."""
        self.controller.secret_event(event_type, secret_body(self.secret(name)))

    def certificate_echo(self, name: str = "web") -> None:
        self.controller.certificate_event(None, self.kube.objects[(CERTIFICATES.plural, NAMESPACE, name)])


def secret_body(secret: SecretObject) -> dict[str, Any]:
    return {
        "metadata": {
            "name": secret.name,
            "namespace": secret.namespace,
            "labels": secret.labels,
            "annotations": secret.annotations,
            "resourceVersion": secret.resource_version,
            "ownerReferences": [{"uid": uid} for uid in secret.owner_uids],
        },
        "type": secret.type,
        "data": {key: base64.b64encode(value).decode() for key, value in secret.data.items()},
    }


def ready_reason(status: dict[str, Any]) -> str:
    return next(c["reason"] for c in status["conditions"] if c["type"] == "Ready")


def serial_in(secret: SecretObject) -> int:
    return load_certificates_pem(secret.data["tls.crt"])[0].serial_number


async def issued(harness: Harness, **spec: Any) -> Key:
    harness.add_issuer(issuer_body())
    key = harness.add_certificate(certificate_body(**spec))
    await harness.settle()
    assert ready_reason(harness.status()) == reasons.READY
    return key


async def test_a_certificate_waits_for_its_issuer_then_issues_once() -> None:
    harness = Harness()
    key = harness.add_certificate(certificate_body())
    await harness.step(key)
    assert harness.kube.writes == []
    assert harness.kube.events == []
    assert harness.controller.queue.queued(ISSUER_KEY), "the issuer is asked for"
    harness.add_issuer(issuer_body())
    await harness.step(ISSUER_KEY)
    assert "create secret apps/ca-ca" in harness.kube.writes
    assert harness.controller.queue.queued(key), "the waiting Certificate is woken"
    await harness.step(key)
    assert [e.reason for e in harness.kube.events if e.about.kind == "Certificate"] == [reasons.ISSUED]
    assert ready_reason(harness.status()) == reasons.READY
    assert [w for w in harness.kube.writes if "web-tls" in w] == ["create secret apps/web-tls"]
    assert "get secret apps/web-tls" not in harness.kube.reads, "no read to learn it is absent"


async def test_the_next_look_is_scheduled_at_the_renewal_time() -> None:
    harness = Harness()
    key = await issued(harness)
    loop = asyncio.get_running_loop()
    due = harness.controller.queue.scheduled(key)
    assert due is not None
    renewal = harness.status()["renewalTime"]
    expected = (datetime.fromisoformat(renewal.replace("Z", "+00:00")) - harness.clock()).total_seconds()
    assert abs((due - loop.time()) - expected) < 5
    # 1h certificates renew at about 2/3 of their life.
    assert timedelta(minutes=35) < timedelta(seconds=expected) <= timedelta(minutes=41)


async def test_our_own_writes_come_back_as_events_that_reconcile_nothing() -> None:
    harness = Harness()
    key = await issued(harness)
    harness.secret_event()
    harness.certificate_echo()
    assert not harness.controller.queue.queued(key)


async def test_an_event_of_our_write_arriving_during_the_reconcile_is_absorbed() -> None:
    harness = Harness()
    harness.add_issuer(issuer_body())
    await harness.settle()
    key = harness.add_certificate(certificate_body())
    original = harness.kube.apply_secret

    async def apply_and_deliver(*args: Any, **kwargs: Any) -> SecretObject:
        version = await original(*args, **kwargs)
        harness.secret_event()  # the watch delivers before the reconcile ends
        return version

    harness.kube.apply_secret = apply_and_deliver  # type: ignore[method-assign]
    await harness.step(key)
    assert ready_reason(harness.status()) == reasons.READY
    assert not harness.controller.queue.queued(key)


async def test_a_foreign_change_of_the_secret_is_reissued() -> None:
    harness = Harness()
    key = await issued(harness)
    first = serial_in(harness.secret())
    other = replace(harness.secret(), data={**harness.secret().data, "tls.key": b"garbage"})
    harness.kube.put_secret(other)
    harness.secret_event()
    assert harness.controller.queue.queued(key)
    await harness.settle()
    assert serial_in(harness.secret()) != first
    assert harness.kube.events[-1].reason == reasons.REISSUED


async def test_a_secret_outside_the_watch_is_found_by_the_create_and_then_read_not_taken() -> None:
    harness = Harness()
    harness.add_issuer(issuer_body())
    await harness.settle()
    theirs = {"tls.crt": b"theirs", "tls.key": b"theirs"}
    users = SecretObject("web-tls", NAMESPACE, "kubernetes.io/tls", theirs, {}, {}, "")
    harness.kube.put_secret(users)  # no certmint label: the Secret watch never reports it
    key = harness.add_certificate(certificate_body())
    await harness.settle()
    assert ready_reason(harness.status()) == reasons.SECRET_NOT_OWNED
    assert [w for w in harness.kube.writes if "web-tls" in w] == [], "never overwritten"
    assert harness.secret().data == theirs
    reads = harness.kube.reads.count("get secret apps/web-tls")
    harness.controller.queue.add(key)
    await harness.settle()
    assert harness.kube.reads.count("get secret apps/web-tls") == reads + 1, "read, not created again"
    assert [w for w in harness.kube.writes if "web-tls" in w] == []


async def test_a_deleted_secret_is_issued_again_from_the_watch_event() -> None:
    harness = Harness()
    key = await issued(harness)
    gone = harness.kube.take_secret(NAMESPACE, "web-tls")
    harness.controller.secret_event(DELETED, secret_body(gone))
    assert harness.controller.queue.queued(key)
    await harness.settle()
    assert serial_in(harness.secret()) != serial_in(gone)
    assert [w for w in harness.kube.writes if "web-tls" in w] == ["create secret apps/web-tls"] * 2


async def test_backoff_grows_while_failing_and_starts_over_on_success() -> None:
    harness = Harness()
    harness.add_issuer(issuer_body(ca={"secretName": "corp-ca"}))
    loop = asyncio.get_running_loop()
    delays = []
    for _ in range(4):
        harness.controller.queue.add(ISSUER_KEY)
        await harness.step(ISSUER_KEY)
        due = harness.controller.queue.scheduled(ISSUER_KEY)
        assert due is not None
        delays.append(round(due - loop.time()))
    assert delays == [1, 2, 4, 8]
    assert harness.controller.state.issuer_views[ISSUER_KEY].reason == reasons.CA_SECRET_NOT_FOUND
    # The CA appears (copied from a self-signed issuer's Secret): success resets the backoff.
    donor = Harness()
    await issued(donor)
    ca = donor.kube.secrets[(NAMESPACE, "ca-ca")]
    harness.kube.put_secret(replace(ca, name="corp-ca", labels={}, annotations={}))
    harness.controller.queue.add(ISSUER_KEY)
    await harness.step(ISSUER_KEY)
    assert harness.controller.state.issuer_views[ISSUER_KEY].ready
    assert harness.controller.queue.failures(ISSUER_KEY) == 0


async def test_a_secret_conflict_is_handed_over_only_when_the_secret_invites_adoption() -> None:
    harness = Harness()
    harness.add_issuer(issuer_body())
    first = harness.add_certificate(certificate_body("first", "shared", "2026-06-01T10:00:00Z"))
    second = harness.add_certificate(certificate_body("second", "shared", "2026-06-01T11:00:00Z"))
    await harness.settle()
    assert ready_reason(harness.status("first")) == reasons.READY
    assert ready_reason(harness.status("second")) == reasons.SECRET_CONFLICT
    writes = list(harness.kube.writes)
    harness.controller.queue.add(second)
    await harness.settle()
    assert [w for w in harness.kube.writes[len(writes) :] if "shared" in w] == [], "the loser writes nothing"
    harness.controller.certificate_event(
        DELETED, harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "first")]
    )
    assert harness.controller.queue.queued(second)
    await harness.settle()
    assert ready_reason(harness.status("second")) == reasons.SECRET_NOT_OWNED, "not taken over by itself"
    assert [w for w in harness.kube.writes[len(writes) :] if "shared" in w] == []
    # Whoever may write the Secret invites the other Certificate: then it is adopted.
    secret = harness.secret("shared")
    invited = replace(secret, annotations={**secret.annotations, labels.ALLOW_ADOPTION_BY: "second"})
    harness.kube.put_secret(invited)
    harness.secret_event("shared")
    await harness.settle()
    assert ready_reason(harness.status("second")) == reasons.READY
    assert harness.secret("shared").annotations[labels.CERTIFICATE_NAME] == "second"
    assert not harness.controller.queue.queued(first)


def request_revocation(harness: Harness) -> None:
    """The user asks for the revocation of the Certificate web's certificate (its watch reports it)."""
    body = harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]
    body["metadata"]["annotations"] = {
        labels.REVOKE_REQUEST: "t1",
        "certmint.dev/revoke-reason": "keyCompromise",
    }
    body["metadata"]["resourceVersion"] = "c-web-2"
    harness.controller.certificate_event(None, body)


async def test_a_revocation_waits_for_the_issuers_new_crl_then_reissues() -> None:
    harness = Harness()
    key = await issued(harness)
    revoked = serial_in(harness.secret())
    request_revocation(harness)
    await harness.step(key)
    stored = load_revocations(harness.secret("ca-ca").data[REVOKED_KEY])
    assert [entry.serial_number for entry in stored.entries] == [revoked]
    assert harness.controller.queue.queued(ISSUER_KEY)
    assert not harness.controller.queue.queued(key), "it waits for the issuer"
    await harness.step(ISSUER_KEY)
    assert revoked in harness.controller.state.issuer_views[ISSUER_KEY].revoking.revoked_serials
    await harness.step(key)
    assert serial_in(harness.secret()) != revoked
    reissue = harness.kube.events[-1]
    assert reissue.reason == reasons.REISSUED
    assert reissue.message.startswith(reasons.REVOKED)


async def test_renewal_on_the_fake_clock() -> None:
    harness = Harness()
    key = await issued(harness)
    first = serial_in(harness.secret())
    harness.clock.advance(timedelta(minutes=30))
    harness.controller.queue.add(key)
    await harness.settle()
    assert serial_in(harness.secret()) == first, "not due yet"
    harness.clock.advance(timedelta(minutes=15))
    harness.controller.queue.add(key)
    await harness.settle()
    assert serial_in(harness.secret()) != first
    assert harness.kube.events[-1].reason == reasons.RENEWED


async def test_a_restart_with_everything_ready_writes_nothing() -> None:
    before = Harness()
    await issued(before)
    writes, events = len(before.kube.writes), len(before.kube.events)
    after = Harness(before.kube, before.clock)
    before.kube.reads.clear()
    await after.controller.load_secrets()
    after.controller.issuer_event(ISSUER, None, before.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
    after.controller.certificate_event(None, before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    await after.settle()
    assert after.controller.state.issuer_views[ISSUER_KEY].ready
    assert len(before.kube.writes) == writes
    assert len(before.kube.events) == events
    # One listing of the managed Secrets; the issuer reads its CA Secret once (its CRL step starts
    # from that read); no leaf Secret is read.
    assert before.kube.reads == [f"list secrets {labels.SECRET_ROLE_LABEL}", "get secret apps/ca-ca"]


async def test_a_restart_that_lists_certificates_before_their_issuer_reads_the_issuer_once() -> None:
    before = Harness()
    await issued(before)
    after = Harness(before.kube, before.clock)
    await after.controller.load_secrets()
    before.kube.reads.clear()
    after.controller.certificate_event(None, before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    await after.settle()
    assert after.controller.state.issuer_views[ISSUER_KEY].ready
    assert before.kube.reads == ["get issuers apps/ca", "get secret apps/ca-ca"]
    # The issuer's listing then brings the version already read: an echo, not a second reconcile.
    after.controller.issuer_event(ISSUER, None, before.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
    assert not after.controller.queue.queued(ISSUER_KEY)
    changed = {**issuer_body(), "metadata": {**issuer_body()["metadata"], "resourceVersion": "i2"}}
    after.controller.issuer_event(ISSUER, None, changed)
    assert after.controller.queue.queued(ISSUER_KEY), "a newer version is reconciled"


async def test_a_paused_replica_reconciles_nothing_until_it_leads() -> None:
    harness = Harness()
    stop = asyncio.Event()

    async def never_leads() -> None:
        await stop.wait()

    await harness.controller.start(never_leads())
    try:
        harness.add_issuer(issuer_body())
        harness.add_certificate(certificate_body())
        for _ in range(20):
            await asyncio.sleep(0)  # let every worker run as far as it can
        assert harness.kube.reads == [
            f"list secrets {labels.SECRET_ROLE_LABEL}",
            f"watch secrets {labels.SECRET_ROLE_LABEL}",
            "watch certificates",  # after its listing (the fake records unselected listings not)
        ], "only the listings, and the watches from their versions"
        assert harness.kube.writes == []
        harness.controller.active.set()
        await asyncio.wait_for(_until(lambda: "status certificates apps/web" in harness.kube.writes), 30)
    finally:
        stop.set()
        await harness.controller.stop()


async def test_a_started_controller_lists_the_secrets_once_and_follows_them_by_its_own_watch() -> None:
    """One listing at the start (kopf no longer lists Secrets a second time); every later change
    comes from the watch that continues from that listing's version."""
    before = Harness()
    await issued(before)
    after = Harness(before.kube, before.clock)
    await after.controller.start()
    try:
        assert (NAMESPACE, "web-tls") in after.controller.state.secrets, "listed before start returns"
        after.add_issuer(before.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
        after.controller.certificate_event(None, before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
        await asyncio.wait_for(_until(lambda: not after.controller.queue.busy()), 30)
        first = serial_in(before.secret())
        before.kube.take_secret(NAMESPACE, "web-tls")  # deleted by someone: only the watch tells
        await asyncio.wait_for(
            _until(
                lambda: (NAMESPACE, "web-tls") in before.kube.secrets and serial_in(before.secret()) != first
            ),
            30,
        )
        assert before.kube.reads.count(f"list secrets {labels.SECRET_ROLE_LABEL}") == 1, "no second listing"
    finally:
        await after.controller.stop()


def scripted_watches(monkeypatch: pytest.MonkeyPatch) -> asyncio.Queue[list[WatchEvent]]:
    """The controller's list+watch, replaced: every watch yields the batches of events put on the
    queue, in order (a listing, a 410's new listing, changes)."""
    listings: asyncio.Queue[list[WatchEvent]] = asyncio.Queue()

    async def scripted(_kube: Any, _watched: Any) -> AsyncIterator[WatchEvent]:
        while True:
            for event in await listings.get():
                yield event

    monkeypatch.setattr("certmint.operator.controller.list_and_watch", scripted)
    return listings


async def test_a_secret_missing_from_a_later_listing_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a 410 the watch lists again: a Secret the new listing lacks was deleted while no watch
    was open, and its Certificate is planned again."""
    before = Harness()
    await issued(before)
    body = secret_body(before.secret())
    listings = scripted_watches(monkeypatch)
    after = Harness(before.kube, before.clock)
    after.add_certificate(before.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    queue = after.controller.queue
    while queue.ready():
        queue.done(await queue.get())
    await listings.put([WatchEvent(LISTED, body), WatchEvent(SYNCED)])
    await after.controller.watch_secrets()  # the start's watch, without workers taking the queue
    try:
        assert (NAMESPACE, "web-tls") in after.controller.state.secrets
        await listings.put([WatchEvent(LISTED, body), WatchEvent(SYNCED)])
        await listings.put([WatchEvent(SYNCED)])
        await asyncio.wait_for(
            _until(lambda: (NAMESPACE, "web-tls") not in after.controller.state.secrets), 30
        )
        assert queue.queued(Key(CERTIFICATE, NAMESPACE, "web")), "its Certificate is planned again"
    finally:
        await after.controller.stop()


async def test_a_certificate_missing_from_a_later_listing_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller's own Certificate watch: listed Certificates are planned; after a 410 the watch
    lists again, and one the new listing lacks was deleted while no watch was open."""
    harness = Harness()
    body = certificate_body()
    listings = scripted_watches(monkeypatch)
    key = Key(CERTIFICATE, NAMESPACE, "web")
    harness.controller.watch_certificates()
    try:
        await listings.put([WatchEvent(LISTED, body), WatchEvent(SYNCED)])
        await asyncio.wait_for(_until(lambda: key in harness.controller.state.certificates), 30)
        assert harness.controller.queue.queued(key), "a listed Certificate is planned"
        await listings.put([WatchEvent(SYNCED)])
        await asyncio.wait_for(_until(lambda: key not in harness.controller.state.certificates), 30)
    finally:
        await harness.controller.stop()


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _no_real_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach a real API server."""

    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a real API call")

    monkeypatch.setattr(certmint.kube.gateway.Kube, "request", refuse)


async def test_a_secret_deleted_while_a_replica_stood_by_is_issued_again_once_it_leads() -> None:
    leader = Harness()
    await issued(leader)
    standby = Harness(leader.kube, leader.clock)
    await standby.controller.load_secrets()  # at its start; then its watches are paused
    deleted = leader.kube.take_secret(NAMESPACE, "web-tls")
    await standby.controller.load_secrets()  # what peering.follow runs before it leads
    standby.controller.issuer_event(ISSUER, None, leader.kube.objects[(ISSUERS.plural, NAMESPACE, "ca")])
    standby.controller.certificate_event(None, leader.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")])
    await standby.settle()
    assert serial_in(standby.secret()) != serial_in(deleted), "issued again, not taken for present"


async def test_an_issuer_change_re_plans_its_certificates_in_the_order_of_their_rotation_points() -> None:
    harness = Harness()
    names = ["a", "b", "c", "d", "e", "f"]
    for name in names:
        harness.add_certificate(certificate_body(name, secret=f"{name}-tls"))
    queue = harness.controller.queue
    while queue.ready():
        queue.done(await queue.get())
    changed = IssuerView(exists=True, ready=False, reason=reasons.CA_SECRET_NOT_FOUND, message="gone")
    harness.controller.apply(ISSUER_KEY, Outcome(issuer_view=changed))
    # An event of its own moves a Certificate ahead of the fan-out.
    harness.controller.certificate_event(None, certificate_body("c", secret="c-tls"))
    handed = [(await queue.get()).name for _ in names]
    by_point = sorted(names, key=lambda name: spread(f"uid-{name}"))
    assert by_point != names, "the spread must differ from creation order, or this test shows nothing"
    assert handed == ["c", *[name for name in by_point if name != "c"]]


def test_certificates_are_cached_as_json_and_read_back_as_they_were_put() -> None:
    state = State()
    key = Key(CERTIFICATE, NAMESPACE, "web")
    body = certificate_body()
    state.put_certificate(key, body)
    read = state.certificates[key]
    assert read == body
    assert read is not body
    read["spec"]["secretName"] = "changed"
    assert state.certificates[key]["spec"]["secretName"] == "web-tls", "a read is a copy"
    assert key in state.certificates
    assert list(state.certificates) == [key]
    assert len(state.certificates) == 1
    assert state.certificates_for_secret(NAMESPACE, "web-tls") == {key}
    state.remove_certificate(key)
    assert key not in state.certificates
    assert state.certificates_for_secret(NAMESPACE, "web-tls") == set()
