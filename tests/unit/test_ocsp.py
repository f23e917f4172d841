"""OCSP decisions: which delegated signers an issuer keeps, and the responder's answers, cache and
signature budget."""

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certmint.operator.ocsp_responder import OCSPResponder, response_fresh, reuse_responder
from certmint.pki import (
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    RevocationReason,
    create_root_ca,
    issue_leaf,
)
from certmint.pki.ca import CARequest
from certmint.pki.ocsp import CertStatus, Refusal, issue_ocsp_signer
from certmint.planning.issuer_view import ResponderInputs
from certmint.planning.issuers.ocsp import (
    SIGNER_CERTS_KEY,
    SIGNER_KEYS_KEY,
    SIGNER_LIFETIME,
    dump_signers,
    load_signers,
    next_signer_refresh,
    refresh_signers,
    responder_inputs,
    signers_fresh,
)
from certmint.planning.issuers.revocation import RevocationList, build_crls, with_revocation
from tests.unit.planning_fixtures import NOW, make_ca

VALIDITY = timedelta(hours=1)


def leaf_of(ca: CertificateAuthority) -> x509.Certificate:
    return issue_leaf(LeafRequest(common_name="web", duration=timedelta(hours=12)), KeySpec(), ca, NOW)[1]


def request(
    leaf: x509.Certificate, ca: CertificateAuthority, algorithm: hashes.HashAlgorithm | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca.certificate, algorithm or hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


def inputs_for(
    cas: tuple[CertificateAuthority, ...], revoked: tuple[tuple[x509.Certificate, RevocationReason], ...] = ()
) -> ResponderInputs:
    revocations = RevocationList()
    for certificate, reason in revoked:
        revocations = with_revocation(revocations, certificate, reason, NOW - timedelta(minutes=1))
    _, crl_pem = build_crls(cas, revocations, NOW - timedelta(minutes=1), timedelta(hours=24))
    signers = refresh_signers(cas, (), NOW)
    return responder_inputs(cas, signers, crl_pem, VALIDITY)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return make_ca("ocsp CA")


def test_signers_round_trip_through_the_ca_secret(ca: CertificateAuthority) -> None:
    other = make_ca("other CA")
    signers = refresh_signers((ca, other), (), NOW)
    data = dump_signers(signers)
    assert set(data) == {SIGNER_CERTS_KEY, SIGNER_KEYS_KEY}
    loaded = load_signers(data)
    assert [signer.certificate for signer in loaded] == [signer.certificate for signer in signers]
    assert signers_fresh((ca, other), loaded, NOW)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {SIGNER_CERTS_KEY: b"junk", SIGNER_KEYS_KEY: b"junk"},
        {SIGNER_CERTS_KEY: b"", SIGNER_KEYS_KEY: b""},
    ],
)
def test_unreadable_signers_are_dropped_and_issued_again(
    ca: CertificateAuthority, data: dict[str, bytes]
) -> None:
    assert load_signers(data) == ()
    assert not signers_fresh((ca,), (), NOW)
    assert len(refresh_signers((ca,), load_signers(data), NOW)) == 1


def test_a_key_count_that_does_not_match_drops_all(ca: CertificateAuthority) -> None:
    data = dump_signers(refresh_signers((ca, make_ca("two")), (), NOW))
    one_key = data[SIGNER_KEYS_KEY].split(b"-----END PRIVATE KEY-----")[0] + b"-----END PRIVATE KEY-----\n"
    assert load_signers({**data, SIGNER_KEYS_KEY: one_key}) == ()


