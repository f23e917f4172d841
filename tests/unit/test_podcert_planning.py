"""Judging PodCertificateRequests: every Deny and Fail, lifetimes, beginRefreshAt, key types, and
identity only from the pod."""

import base64
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmint.api.issuer import IssuancePolicy, PodCertificates
from certmint.pki import (
    CARequest,
    certificates_to_pem,
    create_root_ca,
    load_certificates_pem,
    serial_hex,
    sign_leaf,
)
from certmint.planning import reasons
from certmint.planning.issuer_view import IssuerView
from certmint.planning.podcerts.actions import (
    RecordRevocation,
    RetryLater,
    SignAndIssue,
    WriteStatus,
    issued_status,
    plan_actions,
)
from certmint.planning.podcerts.plan import (
    BACKDATE,
    CHEAP_CHECKS,
    Case,
    Deny,
    Fail,
    Issue,
    Leave,
    Retry,
    begin_refresh_at,
    cheap_verdict,
    judge,
)
from certmint.planning.podcerts.request import (
    PodFacts,
    pod_facts,
    read_pod_certificate_request,
)
from certmint.planning.request import spiffe_id
from tests.podcert_material import pcr_body, pod_body, stub_request
from tests.unit.planning_fixtures import NOW, make_ca, ready_issuer, with_revoking, with_signing

TD = "cluster.local"
CA = make_ca()
OPTED_IN = with_signing(ready_issuer(CA), pod_certificates=PodCertificates())
OWN_IDENTITY = "spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}"


def policy(**fields: Any) -> IssuancePolicy:
    """A policy that admits pods' own SPIFFE IDs and DNS names, with `fields`."""
    return IssuancePolicy.model_validate({"allowedURIs": [OWN_IDENTITY], "allowedDNSNames": ["*"], **fields})


def case(
    body: dict[str, Any] | None = None,
    issuer: IssuerView = OPTED_IN,
    pod: dict[str, Any] | str | None = "same",
    labels: dict[str, str] | None = None,
) -> Case:
    body = body or pcr_body()
    spec, meta = body["spec"], body["metadata"]
    pod_view = (
        pod_facts(
            pod_body(
                meta["namespace"],
                spec["podName"],
                uid=spec["podUID"],
                service_account=spec["serviceAccountName"],
                node=spec["nodeName"],
                signers=(spec["signerName"],),
            )
        )
        if pod == "same"
        else pod_facts(pod)  # type: ignore[arg-type]
    )
    return Case(read_pod_certificate_request(body), issuer, TD, labels or {}, NOW, pod_view)


def issue(c: Case) -> Issue:
    decision = judge(c)
    assert isinstance(decision, Issue), decision
    return decision


def test_a_kubelet_request_is_issued_with_the_pods_identity_only() -> None:
    templates = PodCertificates(dnsNameTemplates=["${serviceAccount}.${namespace}.svc", "${podName}.web"])
    issuer = with_signing(OPTED_IN, pod_certificates=templates)
    decision = issue(case(issuer=issuer))
    assert decision.leaf.uris == (spiffe_id(TD, "apps", "web"),)
    assert decision.leaf.dns_names == ("web.apps.svc", "web-0.web")
    assert decision.leaf.common_name is None
    assert not decision.leaf.usages


