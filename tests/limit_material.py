"""Requests at and past certmint's input limits, built without certmint's own validation (build_csr
refuses what these must carry): shared by the unit and e2e tests."""

import base64
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmint.pki import MAX_REQUEST_BYTES
from certmint.planning.labels import SECRET_ROLE_LABEL
from tests.hand_made import hand_made_certificate


def ip_addresses(count: int) -> list[str]:
    """`count` distinct IPv4 addresses from 10.0.0.0/8."""
    return [str(ipaddress.IPv4Address(0x0A000001 + index)) for index in range(count)]


def raw_csr(
    *,
    common_name: str | None = None,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """A PEM CSR with exactly these names, signed by `key` (a new P-256 key by default)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    names += [x509.UniformResourceIdentifier(uri) for uri in uris]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def padded_to(pem: bytes, size: int) -> bytes:
    """The same CSR, `size` bytes long: PEM readers skip the trailing newlines."""
    assert len(pem) <= size
    return pem + b"\n" * (size - len(pem))


def oversized_csr() -> bytes:
    """A valid CSR one byte over MAX_REQUEST_BYTES."""
    return padded_to(raw_csr(common_name="too large"), MAX_REQUEST_BYTES + 1)


def rsa_8192_tls_secret(name: str) -> dict[str, Any]:
    """A tenant's TLS Secret, labelled for certmint's Secret cache, holding an RSA-8192 key and a
    self-signed certificate for it: the costliest key a tenant can make certmint parse."""
    key = rsa.generate_private_key(65537, 8192)
    now = datetime.now(UTC)
    certificate = hand_made_certificate(key, "hostile", now, now + timedelta(days=1))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {SECRET_ROLE_LABEL: "anything"}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        },
    }