def test_a_signer_is_kept_until_two_thirds_of_its_life_then_replaced(ca: CertificateAuthority) -> None:
    (signer,) = refresh_signers((ca,), (), NOW)
    refresh = next_signer_refresh((signer,))
    not_before, not_after = signer.certificate.not_valid_before_utc, signer.certificate.not_valid_after_utc
    assert not_after == NOW + SIGNER_LIFETIME
    assert refresh == not_before + (not_after - not_before) * 2 / 3
    assert refresh_signers((ca,), (signer,), refresh - timedelta(seconds=1)) == (signer,)
    assert signers_fresh((ca,), (signer,), refresh - timedelta(seconds=1))
    assert not signers_fresh((ca,), (signer,), refresh)
    (replacement,) = refresh_signers((ca,), (signer,), refresh)
    assert replacement.certificate != signer.certificate


def test_rotation_gives_every_ca_its_own_signer_and_a_retired_cas_signer_goes(
    ca: CertificateAuthority,
) -> None:
    following = make_ca("next CA")
    both = refresh_signers((ca, following), (), NOW)
    assert both[0].certificate.issuer == ca.certificate.subject
    assert both[1].certificate.issuer == following.certificate.subject
    assert refresh_signers((following, ca), both, NOW) == (both[1], both[0]), "matched by issuer, not order"
    assert not signers_fresh((following,), both, NOW), "the retired CA's signer is dropped"
    assert refresh_signers((following,), both, NOW) == (both[1],)


