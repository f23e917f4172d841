"""Decide, then do: a Certificate's plan carries everything the operator signs, writes and reports,
and doing exactly what it says gives the Secret, status and event it announced."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from certmint.api import Certificate
from certmint.pki import alt_names, generate_private_key, serial_hex, sign_leaf
from certmint.planning import labels, reasons
from certmint.planning.certificates.actions import (
    Hold,
    Inputs,
    Keep,
    RevokeCurrent,
    SignAndWrite,
    plan_actions,
)
from certmint.planning.certificates.results import Wait
from certmint.planning.certificates.secret import issuer_annotations, secret_data, secret_metadata
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.contest import DataWriter, repair_delay
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView
from certmint.planning.ownership import ownership_annotations
from certmint.planning.status import certificate_ready
from tests.unit.planning_fixtures import (
    CRL_URL,
    NOW,
    OCSP_URL,
    action_inputs,
    explicit,
    issued_secret,
    make_ca,
    make_certificate,
    publishing_issuer,
    with_annotation,
    with_data,
    with_revoking,
)

CA = make_ca()
SERIAL = 0x1234_5678_9ABC
ISSUER = publishing_issuer(CA)


def inputs(
    certificate: Certificate, secret: SecretView | None = None, issuer: IssuerView = ISSUER, **changes: Any
) -> Inputs:
    return action_inputs(certificate, secret, issuer, SERIAL, **changes)


def test_a_missing_secret_is_planned_whole_before_anything_is_signed() -> None:
    certificate = make_certificate(cleanupSecretOnDelete=True, additionalOutputFormats=[{"type": "DER"}])
    plan = plan_actions(inputs(certificate))
    assert isinstance(plan, SignAndWrite)
    assert plan.why.reason == reasons.SECRET_MISSING
    assert plan.ca is CA
    assert plan.serial_number == SERIAL
    assert plan.spec.leaf.crl_distribution_points == (CRL_URL,)
    assert plan.spec.leaf.ocsp_urls == (OCSP_URL,)
    assert not plan.reuse_key
    write = plan.secret
    assert write.name == "web-tls"
    assert write.create
    assert write.data_keys == ("tls.crt", "tls.key", "ca.crt", "key.der")
    assert write.owner_reference
    assert write.labels == {labels.SECRET_ROLE_LABEL: labels.ROLE_LEAF}
    assert write.annotations[labels.SERIAL_NUMBER] == serial_hex(SERIAL)
    assert write.annotations[labels.CERTIFICATE_NAME] == "web"
    assert write.annotations[labels.ALT_NAMES] == "web.apps.svc"
    assert write.annotations[labels.CREATED_FOR] == "uid-web"
    assert write.annotations[labels.SPEC_DIGEST] == plan.spec.digest
    report = plan.report
    assert report.status.serial_number == serial_hex(SERIAL)
    assert report.status.revision == 1
    assert report.status.renewal_time == report.renew_at
    assert (plan.event.type, plan.event.reason) == ("Normal", reasons.ISSUED)
    assert serial_hex(SERIAL) in plan.event.message


def test_doing_what_the_plan_says_gives_the_secret_and_status_it_announced() -> None:
    certificate = make_certificate(ipAddresses=["::0001"], duration="1h")
    plan = plan_actions(inputs(certificate, now=NOW + timedelta(microseconds=654_321)))
    assert isinstance(plan, SignAndWrite)
    key = generate_private_key(plan.spec.key)
    leaf = sign_leaf(plan.spec.leaf, key.public_key(), plan.ca, NOW + timedelta(microseconds=654_321), SERIAL)
    data = secret_data(plan.spec, key, leaf, plan.ca, None)
    assert tuple(data) == plan.secret.data_keys
    markings = ownership_annotations(None, certificate.metadata.uid)
    recorded = issuer_annotations(explicit(certificate).ref)
    signed = secret_metadata(certificate, leaf.serial_number, alt_names(leaf), plan.spec, recorded, markings)
    assert (signed.labels, signed.annotations) == (plan.secret.labels, plan.secret.annotations)
    status = plan.report.status
    assert status == certificate_ready(
        certificate.status,
        explicit(certificate).ref,
        leaf.serial_number,
        leaf.not_valid_before_utc,
        leaf.not_valid_after_utc,
        plan.report.renew_at,
        1,
        certificate.metadata.generation,
        NOW + timedelta(microseconds=654_321),
    )
    assert plan.report.not_after == leaf.not_valid_after_utc


def test_a_healthy_secret_is_kept_and_its_removed_label_is_planned_back() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    marked = replace(secret, annotations={**secret.annotations, **ownership_annotations(secret, "uid-web")})
    kept = plan_actions(inputs(certificate, marked))
    assert isinstance(kept, Keep)
    assert isinstance(kept.current, Wait)
    assert kept.heal is None
    assert kept.report.renew_at == kept.current.renewal_time
    stripped = plan_actions(inputs(certificate, replace(marked, labels={})))
    assert isinstance(stripped, Keep)
    assert stripped.heal is not None
    assert not stripped.heal.create
    assert stripped.heal.labels == {labels.SECRET_ROLE_LABEL: labels.ROLE_LEAF}
    assert stripped.heal.annotations[labels.SERIAL_NUMBER] == marked.annotations[labels.SERIAL_NUMBER]
    assert not stripped.heal.owner_reference, "cleanupSecretOnDelete is off"


def test_a_secret_another_writer_keeps_changing_is_held_until_its_repair_is_due() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    writers = (
        DataWriter("certmint", NOW, frozenset({"tls.crt"})),
        DataWriter("rogue", NOW + timedelta(seconds=1), frozenset({"tls.crt"})),
    )
    damaged = replace(with_data(secret, tls_crt=b"garbage"), writers=writers)
    repaired_thrice = with_annotation(damaged, labels.CONTESTED_REPAIRS, "3")
    held = plan_actions(inputs(certificate, repaired_thrice, now=NOW + timedelta(seconds=1)))
    assert isinstance(held, Hold)
    assert held.failure.reason == reasons.SECRET_CONTESTED
    assert held.until == NOW + repair_delay(3)
    due = plan_actions(inputs(certificate, damaged, now=NOW + timedelta(seconds=1)))
    assert isinstance(due, SignAndWrite)
    assert due.secret.annotations[labels.CONTESTED_REPAIRS] == "1", "the repair is counted with it"


def test_a_kept_key_is_planned_for_rotation_policy_never_but_never_after_a_revocation() -> None:
    certificate = make_certificate(privateKey={"rotationPolicy": "Never"})
    secret, _ = issued_secret(certificate, CA, issued_at=NOW - timedelta(hours=23))
    renewing = plan_actions(inputs(certificate, secret))
    assert isinstance(renewing, SignAndWrite)
    assert renewing.why.reason == reasons.RENEWING
    assert renewing.reuse_key
    assert not renewing.secret.create
    assert renewing.report.status.revision == 1
    leaf_serial = int(secret.annotations[labels.SERIAL_NUMBER].replace(":", ""), 16)
    revoked = plan_actions(
        inputs(certificate, secret, with_revoking(ISSUER, revoked_serials=frozenset({leaf_serial})))
    )
    assert isinstance(revoked, SignAndWrite)
    assert revoked.why.reason == reasons.REVOKED
    assert not revoked.reuse_key


def test_a_gate_that_fails_is_the_plan() -> None:
    plan = plan_actions(inputs(make_certificate(), owner_conflict="other"))
    assert isinstance(plan, Fail)
    assert plan.reason == reasons.SECRET_CONFLICT


def test_a_revoke_request_is_planned_with_the_mark_that_serves_it_and_its_event() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    annotations = {labels.REVOKE_REQUEST: "r1", labels.REVOKE_REASON: "keyCompromise"}
    revoking = certificate.model_copy(
        update={"metadata": certificate.metadata.model_copy(update={"annotations": annotations})}
    )
    plan = plan_actions(inputs(revoking, secret))
    assert isinstance(plan, RevokeCurrent)
    assert plan.served == {labels.REVOKE_REQUEST: "r1"}
    serial = serial_hex(plan.revoke.certificate.serial_number)
    assert serial == secret.annotations[labels.SERIAL_NUMBER]
    assert (plan.event.reason, plan.event.message) == (
        reasons.REVOKED,
        f"revoked serial {serial} (keyCompromise); it is on the issuer's CRL until it expires",
    )
