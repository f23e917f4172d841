"""Decide, then do, for CSRs: the plan carries what to sign (with the issuer's revocation pointers
and the serial), the conditions to write and the events to report, before anything is written."""

from certmint.pki import LeafRequest, certificates_to_pem, serial_hex, sign_leaf
from certmint.planning import reasons
from certmint.planning.csrs.actions import (
    Nothing,
    RecordRevocation,
    Retry,
    SignChain,
    WriteConditions,
    plan_actions,
    signer_refused,
)
from certmint.planning.csrs.plan import Case
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView
from tests.csr_material import spiffe_csr
from tests.unit.planning_fixtures import (
    CRL_URL,
    NOW,
    OCSP_URL,
    make_ca,
    publishing_issuer,
)
from tests.unit.test_csr_planning import CLUSTER, TD, auto, csr_body

CA = make_ca()
SERIAL = 0xC0FFEE
POINTED = publishing_issuer(CA)


def test_an_approved_request_is_signed_as_planned() -> None:
    key, request = spiffe_csr(TD, "team-a", "web")
    plan = plan_actions(Case(read_signing_request(csr_body(request)), CLUSTER, POINTED, TD, {}, NOW), SERIAL)
    assert plan.revocation is None
    sign = plan.then
    assert isinstance(sign, SignChain)
    assert sign.ca is CA
    assert sign.serial_number == SERIAL
    assert sign.leaf.crl_distribution_points == (CRL_URL,)
    assert sign.leaf.ocsp_urls == (OCSP_URL,)
    assert (sign.event.type, sign.event.reason) == ("Normal", reasons.CSR_ISSUED)
    leaf = sign_leaf(sign.leaf, sign.public_key, sign.ca, NOW, sign.serial_number)
    assert sign.event.message == (
        f"signed serial {serial_hex(leaf.serial_number)} for system:serviceaccount:team-a:web, valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    )
    assert key.public_key() == sign.public_key


def test_an_auto_approval_is_planned_with_its_conditions_and_event() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    plan = plan_actions(
        Case(read_signing_request(csr_body(request, conditions=())), CLUSTER, auto(POINTED), TD, {}, NOW),
        SERIAL,
    )
    write = plan.then
    assert isinstance(write, WriteConditions)
    assert write.approval
    assert [(c["type"], c["reason"]) for c in write.conditions] == [("Approved", reasons.AUTO_APPROVED)]
    assert (write.event.type, write.event.reason) == ("Normal", reasons.AUTO_APPROVED)


def test_an_unready_issuer_is_retried_and_an_unsignable_request_fails_with_its_conditions() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    unready = IssuerView(True, False, reasons.CA_SECRET_NOT_FOUND, "no CA")
    body = csr_body(request)
    assert isinstance(
        plan_actions(Case(read_signing_request(body), CLUSTER, unready, TD, {}, NOW), SERIAL).then, Retry
    )
    refused = signer_refused(read_signing_request(body), Fail(reasons.INVALID_SPEC, "bad signer", False), NOW)
    assert refused is not None
    assert not refused.approval
    assert [c["type"] for c in refused.conditions] == ["Approved", "Failed"]
    assert (refused.event.type, refused.event.message) == ("Warning", "bad signer")
    pending = read_signing_request(csr_body(request, conditions=()))
    assert signer_refused(pending, Fail(reasons.INVALID_SPEC, "bad signer", False), NOW) is None


def test_a_revoke_annotation_on_a_signed_request_is_planned_before_anything_is_written() -> None:
    key, request = spiffe_csr(TD, "team-a", "web")
    leaf = sign_leaf(LeafRequest(uris=("spiffe://td/ns/team-a/sa/web",)), key.public_key(), CA, NOW)
    body = csr_body(
        request, certificate=certificates_to_pem([leaf]), annotations={"certmint.dev/revoke": "1"}
    )
    plan = plan_actions(Case(read_signing_request(body), CLUSTER, POINTED, TD, {}, NOW), SERIAL)
    assert isinstance(plan.then, Nothing), "a signed CSR is final"
    revocation = plan.revocation
    assert isinstance(revocation, RecordRevocation)
    assert revocation.certificate.serial_number == leaf.serial_number
    assert revocation.event.reason == reasons.REVOKED
    assert serial_hex(leaf.serial_number) in revocation.event.message
