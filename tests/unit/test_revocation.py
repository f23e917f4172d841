"""Revocation: the durable list, the CRLs signed from it, and the plan steps a revoke request takes."""

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    RevocationReason,
    certificates_to_pem,
    create_root_ca,
    generate_private_key,
    load_crls_pem,
    parse_crl,
    serial_hex,
    sign_leaf,
)
from certmint.planning import labels
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue, Revoke, Wait
from certmint.planning.gates import Fail
from certmint.planning.issuers.revocation import (
    RevocationList,
    build_crls,
    crl_der_of,
    crls_fresh,
    dump_revocations,
    key_id,
    load_revocations,
    next_crl_refresh,
    with_revocation,
    without_expired,
)
from certmint.planning.request import issuance_spec, revoke_request
from tests.unit.planning_fixtures import (
    NOW,
    issued_secret,
    make_ca,
    make_certificate,
    ready_issuer,
    with_annotation,
    with_revoking,
)

CA = make_ca()
DAY = timedelta(days=1)


def leaf_of(ca: CertificateAuthority = CA, hours: int = 24) -> x509.Certificate:
    spec = issuance_spec(make_certificate(duration=f"{hours}h"), "td")
    return sign_leaf(spec.leaf, generate_private_key(spec.key).public_key(), ca, NOW)


def test_the_list_round_trips_and_revoking_twice_keeps_the_first_entry() -> None:
    leaf = leaf_of()
    revoked = with_revocation(RevocationList(), leaf, RevocationReason.KEY_COMPROMISE, NOW)
    again = with_revocation(revoked, leaf, RevocationReason.SUPERSEDED, NOW + DAY)
    assert again == revoked
    assert revoked.entries[0].issuer_key_id == key_id(CA.certificate)
    assert load_revocations(dump_revocations(revoked)) == revoked
    assert load_revocations(None) == RevocationList()


@pytest.mark.parametrize("serial", ["zz", 123, None, ""])
def test_an_unreadable_list_is_an_error_not_an_empty_list(serial: object) -> None:
    with pytest.raises(ValueError, match=r"revoked\.json cannot be read"):
        load_revocations(json.dumps({"crlNumber": 1, "revoked": [{"serial": serial}]}).encode())


def test_serials_are_stored_as_openssl_prints_them_and_lists_written_before_still_load() -> None:
    leaf = leaf_of()
    revoked = with_revocation(RevocationList(), leaf, RevocationReason.KEY_COMPROMISE, NOW)
    stored = json.loads(dump_revocations(revoked))
    assert stored["revoked"][0]["serial"] == serial_hex(leaf.serial_number)
    for earlier_form in (format(leaf.serial_number, "x"), serial_hex(leaf.serial_number).lower()):
        stored["revoked"][0]["serial"] = earlier_form
        assert load_revocations(json.dumps(stored).encode()) == revoked


def test_expired_entries_are_dropped() -> None:
    short, long = leaf_of(hours=1), leaf_of(hours=48)
    revocations = RevocationList()
    for leaf in (short, long):
        revocations = with_revocation(revocations, leaf, RevocationReason.UNSPECIFIED, NOW)
    kept = without_expired(revocations, NOW + timedelta(hours=2))
    assert [entry.serial_number for entry in kept.entries] == [long.serial_number]


def test_one_crl_per_ca_lists_exactly_its_own_revocations() -> None:
    other = make_ca("other CA")
    mine, theirs = leaf_of(CA), leaf_of(other)
    revocations = RevocationList()
    for leaf in (mine, theirs):
        revocations = with_revocation(revocations, leaf, RevocationReason.KEY_COMPROMISE, NOW)
    numbered, pem = build_crls((CA, other), revocations, NOW, DAY)
    assert numbered.crl_number == 1
    crls = load_crls_pem(pem)
    assert [crl.issuer for crl in crls] == [CA.certificate.subject, other.certificate.subject]
    assert [[entry.serial_number for entry in crl] for crl in crls] == [
        [mine.serial_number],
        [theirs.serial_number],
    ]
    assert parse_crl(crl_der_of(pem, CA))[0].reason == RevocationReason.KEY_COMPROMISE
    assert crls_fresh(pem, (CA, other), numbered, NOW, DAY)