def test_the_stub_requests_own_names_are_never_taken() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    asked = x509.SubjectAlternativeName(
        [
            x509.DNSName("bank.example"),
            x509.UniformResourceIdentifier("spiffe://cluster.local/ns/kube-system/sa/admin"),
        ]
    )
    der = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "admin")]))
        .add_extension(asked, critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    decision = issue(case(pcr_body(stub=der)))
    assert decision.leaf.uris == (spiffe_id(TD, "apps", "web"),)
    assert decision.leaf.dns_names == ()
    assert decision.leaf.common_name is None


def test_user_annotations_never_add_identity_they_deny() -> None:
    body = pcr_body(user_annotations={"dns": "bank.example", "spiffe": "spiffe://x/ns/kube-system/sa/a"})
    decision = judge(case(body))
    assert isinstance(decision, Deny)
    assert decision.reason == reasons.UNKNOWN_USER_ANNOTATION
    assert "dns, spiffe" in decision.message


def test_many_user_annotation_keys_are_named_within_a_bound() -> None:
    body = pcr_body(user_annotations={f"k{i:03}": "v" for i in range(500)})
    pcr = read_pod_certificate_request(body)
    assert len(pcr.user_annotation_keys) == 16
    assert pcr.user_annotation_count == 500
    decision = judge(case(body))
    assert isinstance(decision, Deny)
    assert "and 484 more" in decision.message


def test_an_issuer_that_did_not_opt_in_denies_and_says_how() -> None:
    decision = judge(case(issuer=ready_issuer(CA)))
    assert decision == Deny(
        reasons.POD_CERTIFICATES_NOT_ENABLED,
        "Issuer apps/ca does not sign pod certificates; set spec.podCertificates: {} on Issuer apps/ca",
    )
    cluster = pcr_body(signer="clusterissuers.certmint.dev/mesh")
    decision = judge(case(cluster, issuer=ready_issuer(CA)))
    assert isinstance(decision, Deny)
    assert "on ClusterIssuer mesh" in decision.message


def test_an_issuer_signs_only_for_pods_of_its_own_namespace() -> None:
    decision = judge(case(pcr_body(namespace="intruder", signer="issuers.certmint.dev/apps.ca")))
    assert isinstance(decision, Deny)
    assert decision.reason == reasons.REQUESTER_NOT_ALLOWED
    assert "namespace intruder may not use Issuer apps/ca" in decision.message


def test_a_cluster_issuer_judges_the_namespace_by_its_selector() -> None:
    selective = policy(namespaceSelector={"matchLabels": {"mesh": "on"}})
    issuer = with_signing(OPTED_IN, policy=selective)
    body = pcr_body(namespace="team-b", signer="clusterissuers.certmint.dev/mesh")
    refused = judge(case(body, issuer=issuer, labels={"mesh": "off"}))
    assert isinstance(refused, Deny)
    assert refused.reason == reasons.POLICY_DENIED
    allowed = issue(case(body, issuer=issuer, labels={"mesh": "on"}))
    assert allowed.leaf.uris == (spiffe_id(TD, "team-b", "web"),)


@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        ("issuers.certmint.dev/no-dot", reasons.UNKNOWN_SIGNER),
        ("clusterissuers.certmint.dev/Bad_Name", reasons.UNKNOWN_SIGNER),
    ],
)
def test_a_signer_name_certmint_does_not_spell_is_denied(signer: str, reason: str) -> None:
    decision = judge(case(pcr_body(signer=signer)))
    assert isinstance(decision, Deny)
    assert decision.reason == reason


def test_a_missing_issuer_denies_and_an_unready_one_retries() -> None:
    gone = IssuerView(
        exists=False, ready=False, reason=reasons.ISSUER_NOT_FOUND, message="Issuer ca not found"
    )
    assert judge(case(issuer=gone)) == Deny(reasons.ISSUER_NOT_FOUND, "Issuer ca not found")
    unready = replace(OPTED_IN, ready=False, reason=reasons.CA_SECRET_NOT_FOUND, message="no CA")
    decision = judge(case(issuer=unready))
    assert isinstance(decision, Retry)
    assert decision.reason == reasons.ISSUER_NOT_READY
    assert isinstance(plan_actions(case(issuer=unready), 1).then, RetryLater)


@pytest.mark.parametrize(
    ("pod", "field"),
    [
        (None, "does not exist"),
        (pod_body(uid="uid-other"), "spec.podUID"),
        (pod_body(service_account="admin"), "spec.serviceAccountName"),
        (pod_body(node="node-2"), "spec.nodeName"),
        (pod_body(signers=("issuers.certmint.dev/apps.other",)), "no podCertificate volume source"),
        (pod_body(signers=()), "no podCertificate volume source"),
    ],
)
def test_a_request_that_does_not_match_its_live_pod_is_denied(pod: dict[str, Any] | None, field: str) -> None:
    decision = judge(case(pod=pod))
    assert isinstance(decision, Deny)
    assert decision.reason == reasons.POD_MISMATCH
    assert field in decision.message


def test_the_pod_is_not_needed_when_a_cheap_check_decides() -> None:
    c = case(pcr_body(user_annotations={"x": "y"}), pod=None)
    verdict = cheap_verdict(replace(c, pod=None))
    assert isinstance(verdict, Deny)
    assert verdict.reason == reasons.UNKNOWN_USER_ANNOTATION
    assert cheap_verdict(replace(case(), pod=None)) is None
    assert [check.__name__ for check in CHEAP_CHECKS] == [
        "signer_parses",
        "issuer_exists",
        "issuer_usable",
        "issuer_opted_in",
        "namespace_allowed",
        "no_unknown_user_annotations",
    ]


@pytest.mark.parametrize("key", ["ECDSAP256", "ECDSAP384", "RSA3072", "RSA4096", "ED25519"])
def test_every_supported_key_type_is_issued(key: str) -> None:
    decision = issue(case(pcr_body(key=key)))
    leaf = sign_leaf(
        decision.leaf, decision.public_key, CA, NOW, 7, validity=(decision.not_before, decision.not_after)
    )
    assert leaf.public_key() == decision.public_key


