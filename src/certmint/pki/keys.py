"""Private keys: generation, encoding, loading, and matching them to certificates."""

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmint.pki.errors import INVALID_KEY, INVALID_REQUEST, PKIError, first_line

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


def load_private_key_pem(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as error:
        raise PKIError(INVALID_KEY, "private key is encrypted; certmint needs it unencrypted") from error
    except ValueError as error:
        raise PKIError(INVALID_KEY, f"not a PEM private key: {first_line(error)}") from error
    except UnsupportedAlgorithm as error:
        raise PKIError(INVALID_KEY, f"unsupported private key: {first_line(error)}") from error
    if isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        require_supported_key(key)
        return key
    raise PKIError(INVALID_KEY, f"unsupported private key type {type(key).__name__}")


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
