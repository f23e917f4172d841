"""Certificate signing requests for tests, hostile ones included: shared by the unit and e2e tests."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmint.pki import KeySpec, PrivateKey, RequestedNames, build_csr, generate_private_key


def csr_for(names: RequestedNames, key: PrivateKey | None = None) -> tuple[PrivateKey, bytes]:
    key = key or generate_private_key(KeySpec())
    return key, build_csr(key, names)


def spiffe_csr(trust_domain: str, namespace: str, account: str) -> tuple[PrivateKey, bytes]:
    return csr_for(RequestedNames(uris=(f"spiffe://{trust_domain}/ns/{namespace}/sa/{account}",)))


def weak_rsa_csr() -> bytes:
    """RSA 1024: factorable by the well funded; certmint signs 2048 bits and more."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return _raw_csr(key, "weak")


def odd_curve_csr() -> bytes:
    """secp256k1 is 256 bits like P-256, but no TLS peer of ours verifies it."""
    return _raw_csr(ec.generate_private_key(ec.SECP256K1()), "odd curve")


def _raw_csr(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def ca_csr() -> bytes:
    """Asks for basicConstraints CA:TRUE: a CA of its own choosing."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil sub-CA")])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def mismatched_signature_csr() -> bytes:
    """The request body of one key with the signature of another: whoever sends it does not prove
    possession of the key it asks a certificate for."""
    names = RequestedNames(common_name="mismatch")
    _, victim = csr_for(names)
    _, forger = csr_for(names)
    victim_tbs, algorithm, _ = _csr_parts(_der(victim))
    _, _, forged_signature = _csr_parts(_der(forger))
    body = victim_tbs + algorithm + forged_signature
    der = b"\x30" + _length(len(body)) + body
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)


def _csr_parts(der: bytes) -> tuple[bytes, bytes, bytes]:
    """The three DER elements of CertificationRequest: info, signature algorithm, signature."""
    _, offset = _header(der, 0)
    parts = []
    for _ in range(3):
        length, content = _header(der, offset)
        parts.append(der[offset : content + length])
        offset = content + length
    return parts[0], parts[1], parts[2]


def _header(der: bytes, offset: int) -> tuple[int, int]:
    """(content length, content offset) of the element at `offset`."""
    first = der[offset + 1]
    if first < 0x80:
        return first, offset + 2
    count = first & 0x7F
    return int.from_bytes(der[offset + 2 : offset + 2 + count], "big"), offset + 2 + count


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded
