import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from certmint.pki import (
    KeyAlgorithm,
    KeyEncoding,
    KeySpec,
    PKIError,
    encode_private_key_der,
    encode_private_key_pem,
    generate_private_key,
    key_spec,
    key_spec_of,
    load_private_key_pem,
)

ALL_SPECS = [
    KeySpec(KeyAlgorithm.ECDSA, 256),
    KeySpec(KeyAlgorithm.ECDSA, 384),
    KeySpec(KeyAlgorithm.RSA, 2048),
    KeySpec(KeyAlgorithm.RSA, 3072),
    KeySpec(KeyAlgorithm.RSA, 4096),
    KeySpec(KeyAlgorithm.ED25519, 256),
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_generated_keys_report_their_own_spec_and_round_trip_both_encodings(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    assert key_spec_of(key) == spec
    assert key_spec_of(key.public_key()) == spec
    for encoding in KeyEncoding:
        loaded = load_private_key_pem(encode_private_key_pem(key, encoding))
        assert key_spec_of(loaded) == spec
    der = encode_private_key_der(key)
    assert serialization.load_der_private_key(der, None).public_key() == key.public_key()


@pytest.mark.parametrize(
    ("spec", "header"),
    [
        (KeySpec(KeyAlgorithm.ECDSA, 256), b"-----BEGIN EC PRIVATE KEY-----"),
        (KeySpec(KeyAlgorithm.RSA, 2048), b"-----BEGIN RSA PRIVATE KEY-----"),
        (KeySpec(KeyAlgorithm.ED25519, 256), b"-----BEGIN PRIVATE KEY-----"),
    ],
)
def test_pkcs1_is_the_traditional_format_and_ed25519_has_only_pkcs8(spec: KeySpec, header: bytes) -> None:
    key = generate_private_key(spec)
    assert encode_private_key_pem(key, KeyEncoding.PKCS1).startswith(header)
    assert encode_private_key_pem(key, KeyEncoding.PKCS8).startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("algorithm", "size"), [(KeyAlgorithm.ECDSA, 521), (KeyAlgorithm.RSA, 1024), (KeyAlgorithm.ED25519, 448)]
)
def test_unsupported_sizes_are_rejected(algorithm: KeyAlgorithm, size: int) -> None:
    with pytest.raises(PKIError, match=f"{algorithm} key size {size} is not supported") as caught:
        KeySpec(algorithm, size)
    assert caught.value.reason == "InvalidRequest"


def test_default_sizes() -> None:
    assert key_spec(KeyAlgorithm.RSA) == KeySpec(KeyAlgorithm.RSA, 2048)
    assert key_spec(KeyAlgorithm.ECDSA, 384) == KeySpec(KeyAlgorithm.ECDSA, 384)
    assert key_spec(KeyAlgorithm.ED25519) == KeySpec(KeyAlgorithm.ED25519, 256)
    assert str(KeySpec()) == "ECDSA 256"
    assert str(key_spec(KeyAlgorithm.ED25519)) == "Ed25519"


def _pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "not a PEM private key"),
        (
            generate_private_key(KeySpec()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            "private key is encrypted",
        ),
        (_pem(ec.generate_private_key(ec.SECP521R1())), "unsupported EC curve secp521r1"),
        (_pem(dsa.generate_private_key(2048)), "unsupported private key type"),
        (_pem(rsa.generate_private_key(65537, 1024)), "RSA key of 1024 bits is too weak"),
    ],
    ids=["garbage", "encrypted", "p521", "dsa", "rsa1024"],
)
def test_unusable_keys_are_refused_with_a_precise_message(data: bytes, message: str) -> None:
    with pytest.raises(PKIError, match=message) as caught:
        load_private_key_pem(data)
    assert caught.value.reason == "InvalidKey"
