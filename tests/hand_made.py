"""Hand-made certificates, for shapes certmint itself never produces: shared by the unit and e2e
tests and the bench."""

from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from certmint.pki import CertificateAuthority


def hand_made_certificate(
    key: CertificateIssuerPrivateKeyTypes,
    common_name: str,
    not_before: datetime,
    not_after: datetime,
    extensions: Iterable[tuple[x509.ExtensionType, bool]] = (),
    *,
    issuer: CertificateAuthority | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """CN=`common_name` for `key`, signed with SHA-256 by `issuer` (by `key` itself without one),
    with these (extension, critical) pairs and nothing else."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer.private_key if issuer else key, hashes.SHA256())
