"""Private keys: generation, encoding, loading, and matching them to certificates."""

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmint.pki.errors import INVALID_KEY, INVALID_REQUEST, PKIError, first_line
from certmint.pki.pem import pem_blocks

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(StrEnum):
    ECDSA = "ECDSA"
    RSA = "RSA"
    ED25519 = "Ed25519"


class KeyEncoding(StrEnum):
    PKCS1 = "PKCS1"
    """Traditional: PKCS#1 for RSA, SEC1 for EC. Ed25519 has none and is always PKCS#8."""
    PKCS8 = "PKCS8"


_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1()}
_SUPPORTED_CURVE_NAMES = frozenset(curve.name for curve in _CURVES.values())
_RSA_SIZES = (2048, 3072, 4096)
ED25519_SIZE = 256


@dataclass(frozen=True)
class KeySpec:
    """Validated on construction, so a KeySpec that exists can be generated.

    Ed25519 keys have one size: any requested size is normalised to 256, which keeps specs that differ
    only in an ignored size equal (and their digests stable).
    """

    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA
    size: int = 256

    def __post_init__(self) -> None:
        if self.algorithm == KeyAlgorithm.ED25519:
            object.__setattr__(self, "size", ED25519_SIZE)
            return
        valid = tuple(_CURVES) if self.algorithm == KeyAlgorithm.ECDSA else _RSA_SIZES
        if self.size not in valid:
            raise PKIError(
                INVALID_REQUEST,
                f"{self.algorithm} key size {self.size} is not supported; "
                f"use one of {', '.join(map(str, valid))}",
            )

    def __str__(self) -> str:
        return (
            str(self.algorithm) if self.algorithm == KeyAlgorithm.ED25519 else f"{self.algorithm} {self.size}"
        )


def generate_private_key(spec: KeySpec) -> PrivateKey:
    if spec.algorithm == KeyAlgorithm.ECDSA:
        return ec.generate_private_key(_CURVES[spec.size])
    if spec.algorithm == KeyAlgorithm.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    return ed25519.Ed25519PrivateKey.generate()


def key_spec_of(key: PrivateKey | PublicKey) -> KeySpec:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return KeySpec(KeyAlgorithm.ECDSA, key.curve.key_size)
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return KeySpec(KeyAlgorithm.RSA, key.key_size)
    return KeySpec(KeyAlgorithm.ED25519)


def encode_private_key_pem(key: PrivateKey, encoding: KeyEncoding = KeyEncoding.PKCS8) -> bytes:
    traditional = encoding == KeyEncoding.PKCS1 and not isinstance(key, ed25519.Ed25519PrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def encode_private_key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


MAX_KEY_PEM_BYTES = 16 * 1024
"""A PEM private key certmint accepts is at most about 3.3 KB (RSA 4096, PKCS#8): anything much
larger is refused before it is decoded."""


@dataclass(frozen=True)
class KeyHeader:
    """What a private key's encoding says about it before any cryptography runs: its algorithm and
    size in bits (an RSA modulus's bit length, an EC curve's size). `curve` names EC curves."""

    algorithm: KeyAlgorithm
    size: int
    curve: str = ""


_KEY_LABELS = frozenset({b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"})
_RSA_OID = "1.2.840.113549.1.1.1"
_EC_OID = "1.2.840.10045.2.1"
_ED25519_OID = "1.3.101.112"
_OTHER_ALGORITHMS = {
    "1.2.840.10040.4.1": "DSAPrivateKey",
    "1.3.101.113": "Ed448PrivateKey",
    "1.3.101.110": "X25519PrivateKey",
    "1.3.101.111": "X448PrivateKey",
    "1.2.840.113549.1.1.10": "RSA-PSS",
}
_EC_CURVE_OIDS: dict[str, tuple[str, int]] = {
    "1.2.840.10045.3.1.1": ("secp192r1", 192),
    "1.3.132.0.33": ("secp224r1", 224),
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
    "1.3.132.0.10": ("secp256k1", 256),
    "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256),
    "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
    "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512),
}


def _malformed(what: str) -> PKIError:
    return PKIError(INVALID_KEY, f"not a PEM private key: {what}")


def _der_element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `offset`; PKIError when the
    encoding runs past the data or uses forms DER forbids (indefinite or oversized lengths)."""
    if offset + 2 > len(data):
        raise _malformed("truncated ASN.1")
    tag, first = data[offset], data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or offset + count > len(data):
            raise _malformed("bad ASN.1 length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise _malformed("truncated ASN.1")
    return tag, offset, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    children: list[tuple[int, int, int]] = []
    while start < end and len(children) < 16:
        tag, content, stop = _der_element(data[:end], start)
        children.append((tag, content, stop))
        start = stop
    return children


def _oid(data: bytes) -> str:
    if not data or data[-1] & 0x80:
        raise _malformed("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _integer_bits(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True).bit_length() if data else 0


def _expect(children: list[tuple[int, int, int]], index: int, tag: int) -> tuple[int, int]:
    if len(children) <= index or children[index][0] != tag:
        raise _malformed("unexpected ASN.1 structure")
    return children[index][1], children[index][2]


def _rsa_header(der: bytes, start: int, end: int) -> KeyHeader:
    """PKCS#1 RSAPrivateKey: SEQUENCE { version, modulus, ... }."""
    tag, content, stop = _der_element(der[:end], start)
    if tag != 0x30:
        raise _malformed("RSA key is not a SEQUENCE")
    fields = _children(der, content, stop)
    _expect(fields, 0, 0x02)
    first, last = _expect(fields, 1, 0x02)
    return KeyHeader(KeyAlgorithm.RSA, _integer_bits(der[first:last]))


def _curve(der: bytes, start: int, end: int) -> KeyHeader:
    oid = _oid(der[start:end])
    if oid not in _EC_CURVE_OIDS:
        raise PKIError(INVALID_KEY, f"unsupported EC curve {oid}; use P-256 or P-384")
    name, size = _EC_CURVE_OIDS[oid]
    return KeyHeader(KeyAlgorithm.ECDSA, size, name)


def _sec1_header(der: bytes, fields: list[tuple[int, int, int]]) -> KeyHeader:
    """SEC1 ECPrivateKey: SEQUENCE { 1, privateKey OCTET STRING, [0] curve OID, [1] public key }."""
    for tag, content, stop in fields[2:]:
        if tag == 0xA0:
            inner_tag, first, last = _der_element(der[:stop], content)
            if inner_tag != 0x06:
                raise PKIError(INVALID_KEY, "EC key with explicit curve parameters is not supported")
            return _curve(der, first, last)
    raise PKIError(INVALID_KEY, "EC key names no curve")


def _pkcs8_header(der: bytes, fields: list[tuple[int, int, int]]) -> KeyHeader:
    """PKCS#8 PrivateKeyInfo: SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING }."""
    first, last = _expect(fields, 1, 0x30)
    algorithm = _children(der, first, last)
    oid_start, oid_end = _expect(algorithm, 0, 0x06)
    oid = _oid(der[oid_start:oid_end])
    if oid == _ED25519_OID:
        return KeyHeader(KeyAlgorithm.ED25519, ED25519_SIZE)
    if oid == _EC_OID:
        curve_start, curve_end = _expect(algorithm, 1, 0x06)
        return _curve(der, curve_start, curve_end)
    if oid == _RSA_OID:
        key_start, key_end = _expect(fields, 2, 0x04)
        return _rsa_header(der, key_start, key_end)
    named = _OTHER_ALGORITHMS.get(oid)
    raise PKIError(
        INVALID_KEY,
        f"unsupported private key type {named}" if named else f"unsupported private key algorithm {oid}",
    )


def der_key_header(der: bytes) -> KeyHeader:
    """The header of a DER private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC)."""
    tag, content, stop = _der_element(der, 0)
    if tag != 0x30:
        raise _malformed("not an ASN.1 SEQUENCE")
    fields = _children(der, content, stop)
    _expect(fields, 0, 0x02)
    if len(fields) > 1 and fields[1][0] == 0x30:
        return _pkcs8_header(der, fields)
    if len(fields) > 1 and fields[1][0] == 0x04:
        return _sec1_header(der, fields)
    if len(fields) > 1 and fields[1][0] == 0x02:
        return _rsa_header(der, 0, stop)
    raise _malformed("unknown private key structure")


def _key_block(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(the whole block, its label, its body) of the one private key block in `data`, which may hold
    other blocks (a combined PEM: the key, then its chain). PKIError for none, two, or a huge one."""
    try:
        found = [block for block in pem_blocks(data) if block.label in _KEY_LABELS]
    except PKIError as error:
        raise _malformed(error.message) from error
    if len(found) != 1:
        raise _malformed(
            "expected exactly one PEM private key block" if found else "no PEM private key block"
        )
    block = found[0]
    if len(block.text) > MAX_KEY_PEM_BYTES:
        raise _malformed(f"a key block of {len(block.text)} bytes, more than {MAX_KEY_PEM_BYTES}")
    return block.text, block.label, block.body


def pem_key_header(data: bytes) -> KeyHeader:
    """A private key's algorithm and size read from its PEM encoding's ASN.1 header, without
    loading it: a key of any size costs microseconds here, where loading and validating an RSA-8192
    key costs seconds. Exactly one private key block is expected; anything else raises PKIError."""
    _, label, body = _key_block(data)
    if label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type:" in body:
        raise PKIError(INVALID_KEY, "private key is encrypted; certmint needs it unencrypted")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise _malformed("bad base64") from error
    header = der_key_header(der)
    expected = {b"RSA PRIVATE KEY": KeyAlgorithm.RSA, b"EC PRIVATE KEY": KeyAlgorithm.ECDSA}.get(label)
    if expected is not None and header.algorithm != expected:
        raise _malformed(f"a {label.decode()} block holds another kind of key")
    return header


def require_supported_header(header: KeyHeader) -> None:
    """The sizes require_supported_key allows, refused from the header before any key is loaded."""
    if header.algorithm == KeyAlgorithm.RSA and header.size not in _RSA_SIZES:
        raise PKIError(
            INVALID_KEY,
            f"RSA key of {header.size} bits is not supported; use {', '.join(map(str, _RSA_SIZES))}",
        )
    if header.algorithm == KeyAlgorithm.ECDSA and header.curve not in _SUPPORTED_CURVE_NAMES:
        raise PKIError(INVALID_KEY, f"unsupported EC curve {header.curve}; use P-256 or P-384")


def load_private_key_pem(data: bytes, *, validate: bool = True) -> PrivateKey:
    """A supported private key. Its size is read from the header first (pem_key_header): an
    over-limit key is refused before it is loaded or validated.

    `validate=False` skips OpenSSL's RSA key validation (primality of p and q: 50 ms for RSA 2048,
    over 300 ms for 4096, holding the GIL) and checks instead that the CRT parameters agree with
    the modulus (microseconds). Safe where the key only has its public half compared, or signs
    for the party who supplied it: a key with composite factors harms no one but its owner."""
    header = pem_key_header(data)
    require_supported_header(header)
    block, _, _ = _key_block(data)
    try:
        key = serialization.load_pem_private_key(
            block, password=None, unsafe_skip_rsa_key_validation=not validate
        )
    except TypeError as error:
        raise PKIError(INVALID_KEY, "private key is encrypted; certmint needs it unencrypted") from error
    except ValueError as error:
        raise PKIError(INVALID_KEY, f"not a PEM private key: {first_line(error)}") from error
    except UnsupportedAlgorithm as error:
        raise PKIError(INVALID_KEY, f"unsupported private key: {first_line(error)}") from error
    if isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        require_supported_key(key)
        if isinstance(key, rsa.RSAPrivateKey) and not validate:
            _require_consistent_rsa(key)
        return key
    raise PKIError(INVALID_KEY, f"unsupported private key type {type(key).__name__}")


def _require_consistent_rsa(key: rsa.RSAPrivateKey) -> None:
    numbers = key.private_numbers()
    p, q, n, e, d = numbers.p, numbers.q, numbers.public_numbers.n, numbers.public_numbers.e, numbers.d
    consistent = (
        p > 1
        and q > 1
        and p * q == n
        and (d * e) % (p - 1) == 1
        and (d * e) % (q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise PKIError(INVALID_KEY, "RSA private key parameters do not agree with its modulus")


def require_supported_key(key: object) -> None:
    """Only keys a KeySpec can describe (so key_spec_of works on every key certmint accepts): EC
    P-256/P-384, RSA 2048/3072/4096, Ed25519. Weaker or exotic keys raise PKIError(InvalidKey)."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name not in _SUPPORTED_CURVE_NAMES:
            raise PKIError(INVALID_KEY, f"unsupported EC curve {key.curve.name}; use P-256 or P-384")
        return
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size not in _RSA_SIZES:
            raise PKIError(
                INVALID_KEY,
                f"RSA key of {key.key_size} bits is not supported; use {', '.join(map(str, _RSA_SIZES))}",
            )
        return
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return
    raise PKIError(INVALID_KEY, f"unsupported key type {type(key).__name__}")


def key_matches_certificate(key: PrivateKey, certificate: x509.Certificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    return ours == theirs


DEFAULT_KEY_SIZES = {KeyAlgorithm.ECDSA: 256, KeyAlgorithm.RSA: 2048, KeyAlgorithm.ED25519: ED25519_SIZE}


def key_spec(algorithm: KeyAlgorithm, size: int | None = None) -> KeySpec:
    """A KeySpec with the algorithm's default size when none is given."""
    return KeySpec(algorithm, size or DEFAULT_KEY_SIZES[algorithm])
