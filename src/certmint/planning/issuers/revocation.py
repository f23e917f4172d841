"""Revocation as pure decisions: an issuer's durable list of revoked certificates, and its CRLs.

The list and the signed CRLs live in the issuer's CA Secret (`revoked.json`, `ca.crl`), written by
a field manager of their own, so a restarted operator still knows every revocation and serves the
very same CRL bytes it published before. There is one CRL per CA that holds a key: the current CA,
the next one during a rotation (empty, but peers checking CRLs need it the moment it signs), and
the previous one until it retires.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    RevocationReason,
    RevokedCertificate,
    build_crl,
    crl_to_der,
    crl_to_pem,
    key_identifier_of,
    load_crls_pem,
    parse_serial,
    serial_hex,
)

REVOKED_KEY: Final = "revoked.json"
CRL_KEY: Final = "ca.crl"


@dataclass(frozen=True)
class RevocationEntry:
    serial_number: int
    revoked_at: datetime
    reason: RevocationReason
    issuer_key_id: str
    """Hex key identifier of the CA that signed the certificate: which CRL lists it."""
    not_after: datetime
    """Once the certificate has expired, the entry is dropped: no peer accepts it anyway."""


@dataclass(frozen=True)
class RevocationList:
    entries: tuple[RevocationEntry, ...] = ()
    crl_number: int = 0
    """Of the last CRLs signed; every new set gets a higher one (RFC 5280 5.2.3)."""

    def revoked(self, serial_number: int) -> bool:
        return any(entry.serial_number == serial_number for entry in self.entries)


def key_id(certificate: x509.Certificate) -> str:
    """The CA's key identifier (pki key_identifier_of) in hex; the same bytes sit in the AKI of
    everything it signs, so a revocation filed by a leaf's AKI lands on this CA's CRL."""
    return key_identifier_of(certificate).hex()


def _legacy_key_id(certificate: x509.Certificate) -> str:
    """The SHA-1 of the CA's key: what certmint put in the AKI of leaves before it used the CA's
    stated SKI. For a CA whose SKI is computed otherwise (RFC 7093), leaves issued then carry this,
    and their revocations must still reach the CA's CRL."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest.hex()


def issuer_key_id(certificate: x509.Certificate) -> str:
    try:
        identifier = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return identifier.key_identifier.hex() if identifier.key_identifier else ""


def load_revocations(data: bytes | None) -> RevocationList:
    """Raises ValueError when the stored list cannot be read: revocations are never silently dropped."""
    if not data:
        return RevocationList()
    try:
        document = json.loads(data)
        entries = tuple(
            RevocationEntry(
                serial_number=parse_serial(item["serial"]),
                revoked_at=datetime.fromisoformat(item["revokedAt"]),
                reason=RevocationReason(item["reason"]),
                issuer_key_id=str(item["issuerKeyID"]),
                not_after=datetime.fromisoformat(item["notAfter"]),
            )
            for item in document["revoked"]
        )
        return RevocationList(entries=entries, crl_number=int(document["crlNumber"]))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{REVOKED_KEY} cannot be read: {error}") from error


def dump_revocations(revocations: RevocationList) -> bytes:
    document = {
        "crlNumber": revocations.crl_number,
        "revoked": [
            {
                "serial": serial_hex(entry.serial_number),
                "revokedAt": entry.revoked_at.isoformat(),
                "reason": entry.reason.value,
                "issuerKeyID": entry.issuer_key_id,
                "notAfter": entry.not_after.isoformat(),
            }
            for entry in sorted(revocations.entries, key=lambda item: item.serial_number)
        ],
    }
    return json.dumps(document, indent=1).encode()


def with_revocation(
    revocations: RevocationList, certificate: x509.Certificate, reason: RevocationReason, now: datetime
) -> RevocationList:
    """Revoking twice keeps the first entry: its time and reason are what peers already saw."""
    if revocations.revoked(certificate.serial_number):
        return revocations
    entry = RevocationEntry(
        serial_number=certificate.serial_number,
        revoked_at=now,
        reason=reason,
        issuer_key_id=issuer_key_id(certificate),
        not_after=certificate.not_valid_after_utc,
    )
    return replace(revocations, entries=(*revocations.entries, entry))