def test_crls_are_signed_again_when_anything_they_depend_on_changes() -> None:
    revocations, pem = build_crls((CA,), RevocationList(), NOW, DAY)
    assert crls_fresh(pem, (CA,), revocations, NOW + timedelta(hours=11), DAY)
    assert next_crl_refresh(pem, DAY) == NOW + timedelta(hours=12)
    assert not crls_fresh(pem, (CA,), revocations, NOW + timedelta(hours=12), DAY), "half-life reached"
    assert not crls_fresh(pem, (CA,), revocations, NOW, 2 * DAY), "crlDuration changed"
    assert not crls_fresh(pem, (CA, make_ca("next")), revocations, NOW, DAY), "a CA joined"
    added = with_revocation(revocations, leaf_of(), RevocationReason.UNSPECIFIED, NOW)
    assert not crls_fresh(pem, (CA,), added, NOW, DAY), "a revocation was added"
    assert not crls_fresh(b"garbage", (CA,), revocations, NOW, DAY)
    renumbered, _ = build_crls((CA,), added, NOW, DAY)
    assert renumbered.crl_number == revocations.crl_number + 1


def test_openssl_rejects_the_revoked_leaf_with_the_crl_we_sign(tmp_path: Path) -> None:
    ca = create_root_ca(CARequest("openssl CA", timedelta(days=30)), NOW - DAY)
    revoked, good = leaf_of(ca), leaf_of(ca)
    revocations = with_revocation(RevocationList(), revoked, RevocationReason.KEY_COMPROMISE, NOW)
    _, pem = build_crls((ca,), revocations, NOW, DAY)
    (tmp_path / "ca.crt").write_bytes(certificates_to_pem([ca.certificate]))
    (tmp_path / "ca.crl").write_bytes(pem)
    at = str(int((NOW + timedelta(hours=1)).timestamp()))
    for name, leaf in (("revoked.crt", revoked), ("good.crt", good)):
        (tmp_path / name).write_bytes(certificates_to_pem([leaf]))
    common = ["openssl", "verify", "-crl_check_all", "-attime", at, "-CAfile", "ca.crt", "-CRLfile", "ca.crl"]
    bad = subprocess.run([*common, "revoked.crt"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "certificate revoked" in bad.stdout + bad.stderr
    ok = subprocess.run([*common, "good.crt"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_revoke_request_is_read_from_annotations_and_a_bad_reason_is_an_error() -> None:
    request = revoke_request({labels.REVOKE_REQUEST: "r1", labels.REVOKE_REASON: "keyCompromise"})
    assert request is not None
    assert (request.token, request.reason, request.reissue) == ("r1", RevocationReason.KEY_COMPROMISE, True)
    assert revoke_request({}) is None
    no_reissue = revoke_request({labels.REVOKE_REQUEST: "r1", labels.REVOKE_REISSUE: "false"})
    assert no_reissue is not None
    assert not no_reissue.reissue
    with pytest.raises(ValueError, match="is not one of"):
        revoke_request({labels.REVOKE_REQUEST: "r1", labels.REVOKE_REASON: "bored"})


def revoke_annotations(**extra: str) -> dict[str, str]:
    return {labels.REVOKE_REQUEST: "r1", labels.REVOKE_REASON: "keyCompromise", **extra}


def test_an_unserved_request_revokes_then_a_new_certificate_is_issued() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    requested = certificate.model_copy(
        update={"metadata": certificate.metadata.model_copy(update={"annotations": revoke_annotations()})}
    )
    spec = issuance_spec(requested, "td")
    plan = plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s")
    assert isinstance(plan, Revoke)
    assert plan.request.reason == RevocationReason.KEY_COMPROMISE
    served = with_annotation(secret, labels.REVOKE_REQUEST, "r1")
    issuer = with_revoking(ready_issuer(CA), revoked_serials=frozenset({plan.certificate.serial_number}))
    after = plan_certificate(spec, issuer, served, None, NOW, "s")
    assert isinstance(after, Issue)
    assert after.reason == "Revoked"
    assert isinstance(plan_certificate(spec, ready_issuer(CA), served, None, NOW, "s"), Wait)


def test_without_reissue_a_revoked_certificate_is_reported_not_replaced() -> None:
    certificate = make_certificate()
    secret, _ = issued_secret(certificate, CA)
    annotations = revoke_annotations(**{labels.REVOKE_REISSUE: "false"})
    requested = certificate.model_copy(
        update={"metadata": certificate.metadata.model_copy(update={"annotations": annotations})}
    )
    spec = issuance_spec(requested, "td")
    served = with_annotation(secret, labels.REVOKE_REQUEST, "r1")
    revoked = plan_certificate(spec, ready_issuer(CA), secret, None, NOW, "s")
    assert isinstance(revoked, Revoke)
    issuer = with_revoking(ready_issuer(CA), revoked_serials=frozenset({revoked.certificate.serial_number}))
    plan = plan_certificate(spec, issuer, served, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert (plan.reason, plan.retryable) == ("Revoked", False)
