"""A root CA and leaves made outside certmint, the way cert-manager makes them (a `selfSigned`-issued
isCA Certificate, then a `ca` Issuer signing leaves), and its CA Secret in cert-manager's shape:
type kubernetes.io/tls, tls.crt and ca.crt the CA's own certificate, tls.key its key in PKCS#1
(RSA) or SEC1 (EC) PEM, cert-manager's annotations and label."""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ForeignKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ForeignCA:
    certificate: x509.Certificate
    key: ForeignKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


def key_pem(key: ForeignKey) -> bytes:
    """PKCS#1 for RSA, SEC1 for EC: cert-manager's default encoding."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def new_key(algorithm: str = "RSA", size: int = 2048) -> ForeignKey:
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    return ec.generate_private_key(ec.SECP384R1() if size == 384 else ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_extensions(builder: x509.CertificateBuilder, key: ForeignKey, ca: bool) -> x509.CertificateBuilder:
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def root_ca(
    common_name: str = "corp root",
    *,
    algorithm: str = "RSA",
    size: int = 2048,
    lifetime: timedelta = timedelta(days=90),
    age: timedelta = timedelta(minutes=5),
    ca: bool = True,
    now: datetime | None = None,
) -> ForeignCA:
    """A self-signed certificate made `age` ago that lives `lifetime` (as cert-manager's selfSigned
    issuer makes an isCA Certificate; `ca=False`: the same without CA:TRUE and keyCertSign)."""
    now = now or datetime.now(UTC)
    key = new_key(algorithm, size)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - age)
        .not_valid_after(now - age + lifetime)
    )
    certificate = _ca_extensions(builder, key, ca).sign(key, hashes.SHA256())
    return ForeignCA(certificate, key)


def intermediate_ca(parent: ForeignCA, common_name: str = "corp intermediate") -> ForeignCA:
    """A CA certificate signed by `parent`: a CA, but not a root."""
    key = new_key("EC")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(parent.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(parent.certificate.not_valid_before_utc)
        .not_valid_after(parent.certificate.not_valid_after_utc)
    )
    certificate = _ca_extensions(builder, key, True).sign(parent.key, hashes.SHA256())
    return ForeignCA(certificate, key)


def leaf(
    ca: ForeignCA, dns_name: str, lifetime: timedelta = timedelta(days=30), now: datetime | None = None
) -> tuple[x509.Certificate, ForeignKey]:
    """A server and client leaf signed by `ca`, as a cert-manager `ca` Issuer signs one."""
    now = now or datetime.now(UTC)
    key = new_key("EC")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    return builder.sign(ca.key, hashes.SHA256()), key


def ca_secret_data(ca: ForeignCA) -> dict[str, bytes]:
    return {"tls.crt": ca.certificate_pem, "tls.key": ca.key_pem, "ca.crt": ca.certificate_pem}


def ca_secret(
    namespace: str,
    name: str,
    data: dict[str, bytes],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """cert-manager's CA Secret (of the isCA Certificate `name`), with `annotations` added."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {
                "cert-manager.io/certificate-name": name,
                "cert-manager.io/issuer-name": "selfsigned",
                "cert-manager.io/issuer-kind": "Issuer",
                "cert-manager.io/issuer-group": "cert-manager.io",
                "cert-manager.io/common-name": "corp root",
                "cert-manager.io/alt-names": "",
                "cert-manager.io/ip-sans": "",
                "cert-manager.io/uri-sans": "",
                **(annotations or {}),
            },
        },
        "type": "kubernetes.io/tls",
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
