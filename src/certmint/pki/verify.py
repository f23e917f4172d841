"""Chain verification with cryptography's RFC 5280 verifier: as a TLS peer does it (verify_certificate),
and as `openssl verify` judges trust and each TLS purpose separately (check_trust)."""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)

from certmint.pki.errors import VERIFICATION_FAILED, PKIError


def issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether `ca`'s key signed `certificate`: the signature alone, no chain or validity."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


class Purpose(StrEnum):
    SERVER = "server"
    CLIENT = "client"


def verify_certificate(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime,
    purpose: Purpose,
    server_name: str | None = None,
) -> None:
    """Raises PKIError(VERIFICATION_FAILED) with cryptography's reason when a peer would reject `leaf`."""
    if not roots:
        raise PKIError(VERIFICATION_FAILED, "no trusted root certificates")
    verifier = _verifier(PolicyBuilder().store(Store(list(roots))).time(now), purpose, server_name)
    try:
        verifier.verify(leaf, list(intermediates))
    except VerificationError as error:
        raise PKIError(VERIFICATION_FAILED, str(error)) from error


def _verifier(
    builder: PolicyBuilder, purpose: Purpose, server_name: str | None
) -> ServerVerifier | ClientVerifier:
    if purpose == Purpose.CLIENT:
        return builder.build_client_verifier()
    if server_name is None:
        raise PKIError(VERIFICATION_FAILED, "server verification needs the server name")
    try:
        return builder.build_server_verifier(_server_identity(server_name))
    except ValueError as error:
        message = f"server name {server_name!r} is neither a DNS name nor an IP address"
        raise PKIError(VERIFICATION_FAILED, message) from error


def _server_identity(server_name: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        return x509.DNSName(server_name)


PURPOSE_USAGE: Final = {Purpose.SERVER: "serverAuth", Purpose.CLIENT: "clientAuth"}
"""How each purpose is named in extendedKeyUsage, and in what certmint reports."""

_PURPOSE_EKU: Final = {
    Purpose.SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
    Purpose.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
}


@dataclass(frozen=True)
class PurposeVerdict:
    purpose: Purpose
    valid: bool
    reason: str


@dataclass(frozen=True)
class TrustVerdict:
    """Whether a bundle trusts a chain, and separately what the trusted certificate may be used for."""

    trusted: bool
    reason: str
    purposes: tuple[PurposeVerdict, ...]


def check_trust(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime
) -> TrustVerdict:
    """As `openssl verify` judges chain[0] (with chain[1:] as untrusted intermediates): the chain must
    lead to one of `roots` through valid signatures, validity periods and CA constraints; names and
    usages are no condition of trust. Each TLS purpose is judged on its own, as `-purpose` does.
    `roots` is what a bundle holds."""
    if not chain:
        raise PKIError("VerificationFailed", "no certificate to verify")
    leaf = chain[0]
    # Like OpenSSL (nginx, curl), only self-issued roots anchor trust; the bundle's other CAs may
    # complete a chain, as intermediates.
    anchors = [cert for cert in roots if cert.subject == cert.issuer]
    if not roots:
        path, reason = None, "the bundle holds no certificates"
    elif not anchors:
        path, reason = None, "the bundle holds no root (self-signed) certificate"
    else:
        extra = [cert for cert in roots if cert.subject != cert.issuer]
        path, reason = _trusted_path(leaf, [*chain[1:], *extra], anchors, now)
    checked = path if path is not None else list(chain)
    purposes = tuple(_purpose_verdict(purpose, checked, path is not None) for purpose in Purpose)
    return TrustVerdict(trusted=path is not None, reason=reason, purposes=purposes)


def _trusted_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime,
) -> tuple[list[x509.Certificate] | None, str]:
    # The client verifier with its profile replaced: only what RFC 5280 path validation itself
    # requires of CAs remains; the leaf's extensions are left to the purpose checks.
    builder = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
    )
    try:
        path = builder.build_client_verifier().verify(leaf, list(intermediates)).chain
    except VerificationError as error:
        return None, _untrusted_reason(error, leaf, [*intermediates, *roots], now)
    anchor = path[-1].subject.rfc4514_string() or "an unnamed root"
    return path, f"chains to {anchor} in the bundle"


def _require_ca(_policy: Policy, cert: x509.Certificate, constraints: x509.BasicConstraints) -> None:
    if not constraints.ca:
        raise ValueError(f"{cert.subject.rfc4514_string()} is not a CA (basicConstraints CA:FALSE)")


def _require_cert_sign(_policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError(
            f"{cert.subject.rfc4514_string()} may not sign certificates (keyUsage lacks keyCertSign)"
        )


_CA_POLICY: Final = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _require_ca)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_cert_sign)
)


def _untrusted_reason(
    error: VerificationError, leaf: x509.Certificate, issuers: Sequence[x509.Certificate], now: datetime
) -> str:
    message = str(error).removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
    if "not valid at validation time" in message:
        for cert in _by_issuer_name(leaf, issuers):
            name = cert.subject.rfc4514_string()
            if now < cert.not_valid_before_utc:
                return f"{name} is not valid before {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
            if now > cert.not_valid_after_utc:
                return f"{name} expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    if "all candidates exhausted with no interior errors" in message:
        issuer = leaf.issuer.rfc4514_string()
        return f"no path to a root in the bundle: neither the bundle nor the chain holds its issuer {issuer}"
    return message


def _by_issuer_name(leaf: x509.Certificate, issuers: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The leaf and the certificates named as issuers above it: where an expiry can break the path."""
    path, seen = [leaf], {leaf}
    while path[-1].issuer != path[-1].subject:
        above = [cert for cert in issuers if cert.subject == path[-1].issuer and cert not in seen]
        if not above:
            break
        path.extend(above)
        seen.update(above)
    return path


def _purpose_verdict(purpose: Purpose, path: Sequence[x509.Certificate], trusted: bool) -> PurposeVerdict:
    problem = _usage_problem(purpose, path)
    if problem:
        return PurposeVerdict(purpose, False, problem)
    if not trusted:
        return PurposeVerdict(purpose, False, "the chain is not trusted")
    return PurposeVerdict(purpose, True, _usage_allowance(purpose, path[0]))


def _usage_problem(purpose: Purpose, path: Sequence[x509.Certificate]) -> str | None:
    """What keeps `openssl verify -purpose sslserver|sslclient` from accepting the path, if anything."""
    name = PURPOSE_USAGE[purpose]
    for index, cert in enumerate(path):
        usages = _extension(cert, x509.ExtendedKeyUsage)
        if usages is not None and _PURPOSE_EKU[purpose] not in usages:
            whose = "its" if index == 0 else f"{cert.subject.rfc4514_string()}'s"
            return f"{whose} extendedKeyUsage does not include {name}"
    key_usage = _extension(path[0], x509.KeyUsage)
    if key_usage is None:
        return None
    # A TLS server signs, or decrypts (RSA) or agrees (ECDH) a key; a client signs or agrees a key.
    allowed = key_usage.digital_signature or key_usage.key_agreement
    if purpose == Purpose.SERVER:
        allowed = allowed or key_usage.key_encipherment
    return None if allowed else f"its keyUsage allows no TLS handshake for {name}"


def _usage_allowance(purpose: Purpose, leaf: x509.Certificate) -> str:
    if _extension(leaf, x509.ExtendedKeyUsage) is None:
        return "no extendedKeyUsage restricts it"
    return f"extendedKeyUsage includes {PURPOSE_USAGE[purpose]}"


_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
