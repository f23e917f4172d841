"""Issue 27: no single object stops certmint for everyone. Key sizes read from the key's header
before it is loaded, bounded PEM blocks, cheap work inline and costly work off the event loop."""

import base64
import contextlib
import functools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmint.pki import KeyAlgorithm, PKIError, load_private_key_pem, pem_key_header
from certmint.pki.keys import MAX_KEY_PEM_BYTES, der_key_header
from certmint.pki.pem import MAX_PEM_BLOCKS, load_certificates_pem, pem_blocks

NO_ENCRYPTION = serialization.NoEncryption()
PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def fake_rsa_pem(bits: int, label: str = "RSA PRIVATE KEY") -> bytes:
    """A PKCS#1 structure whose modulus has `bits` bits and whose other numbers are junk: what a
    header reader sees of an RSA key of that size, made in microseconds (an RSA-8192 key takes
    seconds to generate and seconds more to validate)."""
    modulus = (1 << (bits - 1)) | 1
    body = _der(0x30, _integer(0) + _integer(modulus) + b"".join(_integer(3) for _ in range(7)))
    return _pem(label, body)


def _pem(label: str, der: bytes) -> bytes:
    lines = [base64.b64encode(der[i : i + 48]) for i in range(0, len(der), 48)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


# Sizes: what the project allows today (pki/keys.py: RSA 2048/3072/4096, P-256/P-384, Ed25519).


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
@pytest.mark.parametrize("encoding", [PKCS8, TRADITIONAL], ids=["pkcs8", "pkcs1"])
def test_allowed_rsa_sizes_are_read_from_the_header_and_load(
    bits: int, encoding: serialization.PrivateFormat
) -> None:
    pem = rsa_key(bits).private_bytes(PEM, encoding, NO_ENCRYPTION)
    header = pem_key_header(pem)
    assert (header.algorithm, header.size) == (KeyAlgorithm.RSA, bits)
    assert load_private_key_pem(pem).key_size == bits
    assert load_private_key_pem(pem, validate=False).key_size == bits


@pytest.mark.parametrize("bits", [8192, 16384, 4097, 4095, 1024])
@pytest.mark.parametrize("label", ["RSA PRIVATE KEY", "PRIVATE KEY"])
def test_other_rsa_sizes_are_refused_from_the_header(bits: int, label: str) -> None:
    if label == "PRIVATE KEY":  # PKCS#8 around the PKCS#1 structure
        inner = base64.b64decode(b"".join(fake_rsa_pem(bits).splitlines()[1:-1]))
        algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
        pem = _pem(label, _der(0x30, _integer(0) + algorithm + _der(0x04, inner)))
    else:
        pem = fake_rsa_pem(bits)
    assert pem_key_header(pem).size == bits
    # The junk numbers would make cryptography fail to load it: the size refusal comes first.
    with pytest.raises(PKIError, match=f"^RSA key of {bits} bits is not supported"):
        load_private_key_pem(pem)


def test_a_real_rsa_8192_key_is_refused_without_validation() -> None:
    """The issue's key: refused by its header, so its 4.5 s validation never runs (if it did, this
    test would take seconds; the refusal's message proves which path refused it)."""
    key = rsa_key(8192)
    for encoding in (PKCS8, TRADITIONAL):
        pem = key.private_bytes(PEM, encoding, NO_ENCRYPTION)
        assert pem_key_header(pem).size == 8192
        with pytest.raises(PKIError, match=r"^RSA key of 8192 bits is not supported") as caught:
            load_private_key_pem(pem)
        assert caught.value.__cause__ is None  # not from cryptography's loader


@pytest.mark.parametrize(
    ("curve", "size", "supported"),
    [
        (ec.SECP256R1(), 256, True),
        (ec.SECP384R1(), 384, True),
        (ec.SECP521R1(), 521, False),
        (ec.SECP256K1(), 256, False),
        (ec.BrainpoolP256R1(), 256, False),
        (ec.SECP224R1(), 224, False),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
@pytest.mark.parametrize("encoding", [PKCS8, TRADITIONAL], ids=["pkcs8", "sec1"])
def test_ec_curves_are_read_from_the_header(
    curve: ec.EllipticCurve, size: int, supported: bool, encoding: serialization.PrivateFormat
) -> None:
    pem = ec.generate_private_key(curve).private_bytes(PEM, encoding, NO_ENCRYPTION)
    header = pem_key_header(pem)
    assert (header.algorithm, header.size, header.curve) == (KeyAlgorithm.ECDSA, size, curve.name)
    if supported:
        assert load_private_key_pem(pem).curve.name == curve.name  # type: ignore[union-attr]
    else:
        with pytest.raises(PKIError, match=f"^unsupported EC curve {curve.name}"):
            load_private_key_pem(pem)


def test_ed25519_and_other_algorithms() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(PEM, PKCS8, NO_ENCRYPTION)
    assert pem_key_header(pem).algorithm == KeyAlgorithm.ED25519
    load_private_key_pem(pem)
    for other, name in (
        (ed448.Ed448PrivateKey.generate(), "Ed448PrivateKey"),
        (dsa.generate_private_key(1024), "DSAPrivateKey"),
    ):
        with pytest.raises(PKIError, match=f"^unsupported private key type {name}$"):
            pem_key_header(other.private_bytes(PEM, PKCS8, NO_ENCRYPTION))


@pytest.mark.parametrize("encoding", [PKCS8, TRADITIONAL], ids=["pkcs8", "pkcs1"])
def test_encrypted_keys_are_refused_from_the_header(encoding: serialization.PrivateFormat) -> None:
    pem = rsa_key(2048).private_bytes(PEM, encoding, serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(PKIError, match=r"^private key is encrypted") as caught:
        pem_key_header(pem)
    assert caught.value.reason == "InvalidKey"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 100 + b"\n",  # never ends
        _pem("PRIVATE KEY", b"\x30\x84\xff\xff\xff\xff"),  # a 4-byte length
        _pem("PRIVATE KEY", b"\x30\x80\x02\x01\x00\x00\x00"),  # indefinite length
        _pem("EC PRIVATE KEY", base64.b64decode(b"".join(fake_rsa_pem(2048).splitlines()[1:-1]))),
        fake_rsa_pem(2048) * 2,  # two key blocks
        _pem("CERTIFICATE", b"\x30\x00"),
        _pem("PRIVATE KEY", b"\x30\x03\x02\x01\x00" + b"\x00" * (MAX_KEY_PEM_BYTES)),  # too big
    ],
    ids=[
        "empty",
        "garbage",
        "bad-base64",
        "empty-sequence",
        "unterminated",
        "long-length",
        "indefinite",
        "label-mismatch",
        "two-keys",
        "no-key-block",
        "oversized",
    ],
)
def test_malformed_headers_raise_only_pki_errors(data: bytes) -> None:
    with pytest.raises(PKIError) as caught:
        load_private_key_pem(data)
    assert caught.value.reason == "InvalidKey"


def test_rsa_parameters_that_disagree_are_refused_without_validation() -> None:
    """validate=False skips OpenSSL's primality checks, not the consistency of the numbers."""
    numbers = rsa_key(2048).private_numbers()
    bad = rsa.RSAPrivateNumbers(
        p=numbers.p,
        q=numbers.q,
        d=numbers.d,
        dmp1=numbers.dmp1,
        dmq1=numbers.dmq1,
        iqmp=(numbers.iqmp + 1) % numbers.p,
        public_numbers=numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = bad.private_bytes(PEM, TRADITIONAL, NO_ENCRYPTION)
    with pytest.raises(PKIError, match="do not agree"):
        load_private_key_pem(pem, validate=False)
    with pytest.raises(PKIError):
        load_private_key_pem(pem)


KEYS = st.sampled_from(
    [
        ("rsa", 2048),
        ("rsa", 3072),
        ("rsa", 4096),
        ("ec", ec.SECP256R1()),
        ("ec", ec.SECP384R1()),
        ("ec", ec.SECP521R1()),
        ("ec", ec.SECP256K1()),
        ("ed25519", None),
    ]
)


@functools.cache
def _generated(kind: str, parameter: object, encoding: serialization.PrivateFormat) -> tuple[bytes, int]:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        assert isinstance(parameter, int)
        key = rsa_key(parameter)
        size = key.key_size
    elif kind == "ec":
        assert isinstance(parameter, ec.EllipticCurve)
        key = ec.generate_private_key(parameter)
        size = key.curve.key_size
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        size = 256
    if kind == "ed25519":
        encoding = PKCS8
    return key.private_bytes(PEM, encoding, NO_ENCRYPTION), size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(KEYS, st.sampled_from([PKCS8, TRADITIONAL]))
def test_header_size_equals_cryptographys_key_size(
    key: tuple[str, object], encoding: serialization.PrivateFormat
) -> None:
    pem, size = _generated(*key, encoding)
    assert pem_key_header(pem).size == size


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    KEYS,
    st.sampled_from([PKCS8, TRADITIONAL]),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4),
    st.integers(0, 4000),
)
def test_mutated_keys_raise_nothing_but_pki_error(
    key: tuple[str, object],
    encoding: serialization.PrivateFormat,
    flips: list[tuple[int, int]],
    cut: int,
) -> None:
    """Flipped bytes in the DER, a truncation: either a key comes back or PKIError, never another
    exception (the watch handler that builds Secret views must survive any tenant's bytes)."""
    pem, _ = _generated(*key, encoding)
    der = bytearray(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    for position, value in flips:
        der[position % len(der)] = value
    mutated = bytes(der[: max(1, len(der) - cut % len(der))])
    label = pem.splitlines()[0][11:-5].decode()
    for data in (_pem(label, mutated), mutated):
        with contextlib.suppress(PKIError):
            load_private_key_pem(data, validate=False)
    with contextlib.suppress(PKIError):
        der_key_header(mutated)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_raises_nothing_but_pki_error(data: bytes) -> None:
    for candidate in (
        data,
        b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(data) + b"\n-----END PRIVATE KEY-----",
    ):
        with pytest.raises(PKIError):
            load_private_key_pem(candidate)
    with contextlib.suppress(PKIError):
        der_key_header(data)


# Bounded PEM blocks


def test_pem_blocks_are_bounded_before_anything_is_decoded() -> None:
    block = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
    assert len(pem_blocks(block * MAX_PEM_BLOCKS)) == MAX_PEM_BLOCKS
    with pytest.raises(PKIError, match=f"more than {MAX_PEM_BLOCKS} PEM blocks"):
        pem_blocks(block * (MAX_PEM_BLOCKS + 1))
    with pytest.raises(PKIError, match="more than 3 PEM blocks"):
        load_certificates_pem(block * 4, limit=3)


def test_unterminated_blocks_yield_nothing() -> None:
    """A megabyte of BEGIN lines without END: no block, no error beyond the bound."""
    hostile = (b"-----BEGIN CERTIFICATE-----\n" + b"A" * 4000) * MAX_PEM_BLOCKS
    assert pem_blocks(hostile) == []
