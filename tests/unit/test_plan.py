"""The ordered trigger chain: every check fires for its reason and only then."""

from datetime import timedelta
from typing import Any

import pytest

from certmint.pki import KeySpec, certificates_to_pem, encode_private_key_pem, generate_private_key
from certmint.planning import labels
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue, Wait
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView
from certmint.planning.request import issuance_spec
from tests.unit.planning_fixtures import (
    NOW,
    issued_secret,
    make_ca,
    make_certificate,
    ready_issuer,
    with_annotation,
    with_data,
)

CA = make_ca()


def test_a_healthy_secret_waits_until_its_renewal_time() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, CA)
    plan = plan_certificate(spec, ready_issuer(CA), secret, None, NOW + timedelta(hours=1), seed="uid-web")
    assert isinstance(plan, Wait)
    assert NOW + timedelta(hours=15, minutes=30) < plan.renewal_time <= NOW + timedelta(hours=16)


def test_missing_issuer_and_unready_issuer_fail_with_their_reasons() -> None:
    spec = issuance_spec(make_certificate(), "td")
    missing = IssuerView(exists=False, ready=False, reason="IssuerNotFound", message="Issuer ca not found")
    plan = plan_certificate(spec, missing, None, None, NOW, "s")
    assert plan == Fail("IssuerNotFound", "Issuer ca not found", retryable=True)
    broken = IssuerView(exists=True, ready=False, reason="CASecretNotFound", message="CA Secret x not found")
    plan = plan_certificate(spec, broken, None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert plan.reason == "IssuerNotReady"
    assert "CASecretNotFound" in plan.message


def test_duration_beyond_the_ca_lifetime_fails() -> None:
    short_ca = make_ca(days=2)  # created a day before NOW: one day left
    spec = issuance_spec(make_certificate(duration="48h"), "td")
    plan = plan_certificate(spec, ready_issuer(short_ca), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert plan.reason == "DurationExceedsIssuer"


def test_secret_owned_by_another_certificate_is_a_conflict_and_nothing_is_issued() -> None:
    spec = issuance_spec(make_certificate(), "td")
    plan = plan_certificate(spec, ready_issuer(CA), None, "other", NOW, "s")
    assert isinstance(plan, Fail)
    assert plan.reason == "SecretConflict"
    assert not plan.retryable


def test_missing_secret_is_issued() -> None:
    spec = issuance_spec(make_certificate(), "td")
    assert plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s") == Issue(
        "SecretMissing", "Secret does not exist"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tls_crt": b""}, "Secret has no tls.crt"),
        ({"tls_key": b""}, "Secret has no tls.key"),
        ({"tls_crt": b"not pem"}, "tls.crt cannot be parsed"),
        (
            {"tls_key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            "tls.key cannot be parsed",
        ),
    ],
)
def test_unusable_secret_data_is_reissued(data: dict[str, bytes], message: str) -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, CA)
    plan = plan_certificate(spec, ready_issuer(CA), with_data(secret, **data), None, NOW, "s")
    assert isinstance(plan, Issue)
    assert plan.reason == "SecretInvalid"
    assert message in plan.message


def test_a_swapped_key_is_detected() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, CA)
    other_key = encode_private_key_pem(generate_private_key(KeySpec()))
    plan = plan_certificate(spec, ready_issuer(CA), with_data(secret, tls_key=other_key), None, NOW, "s")
    assert isinstance(plan, Issue)
    assert plan.reason == "KeyMismatch"


def test_a_certificate_from_another_ca_is_reissued() -> None:
    certificate = make_certificate()
    secret, spec = issued_secret(certificate, make_ca("another CA"))
    plan = plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s")
    assert isinstance(plan, Issue)
    assert plan.reason == "IssuerChanged"


