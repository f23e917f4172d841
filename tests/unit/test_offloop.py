"""Issue 27: no single object stops certmint for everyone. Key sizes read from the key's header
before it is loaded, bounded PEM blocks, cheap work inline and costly work off the event loop."""

import asyncio
import base64
import contextlib
import functools
import gc
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from certmint.operator import metrics
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import DELETED, Controller
from certmint.operator.loopwatch import watch_loop_lag
from certmint.operator.ocsp_responder import OCSPResponder, ResponseCache, reuse_responder
from certmint.operator.offload import CRYPTO_THREADS, off_loop
from certmint.operator.state import SIGNER, SIGNING_REQUEST, Key
from certmint.pki import (
    MAX_REQUEST_BYTES,
    KeyAlgorithm,
    PKIError,
    certificates_to_pem,
    load_private_key_pem,
    pem_key_header,
)
from certmint.pki.ca import load_ca
from certmint.pki.keys import MAX_KEY_PEM_BYTES, der_key_header
from certmint.pki.pem import MAX_PEM_BLOCKS, load_certificates_pem, pem_blocks
from certmint.planning import reasons
from certmint.planning.certificates.secret_view import SecretContents, Unusable, read_contents
from certmint.planning.csrs.plan import Case, plan_signing_request
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView, ResponderInputs, Signing
from certmint.planning.issuers.ca_secret import (
    NEXT_CERT,
    NEXT_KEY,
    PREVIOUS_CERT,
    PREVIOUS_KEY,
    read_material,
)
from certmint.planning.issuers.ocsp import refresh_signers, responder_inputs
from certmint.planning.issuers.revocation import RevocationList, build_crls
from certmint.planning.signers import SignerRef
from tests.kubefake import FakeKube
from tests.unit.planning_fixtures import NOW, make_ca

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
    for loaded in (load_private_key_pem(pem), load_private_key_pem(pem, validate=False)):
        assert isinstance(loaded, rsa.RSAPrivateKey)
        assert loaded.key_size == bits


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
    with pytest.raises(PKIError, match=f"holds {MAX_PEM_BLOCKS + 1} blocks; certmint reads at most"):
        pem_blocks(block * (MAX_PEM_BLOCKS + 1))
    with pytest.raises(PKIError, match=r"at most 3$"):
        load_certificates_pem(block * 4, limit=3)


def test_unterminated_blocks_yield_nothing() -> None:
    """A megabyte of BEGIN lines without END: no block, no error beyond the bound."""
    hostile = (b"-----BEGIN CERTIFICATE-----\n" + b"A" * 4000) * MAX_PEM_BLOCKS
    assert pem_blocks(hostile) == []


# Secret views: an RSA-8192 key is refused by its header, on the event loop, in microseconds


def test_a_view_of_a_secret_with_an_rsa_8192_key_is_unusable_with_the_size_as_reason() -> None:

    ca = make_ca()
    pem = rsa_key(8192).private_bytes(PEM, PKCS8, NO_ENCRYPTION)
    contents = read_contents({"tls.crt": certificates_to_pem([ca.certificate]), "tls.key": pem})
    assert isinstance(contents, Unusable)
    assert contents.reason == reasons.SECRET_INVALID
    assert "RSA key of 8192 bits is not supported" in contents.message


def test_a_view_reads_only_the_leaf_of_a_long_chain() -> None:

    ca = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    chain = (
        certificates_to_pem([ca.certificate])
        + b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n" * 200
    )
    contents = read_contents({"tls.crt": chain, "tls.key": key.private_bytes(PEM, PKCS8, NO_ENCRYPTION)})
    assert isinstance(contents, SecretContents)  # the garbage after the leaf is never parsed
    assert not contents.key_matches


# One OCSP cache budget for the whole operator


def _ocsp_request(ca_certificate: x509.Certificate, serial: int) -> bytes:

    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(ca_certificate.subject.public_bytes())
    key_hash = x509.SubjectKeyIdentifier.from_public_key(ca_certificate.public_key()).digest
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), key_hash, serial, hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


@functools.cache
def _responder_inputs(name: str) -> ResponderInputs:

    ca = make_ca(name)
    _, crl_pem = build_crls((ca,), RevocationList(), NOW - timedelta(minutes=1), timedelta(hours=24))
    return responder_inputs((ca,), refresh_signers((ca,), (), NOW), crl_pem, timedelta(hours=1))


