"""Judging CertificateSigningRequests: signer names, who may ask what, auto-approval, revocation."""

import base64
from datetime import timedelta
from typing import Any

import pytest

from certmint.api.issuer import AutoApproval, IssuancePolicy
from certmint.pki import LeafRequest, RequestedNames, Usage, certificates_to_pem, sign_leaf
from certmint.planning import reasons
from certmint.planning.csrs.plan import (
    Approve,
    Case,
    Deny,
    Leave,
    Sign,
    plan_signing_request,
    revocation_due,
    with_condition,
)
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView
from certmint.planning.signers import CLUSTER_ISSUER, ISSUER, SignerRef, parse_signer_name
from tests.csr_material import (
    ca_csr,
    csr_for,
    mismatched_signature_csr,
    odd_curve_csr,
    spiffe_csr,
    weak_rsa_csr,
)
from tests.unit.planning_fixtures import NOW, make_ca, ready_issuer, with_revoking, with_signing

TD = "td"
CA = make_ca()
CLUSTER = SignerRef(CLUSTER_ISSUER, "", "mesh")
TEAM_A = SignerRef(ISSUER, "team-a", "ca")
AUTO = AutoApproval(workload_identity=True)


def csr_body(
    request: bytes,
    username: str = "system:serviceaccount:team-a:web",
    conditions: tuple[str, ...] = ("Approved",),
    usages: tuple[str, ...] = ("digital signature", "client auth"),
    expiration: int | None = None,
    annotations: dict[str, str] | None = None,
    certificate: bytes = b"",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "req",
            "uid": "uid-req",
            "resourceVersion": "7",
            "annotations": annotations or {},
        },
        "spec": {
            "signerName": "clusterissuers.certmint.dev/mesh",
            "request": base64.b64encode(request).decode(),
            "usages": list(usages),
            "username": username,
            **({"expirationSeconds": expiration} if expiration else {}),
        },
        "status": {
            "conditions": [{"type": kind, "status": "True"} for kind in conditions],
            **({"certificate": base64.b64encode(certificate).decode()} if certificate else {}),
        },
    }


def plan(
    body: dict[str, Any], signer: SignerRef = CLUSTER, issuer: IssuerView | None = None
) -> Sign | Approve | Deny | Fail | Leave:
    return plan_signing_request(
        Case(read_signing_request(body), signer, issuer or ready_issuer(CA), TD, {}, NOW)
    )


def auto(issuer: IssuerView | None = None, **approval: bool) -> IssuerView:
    return with_signing(
        issuer or ready_issuer(CA), auto_approval=AutoApproval(workload_identity=True, **approval)
    )


@pytest.mark.parametrize(
    ("signer_name", "expected"),
    [
        ("issuers.certmint.dev/team-a.ca", SignerRef(ISSUER, "team-a", "ca")),
        ("issuers.certmint.dev/team-a.ca.v2", SignerRef(ISSUER, "team-a", "ca.v2")),
        ("clusterissuers.certmint.dev/mesh", SignerRef(CLUSTER_ISSUER, "", "mesh")),
    ],
)
def test_signer_names_name_an_issuer(signer_name: str, expected: SignerRef) -> None:
    assert parse_signer_name(signer_name) == expected


@pytest.mark.parametrize(
    "signer_name",
    [
        "issuers.certmint.dev/ca",
        "issuers.certmint.dev/Team.ca",
        "issuers.certmint.dev/team-a.",
        "clusterissuers.certmint.dev/",
        "clusterissuers.certmint.dev/a/b",
        "issuers.certmint.dev/team-a.ca\n",
    ],
)
def test_malformed_signer_names_are_unknown_signers(signer_name: str) -> None:
    failure = parse_signer_name(signer_name)
    assert isinstance(failure, Fail)
    assert failure.reason == reasons.UNKNOWN_SIGNER
    assert not failure.retryable


def test_an_approved_workload_request_is_signed_for_its_own_identity() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    decided = plan(csr_body(request, expiration=3600))
    assert isinstance(decided, Sign)
    assert decided.spec.leaf.uris == ("spiffe://td/ns/team-a/sa/web",)
    assert decided.spec.leaf.usages == (Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH)
    assert decided.spec.leaf.duration == timedelta(hours=1)


