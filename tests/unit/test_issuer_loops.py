"""Issue 27, items 2 and 6: no Issuer spec makes its CA rotate in a loop, a repeated step backs off,
the overlap counts only certificates that were issued, and rotate-ca is honoured in every phase.
All on a fake clock: planning is pure, the operator runs on tests.kubefake."""

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmint.api import Issuer, parse_duration
from certmint.api.issuer import RotationPhase
from certmint.operator.controller import ISSUER_REQUEUE_FLOOR_SECONDS
from certmint.operator.outcome import Outcome
from certmint.operator.state import CERTIFICATE, Key, State
from certmint.pki import CARequest, CertificateAuthority, KeySpec, LeafRequest, create_root_ca, issue_leaf
from certmint.pki.ca import BACKDATE
from certmint.planning import reasons
from certmint.planning.issuers.ca import CAUnusable, plan_ca, schedule_error
from certmint.planning.issuers.ca_secret import ca_secret_content, read_material
from certmint.planning.issuers.rotation import (
    MIN_STEP,
    REPEAT_BACKOFF_MAX,
    Activate,
    CAMaterial,
    Hold,
    Prepare,
    StepTaken,
    advance,
    longest_issued,
    plan_rotation,
    rotation_policy,
    scheduled_rotation,
    stable_material,
    step_allowed_at,
    step_taken,
)
from tests.unit.operator.test_controller import (
    ISSUER_KEY,
    NAMESPACE,
    Harness,
    certificate_body,
    issuer_body,
    secret_body,
)
from tests.unit.planning_fixtures import issued_secret, make_certificate

START = datetime(2026, 1, 1, tzinfo=UTC)
HOSTILE: dict[str, Any] = {
    "caDuration": "1m",
    "rotation": {"rotateBeforePercentage": 90, "propagationDelay": "0s", "reissueWindow": "0s"},
}


def issuer(generation: int = 1, **self_signed: Any) -> Issuer:
    return Issuer.model_validate(
        {
            "metadata": {"name": "ca", "namespace": "apps", "generation": generation},
            "spec": {"selfSigned": self_signed},
        }
    )


def rotating(ca: str, percentage: int, delay: str, window: str) -> Issuer:
    rotation = {"rotateBeforePercentage": percentage, "propagationDelay": delay, "reissueWindow": window}
    return issuer(caDuration=ca, rotation=rotation)


# Minimums, at their boundaries (the API server's CEL rules say the same; tests/e2e proves them).


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (rotating("5m", 1, "5s", "10s"), None),
        (rotating("299s", 1, "5s", "10s"), "caDuration must be at least 5m"),
        (rotating("24h", 34, "5s", "10s"), None),
        (rotating("24h", 34, "4s", "10s"), "propagationDelay must be at least 5s"),
        (rotating("24h", 34, "4999ms", "10s"), "propagationDelay must be at least 5s"),
        (rotating("24h", 34, "5s", "9s"), "reissueWindow must be at least 10s"),
        # 300 s x 50 - 60 s x 50 = 12,000 = 100 x (2 x 5 s + 110 s): exactly enough, one second more is not.
        (rotating("300s", 50, "5s", "110s"), None),
        (rotating("300s", 50, "5s", "111s"), "rotation would be due too soon"),
        (rotating("300s", 50, "6s", "109s"), "rotation would be due too soon"),
        (rotating("300s", 51, "5s", "110s"), "rotation would be due too soon"),
        (issuer(**HOSTILE), "caDuration must be at least 5m"),
        (issuer(caDuration="1h", rotation={"rotateBeforePercentage": 90}), "rotation would be due too soon"),
        (issuer(), None),
    ],
)
def test_the_minimums_at_their_boundaries(spec: Issuer, error: str | None) -> None:
    found = schedule_error(spec)
    if error is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(error)


def test_an_issuer_stored_below_the_minimums_is_refused_with_a_clear_reason() -> None:
    plan = plan_ca(issuer(**HOSTILE), None, False, START)
    assert plan == CAUnusable(reasons.ROTATION_SCHEDULE_INVALID, "caDuration must be at least 5m")
    plan = plan_ca(issuer(caDuration="1h", rotation={"rotateBeforePercentage": 90}), None, False, START)
    assert isinstance(plan, CAUnusable)
    assert plan.reason == reasons.ROTATION_SCHEDULE_INVALID
    assert "2 x propagationDelay + reissueWindow" in plan.message


