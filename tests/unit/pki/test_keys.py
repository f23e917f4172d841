import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa

from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    KeyEncoding,
    KeySpec,
    LeafRequest,
    PKIError,
    encode_private_key_der,
    encode_private_key_pem,
    generate_private_key,
    issue_leaf,
    key_matches_certificate,
    key_spec,
    key_spec_of,
    load_private_key_pem,
)
from tests.unit.pki.support import NOW

ALL_SPECS = [
    KeySpec(KeyAlgorithm.ECDSA, 256),
    KeySpec(KeyAlgorithm.ECDSA, 384),
    KeySpec(KeyAlgorithm.RSA, 2048),
    KeySpec(KeyAlgorithm.RSA, 3072),
    KeySpec(KeyAlgorithm.RSA, 4096),
    KeySpec(KeyAlgorithm.ED25519),
]

# An EC key on prime192v1's sibling prime192v2, a curve cryptography cannot even load (made with
# `openssl ecparam -name prime192v2 -genkey | openssl pkcs8 -topk8 -nocrypt`).
PRIME192V2_KEY = b"""-----BEGIN PRIVATE KEY-----
MG8CAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQIEVTBTAgEBBBhzO0R1O7Ze2PRLgPBS
hDjdlj26cYuN+fOhNAMyAARyMIX9LZStIlJHe8DzBrKqqC1T9U3JLGSjSNOmQSmu
nGknXtn+gAQFeYsDJGFqGP0=
-----END PRIVATE KEY-----
"""


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_generated_keys_report_their_spec_and_round_trip_every_encoding(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    assert key_spec_of(key) == spec
    assert key_spec_of(key.public_key()) == spec
    for encoding in KeyEncoding:
        loaded = load_private_key_pem(encode_private_key_pem(key, encoding))
        assert loaded.public_key() == key.public_key()
        assert key_spec_of(loaded) == spec
    from_der = serialization.load_der_private_key(encode_private_key_der(key), None)
    assert from_der.public_key() == key.public_key()


@pytest.mark.parametrize(
    ("spec", "pkcs1_header"),
    [
        (KeySpec(KeyAlgorithm.ECDSA, 256), b"-----BEGIN EC PRIVATE KEY-----"),
        (KeySpec(KeyAlgorithm.RSA, 2048), b"-----BEGIN RSA PRIVATE KEY-----"),
        (KeySpec(KeyAlgorithm.ED25519), b"-----BEGIN PRIVATE KEY-----"),
    ],
    ids=str,
)
def test_pkcs1_is_the_traditional_format_and_ed25519_is_always_pkcs8(
    spec: KeySpec, pkcs1_header: bytes
) -> None:
    key = generate_private_key(spec)
    assert encode_private_key_pem(key, KeyEncoding.PKCS1).startswith(pkcs1_header)
    assert encode_private_key_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_der_encoding_is_pkcs8() -> None:
    key = generate_private_key(KeySpec())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert encode_private_key_der(key) == pkcs8


@pytest.mark.parametrize(
    ("algorithm", "size", "valid"),
    [
        (KeyAlgorithm.ECDSA, 521, "256, 384"),
        (KeyAlgorithm.ECDSA, 2048, "256, 384"),
        (KeyAlgorithm.RSA, 1024, "2048, 3072, 4096"),
        (KeyAlgorithm.RSA, 256, "2048, 3072, 4096"),
    ],
)
def test_unsupported_sizes_are_rejected_naming_the_valid_ones(
    algorithm: KeyAlgorithm, size: int, valid: str
) -> None:
    with pytest.raises(
        PKIError, match=f"^{algorithm} key size {size} is not supported; use one of {valid}$"
    ) as e:
        KeySpec(algorithm, size)
    assert e.value.reason == "InvalidRequest"


@pytest.mark.parametrize("size", [0, 256, 384, 4096])
def test_ed25519_ignores_the_size(size: int) -> None:
    assert KeySpec(KeyAlgorithm.ED25519, size) == KeySpec(KeyAlgorithm.ED25519)
    assert KeySpec(KeyAlgorithm.ED25519, size).size == 256


def test_default_sizes_and_names() -> None:
    assert KeySpec() == KeySpec(KeyAlgorithm.ECDSA, 256)
    assert key_spec(KeyAlgorithm.RSA) == KeySpec(KeyAlgorithm.RSA, 2048)
    assert key_spec(KeyAlgorithm.ECDSA) == KeySpec(KeyAlgorithm.ECDSA, 256)
    assert key_spec(KeyAlgorithm.ECDSA, 384) == KeySpec(KeyAlgorithm.ECDSA, 384)
    assert key_spec(KeyAlgorithm.ED25519) == KeySpec(KeyAlgorithm.ED25519)
    assert str(KeySpec()) == "ECDSA 256"
    assert str(KeySpec(KeyAlgorithm.RSA, 3072)) == "RSA 3072"
    assert str(KeySpec(KeyAlgorithm.ED25519)) == "Ed25519"


def _pkcs8(
    key: dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed448.Ed448PrivateKey,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "^not a PEM private key: "),
        (b"", "^not a PEM private key: "),
        (
            generate_private_key(KeySpec()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            "^private key is encrypted; certmint needs it unencrypted$",
        ),
        (
            _pkcs8(ec.generate_private_key(ec.SECP521R1())),
            "^unsupported EC curve secp521r1; use P-256 or P-384$",
        ),
        (
            _pkcs8(ec.generate_private_key(ec.BrainpoolP256R1())),
            "^unsupported EC curve brainpoolP256r1; use P-256 or P-384$",
        ),
        (PRIME192V2_KEY, "^unsupported EC curve 1.2.840.10045.3.1.2; use P-256 or P-384$"),
        (_pkcs8(dsa.generate_private_key(2048)), "^unsupported private key type DSAPrivateKey$"),
        (_pkcs8(ed448.Ed448PrivateKey.generate()), "^unsupported private key type Ed448PrivateKey$"),
        (
            _pkcs8(rsa.generate_private_key(65537, 1024)),
            "^RSA key of 1024 bits is not supported; use 2048, 3072, 4096$",
        ),
    ],
    ids=["garbage", "empty", "encrypted", "p521", "brainpool", "unloadable-curve", "dsa", "ed448", "rsa1024"],
)
def test_unusable_keys_are_refused_with_a_precise_message(data: bytes, message: str) -> None:
    with pytest.raises(PKIError, match=message) as caught:
        load_private_key_pem(data)
    assert caught.value.reason == "InvalidKey"
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    "spec", [KeySpec(), KeySpec(KeyAlgorithm.RSA, 2048), KeySpec(KeyAlgorithm.ED25519)], ids=str
)
def test_key_matches_only_its_own_certificate(root_ca: CertificateAuthority, spec: KeySpec) -> None:
    key, certificate = issue_leaf(LeafRequest(common_name="match"), spec, root_ca, NOW)
    assert key_matches_certificate(key, certificate)
    assert not key_matches_certificate(generate_private_key(spec), certificate)
    assert not key_matches_certificate(root_ca.private_key, certificate)