@pytest.mark.parametrize(("key", "name"), [("ECDSAP521", "secp521r1"), ("RSA2048", "RSA2048")])
def test_other_key_types_are_denied_naming_the_supported_ones(key: str, name: str) -> None:
    decision = judge(case(pcr_body(key=key)))
    assert isinstance(decision, Deny)
    assert decision.reason == "UnsupportedKeyType"
    assert name in decision.message
    assert "ECDSAP256, ECDSAP384, RSA3072, RSA4096, ED25519" in decision.message


def test_an_unusable_stub_request_fails() -> None:
    garbage = judge(case(pcr_body(stub=b"\x30\x03garbage")))
    assert isinstance(garbage, Fail)
    assert garbage.reason == reasons.INVALID_REQUEST


def test_a_stub_request_larger_than_the_limit_is_not_kept() -> None:
    body = pcr_body()
    body["spec"]["stubPKCS10Request"] = base64.b64encode(b"\x00" * (65 * 1024)).decode()
    pcr = read_pod_certificate_request(body)
    assert pcr.stub_request == b""
    assert pcr.stub_request_bytes > 64 * 1024
    decision = judge(case(body))
    assert isinstance(decision, Fail)
    assert decision.reason == reasons.REQUEST_TOO_LARGE


def test_a_stub_signed_by_another_key_fails() -> None:
    good = stub_request(ec.generate_private_key(ec.SECP256R1()))
    tampered = bytearray(good)
    tampered[-5] ^= 0xFF  # the signature's last bytes
    decision = judge(case(pcr_body(stub=bytes(tampered))))
    assert isinstance(decision, Fail)
    assert decision.reason in (reasons.INVALID_SIGNATURE, reasons.INVALID_REQUEST)


def test_lifetime_is_the_least_of_every_limit() -> None:
    short = issue(case(pcr_body(max_expiration=7200)))
    assert short.not_before == (NOW - BACKDATE).replace(microsecond=0)
    assert short.not_after - short.not_before == timedelta(hours=2)
    capped = with_signing(OPTED_IN, pod_certificates=PodCertificates(maxDuration="3h"))
    three = issue(case(issuer=capped))
    assert three.not_after - three.not_before == timedelta(hours=3)
    limited = issue(case(issuer=with_signing(OPTED_IN, policy=policy(maxDuration="90m"))))
    assert limited.not_after - limited.not_before == timedelta(minutes=90)


def test_a_ca_ending_soon_caps_the_lifetime_and_within_the_hour_fails() -> None:
    ca = create_root_ca(CARequest(common_name="short", duration=timedelta(hours=3)), NOW - timedelta(hours=1))
    ending = with_signing(ready_issuer(ca), pod_certificates=PodCertificates())
    decision = issue(case(issuer=ending))
    assert decision.not_after == ca.certificate.not_valid_after_utc
    assert decision.not_after - decision.not_before >= timedelta(hours=1)
    late = create_root_ca(
        CARequest(common_name="late", duration=timedelta(hours=2)), NOW - timedelta(minutes=70)
    )
    failing = judge(case(issuer=with_signing(ready_issuer(late), pod_certificates=PodCertificates())))
    assert isinstance(failing, Fail)
    assert failing.reason == reasons.POD_CERTIFICATE_TOO_SHORT
    assert "CA ends at" in failing.message


def test_a_policy_max_duration_under_an_hour_fails() -> None:
    issuer = with_signing(OPTED_IN, policy=policy(maxDuration="30m"))
    decision = judge(case(issuer=issuer))
    assert isinstance(decision, Fail)
    assert decision.reason == reasons.POD_CERTIFICATE_TOO_SHORT
    status = plan_actions(case(issuer=issuer), 1).then
    assert isinstance(status, WriteStatus)
    assert [c["type"] for c in status.status["conditions"]] == ["Failed"]
    assert set(status.status) == {"conditions"}


def test_not_before_never_precedes_a_fresh_ca() -> None:
    fresh = create_root_ca(CARequest(common_name="fresh", duration=timedelta(days=30)), NOW)
    decision = issue(case(issuer=with_signing(ready_issuer(fresh), pod_certificates=PodCertificates())))
    assert decision.not_before == fresh.certificate.not_valid_before_utc