def test_the_policy_never_goes_below_the_minimums_whatever_is_stored() -> None:
    policy = rotation_policy(issuer(**HOSTILE))
    assert policy.propagation_delay == MIN_STEP == timedelta(seconds=5)
    assert policy.reissue_window == timedelta(seconds=10)


def test_a_new_ca_is_never_due_for_rotation_at_once() -> None:
    spec = issuer(**HOSTILE)  # stored before the rules: no CA is used, but planning alone holds too
    ca = create_root_ca(CARequest("ca", timedelta(minutes=1)), START)
    due = scheduled_rotation(ca.certificate, rotation_policy(spec))
    assert due == START + 2 * timedelta(seconds=5) + timedelta(seconds=10)
    assert plan_rotation(spec, stable_material(ca), "", timedelta(0), START) == Hold(due)


def simulate(spec: Issuer, longest: timedelta, steps: int) -> list[tuple[datetime, str, CAMaterial]]:
    """The operator's loop on a fake clock: plan, take the step or sleep until the Hold."""
    now = START
    assert spec.spec.self_signed is not None
    material = stable_material(
        create_root_ca(CARequest("ca", parse_duration(spec.spec.self_signed.ca_duration)), now)
    )
    last: StepTaken | None = None
    taken: list[tuple[datetime, str, CAMaterial]] = []
    while len(taken) < steps:
        step = plan_rotation(spec, material, "", longest, now, last)
        if isinstance(step, Hold):
            assert step.until > now, "a Hold in the past would be a loop"
            now = step.until
            continue
        next_ca = create_root_ca(step.request, now) if isinstance(step, Prepare) else None
        taken.append((now, type(step).__name__, material))
        material = advance(material, step, now, next_ca)
        last = step_taken(last, step, 1, now)
    return taken


def test_the_hostile_spec_takes_a_step_at_most_every_five_seconds() -> None:
    """1,573 events in 60 s before: now each step is at least MIN_STEP after the one before, and a
    rotation starts no sooner than 2 x delay + window after its CA was made."""
    taken = simulate(issuer(**HOSTILE), timedelta(0), 9)
    times = [at for at, _, _ in taken]
    assert [kind for _, kind, _ in taken] == ["Prepare", "Activate", "Retire"] * 3
    assert all(later - earlier >= MIN_STEP for earlier, later in itertools.pairwise(times))
    assert len([at for at in times if at < START + timedelta(seconds=60)]) <= 60 // 5


durations = st.integers(min_value=300, max_value=3 * 365 * 86400).map(lambda s: f"{s}s")


@st.composite
def admitted_specs(draw: st.DrawFn) -> Issuer:
    spec = rotating(
        draw(durations),
        draw(st.integers(min_value=1, max_value=90)),
        f"{draw(st.integers(min_value=5, max_value=7200))}s",
        f"{draw(st.integers(min_value=10, max_value=7200))}s",
    )
    return spec if schedule_error(spec) is None else rotating("8760h", 34, "5m", "10m")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=admitted_specs(), longest_fraction=st.floats(min_value=0, max_value=1.5))
def test_for_any_admitted_spec_no_step_comes_sooner_than_the_floor(
    spec: Issuer, longest_fraction: float
) -> None:
    policy = rotation_policy(spec)
    ca_duration = parse_duration(spec.spec.self_signed.ca_duration)  # type: ignore[union-attr]
    taken = simulate(spec, ca_duration * longest_fraction, 7)
    for (earlier, _, _), (later, kind, material) in itertools.pairwise(taken):
        assert later - earlier >= MIN_STEP, (kind, later - earlier)
        if kind == "Prepare":
            made = material.current.certificate.not_valid_before_utc + BACKDATE
            assert later - made >= 2 * policy.propagation_delay + policy.reissue_window
            assert material.phase == RotationPhase.STABLE, "a Stable phase between rotations"


@settings(max_examples=25, deadline=None)
@given(
    ca=st.integers(min_value=1, max_value=600).map(lambda s: f"{s}s"),
    percentage=st.integers(min_value=1, max_value=90),
    delay=st.integers(min_value=0, max_value=30).map(lambda s: f"{s}s"),
    window=st.integers(min_value=0, max_value=30).map(lambda s: f"{s}s"),
)
def test_even_a_spec_stored_below_the_minimums_never_steps_sooner_than_the_floor(
    ca: str, percentage: int, delay: str, window: str
) -> None:
    taken = simulate(rotating(ca, percentage, delay, window), timedelta(0), 6)
    for (earlier, _, _), (later, _, _) in itertools.pairwise(taken):
        assert later - earlier >= MIN_STEP


