"""Chain verification with cryptography's RFC 5280 verifier, as a TLS peer would do it."""

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certmint.pki.errors import PKIError


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
    if not roots:
        raise PKIError("VerificationFailed", "no trusted root certificates")
    builder = PolicyBuilder().store(Store(list(roots))).time(now)
    try:
        if purpose == Purpose.SERVER:
            if server_name is None:
                raise PKIError("VerificationFailed", "server verification needs the server name")
            builder.build_server_verifier(_subject(server_name)).verify(leaf, list(intermediates))
        else:
            builder.build_client_verifier().verify(leaf, list(intermediates))
    except VerificationError as error:
        raise PKIError("VerificationFailed", str(error)) from error


def _subject(server_name: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        return x509.DNSName(server_name)
