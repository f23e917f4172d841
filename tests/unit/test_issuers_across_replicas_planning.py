"""What a replica that does not own an issuer reads from its CA Secret: the longest-leaf records of
every replica, the serials the owner's CRLs list, the OCSP signers the owner stored."""

from datetime import UTC, datetime, timedelta

from certmint.pki import CARequest, RevocationReason, create_root_ca
from certmint.pki.ocsp import issue_ocsp_signer
from certmint.planning.issuers import longest_signed
from certmint.planning.issuers.ocsp import stored_signers
from certmint.planning.issuers.revocation import RevocationEntry, RevocationList, build_crls, listed_serials

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CA = create_root_ca(CARequest("ca", timedelta(days=10)), NOW)
OTHER_CA = create_root_ca(CARequest("other", timedelta(days=10)), NOW)


def test_the_longest_record_of_this_ca_counts() -> None:
    annotations = {
        longest_signed.annotation(0): longest_signed.value(CA.certificate.serial_number, timedelta(hours=1)),
        longest_signed.annotation(1): longest_signed.value(CA.certificate.serial_number, timedelta(hours=5)),
        longest_signed.annotation(2): longest_signed.value(
            OTHER_CA.certificate.serial_number, timedelta(days=2)
        ),
        "example.com/unrelated": "1",
    }
    assert longest_signed.recorded_longest(annotations, CA.certificate) == timedelta(hours=5)
    assert longest_signed.recorded_longest({}, CA.certificate) == timedelta(0)


def test_a_forged_record_stretches_no_overlap_beyond_the_cas_own_life() -> None:
    serial = CA.certificate.serial_number
    forged = {longest_signed.annotation(7): f"{serial:x}/999999999999"}
    lifetime = CA.certificate.not_valid_after_utc - CA.certificate.not_valid_before_utc
    assert longest_signed.recorded_longest(forged, CA.certificate) == lifetime
    for unreadable in (f"{serial:x}", f"{serial:x}/-5", "zz/10", f"{serial:x}/1e9", f" {serial:x}/10"):
        assert longest_signed.recorded_longest(
            {longest_signed.annotation(0): unreadable}, CA.certificate
        ) == (timedelta(0)), unreadable


def test_a_duration_is_recorded_in_whole_seconds_rounded_up() -> None:
    assert longest_signed.value(255, timedelta(seconds=1.5)) == "ff/2"
    assert longest_signed.field_manager(3) == "certmint-slot-3"


def test_only_serials_a_crl_lists_count_as_revoked() -> None:
    entry = RevocationEntry(
        42, NOW, RevocationReason.KEY_COMPROMISE, CA.key_identifier.hex(), NOW + timedelta(days=1)
    )
    recorded = RevocationList(entries=(entry,))
    _, empty = build_crls((CA,), RevocationList(), NOW, timedelta(days=1))
    assert listed_serials(empty, (CA,)) == frozenset(), "recorded is not listed until a CRL lists it"
    _, pem = build_crls((CA,), recorded, NOW, timedelta(days=1))
    assert listed_serials(pem, (CA,)) == frozenset({42})
    assert listed_serials(pem, (OTHER_CA,)) == frozenset(), "only the CRLs of the CAs asked about"
    assert listed_serials(b"not a crl", (CA,)) == frozenset()
    impostor = create_root_ca(CARequest("ca", timedelta(days=10)), NOW)  # the same name, another key
    _, forged = build_crls((impostor,), recorded, NOW, timedelta(days=1))
    assert listed_serials(forged, (CA,)) == frozenset(), "a CRL the CA did not sign lists nothing"


def test_stored_signers_are_used_until_every_ca_has_one() -> None:
    signer = issue_ocsp_signer(CA, NOW, timedelta(days=1))
    assert stored_signers((CA,), (signer,), NOW) == (signer,)
    assert stored_signers((CA,), (signer,), NOW + timedelta(hours=23)) == (signer,), (
        "due for refresh, still used"
    )
    assert stored_signers((CA, OTHER_CA), (signer,), NOW) is None, "the owner has not stored one for each CA"
    assert stored_signers((CA,), (signer,), NOW + timedelta(days=2)) is None, "an expired one signs nothing"
