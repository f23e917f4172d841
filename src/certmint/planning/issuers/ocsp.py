"""OCSP as decisions: the delegated signers an issuer keeps in its CA Secret, and what the responder
(operator.ocsp_responder) answers from: the issuer's published CRLs.

Every CA the issuer holds a key for (current, next, previous: the CRL signers) gets one delegated
signer, stored next to the CRLs (`ocsp.crt`, `ocsp.key`) and replaced at two thirds of its life or
when its CA goes. The responder's answers are derived from the very CRLs the issuer published, so
CRL and OCSP never disagree. A response is signed at most once per certificate per half response
validity; every other request for it is a dictionary lookup.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from certmint.pki import (
    CertificateAuthority,
    PKIError,
    certificates_to_pem,
    encode_private_key_pem,
    load_certificates_pem,
    load_crls_pem,
    load_private_key_pem,
)
from certmint.pki.crl import RevocationReason, reason_of
from certmint.pki.ocsp import (
    OCSPSigner,
    Revocation,
    issue_ocsp_signer,
    signer_serves,
)
from certmint.planning.issuer_view import Authority, ResponderInputs
from certmint.planning.issuers.revocation import crl_of

SIGNER_CERTS_KEY: Final = "ocsp.crt"
SIGNER_KEYS_KEY: Final = "ocsp.key"
"""In the CA Secret: the delegated signers' keys. Never the CA key, never anywhere else."""
SIGNER_LIFETIME: Final = timedelta(days=7)
"""Short: with id-pkix-ocsp-nocheck nobody checks a signer's revocation, its expiry bounds a leak."""
SIGNER_RENEW_AT: Final = 2 / 3
_PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S
)


def load_signers(data: Mapping[str, bytes]) -> tuple[OCSPSigner, ...]:
    """The stored signers; unreadable or mismatched ones are dropped (and simply issued again)."""
    certificates_pem, keys_pem = data.get(SIGNER_CERTS_KEY), data.get(SIGNER_KEYS_KEY)
    if not certificates_pem or not keys_pem:
        return ()
    try:
        certificates = load_certificates_pem(certificates_pem)
        keys = [load_private_key_pem(block, validate=False) for block in _PRIVATE_KEY_BLOCK.findall(keys_pem)]
    except PKIError:
        return ()
    if len(certificates) != len(keys):
        return ()
    return tuple(OCSPSigner(certificate, key) for certificate, key in zip(certificates, keys, strict=True))


def dump_signers(signers: Sequence[OCSPSigner]) -> dict[str, bytes]:
    return {
        SIGNER_CERTS_KEY: certificates_to_pem([signer.certificate for signer in signers]),
        SIGNER_KEYS_KEY: b"".join(encode_private_key_pem(signer.private_key) for signer in signers),
    }


def signer_refresh_time(signer: OCSPSigner) -> datetime:
    certificate = signer.certificate
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    return certificate.not_valid_before_utc + lifetime * SIGNER_RENEW_AT


def current_signers(
    cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime
) -> tuple[OCSPSigner | None, ...]:
    """For each CA, a stored signer that serves it and is not yet due for replacement."""
    return tuple(
        next(
            (
                signer
                for signer in stored
                if signer_serves(signer, ca.certificate, now) and now < signer_refresh_time(signer)
            ),
            None,
        )
        for ca in cas
    )


def signers_fresh(cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime) -> bool:
    """Exactly one usable signer per CA, nothing else."""
    found = current_signers(cas, stored, now)
    return len(stored) == len(cas) and all(signer is not None for signer in found)


def refresh_signers(
    cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime
) -> tuple[OCSPSigner, ...]:
    """One signer per CA, in the order of `cas`: the stored one while it is good, else a new one."""
    found = current_signers(cas, stored, now)
    return tuple(
        signer if signer is not None else issue_ocsp_signer(ca, now, SIGNER_LIFETIME)
        for ca, signer in zip(cas, found, strict=True)
    )


def next_signer_refresh(signers: Sequence[OCSPSigner]) -> datetime | None:
    return min((signer_refresh_time(signer) for signer in signers), default=None)


def responder_inputs(
    cas: Sequence[CertificateAuthority],
    signers: Sequence[OCSPSigner],
    crl_pem: bytes,
    validity: timedelta,
) -> ResponderInputs:
    """What the responder answers from: `signers` aligned with `cas`, and the CRLs the issuer
    published (a CA without a CRL has nothing revoked)."""
    if validity <= timedelta(0):
        raise ValueError("OCSP response validity must be positive")
    try:
        crls = load_crls_pem(crl_pem)
    except PKIError:
        crls = []
    authorities = []
    for ca, signer in zip(cas, signers, strict=True):
        crl = crl_of(crls, ca)
        revoked = {
            entry.serial_number: Revocation(entry.revocation_date_utc, _reason(entry))
            for entry in (crl if crl is not None else [])
        }
        authorities.append(Authority(ca.certificate, signer, revoked))
    return ResponderInputs(tuple(authorities), validity)


def _reason(entry: x509.RevokedCertificate) -> RevocationReason:
    try:
        return reason_of(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason)
    except x509.ExtensionNotFound:
        return RevocationReason.UNSPECIFIED


def stored_signers(
    cas: Sequence[CertificateAuthority], stored: Sequence[OCSPSigner], now: datetime
) -> tuple[OCSPSigner, ...] | None:
    """For a reader that refreshes no signer: for each CA a stored signer that may still sign for it,
    even one due for replacement (its writer replaces it); None when any CA has none yet."""
    found = tuple(next((s for s in stored if signer_serves(s, ca.certificate, now)), None) for ca in cas)
    if any(signer is None for signer in found):
        return None
    return tuple(signer for signer in found if signer is not None)