def without_expired(revocations: RevocationList, now: datetime) -> RevocationList:
    return replace(revocations, entries=tuple(e for e in revocations.entries if e.not_after > now))


def crls_fresh(
    stored: bytes | None,
    cas: Sequence[CertificateAuthority],
    revocations: RevocationList,
    now: datetime,
    duration: timedelta,
) -> bool:
    """Whether the stored CRLs are exactly one per CA, list exactly its entries, use `duration`, and
    are younger than half of it."""
    try:
        crls = load_crls_pem(stored or b"")
    except PKIError:
        return False
    if len(crls) != len(cas):
        return False
    for ca in cas:
        crl = crl_of(crls, ca)
        if crl is None or crl.next_update_utc is None:
            return False
        if crl.next_update_utc - crl.last_update_utc != duration or now >= refresh_time(crl, duration):
            return False
        if {item.serial_number for item in crl} != _serials_for(ca, revocations.entries):
            return False
    return True


def build_crls(
    cas: Sequence[CertificateAuthority], revocations: RevocationList, now: datetime, duration: timedelta
) -> tuple[RevocationList, bytes]:
    """Signs a new CRL for every CA; returns the list with its new CRL number, and the CRLs as PEM."""
    number = revocations.crl_number + 1
    pem = b"".join(
        crl_to_pem(build_crl(ca, _entries_for(ca, revocations.entries), now, duration, number)) for ca in cas
    )
    return replace(revocations, crl_number=number), pem


def next_crl_refresh(stored: bytes | None, duration: timedelta) -> datetime | None:
    try:
        crls = load_crls_pem(stored or b"")
    except PKIError:
        return None
    return min((refresh_time(crl, duration) for crl in crls), default=None)


def refresh_time(crl: x509.CertificateRevocationList, duration: timedelta) -> datetime:
    return crl.last_update_utc + duration / 2


def crl_der_of(stored: bytes | None, ca: CertificateAuthority) -> bytes:
    """The CA's CRL in DER, as served over HTTP; empty when there is none."""
    try:
        crl = crl_of(load_crls_pem(stored or b""), ca)
    except PKIError:
        return b""
    return crl_to_der(crl) if crl is not None else b""


def crl_of(
    crls: Iterable[x509.CertificateRevocationList], ca: CertificateAuthority
) -> x509.CertificateRevocationList | None:
    """The CRL `ca` signed, if any."""
    public_key = ca.certificate.public_key()
    for crl in crls:
        if crl.issuer == ca.certificate.subject and crl.is_signature_valid(public_key):  # type: ignore[arg-type]
            return crl
    return None


def _entries_for(ca: CertificateAuthority, entries: Iterable[RevocationEntry]) -> list[RevokedCertificate]:
    identifiers = {ca.key_identifier.hex(), _legacy_key_id(ca.certificate)}
    return [
        RevokedCertificate(entry.serial_number, entry.revoked_at, entry.reason)
        for entry in entries
        if entry.issuer_key_id in identifiers
    ]


def _serials_for(ca: CertificateAuthority, entries: Iterable[RevocationEntry]) -> set[int]:
    return {entry.serial_number for entry in _entries_for(ca, entries)}


def listed_serials(stored: bytes | None, cas: Sequence[CertificateAuthority]) -> frozenset[int]:
    """The serials the stored CRLs of `cas` list as revoked: what a reader that signs no CRL itself
    can tell relying parties (a recorded revocation counts once a CRL lists it)."""
    try:
        crls = load_crls_pem(stored or b"")
    except PKIError:
        return frozenset()
    listed: set[int] = set()
    for ca in cas:
        crl = crl_of(crls, ca)
        listed.update(entry.serial_number for entry in (crl if crl is not None else []))
    return frozenset(listed)