@pytest.mark.parametrize(
    "change",
    [
        {"dnsNames": ["other.apps.svc"]},
        {"duration": "48h"},
        {"usages": ["client auth"]},
        {"privateKey": {"algorithm": "RSA"}},
        {"privateKey": {"encoding": "PKCS8"}},
        {"commonName": "web"},
        {"identity": {"serviceAccount": "web"}},
        {"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}},
        {"additionalOutputFormats": [{"type": "DER"}]},
    ],
)
def test_spec_changes_that_shape_the_certificate_reissue(change: dict[str, Any]) -> None:
    secret, _ = issued_secret(make_certificate(), CA)
    spec = issuance_spec(make_certificate(**change), "td")
    plan = plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s")
    assert plan == Issue("SpecChanged", "the Certificate spec changed since the certificate was issued")


@pytest.mark.parametrize(
    "change",
    [{"renewBefore": "1h"}, {"secretTemplate": {"labels": {"team": "a"}}}, {"cleanupSecretOnDelete": True}],
)
def test_spec_changes_that_do_not_shape_the_certificate_do_not_reissue(change: dict[str, Any]) -> None:
    secret, _ = issued_secret(make_certificate(), CA)
    spec = issuance_spec(make_certificate(**change), "td")
    assert isinstance(plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s"), Wait)


def test_a_replaced_certificate_with_a_forged_digest_is_caught_by_its_contents() -> None:
    """Someone writes another valid pair from the same CA and copies our annotations."""
    ours, spec = issued_secret(make_certificate(), CA)
    theirs, _ = issued_secret(make_certificate(dnsNames=["evil.apps.svc"]), CA)
    forged = with_annotation(theirs, labels.SPEC_DIGEST, ours.annotations[labels.SPEC_DIGEST])
    plan = plan_certificate(spec, ready_issuer(CA), forged, None, NOW, "s")
    assert isinstance(plan, Issue)
    assert plan.reason == "SpecChanged"
    assert "evil.apps.svc" in plan.message


def test_a_missing_output_is_reissued() -> None:
    certificate = make_certificate(additionalOutputFormats=[{"type": "CombinedPEM"}])
    secret, spec = issued_secret(certificate, CA)
    plan = plan_certificate(
        spec, ready_issuer(CA), with_data(secret, **{"tls-combined.pem": b""}), None, NOW, "s"
    )
    assert plan == Issue("SecretIncomplete", "Secret lacks tls-combined.pem")


def test_renewal_window_and_expiry() -> None:
    certificate = make_certificate(duration="2m", renewBefore="1m")
    secret, spec = issued_secret(certificate, CA)
    assert isinstance(
        plan_certificate(spec, ready_issuer(CA), secret, None, NOW + timedelta(seconds=30), "s"), Wait
    )
    renewing = plan_certificate(spec, ready_issuer(CA), secret, None, NOW + timedelta(seconds=61), "s")
    assert isinstance(renewing, Issue)
    assert renewing.reason == "Renewing"
    expired = plan_certificate(spec, ready_issuer(CA), secret, None, NOW + timedelta(minutes=3), "s")
    assert isinstance(expired, Issue)
    assert expired.reason == "Expired"


def test_the_secret_never_carries_the_ca_key() -> None:
    secret, _ = issued_secret(make_certificate(), CA)
    ca_key = encode_private_key_pem(CA.private_key)
    for value in secret.data.values():
        assert ca_key not in value
    assert secret.data["ca.crt"] == certificates_to_pem([CA.certificate])


def test_a_request_the_pki_would_refuse_fails_without_retrying() -> None:
    spec = issuance_spec(make_certificate(dnsNames=["bad_name.example.com"]), "td")
    plan = plan_certificate(spec, ready_issuer(CA), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert plan.reason == "InvalidRequest"
    assert "bad_name" in plan.message
    assert not plan.retryable


def test_a_renew_request_is_served_once() -> None:
    secret, _ = issued_secret(make_certificate(), CA)
    requested = make_certificate()
    requested = requested.model_copy(
        update={
            "metadata": requested.metadata.model_copy(update={"annotations": {labels.RENEW_REQUEST: "r1"}})
        }
    )
    spec = issuance_spec(requested, "td")
    assert plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s") == Issue(
        "RenewRequested", "renewal requested (r1)"
    )
    served, _ = issued_secret(requested, CA)
    assert isinstance(plan_certificate(spec, ready_issuer(CA), served, None, NOW, "s"), Wait)