def test_expiration_is_capped_by_the_policy() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    policy = IssuancePolicy.model_validate(
        {"allowedURIs": ["spiffe://td/ns/${namespace}/sa/${serviceAccount}"], "maxDuration": "30m"}
    )
    decided = plan(csr_body(request, expiration=86400), issuer=with_signing(ready_issuer(CA), policy=policy))
    assert isinstance(decided, Sign)
    assert decided.spec.leaf.duration == timedelta(minutes=30)


def test_unset_expiration_defaults_to_a_day() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    decided = plan(csr_body(request))
    assert isinstance(decided, Sign)
    assert decided.spec.leaf.duration == timedelta(hours=24)


@pytest.mark.parametrize(
    ("request_pem", "username", "signer", "reason", "words"),
    [
        (
            spiffe_csr(TD, "team-b", "web")[1],
            "system:serviceaccount:team-a:web",
            CLUSTER,
            reasons.POLICY_DENIED,
            "team-b",
        ),
        (spiffe_csr(TD, "team-a", "web")[1], "alice", CLUSTER, reasons.POLICY_DENIED, "identity"),
        (
            spiffe_csr(TD, "team-b", "web")[1],
            "system:serviceaccount:team-a:web",
            SignerRef(ISSUER, "team-b", "ca"),
            reasons.REQUESTER_NOT_ALLOWED,
            "team-a",
        ),
        (
            spiffe_csr("other.td", "team-a", "web")[1],
            "system:serviceaccount:team-a:web",
            CLUSTER,
            reasons.POLICY_DENIED,
            "trust domain",
        ),
        (ca_csr(), "alice", CLUSTER, reasons.POLICY_DENIED, "allowCA"),
        (
            csr_for(RequestedNames(uris=("javascript:alert(1)",)))[1],
            "alice",
            CLUSTER,
            reasons.POLICY_DENIED,
            "scheme",
        ),
        (
            csr_for(RequestedNames(common_name="web\u202egro.lapyap"))[1],
            "alice",
            CLUSTER,
            reasons.INVALID_SPEC,
            "U+202E",
        ),
        (mismatched_signature_csr(), "alice", CLUSTER, reasons.INVALID_SIGNATURE, "signature"),
        (weak_rsa_csr(), "alice", CLUSTER, reasons.INVALID_KEY, "1024"),
        (odd_curve_csr(), "alice", CLUSTER, reasons.INVALID_KEY, "secp256k1"),
        (b"garbage", "alice", CLUSTER, reasons.INVALID_REQUEST, "not a PEM"),
    ],
)
def test_what_a_requester_may_not_have_fails_with_a_reason(
    request_pem: bytes, username: str, signer: SignerRef, reason: str, words: str
) -> None:
    decided = plan(csr_body(request_pem, username=username), signer=signer)
    assert isinstance(decided, Fail)
    assert (decided.reason, decided.retryable) == (reason, False)
    assert words in decided.message


def test_a_person_may_use_an_issuer_for_its_namespace_identities() -> None:
    _, request = spiffe_csr(TD, "team-a", "batch")
    assert isinstance(plan(csr_body(request, username="alice"), signer=TEAM_A), Sign)


def test_unsupported_usages_fail() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    decided = plan(csr_body(request, usages=("client auth", "ocsp signing")))
    assert isinstance(decided, Fail)
    assert decided.reason == reasons.UNSUPPORTED_USAGE


def test_a_missing_issuer_fails_and_an_unready_one_is_retried() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    missing = plan(csr_body(request), issuer=IssuerView(False, False, reasons.ISSUER_NOT_FOUND, "gone"))
    assert isinstance(missing, Fail)
    assert not missing.retryable
    unready = plan(csr_body(request), issuer=IssuerView(True, False, reasons.CA_SECRET_NOT_FOUND, "no CA"))
    assert isinstance(unready, Fail)
    assert unready.retryable


def test_pending_requests_are_left_alone_without_auto_approval() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    assert isinstance(plan(csr_body(request, conditions=())), Leave)
    assert isinstance(plan(csr_body(b"garbage", conditions=())), Leave)


def test_settled_requests_are_left_alone() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    for conditions in (("Denied",), ("Approved", "Failed")):
        assert isinstance(plan(csr_body(request, conditions=conditions)), Leave)
    assert isinstance(plan(csr_body(request, certificate=b"signed")), Leave)
    assert read_signing_request(csr_body(request, certificate=b"x")).settled
    assert not read_signing_request(
        csr_body(request, certificate=b"x", annotations={"certmint.dev/revoke": "1"})
    ).settled


