"""Cross-checks with an independent implementation: the openssl command line tool.

These fail, not skip, without openssl: a silent pass would hide that nothing was cross-checked.
"""

import shutil
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeyAlgorithm,
    KeyEncoding,
    KeySpec,
    LeafRequest,
    PKCS12Profile,
    RevocationReason,
    RevokedCertificate,
    Usage,
    build_crl,
    certificates_to_pem,
    create_intermediate_ca,
    create_root_ca,
    crl_to_der,
    crl_to_pem,
    encode_private_key_pem,
    generate_private_key,
    issue_leaf,
    pkcs12_keystore,
    pkcs12_truststore,
)
from tests.unit.pki.support import NOW

# openssl verify checks validity (of certificates and CRLs) at this instant instead of the real clock.
AT_NOW = ("-attime", str(int(NOW.timestamp())))
KEY_SPECS = [KeySpec(), KeySpec(KeyAlgorithm.RSA, 2048), KeySpec(KeyAlgorithm.ED25519)]


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail("openssl is required for these cross-checks; install it (e.g. apt-get install openssl)")
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, check=False, timeout=60)


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(certificates_to_pem(certificates))
    return path


@dataclass(frozen=True)
class Hierarchy:
    root: CertificateAuthority
    intermediate: CertificateAuthority
    root_pem: Path
    intermediate_pem: Path


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    directory = tmp_path_factory.mktemp("hierarchy")
    root = create_root_ca(CARequest("OpenSSL Check Root", timedelta(days=30)), NOW)
    intermediate = create_intermediate_ca(
        CARequest("OpenSSL Check Issuing", timedelta(days=20), path_length=0), root, NOW
    )
    return Hierarchy(
        root,
        intermediate,
        write_pem(directory / "root.pem", root.certificate),
        write_pem(directory / "intermediate.pem", intermediate.certificate),
    )


@pytest.mark.parametrize("key", KEY_SPECS, ids=str)
@pytest.mark.parametrize("purpose", ["sslserver", "sslclient"])
def test_openssl_accepts_leaves_issued_by_a_root(
    hierarchy: Hierarchy, tmp_path: Path, key: KeySpec, purpose: str
) -> None:
    request = LeafRequest(dns_names=("web.example.com",), uris=("spiffe://td/ns/a/sa/b",))
    _, leaf = issue_leaf(request, key, hierarchy.root, NOW)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    result = openssl("verify", *AT_NOW, "-purpose", purpose, "-CAfile", hierarchy.root_pem, leaf_pem)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{leaf_pem}: OK"


@pytest.mark.parametrize("purpose", ["sslserver", "sslclient"])
def test_openssl_accepts_leaves_through_an_intermediate_only_with_it(
    hierarchy: Hierarchy, tmp_path: Path, purpose: str
) -> None:
    _, leaf = issue_leaf(LeafRequest(dns_names=("api.example.com",)), KeySpec(), hierarchy.intermediate, NOW)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    verify = ("verify", *AT_NOW, "-purpose", purpose, "-CAfile", hierarchy.root_pem)
    without = openssl(*verify, leaf_pem)
    assert without.returncode != 0
    assert "unable to get local issuer certificate" in without.stdout + without.stderr
    with_it = openssl(*verify, "-untrusted", hierarchy.intermediate_pem, leaf_pem)
    assert with_it.returncode == 0, with_it.stdout + with_it.stderr


def test_openssl_accepts_a_common_name_only_client_certificate(hierarchy: Hierarchy, tmp_path: Path) -> None:
    _, leaf = issue_leaf(
        LeafRequest(common_name="system:node:a", organization=("system:nodes",)),
        KeySpec(),
        hierarchy.root,
        NOW,
    )
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    result = openssl("verify", *AT_NOW, "-purpose", "sslclient", "-CAfile", hierarchy.root_pem, leaf_pem)
    assert result.returncode == 0, result.stdout + result.stderr


def test_openssl_enforces_the_requested_usages(hierarchy: Hierarchy, tmp_path: Path) -> None:
    request = LeafRequest(dns_names=("c.example.com",), usages=(Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH))
    _, leaf = issue_leaf(request, KeySpec(), hierarchy.root, NOW)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    verify = ("verify", *AT_NOW, "-CAfile", hierarchy.root_pem)
    assert openssl(*verify, "-purpose", "sslclient", leaf_pem).returncode == 0
    server = openssl(*verify, "-purpose", "sslserver", leaf_pem)
    assert server.returncode != 0
    assert "unsuitable certificate purpose" in server.stdout + server.stderr


def test_openssl_enforces_the_name_constraints(tmp_path: Path) -> None:
    ca = create_root_ca(
        CARequest("Constrained", timedelta(days=30), permitted_dns_domains=("example.com",)), NOW
    )
    ca_pem = write_pem(tmp_path / "ca.pem", ca.certificate)
    _, inside = issue_leaf(LeafRequest(dns_names=("a.example.com",)), KeySpec(), ca, NOW)
    _, outside = issue_leaf(LeafRequest(dns_names=("a.example.org",)), KeySpec(), ca, NOW)
    verify = ("verify", *AT_NOW, "-CAfile", ca_pem)
    assert openssl(*verify, write_pem(tmp_path / "inside.pem", inside)).returncode == 0
    rejected = openssl(*verify, write_pem(tmp_path / "outside.pem", outside))
    assert rejected.returncode != 0
    assert "permitted subtree violation" in rejected.stdout + rejected.stderr