def test_good_revoked_with_time_and_reason_and_unknown(ca: CertificateAuthority) -> None:
    good, revoked = leaf_of(ca), leaf_of(ca)
    responder = OCSPResponder(inputs_for((ca,), ((revoked, RevocationReason.KEY_COMPROMISE),)))
    answer = responder.answer(request(good, ca), NOW)
    assert answer.status == CertStatus.GOOD
    assert ocsp.load_der_ocsp_response(answer.body).certificate_status == ocsp.OCSPCertStatus.GOOD
    answer = responder.answer(request(revoked, ca, hashes.SHA256()), NOW)
    assert answer.status == CertStatus.REVOKED
    response = ocsp.load_der_ocsp_response(answer.body)
    assert response.revocation_reason == x509.ReasonFlags.key_compromise
    assert response.revocation_time_utc == (NOW - timedelta(minutes=1)).replace(microsecond=0)
    assert response.next_update_utc == NOW + VALIDITY

    zero_serial = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(response.issuer_name_hash, response.issuer_key_hash, 0, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    assert responder.answer(zero_serial, NOW).status == CertStatus.UNKNOWN


def test_a_foreign_ca_is_unauthorized_and_garbage_malformed(ca: CertificateAuthority) -> None:
    stranger = make_ca("stranger")
    responder = OCSPResponder(inputs_for((ca,)))
    assert responder.answer(request(leaf_of(stranger), stranger), NOW).status == Refusal.UNAUTHORIZED
    answer = responder.answer(b"\x30\x00", NOW)
    assert answer.status == Refusal.MALFORMED_REQUEST
    assert (
        ocsp.load_der_ocsp_response(answer.body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_during_a_rotation_each_cas_leaves_are_answered_by_that_cas_signer(ca: CertificateAuthority) -> None:
    following, previous = make_ca("next CA"), make_ca("previous CA")
    old_leaf, current_leaf = leaf_of(previous), leaf_of(ca)
    responder = OCSPResponder(
        inputs_for((ca, following, previous), ((old_leaf, RevocationReason.SUPERSEDED),))
    )
    for leaf, issuing, status in (
        (current_leaf, ca, CertStatus.GOOD),
        (old_leaf, previous, CertStatus.REVOKED),
        (leaf_of(following), following, CertStatus.GOOD),
    ):
        answer = responder.answer(request(leaf, issuing), NOW)
        assert answer.status == status
        signer = ocsp.load_der_ocsp_response(answer.body).certificates[0]
        signer.verify_directly_issued_by(issuing.certificate)


def test_a_cached_answer_costs_no_signature_until_half_its_validity(ca: CertificateAuthority) -> None:
    responder = OCSPResponder(inputs_for((ca,)))
    der = request(leaf_of(ca), ca)
    first = responder.answer(der, NOW)
    assert first.signed
    again = responder.answer(der, NOW + VALIDITY / 2 - timedelta(seconds=1))
    assert not again.signed
    assert again.body == first.body
    renewed = responder.answer(der, NOW + VALIDITY / 2)
    assert renewed.signed
    assert renewed.this_update == NOW + VALIDITY / 2


def test_response_freshness() -> None:
    assert response_fresh(NOW, VALIDITY, NOW)
    assert not response_fresh(NOW, VALIDITY, NOW + VALIDITY / 2)
    assert not response_fresh(NOW, VALIDITY, NOW - timedelta(seconds=1)), "the clock went back"


def test_the_cache_is_bounded_least_recently_used_first(ca: CertificateAuthority) -> None:
    responder = OCSPResponder(inputs_for((ca,)), max_entries=2)
    first, second, third = (request(leaf_of(ca), ca) for _ in range(3))
    for der in (first, second):
        assert responder.answer(der, NOW).signed
    assert not responder.answer(first, NOW).signed
    assert responder.answer(third, NOW).signed  # evicts `second`, used longest ago
    assert not responder.answer(first, NOW).signed
    assert responder.answer(second, NOW).signed


def test_cache_misses_beyond_the_signature_budget_get_try_later(ca: CertificateAuthority) -> None:
    responder = OCSPResponder(inputs_for((ca,)), signatures_per_second=3)
    cached = request(leaf_of(ca), ca)
    assert responder.answer(cached, NOW).signed
    floods = [request(leaf_of(ca), ca) for _ in range(4)]
    answers = [responder.answer(der, NOW) for der in floods]
    assert [answer.status for answer in answers] == [
        CertStatus.GOOD,
        CertStatus.GOOD,
        Refusal.TRY_LATER,
        Refusal.TRY_LATER,
    ]
    assert responder.answer(cached, NOW).status == CertStatus.GOOD, "cached answers are never refused"
    assert responder.answer(floods[2], NOW + timedelta(seconds=1)).signed, "the budget refills"


def test_a_responder_is_reused_while_its_inputs_hold_and_replaced_on_revocation(
    ca: CertificateAuthority,
) -> None:
    leaf = leaf_of(ca)
    inputs = inputs_for((ca,))
    responder = OCSPResponder(inputs)
    assert responder.answer(request(leaf, ca), NOW).status == CertStatus.GOOD
    reloaded = responder_inputs(
        (ca,), load_signers(dump_signers([a.signer for a in inputs.authorities])), b"", VALIDITY
    )
    assert reuse_responder(responder, reloaded) is responder, "equal after a reload from the Secret"
    revoked = responder_inputs(
        (ca,),
        [a.signer for a in inputs.authorities],
        build_crls(
            (ca,),
            with_revocation(RevocationList(), leaf, RevocationReason.UNSPECIFIED, NOW),
            NOW,
            timedelta(hours=1),
        )[1],
        VALIDITY,
    )
    replacement = reuse_responder(responder, revoked)
    assert replacement is not responder
    assert replacement.answer(request(leaf, ca), NOW).status == CertStatus.REVOKED
    assert reuse_responder(None, inputs).inputs is inputs
    with pytest.raises(ValueError, match="validity must be positive"):
        responder_inputs((ca,), [a.signer for a in inputs.authorities], b"", timedelta(0))


def test_a_signer_for_an_expired_ca_window_is_not_issued_beyond_the_ca() -> None:
    short = create_root_ca(CARequest("short", timedelta(days=2)), NOW)
    (signer,) = refresh_signers((short,), (), NOW)
    assert signer.certificate.not_valid_after_utc == short.certificate.not_valid_after_utc
    assert issue_ocsp_signer(short, NOW, SIGNER_LIFETIME).certificate.not_valid_after_utc <= (
        short.certificate.not_valid_after_utc
    )