def test_a_service_account_asking_for_its_own_identity_is_auto_approved() -> None:
    _, request = spiffe_csr(TD, "team-a", "web")
    decided = plan(csr_body(request, conditions=()), issuer=auto())
    assert isinstance(decided, Approve)
    assert decided.reason == reasons.AUTO_APPROVED
    assert "spiffe://td/ns/team-a/sa/web" in decided.message


@pytest.mark.parametrize(
    ("names", "username", "usages"),
    [
        (RequestedNames(common_name="alice"), "alice", ("client auth",)),
        (
            RequestedNames(uris=("spiffe://td/ns/team-a/sa/other",)),
            "system:serviceaccount:team-a:web",
            ("client auth",),
        ),
        (
            RequestedNames(uris=("spiffe://td/ns/team-a/sa/web",), dns_names=("web.team-a.svc",)),
            "system:serviceaccount:team-a:web",
            ("client auth",),
        ),
        (
            RequestedNames(uris=("spiffe://td/ns/team-a/sa/web",), common_name="admin"),
            "system:serviceaccount:team-a:web",
            ("client auth",),
        ),
        (
            RequestedNames(uris=("spiffe://td/ns/team-a/sa/web",)),
            "system:serviceaccount:team-a:web",
            ("code signing",),
        ),
    ],
)
def test_anything_but_a_pure_workload_identity_is_left_to_a_person(
    names: RequestedNames, username: str, usages: tuple[str, ...]
) -> None:
    _, request = csr_for(names)
    assert isinstance(
        plan(csr_body(request, username=username, conditions=(), usages=usages), issuer=auto()), Leave
    )


def test_policy_names_are_auto_approved_only_where_the_issuer_says_so() -> None:
    _, request = csr_for(
        RequestedNames(uris=("spiffe://td/ns/team-a/sa/web",), dns_names=("web.team-a.svc",))
    )
    policy = IssuancePolicy.model_validate(
        {"allowedURIs": ["spiffe://td/ns/${namespace}/sa/*"], "allowedDNSNames": ["*.${namespace}.svc"]}
    )
    issuer = with_signing(ready_issuer(CA), policy=policy)
    assert isinstance(plan(csr_body(request, conditions=()), issuer=auto(issuer)), Leave)
    assert isinstance(plan(csr_body(request, conditions=()), issuer=auto(issuer, policy_names=True)), Approve)


def test_a_request_that_could_never_be_signed_is_denied_with_the_reason() -> None:
    _, request = spiffe_csr(TD, "team-b", "web")
    decided = plan(csr_body(request, conditions=()), issuer=auto())
    assert isinstance(decided, Deny)
    assert decided.reason == reasons.AUTO_DENIED
    assert decided.message.startswith(f"{reasons.POLICY_DENIED}: identity:")


def test_a_revoke_annotation_is_due_until_the_issuer_lists_the_serial() -> None:
    key, request = spiffe_csr(TD, "team-a", "web")
    leaf = sign_leaf(LeafRequest(uris=("spiffe://td/ns/team-a/sa/web",)), key.public_key(), CA, NOW)
    body = csr_body(
        request,
        certificate=certificates_to_pem([leaf]),
        annotations={"certmint.dev/revoke": "1", "certmint.dev/revoke-reason": "keyCompromise"},
    )
    csr = read_signing_request(body)
    due = revocation_due(csr, ready_issuer(CA), NOW)
    assert due is not None
    assert due[0].serial_number == leaf.serial_number
    assert due[1].reason == "keyCompromise"
    listed = with_revoking(ready_issuer(CA), revoked_serials=frozenset({leaf.serial_number}))
    assert revocation_due(csr, listed, NOW) is None
    assert revocation_due(csr, ready_issuer(CA), NOW + timedelta(days=91)) is None


def test_a_new_condition_keeps_the_others() -> None:
    conditions = with_condition([{"type": "Approved", "status": "True"}], "Failed", "X", "y", NOW)
    assert [c["type"] for c in conditions] == ["Approved", "Failed"]
    assert conditions[1]["lastTransitionTime"] == "2026-06-01T12:00:00Z"
