"""Certificate revocation lists."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki.ca import CertificateAuthority
from certmint.pki.errors import INVALID_CRL, INVALID_REQUEST, PKIError
from certmint.pki.pem import require_pem_blocks_within_limit
from certmint.pki.signing import signature_hash


class RevocationReason(StrEnum):
    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "caCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"


_X509_REASONS = {
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.CA_COMPROMISE: x509.ReasonFlags.ca_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
    RevocationReason.PRIVILEGE_WITHDRAWN: x509.ReasonFlags.privilege_withdrawn,
}
_FROM_X509 = {flag: reason for reason, flag in _X509_REASONS.items()}
# RFC 5280 4.1.2.2: serials are positive and at most 20 octets.
MAX_SERIAL = 2**159


@dataclass(frozen=True)
class RevokedCertificate:
    serial_number: int
    revoked_at: datetime
    reason: RevocationReason = RevocationReason.UNSPECIFIED


def x509_reason(reason: RevocationReason) -> x509.ReasonFlags | None:
    """RFC 5280 5.3.1: "unspecified" is expressed by leaving the reason out (in CRLs and OCSP)."""
    return _X509_REASONS.get(reason)


def reason_of(flag: x509.ReasonFlags) -> RevocationReason:
    return _FROM_X509.get(flag, RevocationReason.UNSPECIFIED)


def build_crl(
    ca: CertificateAuthority,
    revoked: Iterable[RevokedCertificate],
    now: datetime,
    validity: timedelta,
    crl_number: int,
) -> x509.CertificateRevocationList:
    """Entries in serial order, one per serial: the earliest revocation wins, so repeats are harmless."""
    if validity <= timedelta(0):
        raise PKIError(INVALID_REQUEST, "CRL validity must be positive")
    if crl_number < 0:
        raise PKIError(INVALID_REQUEST, f"CRL number must not be negative, got {crl_number}")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + validity)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
    )
    for entry in _earliest_per_serial(revoked):
        if not 0 < entry.serial_number < MAX_SERIAL:
            raise PKIError(
                INVALID_REQUEST, f"{entry.serial_number} is not a certificate serial number (1 to 2^159-1)"
            )
        revoked_builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
        )
        flag = x509_reason(entry.reason)
        if flag is not None:
            revoked_builder = revoked_builder.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(revoked_builder.build())
    return builder.sign(ca.private_key, signature_hash(ca.private_key))


def _earliest_per_serial(revoked: Iterable[RevokedCertificate]) -> list[RevokedCertificate]:
    earliest: dict[int, RevokedCertificate] = {}
    for entry in sorted(revoked, key=lambda item: (item.serial_number, item.revoked_at)):
        earliest.setdefault(entry.serial_number, entry)
    return list(earliest.values())


def parse_crl(data: bytes) -> list[RevokedCertificate]:
    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_crl(data)
        )
    except ValueError as error:
        raise PKIError(INVALID_CRL, f"not a CRL: {str(error).splitlines()[0]}") from error
    entries = []
    for item in crl:
        try:
            flag = item.extensions.get_extension_for_class(x509.CRLReason).value.reason
            reason = reason_of(flag)
        except x509.ExtensionNotFound:
            reason = RevocationReason.UNSPECIFIED
        entries.append(RevokedCertificate(item.serial_number, item.revocation_date_utc, reason))
    return entries


def load_crls_pem(data: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM file (nginx's ssl_crl and openssl's -CRLfile take several in one).
    Raises PKIError: InvalidCRL, or TooManyPEMBlocks past MAX_PEM_BLOCKS."""
    require_pem_blocks_within_limit(data)
    marker = b"-----BEGIN X509 CRL-----"
    crls = []
    for block in data.split(marker)[1:]:
        try:
            crls.append(x509.load_pem_x509_crl(marker + block))
        except ValueError as error:
            raise PKIError(INVALID_CRL, f"not a CRL: {str(error).splitlines()[0]}") from error
    return crls


def crl_to_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_to_der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)
