"""Cross-checks with an independent implementation: the openssl command line tool."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certmint.pki import (
    CARequest,
    KeySpec,
    LeafRequest,
    PKCS12Profile,
    RevocationReason,
    RevokedCertificate,
    build_crl,
    certificates_to_pem,
    create_intermediate_ca,
    create_root_ca,
    crl_to_der,
    crl_to_pem,
    issue_leaf,
    pkcs12_keystore,
    pkcs12_truststore,
)

# openssl checks validity against the real clock.
NOW = datetime.now(UTC)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("openssl")
    assert binary, "openssl is required for these cross-checks: `make system-deps` installs it"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("openssl")
    root = create_root_ca(CARequest("OpenSSL Check Root", timedelta(days=30)), NOW)
    intermediate = create_intermediate_ca(
        CARequest("OpenSSL Check Issuing", timedelta(days=20), path_length=0), root, NOW
    )
    (directory / "root.pem").write_bytes(certificates_to_pem([root.certificate]))
    (directory / "intermediate.pem").write_bytes(certificates_to_pem([intermediate.certificate]))
    return {"dir": directory, "root": root, "intermediate": intermediate}


@pytest.mark.parametrize("key", [KeySpec(), KeySpec("RSA", 2048), KeySpec("Ed25519", 256)], ids=str)  # type: ignore[arg-type]
@pytest.mark.parametrize("purpose", ["sslserver", "sslclient"])
def test_openssl_verify_accepts_issued_leaves(tmp_path: Path, key: KeySpec, purpose: str) -> None:
    root = create_root_ca(CARequest("Root", timedelta(days=30)), NOW)
    _, leaf = issue_leaf(
        LeafRequest(dns_names=("web.example.com",), uris=("spiffe://td/ns/a/sa/b",)), key, root, NOW
    )
    (tmp_path / "ca.pem").write_bytes(certificates_to_pem([root.certificate]))
    (tmp_path / "leaf.pem").write_bytes(certificates_to_pem([leaf]))
    result = openssl(
        "verify", "-purpose", purpose, "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path / 'leaf.pem'}: OK"


def test_openssl_verify_through_an_intermediate(chain: dict[str, object], tmp_path: Path) -> None:
    directory = chain["dir"]
    assert isinstance(directory, Path)
    _, leaf = issue_leaf(LeafRequest(dns_names=("api.example.com",)), KeySpec(), chain["intermediate"], NOW)  # type: ignore[arg-type]
    (tmp_path / "leaf.pem").write_bytes(certificates_to_pem([leaf]))
    args = ["verify", "-purpose", "sslserver", "-CAfile", str(directory / "root.pem")]
    without = openssl(*args, str(tmp_path / "leaf.pem"))
    assert without.returncode != 0, "must not verify without the intermediate"
    with_it = openssl(*args, "-untrusted", str(directory / "intermediate.pem"), str(tmp_path / "leaf.pem"))
    assert with_it.returncode == 0, with_it.stderr


@pytest.mark.parametrize("profile", list(PKCS12Profile))
def test_openssl_opens_both_pkcs12_profiles(tmp_path: Path, profile: PKCS12Profile) -> None:
    root = create_root_ca(CARequest("Root", timedelta(days=30)), NOW)
    key, leaf = issue_leaf(LeafRequest(common_name="java"), KeySpec(), root, NOW)
    (tmp_path / "keystore.p12").write_bytes(
        pkcs12_keystore(key, leaf, [root.certificate], b"s3cret", profile)
    )
    (tmp_path / "truststore.p12").write_bytes(pkcs12_truststore([root.certificate], b"s3cret", profile))
    info = openssl(
        "pkcs12", "-in", str(tmp_path / "keystore.p12"), "-info", "-nokeys", "-passin", "pass:s3cret"
    )
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("BEGIN CERTIFICATE") == 2
    expected_cipher = "AES-256-CBC" if profile == PKCS12Profile.MODERN else "pbeWithSHA1And3-KeyTripleDES-CBC"
    assert expected_cipher in info.stderr
    wrong = openssl(
        "pkcs12", "-in", str(tmp_path / "keystore.p12"), "-info", "-nokeys", "-passin", "pass:nope"
    )
    assert wrong.returncode != 0
    trust = openssl(
        "pkcs12", "-in", str(tmp_path / "truststore.p12"), "-info", "-nokeys", "-passin", "pass:s3cret"
    )
    assert trust.returncode == 0, trust.stderr
    assert "subject=CN = Root" in trust.stdout
    # Java's marker for a trusted certificate entry (what keytool -importcert writes).
    assert "2.16.840.1.113894.746875.1.1" in trust.stdout


def test_openssl_parses_the_crl_and_rejects_a_revoked_leaf(tmp_path: Path) -> None:
    root = create_root_ca(CARequest("CRL Root", timedelta(days=30)), NOW)
    _, revoked = issue_leaf(LeafRequest(dns_names=("gone.example.com",)), KeySpec(), root, NOW)
    _, kept = issue_leaf(LeafRequest(dns_names=("kept.example.com",)), KeySpec(), root, NOW)
    crl = build_crl(
        root,
        [RevokedCertificate(revoked.serial_number, NOW, RevocationReason.KEY_COMPROMISE)],
        NOW,
        timedelta(hours=1),
        crl_number=1,
    )
    (tmp_path / "crl.der").write_bytes(crl_to_der(crl))
    (tmp_path / "crl.pem").write_bytes(crl_to_pem(crl))
    (tmp_path / "ca.pem").write_bytes(certificates_to_pem([root.certificate]))
    (tmp_path / "revoked.pem").write_bytes(certificates_to_pem([revoked]))
    (tmp_path / "kept.pem").write_bytes(certificates_to_pem([kept]))

    text = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text")
    assert text.returncode == 0, text.stderr
    listed = [int(line.split(":")[1], 16) for line in text.stdout.splitlines() if "Serial Number:" in line]
    assert listed == [revoked.serial_number]
    assert "Key Compromise" in text.stdout

    check = [
        "verify",
        "-crl_check",
        "-CAfile",
        str(tmp_path / "ca.pem"),
        "-CRLfile",
        str(tmp_path / "crl.pem"),
    ]
    rejected = openssl(*check, str(tmp_path / "revoked.pem"))
    assert rejected.returncode != 0
    assert "certificate revoked" in rejected.stdout + rejected.stderr
    accepted = openssl(*check, str(tmp_path / "kept.pem"))
    assert accepted.returncode == 0, accepted.stderr