def test_every_issuers_responses_share_one_budget_least_recently_used_first() -> None:

    cache = ResponseCache(max_entries=4)
    first = OCSPResponder(_responder_inputs("first CA"), cache=cache, signatures_per_second=1000)
    second = OCSPResponder(_responder_inputs("second CA"), cache=cache, signatures_per_second=1000)
    first_ca = _responder_inputs("first CA").authorities[0].certificate
    second_ca = _responder_inputs("second CA").authorities[0].certificate
    for serial in (1, 2, 3):
        assert first.answer(_ocsp_request(first_ca, serial), NOW).signed
    assert len(cache) == 3
    # Random serials at the second issuer evict the first's answers: one budget, not one each.
    for serial in range(100, 110):
        assert second.answer(_ocsp_request(second_ca, serial), NOW).signed
    assert len(cache) == 4
    assert cache.entries_of(first._token) == 0
    assert first.answer(_ocsp_request(first_ca, 1), NOW).signed, "evicted: signed again"
    assert not second.answer(_ocsp_request(second_ca, 109), NOW).signed, "recent: from the cache"
    assert len(cache) == 4


def test_a_responders_entries_go_with_it() -> None:

    cache = ResponseCache(max_entries=100)
    inputs = _responder_inputs("first CA")
    responder = reuse_responder(None, inputs, cache)
    for serial in (1, 2, 3):
        responder.answer(_ocsp_request(inputs.authorities[0].certificate, serial), NOW)
    assert reuse_responder(responder, inputs, cache) is responder, "same inputs: cache and all"
    assert len(cache) == 3
    del responder
    gc.collect()
    assert len(cache) == 0


# Metric series removed with their object or label value


def _series(name: str) -> set[tuple[tuple[str, str], ...]]:

    return {
        tuple(sorted(sample.labels.items()))
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name
    }


def _certificate(name: str, issuer: str) -> dict[str, object]:
    return {
        "metadata": {"namespace": "metrics-ns", "name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"secretName": f"{name}-tls", "issuerRef": {"kind": "Issuer", "name": issuer}},
    }


def _controller() -> Controller:
    return Controller(kube=FakeKube(), config=OperatorConfig(namespace="certmint"))


def test_a_certificates_series_move_with_its_issuer_ref_and_go_with_it() -> None:

    controller = _controller()
    controller.certificate_event(None, _certificate("moving", "old-ca"))
    metrics.record_certificate("metrics-ns", "moving", "Issuer/old-ca", True, None, None)
    old = (("issuer", "Issuer/old-ca"), ("name", "moving"), ("namespace", "metrics-ns"))
    assert old in _series("certmint_certificate_ready_status")
    controller.certificate_event(None, _certificate("moving", "new-ca"))
    assert old not in _series("certmint_certificate_ready_status")
    metrics.record_certificate("metrics-ns", "moving", "Issuer/new-ca", True, None, None)
    new = (("issuer", "Issuer/new-ca"), ("name", "moving"), ("namespace", "metrics-ns"))
    assert new in _series("certmint_certificate_ready_status")
    controller.certificate_event(DELETED, _certificate("moving", "new-ca"))
    assert not any(("name", "moving") in series for series in _series("certmint_certificate_ready_status"))


def test_an_issuers_and_a_bundles_series_go_with_them() -> None:

    controller = _controller()
    labels = ("Issuer", "metrics-ns", "gone")
    metrics.ca_expiration.labels(*labels).set(1)
    metrics.record_rotation_phase(*labels, "Stable")
    metrics.ocsp_responses.labels(*labels, "good").inc()
    metrics.ocsp_responses.labels(*labels, "unknown").inc()
    metrics.trust_bundle_synced.labels("gone-bundle").set(1)
    metrics.trust_bundle_changes.labels("gone-bundle", "added").inc()
    controller.issuer_event("Issuer", DELETED, {"metadata": {"namespace": "metrics-ns", "name": "gone"}})
    controller.trust_bundle_event(DELETED, {"metadata": {"name": "gone-bundle"}})
    for name in (
        "certmint_ca_expiration_timestamp_seconds",
        "certmint_ca_rotation_phase",
        "certmint_ocsp_responses_total",
        "certmint_trustbundle_synced_status",
        "certmint_trustbundle_ca_changes_total",
    ):
        assert not any(("name", "gone") in s or ("name", "gone-bundle") in s for s in _series(name)), name


# Pending CSRs: kept as fields, only for issuers that exist, picked up when one appears


def _signing_request(name: str, signer: str, size: int = 0) -> dict[str, object]:
    request = base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * size).decode()
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "7", "managedFields": [{}]},
        "spec": {"signerName": signer, "request": request, "username": "someone", "usages": []},
        "status": {},
    }


