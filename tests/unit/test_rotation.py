"""The CA rotation state machine: Stable → Prepared → Overlap → Stable, with overlapping trust."""

from datetime import UTC, datetime, timedelta
from typing import Any

from certmint.api import Issuer
from certmint.api.issuer import RotationPhase
from certmint.pki import CARequest, create_root_ca
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue, Wait
from certmint.planning.issuer_view import IssuerView, Signing, Trust
from certmint.planning.issuers.ca_secret import ca_secret_content, read_material
from certmint.planning.issuers.rotation import (
    Activate,
    Hold,
    Prepare,
    Retire,
    advance,
    next_check,
    plan_rotation,
    stable_material,
)
from tests.unit.planning_fixtures import issued_secret, make_certificate

START = datetime(2026, 1, 1, tzinfo=UTC)


def issuer(**rotation: Any) -> Issuer:
    return Issuer.model_validate(
        {
            "metadata": {"name": "ca", "namespace": "apps"},
            "spec": {"selfSigned": {"caDuration": "6m", "rotation": {"propagationDelay": "20s", **rotation}}},
        }
    )


def test_a_full_scheduled_rotation_keeps_the_old_ca_trusted_until_its_leaves_expire() -> None:
    spec = issuer(rotateBeforePercentage=50, reissueWindow="30s")
    ca = create_root_ca(CARequest("ca", timedelta(minutes=6)), START)
    material = stable_material(ca)
    assert material.phase == RotationPhase.STABLE
    assert material.trust == (ca.certificate,)

    lifetime = ca.certificate.not_valid_after_utc - ca.certificate.not_valid_before_utc
    rotate_at = ca.certificate.not_valid_after_utc - lifetime * 0.5
    assert plan_rotation(spec, material, "", timedelta(minutes=2), rotate_at - timedelta(seconds=1)) == Hold(
        rotate_at
    )
    assert next_check(material, spec) == rotate_at

    step = plan_rotation(spec, material, "", timedelta(minutes=2), rotate_at)
    assert isinstance(step, Prepare)
    assert step.activates_at == rotate_at + timedelta(seconds=20)
    assert not step.requested
    next_ca = create_root_ca(step.request, rotate_at)
    prepared = advance(material, step, rotate_at, next_ca)
    assert prepared.phase == RotationPhase.PREPARED
    assert prepared.trust == (ca.certificate, next_ca.certificate), (
        "old and new trusted before the new one signs"
    )
    assert prepared.current == ca, "the old CA still signs"
    assert plan_rotation(spec, prepared, "", timedelta(minutes=2), rotate_at + timedelta(seconds=5)) == Hold(
        step.activates_at
    )

    activation = step.activates_at
    step2 = plan_rotation(spec, prepared, "", timedelta(minutes=2), activation)
    assert step2 == Activate(retires_at=activation + timedelta(minutes=2) + timedelta(seconds=20))
    overlap = advance(prepared, step2, activation, None)
    assert overlap.phase == RotationPhase.OVERLAP
    assert overlap.current == next_ca
    assert overlap.previous == ca.certificate
    assert overlap.trust == (next_ca.certificate, ca.certificate)
    assert plan_rotation(spec, overlap, "", timedelta(minutes=2), activation + timedelta(minutes=1)) == Hold(
        step2.retires_at
    )

    assert plan_rotation(spec, overlap, "", timedelta(minutes=2), step2.retires_at) == Retire()
    retired = advance(overlap, Retire(), step2.retires_at, None)
    assert retired.phase == RotationPhase.STABLE
    assert retired.trust == (next_ca.certificate,)


def test_overlap_never_outlives_the_old_ca() -> None:
    spec = issuer()
    ca = create_root_ca(CARequest("ca", timedelta(minutes=6)), START)
    prepared = advance(
        stable_material(ca),
        Prepare(CARequest("n", timedelta(minutes=6)), START + timedelta(minutes=5), False, ""),
        START,
        create_root_ca(CARequest("n", timedelta(minutes=6)), START),
    )
    step = plan_rotation(spec, prepared, "", timedelta(hours=24), START + timedelta(minutes=5))
    assert step == Activate(retires_at=ca.certificate.not_valid_after_utc)