@pytest.mark.parametrize("encoding", list(KeyEncoding))
@pytest.mark.parametrize("key", KEY_SPECS, ids=str)
def test_openssl_reads_private_keys_in_both_encodings(
    tmp_path: Path, key: KeySpec, encoding: KeyEncoding
) -> None:
    private_key = generate_private_key(key)
    (tmp_path / "key.pem").write_bytes(encode_private_key_pem(private_key, encoding))
    result = openssl("pkey", "-in", tmp_path / "key.pem", "-pubout")
    assert result.returncode == 0, result.stderr
    expected = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert result.stdout.encode() == expected


@pytest.mark.parametrize(
    ("profile", "cipher"),
    [
        (
            PKCS12Profile.MODERN,
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC",
        ),
        (PKCS12Profile.LEGACY_DES, "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
    ],
)
def test_openssl_opens_both_pkcs12_profiles_without_legacy_provider(
    hierarchy: Hierarchy, tmp_path: Path, profile: PKCS12Profile, cipher: str
) -> None:
    """3DES lives in OpenSSL 3's default provider, so `-legacy` (needed only for RC2/RC4) is not used."""
    key, leaf = issue_leaf(LeafRequest(common_name="java"), KeySpec(), hierarchy.intermediate, NOW)
    keystore = tmp_path / "keystore.p12"
    keystore.write_bytes(
        pkcs12_keystore(
            key, leaf, [hierarchy.intermediate.certificate, hierarchy.root.certificate], b"s3cret", profile
        )
    )
    truststore = tmp_path / "truststore.p12"
    truststore.write_bytes(pkcs12_truststore([hierarchy.root.certificate], b"s3cret", profile))

    info = openssl("pkcs12", "-in", keystore, "-info", "-nokeys", "-passin", "pass:s3cret")
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("BEGIN CERTIFICATE") == 3
    assert cipher in info.stderr
    assert ("MAC: sha256" if profile == PKCS12Profile.MODERN else "MAC: sha1") in info.stderr
    assert "friendlyName: certmint" in info.stdout
    wrong = openssl("pkcs12", "-in", keystore, "-info", "-nokeys", "-passin", "pass:nope")
    assert wrong.returncode != 0
    assert "Mac verify error: invalid password?" in wrong.stderr

    trust = openssl("pkcs12", "-in", truststore, "-info", "-nokeys", "-passin", "pass:s3cret")
    assert trust.returncode == 0, trust.stderr
    assert trust.stdout.count("BEGIN CERTIFICATE") == 1
    assert "subject=CN = OpenSSL Check Root" in trust.stdout
    # Java's marker for a trusted certificate entry (what keytool -importcert writes).
    assert "2.16.840.1.113894.746875.1.1" in trust.stdout


def test_openssl_parses_the_crl_and_rejects_only_the_revoked_leaf(
    hierarchy: Hierarchy, tmp_path: Path
) -> None:
    _, revoked = issue_leaf(LeafRequest(dns_names=("gone.example.com",)), KeySpec(), hierarchy.root, NOW)
    _, kept = issue_leaf(LeafRequest(dns_names=("kept.example.com",)), KeySpec(), hierarchy.root, NOW)
    crl = build_crl(
        hierarchy.root,
        [
            RevokedCertificate(
                revoked.serial_number, NOW - timedelta(minutes=5), RevocationReason.KEY_COMPROMISE
            ),
            RevokedCertificate(12345, NOW - timedelta(minutes=5)),
        ],
        NOW,
        timedelta(hours=1),
        crl_number=3,
    )
    (tmp_path / "crl.der").write_bytes(crl_to_der(crl))
    (tmp_path / "crl.pem").write_bytes(crl_to_pem(crl))

    text = openssl("crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text")
    assert text.returncode == 0, text.stderr
    listed = [int(line.split(":")[1], 16) for line in text.stdout.splitlines() if "Serial Number:" in line]
    assert listed == sorted([revoked.serial_number, 12345])
    assert text.stdout.count("Key Compromise") == 1
    assert "X509v3 CRL Number: \n                3" in text.stdout
    assert "Issuer: CN = OpenSSL Check Root" in text.stdout

    check = ("verify", *AT_NOW, "-crl_check", "-CAfile", hierarchy.root_pem, "-CRLfile", tmp_path / "crl.pem")
    rejected = openssl(*check, write_pem(tmp_path / "revoked.pem", revoked))
    assert rejected.returncode != 0
    assert "certificate revoked" in rejected.stdout + rejected.stderr
    accepted = openssl(*check, write_pem(tmp_path / "kept.pem", kept))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