async def test_csrs_of_issuers_that_do_not_exist_are_not_kept_and_are_picked_up_when_one_appears() -> None:

    controller = _controller()
    fake = controller.kube
    for number in range(50):
        body = _signing_request(f"attack-{number}", f"issuers.certmint.dev/nowhere.ghost-{number}", 100_000)
        fake.objects[("certificatesigningrequests", None, f"attack-{number}")] = body  # type: ignore[attr-defined]
        controller.signing_request_event(None, body)
    unreadable = _signing_request("unreadable", "issuers.certmint.dev/Not_A_Name")
    controller.signing_request_event(None, unreadable)
    assert controller.state.signing_requests == {}
    assert not controller.queue.ready()
    # The issuer of one of them appears: its signer's CSRs are listed, and only those kept.
    controller.issuer_event("Issuer", None, {"metadata": {"namespace": "nowhere", "name": "ghost-7"}})
    signer = Key(SIGNER, "", "issuers.certmint.dev/nowhere.ghost-7")
    assert controller.queue.queued(signer)
    got = await controller.queue.get()
    assert got == signer
    await controller.process(got)
    kept = Key(SIGNING_REQUEST, "", "attack-7")
    assert set(controller.state.signing_requests) == {kept}
    cached = controller.state.signing_requests[kept]
    assert cached.resource_version == "7"
    assert cached.signer_name.endswith("ghost-7")
    assert controller.queue.queued(kept)
    # The issuer goes: so does what was kept for it.
    controller.issuer_event("Issuer", "DELETED", {"metadata": {"namespace": "nowhere", "name": "ghost-7"}})
    assert controller.state.signing_requests == {}
    # Still in the ready queue (cancel drops schedules, not queued keys): reconciled, it finds nothing.
    assert controller.queue.scheduled(kept) is None
    await controller.process(kept)
    assert not [write for write in fake.writes if "csr" in write]  # type: ignore[attr-defined]


def test_cached_object_gauges_count_what_the_state_holds() -> None:

    controller = _controller()
    controller._expose_cache_sizes()
    controller.certificate_event(None, _certificate("counted", "ca"))

    def value(kind: str) -> float:
        return next(
            sample.value
            for family in metrics.cached_objects.collect()
            for sample in family.samples
            if sample.labels == {"kind": kind}
        )

    assert value("Certificate") == 1
    assert value("CertificateSigningRequest") == 0
    assert value("OCSPResponse") == 0


# The event loop's own signal, and costly work off it


async def test_a_call_that_holds_the_loop_shows_as_lag() -> None:

    watcher = asyncio.create_task(watch_loop_lag(tick=0.01, window=60))
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.5)  # the stall being measured, not a wait for something to happen
        for _ in range(100):
            await asyncio.sleep(0.01)
            if metrics.event_loop_lag._value.get() >= 0.4:
                break
        assert metrics.event_loop_lag._value.get() >= 0.4
    finally:
        watcher.cancel()


async def test_costly_work_runs_in_the_bounded_pool_while_the_loop_turns() -> None:

    loop_thread = threading.get_ident()
    running = 0
    most = 0
    gate = threading.Event()
    lock = threading.Lock()

    def work() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(5)
        with lock:
            running -= 1
        return threading.get_ident()

    jobs = [asyncio.ensure_future(off_loop(work)) for _ in range(CRYPTO_THREADS * 3)]
    turns = 0
    while most < CRYPTO_THREADS and turns < 500:  # the loop keeps turning while they block
        await asyncio.sleep(0.01)
        turns += 1
    gate.set()
    threads = await asyncio.gather(*jobs)
    assert most == CRYPTO_THREADS
    assert loop_thread not in threads


def test_an_oversized_request_is_not_kept_and_fails_with_its_size() -> None:
    body = _signing_request("big", "clusterissuers.certmint.dev/mesh", MAX_REQUEST_BYTES)
    csr = read_signing_request(body)
    assert csr.request == b""
    assert csr.request_bytes > MAX_REQUEST_BYTES
    small = read_signing_request(_signing_request("small", "clusterissuers.certmint.dev/mesh", 100))
    assert small.request
    assert small.request_bytes == len(small.request)
    case = Case(
        replace(csr, approved=True),
        SignerRef("ClusterIssuer", "", "mesh"),
        IssuerView(exists=True, ready=True, reason="CAReady", message="", signing=Signing(ca=make_ca())),
        "cluster.local",
        {},
        NOW,
    )
    failed = plan_signing_request(case)
    assert isinstance(failed, Fail)
    assert failed.reason == "RequestTooLarge"
    assert f"at most {MAX_REQUEST_BYTES} bytes" in failed.message
    assert not failed.retryable


def test_a_ca_secrets_next_and_previous_rsa_8192_keys_are_dropped_by_their_header() -> None:
    """The CA Secret's other slots: an RSA-8192 next.key or previous.key is refused before it is
    loaded (that slot is dropped, the current CA still works)."""
    current = make_ca("current CA")
    other = make_ca("other CA")
    huge = rsa_key(8192).private_bytes(PEM, PKCS8, NO_ENCRYPTION)
    data = {
        NEXT_CERT: certificates_to_pem([other.certificate]),
        NEXT_KEY: huge,
        PREVIOUS_CERT: certificates_to_pem([other.certificate]),
        PREVIOUS_KEY: huge,
    }
    material = read_material(current, data, {}, NOW)
    assert material.next is None
    assert material.previous is not None
    assert material.previous_key is None
    with pytest.raises(PKIError, match="RSA key of 8192 bits"):
        load_ca(certificates_to_pem([current.certificate]), huge, NOW)
