"""OCSP (RFC 6960, RFC 5019 profile): delegated signer certificates, requests and signed responses.

A CA never signs an OCSP response itself: it signs a short-lived delegated signer certificate
(id-kp-OCSPSigning, id-pkix-ocsp-nocheck), and that signer's key signs the responses.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmint.pki.ca import BACKDATE, CertificateAuthority, key_usage, require_valid_at
from certmint.pki.crl import RevocationReason, x509_reason
from certmint.pki.errors import PKIError
from certmint.pki.keys import KeySpec, PrivateKey, generate_private_key, key_matches_certificate
from certmint.pki.signing import signature_hash

SIGNER_KEY: Final = KeySpec()
"""ECDSA P-256 whatever the CA's algorithm: the cheapest signature every OCSP client verifies."""
SIGNER_COMMON_NAME: Final = "certmint OCSP signer"
MAX_NONCE_BYTES: Final = 32
"""RFC 8954 2.1: a nonce is 1 to 32 octets; longer ones are rejected as malformedRequest."""
CONTENT_TYPE_REQUEST: Final = "application/ocsp-request"
CONTENT_TYPE_RESPONSE: Final = "application/ocsp-response"

# CertID hashes a client may use; SHA-1 is what RFC 5019 clients (openssl, nginx) send by default.
_CERT_ID_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class OCSPSigner:
    certificate: x509.Certificate
    private_key: PrivateKey


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class Refusal(StrEnum):
    """The unsigned answers of RFC 6960 4.2.1, named as there."""

    MALFORMED_REQUEST = "malformedRequest"
    INTERNAL_ERROR = "internalError"
    TRY_LATER = "tryLater"
    UNAUTHORIZED = "unauthorized"


_REFUSALS: Final = {
    Refusal.MALFORMED_REQUEST: ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    Refusal.INTERNAL_ERROR: ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    Refusal.TRY_LATER: ocsp.OCSPResponseStatus.TRY_LATER,
    Refusal.UNAUTHORIZED: ocsp.OCSPResponseStatus.UNAUTHORIZED,
}
_CERT_STATUSES: Final = {
    CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
    CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


@dataclass(frozen=True)
class CertID:
    """Which certificate a request asks about: its issuer's name and key hashes, and its serial."""

    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int


@dataclass(frozen=True)
class MalformedRequest:
    why: str


@dataclass(frozen=True)
class Revocation:
    revoked_at: datetime
    reason: RevocationReason


def issue_ocsp_signer(ca: CertificateAuthority, now: datetime, lifetime: timedelta) -> OCSPSigner:
    """A delegated responder certificate for `ca`, valid for `lifetime` (at most until the CA ends)."""
    if lifetime <= timedelta(0):
        raise PKIError("InvalidRequest", "OCSP signer lifetime must be positive")
    require_valid_at(ca.certificate, now)
    key = generate_private_key(SIGNER_KEY)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SIGNER_COMMON_NAME)]))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - BACKDATE, ca.certificate.not_valid_before_utc))
        .not_valid_after(min(now + lifetime, ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        # RFC 6960 4.2.2.2.1: clients need not check the signer's own revocation status.
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
        .sign(ca.private_key, signature_hash(ca.private_key))
    )
    return OCSPSigner(certificate, key)


def signer_serves(signer: OCSPSigner, ca_certificate: x509.Certificate, now: datetime) -> bool:
    """Whether `signer` may sign responses for `ca_certificate` now: issued by it, key matching,
    within its validity, and for OCSP signing."""
    try:
        signer.certificate.verify_directly_issued_by(ca_certificate)
        usages = signer.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return (
        ExtendedKeyUsageOID.OCSP_SIGNING in usages
        and key_matches_certificate(signer.private_key, signer.certificate)
        and signer.certificate.not_valid_before_utc <= now < signer.certificate.not_valid_after_utc
    )


def issuer_hashes(ca_certificate: x509.Certificate) -> frozenset[tuple[str, bytes, bytes]]:
    """Every (hash algorithm, issuer name hash, issuer key hash) a CertID of this CA can carry."""
    name = ca_certificate.subject.public_bytes()
    key = _subject_public_key_bits(ca_certificate.public_key())
    return frozenset(
        (algorithm, hashlib.new(algorithm, name).digest(), hashlib.new(algorithm, key).digest())
        for algorithm in _CERT_ID_HASHES
    )


def _subject_public_key_bits(public_key: object) -> bytes:
    """The value of the subjectPublicKey BIT STRING, which RFC 6960 4.1.1 hashes for issuerKeyHash."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise PKIError("InvalidKey", f"unsupported public key type {type(public_key).__name__}")


def parse_request(der: bytes) -> CertID | MalformedRequest:
    """One CertID (RFC 5019 2.1.1: one certificate per request); anything else is malformed."""
    try:
        request = ocsp.load_der_ocsp_request(der)
    except NotImplementedError:
        return MalformedRequest("more than one certificate in one request")
    except ValueError as error:
        return MalformedRequest(f"not an OCSP request: {_first_line(error)}")
    try:
        algorithm = request.hash_algorithm.name
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        nonce = None
    except (ValueError, UnsupportedAlgorithm) as error:
        return MalformedRequest(f"unreadable request: {_first_line(error)}")
    if algorithm not in _CERT_ID_HASHES:
        return MalformedRequest(f"CertID hash {algorithm} is not supported")
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        return MalformedRequest(f"nonce of {len(nonce)} octets; RFC 8954 allows 1 to {MAX_NONCE_BYTES}")
    return CertID(algorithm, request.issuer_name_hash, request.issuer_key_hash, request.serial_number)


def sign_response(
    cert_id: CertID,
    status: CertStatus,
    revocation: Revocation | None,
    signer: OCSPSigner,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A successful, signed response in DER, without a nonce: responses are cached and shared
    (RFC 5019 2.2.1), so a nonce could not be echoed without signing per request."""
    if (status == CertStatus.REVOKED) != (revocation is not None):
        raise PKIError("InvalidRequest", "a revocation goes with the revoked status, and only with it")
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            cert_id.issuer_name_hash,
            cert_id.issuer_key_hash,
            cert_id.serial_number,
            _CERT_ID_HASHES[cert_id.hash_algorithm](),
            _CERT_STATUSES[status],
            this_update,
            next_update,
            revocation.revoked_at if revocation else None,
            x509_reason(revocation.reason) if revocation else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
        .certificates([signer.certificate])
    )
    response = builder.sign(signer.private_key, signature_hash(signer.private_key))
    return response.public_bytes(serialization.Encoding.DER)


def refusal(reason: Refusal) -> bytes:
    """An unsigned error response (RFC 6960 4.2.1): costs no signature."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(_REFUSALS[reason]).public_bytes(
        serialization.Encoding.DER
    )


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]