# The same step repeated backs off, per issuer; a different step or a new generation starts over.


def test_a_repeated_step_waits_twice_as_long_each_time_up_to_five_minutes() -> None:
    last = StepTaken("Prepare", 1, START)
    waits = []
    for _ in range(10):
        allowed = step_allowed_at(last, "Prepare", 1)
        assert allowed is not None
        waits.append((allowed - last.at).total_seconds())
        last = step_taken(last, Prepare(CARequest("n", timedelta(hours=1)), allowed, True, "x"), 1, allowed)
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]
    assert timedelta(minutes=5) == REPEAT_BACKOFF_MAX
    assert step_allowed_at(last, "Activate", 1) == last.at + MIN_STEP, (
        "progress: another step, the floor only"
    )
    assert step_allowed_at(last, "Prepare", 2) is None, "the spec changed"
    assert step_taken(last, Activate(START), 1, START).repeats == 1
    assert (
        step_taken(last, Prepare(CARequest("n", timedelta(hours=1)), START, True, "y"), 2, START).repeats == 1
    )


def test_a_request_after_a_request_waits_for_the_backoff_but_is_served() -> None:
    spec = issuer(caDuration="24h", rotation={"propagationDelay": "20s"})
    ca = create_root_ca(CARequest("ca", timedelta(hours=24)), START)
    first = plan_rotation(spec, stable_material(ca), "r1", timedelta(0), START)
    assert isinstance(first, Prepare)
    prepared = advance(stable_material(ca), first, START, create_root_ca(first.request, START))
    last = step_taken(None, first, 1, START)
    soon = START + timedelta(seconds=2)
    assert plan_rotation(spec, prepared, "r2", timedelta(0), soon, last) == Hold(START + timedelta(seconds=5))
    assert isinstance(
        plan_rotation(spec, prepared, "r2", timedelta(0), START + timedelta(seconds=5), last), Prepare
    )
    changed = issuer(generation=2, caDuration="24h", rotation={"propagationDelay": "20s"})
    assert isinstance(plan_rotation(changed, prepared, "r2", timedelta(0), soon, last), Prepare)


# rotate-ca in every phase.


def phases(spec: Issuer) -> tuple[CAMaterial, CAMaterial, CAMaterial]:
    ca = create_root_ca(CARequest("ca", timedelta(hours=24)), START)
    stable = stable_material(ca)
    step = Prepare(CARequest("next", timedelta(hours=24)), START + timedelta(seconds=20), False, "")
    prepared = advance(stable, step, START, create_root_ca(step.request, START))
    activation = START + timedelta(seconds=20)
    overlap = advance(prepared, Activate(activation + timedelta(hours=2)), activation, None)
    return stable, prepared, overlap


def test_rotate_ca_while_prepared_replaces_the_next_ca_and_makes_it_a_requested_rotation() -> None:
    spec = issuer(caDuration="24h", rotation={"propagationDelay": "20s"})
    _, prepared, _ = phases(spec)
    now = START + timedelta(seconds=10)
    step = plan_rotation(spec, prepared, "incident-1", timedelta(hours=1), now)
    assert step == Prepare(step.request, now + timedelta(seconds=20), True, "incident-1")  # type: ignore[union-attr]
    assert isinstance(step, Prepare)
    replaced = advance(prepared, step, now, create_root_ca(step.request, now))
    assert replaced.next is not None
    assert prepared.next is not None
    assert replaced.next.certificate != prepared.next.certificate, (
        "the prepared CA's key sat with the compromised one"
    )
    assert replaced.trust == (prepared.current.certificate, replaced.next.certificate)
    assert plan_rotation(spec, replaced, "incident-1", timedelta(hours=1), now) == Hold(
        now + timedelta(seconds=20)
    )
    activation = now + timedelta(seconds=20)
    assert plan_rotation(spec, replaced, "incident-1", timedelta(hours=1), activation) == Activate(
        activation + timedelta(seconds=20)
    ), "requested: distrusted one propagation delay after activation, not after an hour"