def test_begin_refresh_at_stays_within_the_api_servers_bounds() -> None:
    """Every lifetime from 1h to 91 days, every percentage, and the default: whole seconds, in
    [notBefore+10m, notAfter-10m] with a second to spare."""
    not_before = (NOW - BACKDATE).replace(microsecond=0)
    lifetimes = [
        timedelta(hours=1),
        timedelta(hours=1, seconds=1),
        timedelta(minutes=90),
        timedelta(hours=24),
    ]
    lifetimes += [timedelta(days=days) for days in (7, 30, 91)]
    for lifetime in lifetimes:
        not_after = not_before + lifetime
        for percentage in [None, *range(1, 100)]:
            for seed in ("uid-a", "uid-b", "uid-c"):
                refresh = begin_refresh_at(not_before, not_after, percentage, seed)
                assert refresh.microsecond == 0
                assert not_before + timedelta(minutes=10) < refresh < not_after - timedelta(minutes=10), (
                    lifetime,
                    percentage,
                )


def test_begin_refresh_at_follows_the_percentage_and_the_certificate_default() -> None:
    not_before = NOW.replace(microsecond=0)
    day = not_before + timedelta(hours=24)
    assert begin_refresh_at(not_before, day, 25, "u") == day - timedelta(hours=6)
    default = begin_refresh_at(not_before, day, None, "u")
    assert day - timedelta(hours=8, minutes=5) <= default <= day - timedelta(hours=8)
    hour = not_before + timedelta(hours=1)
    # 83% of an hour: the kubelet starts refreshing ~10 minutes after issuance.
    assert begin_refresh_at(not_before, hour, 83, "u") == not_before + timedelta(minutes=10, seconds=12)


def test_an_issued_status_is_exact_and_whole_seconds() -> None:
    actions = plan_actions(case(), 0x1234)
    then = actions.then
    assert isinstance(then, SignAndIssue)
    assert then.serial_number == 0x1234
    status = issued_status(then, b"PEM", NOW)
    assert status["notBefore"] == (NOW - BACKDATE).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["conditions"][0]["type"] == "Issued"
    assert status["conditions"][0]["reason"] == reasons.POD_CERTIFICATE_ISSUED
    assert serial_hex(0x1234) in status["conditions"][0]["message"]


def test_issuer_pointers_reach_the_leaf() -> None:
    issuer = with_revoking(OPTED_IN, crl_distribution_point="http://crl/ca.crl", ocsp_url="http://ocsp/ca")
    then = plan_actions(case(issuer=issuer), 1).then
    assert isinstance(then, SignAndIssue)
    assert then.leaf.crl_distribution_points == ("http://crl/ca.crl",)
    assert then.leaf.ocsp_urls == ("http://ocsp/ca",)


def issued_body(annotations: dict[str, str]) -> dict[str, Any]:
    decision = issue(case())
    leaf = sign_leaf(
        decision.leaf, decision.public_key, CA, NOW, 99, validity=(decision.not_before, decision.not_after)
    )
    body = pcr_body(annotations=annotations)
    body["status"] = {
        "conditions": [{"type": "Issued", "status": "True", "reason": "PodCertificateIssued"}],
        "certificateChain": certificates_to_pem([leaf, CA.certificate]).decode(),
    }
    return body


def test_a_revoke_annotation_on_an_issued_request_revokes_its_serial_once() -> None:
    body = issued_body({"certmint.dev/revoke": "t1", "certmint.dev/revoke-reason": "keyCompromise"})
    pcr = read_pod_certificate_request(body)
    assert not pcr.settled
    assert load_certificates_pem(pcr.leaf_pem)[0].serial_number == 99
    actions = plan_actions(case(body), 1)
    assert isinstance(actions.revocation, RecordRevocation)
    assert actions.revocation.certificate.serial_number == 99
    assert isinstance(actions.then, type(plan_actions(case(body), 1).then))
    assert judge(case(body)) == Leave()
    listed = with_revoking(OPTED_IN, revoked_serials=frozenset({99}))
    assert plan_actions(case(body, issuer=listed), 1).revocation is None
    assert read_pod_certificate_request(issued_body({})).settled


def test_final_requests_are_left_alone() -> None:
    for kind in ("Issued", "Denied", "Failed"):
        body = pcr_body()
        body["status"] = {"conditions": [{"type": kind, "status": "True"}]}
        assert judge(case(body)) == Leave()
        assert read_pod_certificate_request(body).settled


def test_only_revoke_annotations_are_kept() -> None:
    body = pcr_body(annotations={"certmint.dev/revoke": "t", "huge": "x" * 10000})
    assert dict(read_pod_certificate_request(body).annotations) == {"certmint.dev/revoke": "t"}


def test_pod_facts_read_every_pod_certificate_source() -> None:
    facts = pod_facts(pod_body(signers=("a/b", "c/d")))
    assert facts == PodFacts(True, "uid-pod-web-0", "web", "node-1", frozenset({"a/b", "c/d"}))
    assert pod_facts(None) == PodFacts(False)