def test_a_requested_rotation_starts_at_once_and_retires_the_old_ca_early() -> None:
    spec = issuer(reissueWindow="10m")
    ca = create_root_ca(CARequest("ca", timedelta(days=365)), START)
    step = plan_rotation(spec, stable_material(ca), "compromised-1", timedelta(days=1), START)
    assert isinstance(step, Prepare)
    assert step.requested
    prepared = advance(stable_material(ca), step, START, create_root_ca(step.request, START))
    activation = START + timedelta(seconds=20)
    activate = plan_rotation(spec, prepared, "compromised-1", timedelta(days=1), activation)
    assert activate == Activate(retires_at=activation + timedelta(seconds=20)), (
        "not a day: the CA is distrusted"
    )
    retired = advance(advance(prepared, activate, activation, None), Retire(), activation, None)
    # The same request is not handled twice; a new value rotates again.
    assert isinstance(plan_rotation(spec, retired, "compromised-1", timedelta(days=1), activation), Hold)
    assert isinstance(plan_rotation(spec, retired, "compromised-2", timedelta(days=1), activation), Prepare)


def test_the_secret_round_trips_every_phase() -> None:
    spec = issuer()
    ca = create_root_ca(CARequest("ca", timedelta(minutes=6)), START)
    step = plan_rotation(spec, stable_material(ca), "r1", timedelta(minutes=2), START)
    assert isinstance(step, Prepare)
    prepared = advance(stable_material(ca), step, START, create_root_ca(step.request, START))
    overlap = advance(prepared, Activate(START + timedelta(minutes=3)), START + timedelta(seconds=20), None)
    for material in (stable_material(ca), prepared, overlap):
        content = ca_secret_content(material)
        read_back = read_material(material.current, content.data, content.annotations, START)
        assert read_back.phase == material.phase
        assert ca_secret_content(read_back) == content
    assert "previous.key" in ca_secret_content(overlap).data, "it signs the previous CA's CRL"
    assert [ca.certificate for ca in overlap.crl_signers] == [overlap.current.certificate, ca.certificate]
    retired = advance(overlap, Retire(), START + timedelta(minutes=4), None)
    assert "previous.key" not in ca_secret_content(retired).data, "a retired CA's key is never kept"
    assert retired.crl_signers == (retired.current,)


def test_leaves_of_the_previous_ca_are_reissued_spread_over_the_window() -> None:
    old = create_root_ca(CARequest("old", timedelta(days=30)), START)
    new = create_root_ca(CARequest("new", timedelta(days=30)), START)
    activated = START + timedelta(hours=1)
    view = IssuerView(
        exists=True,
        ready=True,
        reason="CAReady",
        message="",
        signing=Signing(
            ca=new, previous=old.certificate, activated_at=activated, reissue_window=timedelta(minutes=10)
        ),
        trust=Trust(certificates=(new.certificate, old.certificate)),
    )
    moments = []
    for n in range(20):
        certificate = make_certificate(name=f"svc{n}")
        secret, spec = issued_secret(certificate, old, issued_at=START)
        waiting = plan_certificate(spec, view, secret, None, activated, seed=f"uid-{n}")
        assert isinstance(waiting, Wait)
        assert activated <= waiting.renewal_time < activated + timedelta(minutes=10)
        moments.append(waiting.renewal_time)
        due = plan_certificate(spec, view, secret, None, waiting.renewal_time, seed=f"uid-{n}")
        assert due == Issue("CARotated", "tls.crt was signed by the previous CA of a rotated issuer")
    assert len(set(moments)) == 20
    stranger = create_root_ca(CARequest("stranger", timedelta(days=30)), START)
    secret, spec = issued_secret(make_certificate(), stranger, issued_at=START)
    assert plan_certificate(spec, view, secret, None, activated, seed="s") == Issue(
        "IssuerChanged", "tls.crt was not signed by the issuer's current CA"
    )