def test_rotate_ca_during_an_overlap_starts_a_new_rotation() -> None:
    spec = issuer(caDuration="24h", rotation={"propagationDelay": "20s"})
    _, _, overlap = phases(spec)
    assert overlap.phase == RotationPhase.OVERLAP
    now = START + timedelta(minutes=5)
    assert plan_rotation(spec, overlap, "", timedelta(hours=1), now) == Hold(
        START + timedelta(seconds=20, hours=2)
    )
    step = plan_rotation(spec, overlap, "incident-2", timedelta(hours=1), now)
    assert isinstance(step, Prepare)
    assert step.requested
    third = advance(overlap, step, now, create_root_ca(step.request, now))
    assert third.phase == RotationPhase.PREPARED
    assert third.current == overlap.current, "the current CA signs until the new one activates"
    assert third.previous == overlap.previous, "the previous CA stays trusted until then"
    assert third.next is not None
    assert third.trust == (overlap.current.certificate, third.next.certificate, overlap.previous)
    # The CA Secret holds all three and reads back the same.
    content = ca_secret_content(third)
    back = read_material(third.current, content.data, content.annotations, now)
    assert back.phase == RotationPhase.PREPARED
    assert back.requested
    assert back.next is not None
    assert back.next.certificate == third.next.certificate
    assert back.previous == third.previous
    assert ca_secret_content(back) == content
    activation = now + timedelta(seconds=20)
    activate = plan_rotation(spec, third, "incident-2", timedelta(hours=1), activation)
    assert activate == Activate(activation + timedelta(seconds=20))
    assert isinstance(activate, Activate)
    fourth = advance(third, activate, activation, None)
    assert fourth.current == third.next
    assert fourth.previous == overlap.current.certificate, "the CA that signed until now is the previous one"
    assert fourth.previous_key == overlap.current.private_key
    assert overlap.previous not in fourth.trust, "the older CA and its key are dropped"
    assert "previous.key" in ca_secret_content(fourth).data
    assert plan_rotation(spec, fourth, "incident-2", timedelta(hours=1), activation) == Hold(
        activation + timedelta(seconds=20)
    )


def test_rotate_ca_when_stable_starts_at_once_each_value_once() -> None:
    spec = issuer(caDuration="24h", rotation={"propagationDelay": "20s"})
    stable, _, _ = phases(spec)
    step = plan_rotation(spec, stable, "r1", timedelta(0), START)
    assert isinstance(step, Prepare)
    assert step.requested
    assert (step.activates_at, step.handled_request) == (START + timedelta(seconds=20), "r1")
    handled = advance(stable, step, START, create_root_ca(step.request, START))
    assert plan_rotation(spec, handled, "r1", timedelta(0), START + timedelta(seconds=1)) == Hold(
        step.activates_at
    )


# The overlap counts only certificates that were issued, by the CA that stops signing.


def leaf(ca: CertificateAuthority, lifetime: timedelta) -> bytes:
    _, certificate = issue_leaf(LeafRequest(common_name="web", duration=lifetime), KeySpec(), ca, START)
    return certificate.public_bytes(Encoding.DER)


def test_the_overlap_counts_only_issued_certificates_of_the_ca_that_stops_signing() -> None:
    ca = create_root_ca(CARequest("ca", timedelta(days=3650)), START)
    other = create_root_ca(CARequest("other", timedelta(days=3650)), START)
    issued = [
        leaf(ca, timedelta(hours=2)),
        leaf(ca, timedelta(hours=5)),
        leaf(other, timedelta(days=400)),
        b"junk",
    ]
    assert longest_issued(issued, ca.certificate) == timedelta(hours=5), (
        "its duration, without the backdating"
    )
    assert longest_issued([], ca.certificate) == timedelta(0)

    spec = issuer(caDuration="87600h", rotation={"propagationDelay": "20s", "reissueWindow": "10m"})
    step = Prepare(CARequest("next", timedelta(days=3650)), START + timedelta(seconds=20), False, "")
    prepared = advance(stable_material(ca), step, START, create_root_ca(step.request, START))
    activation = START + timedelta(seconds=20)
    activate = plan_rotation(spec, prepared, "", longest_issued(issued, ca.certificate), activation)
    assert activate == Activate(activation + timedelta(hours=5) + timedelta(seconds=20))


# The operator: the requeue floor, and the backoff kept per issuer.


