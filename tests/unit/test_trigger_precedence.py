"""Precedence in the trigger chain: CA rotation, renewal and revocation when more than one applies."""

import hashlib
from dataclasses import replace
from datetime import timedelta

from certmint.pki import CARequest, RevocationReason, create_root_ca, load_certificates_pem
from certmint.planning import reasons
from certmint.planning.certificates.plan import SECRET_GATES, plan_certificate
from certmint.planning.certificates.results import Issue, Revoke, Wait
from certmint.planning.certificates.triggers import TRIGGERS
from certmint.planning.gates import GATES
from certmint.planning.issuer_view import IssuerView, Trust
from certmint.planning.request import RevokeRequest
from tests.unit.planning_fixtures import (
    NOW,
    issued_secret,
    make_ca,
    make_certificate,
    ready_issuer,
    with_revoking,
    with_signing,
)

OLD_CA = make_ca("old CA")
NEW_CA = create_root_ca(CARequest(common_name="new CA", duration=timedelta(days=365)), NOW)
# 10-minute leaves renew at about 2/3 of their life, less a jitter of at most 2%: never before 6m
# and always by 6m40s after issuance.
CERTIFICATE = make_certificate(duration="10m")
SECRET, SPEC = issued_secret(CERTIFICATE, OLD_CA, issued_at=NOW)
RENEWAL_EARLIEST = NOW + timedelta(minutes=6)
RENEWAL_LATEST = NOW + timedelta(minutes=6, seconds=40)


def rotated_issuer(activated_after: timedelta, window: timedelta) -> IssuerView:
    rotated = with_signing(
        ready_issuer(NEW_CA),
        previous=OLD_CA.certificate,
        activated_at=NOW + activated_after,
        reissue_window=window,
    )
    return replace(rotated, trust=Trust(certificates=(NEW_CA.certificate, OLD_CA.certificate)))


def test_the_chains_are_in_the_documented_order() -> None:
    assert [gate.__name__ for gate in (*GATES, *SECRET_GATES)] == [
        "names_printable",
        "issuer_exists",
        "issuer_ready",
        "request_valid",
        "policy_allows",
        "within_name_constraints",
        "duration_within_issuer",
        "secret_not_claimed",
        "secret_is_ours",
    ]
    assert [trigger.__name__ for trigger in TRIGGERS] == [
        "adopted",
        "key_mismatch",
        "issuer_changed",
        "default_changed",
        "revocation",
        "ca_rotated",
        "spec_changed",
        "renew_requested",
        "content_changed",
        "secret_incomplete",
        "expired",
        "renewal_due",
    ]


def test_a_reissue_point_before_the_renewal_is_a_ca_rotation() -> None:
    # Activated at +1m with a zero window: the re-issue point (+1m) comes before the renewal.
    issuer = rotated_issuer(timedelta(minutes=1), timedelta(0))
    waiting = plan_certificate(SPEC, issuer, SECRET, None, NOW + timedelta(seconds=30), "uid-web")
    assert isinstance(waiting, Wait)
    assert waiting.renewal_time == NOW + timedelta(minutes=1)
    plan = plan_certificate(SPEC, issuer, SECRET, None, NOW + timedelta(minutes=2), "uid-web")
    assert isinstance(plan, Issue)
    assert plan.reason == reasons.CA_ROTATED


def test_a_renewal_due_before_the_reissue_point_is_a_renewal_by_the_new_ca() -> None:
    # Activated at +5m30s with a 60-minute window, a seed in the second half of the spread
    # re-issues after +35m: the renewal (by 6m40s) comes first.
    issuer = rotated_issuer(timedelta(minutes=5, seconds=30), timedelta(minutes=60))
    seed = next(f"seed-{n}" for n in range(100) if _spread(f"seed-{n}") > 0.5)
    waiting = plan_certificate(SPEC, issuer, SECRET, None, NOW + timedelta(minutes=5, seconds=50), seed)
    assert isinstance(waiting, Wait)
    assert RENEWAL_EARLIEST <= waiting.renewal_time <= RENEWAL_LATEST
    plan = plan_certificate(SPEC, issuer, SECRET, None, RENEWAL_LATEST, seed)
    assert _reason(plan) == reasons.RENEWING


def test_when_both_are_due_the_ca_rotation_names_the_reissue() -> None:
    issuer = rotated_issuer(timedelta(minutes=1), timedelta(0))
    plan = plan_certificate(SPEC, issuer, SECRET, None, RENEWAL_LATEST + timedelta(seconds=1), "uid-web")
    assert _reason(plan) == reasons.CA_ROTATED


def test_a_revoke_request_comes_before_rotation_and_renewal() -> None:
    request = RevokeRequest(token="t1", reason=RevocationReason.KEY_COMPROMISE, reissue=True)
    spec = replace(SPEC, revoke=request)
    issuer = rotated_issuer(timedelta(minutes=1), timedelta(0))
    plan = plan_certificate(spec, issuer, SECRET, None, RENEWAL_LATEST + timedelta(seconds=1), "uid-web")
    assert isinstance(plan, Revoke)
    assert plan.request == request


def test_a_revoked_serial_is_reissued_for_revocation_even_when_renewal_is_due() -> None:
    leaf_serial = _leaf_serial()
    issuer = with_revoking(ready_issuer(OLD_CA), revoked_serials=frozenset({leaf_serial}))
    plan = plan_certificate(SPEC, issuer, SECRET, None, RENEWAL_LATEST + timedelta(seconds=1), "uid-web")
    assert _reason(plan) == reasons.REVOKED


def test_renewal_and_expiry_boundaries() -> None:
    issuer = ready_issuer(OLD_CA)
    assert isinstance(
        plan_certificate(SPEC, issuer, SECRET, None, RENEWAL_EARLIEST - timedelta(seconds=1), "s"), Wait
    )
    assert _reason(plan_certificate(SPEC, issuer, SECRET, None, RENEWAL_LATEST, "s")) == reasons.RENEWING
    assert (
        _reason(plan_certificate(SPEC, issuer, SECRET, None, NOW + timedelta(minutes=11), "s"))
        == reasons.EXPIRED
    )


def _reason(plan: object) -> str:
    return plan.reason if isinstance(plan, Issue) else type(plan).__name__


def _spread(seed: str) -> float:
    """The documented spread, derived here independently: SHA-256 of the seed, first 8 bytes."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


def _leaf_serial() -> int:
    return load_certificates_pem(SECRET.data["tls.crt"])[0].serial_number
