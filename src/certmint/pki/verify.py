"""Chain verification with cryptography's RFC 5280 verifier, as a TLS peer would do it."""

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.x509.verification import (
    ClientVerifier,
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)

from certmint.pki.errors import VERIFICATION_FAILED, PKIError


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