async def test_every_issuer_requeue_has_a_floor_and_certificates_do_not() -> None:
    harness = Harness()
    queue = harness.controller.queue
    loop = asyncio.get_running_loop()
    harness.controller.apply(ISSUER_KEY, Outcome(requeue_after=0.0))
    due = queue.scheduled(ISSUER_KEY)
    assert due is not None
    assert due - loop.time() >= ISSUER_REQUEUE_FLOOR_SECONDS - 0.5
    assert ISSUER_REQUEUE_FLOOR_SECONDS == 5.0
    harness.controller.apply(ISSUER_KEY, Outcome(requeue_after=3600.0))
    assert (queue.scheduled(ISSUER_KEY) or 0) - loop.time() < 3600, "the earlier schedule stays"
    certificate = ISSUER_KEY.__class__(CERTIFICATE, NAMESPACE, "web")
    harness.controller.apply(certificate, Outcome(requeue_after=0.0))
    assert queue.queued(certificate)


def requested_rotations(harness: Harness) -> int:
    return sum(event.reason == reasons.CA_ROTATION_REQUESTED for event in harness.kube.events)


async def test_a_rotation_step_whose_write_is_undone_backs_off_per_issuer() -> None:
    """Someone (a GitOps tool) keeps putting the CA Secret back: each put back is a write that
    reconciles the issuer, and each would prepare a new CA. The same step waits 5 s, then 10 s..."""
    harness = Harness()
    body = issuer_body(selfSigned={"caDuration": "24h", "rotation": {"propagationDelay": "1m"}})
    harness.add_issuer(body)
    await harness.settle()
    original = harness.kube.secrets[(NAMESPACE, "ca-ca")]
    requested = {
        **body,
        "metadata": {
            **body["metadata"],
            "annotations": {"certmint.dev/rotate-ca": "r1"},
            "resourceVersion": "i2",
        },
    }
    harness.add_issuer(requested)
    await harness.settle()
    assert requested_rotations(harness) == 1
    assert harness.controller.state.rotation_steps[ISSUER_KEY].kind == "Prepare"

    syncs = itertools.count()

    def put_back() -> None:
        # A stamp of each sync makes each put back a write (the API server ignores one that changes nothing).
        synced = {**original.annotations, "gitops.example/sync": str(next(syncs))}
        harness.kube.put_secret(replace(original, annotations=synced))
        harness.controller.secret_event(None, _secret_body(harness, "ca-ca"))

    counts = []
    for wait in (5, 10, 20):
        put_back()
        await harness.settle()
        harness.clock.advance(timedelta(seconds=wait - 1))
        put_back()
        await harness.settle()
        before = requested_rotations(harness)
        harness.clock.advance(timedelta(seconds=1))
        put_back()
        await harness.settle()
        counts.append((before, requested_rotations(harness)))
    assert counts == [(1, 2), (2, 3), (3, 4)], "held until each backoff is over, then served"

    # A spec change starts the backoff over.
    changed = {**requested, "metadata": {**requested["metadata"], "generation": 2, "resourceVersion": "i3"}}
    harness.add_issuer(changed)
    put_back()
    await harness.settle()
    assert requested_rotations(harness) == 5


def _secret_body(harness: Harness, name: str) -> dict[str, Any]:
    """As the API server serves it: the labels certmint wrote are certmint's in managedFields (a
    GitOps tool that puts the data back does not take them over)."""
    body = secret_body(harness.kube.secrets[(NAMESPACE, name)])
    owned: dict[str, Any] = {f"f:{label}": {} for label in body["metadata"]["labels"]}
    body["metadata"]["managedFields"] = [
        {"manager": "certmint", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": owned}}}
    ]
    return body


def test_the_operator_offers_only_what_the_secrets_hold_never_a_spec() -> None:
    """A refused 10-year Certificate has no Secret: nothing of it reaches longest_issued."""
    ca = create_root_ca(CARequest("ca", timedelta(days=30)), START)
    state = State()
    # Its spec now asks for a decade too (an edit not served yet): the Secret's 1-hour certificate counts.
    issued = certificate_body("short", duration="87600h")
    refused = certificate_body("decade", secret="decade-tls", duration="87600h")
    for body in (issued, refused):
        state.put_certificate(Key(CERTIFICATE, NAMESPACE, body["metadata"]["name"]), body)
    view, _ = issued_secret(make_certificate(name="short", secretName="web-tls", duration="1h"), ca, START)
    state.secrets[(NAMESPACE, "web-tls")] = view
    found = state.issued_certificates_for_issuer(ISSUER_KEY)
    assert len(found) == 1
    assert longest_issued(found, ca.certificate) == timedelta(hours=1)
