"""check_trust: chain trust and each TLS purpose judged separately, cross-checked with `openssl verify`.

Every case states what certmint must answer, and the same files go through openssl: trust against
`openssl verify` without a purpose, each purpose against `-purpose sslserver` / `-purpose sslclient`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    PKIError,
    Purpose,
    TrustVerdict,
    Usage,
    check_trust,
    create_root_ca,
    generate_private_key,
    issue_leaf,
)
from tests.hand_made import hand_made_certificate
from tests.unit.pki.support import NOW
from tests.unit.pki.test_openssl import openssl, write_pem

OPENSSL_PURPOSES = {Purpose.SERVER: "sslserver", Purpose.CLIENT: "sslclient"}


@dataclass(frozen=True)
class Case:
    chain: list[x509.Certificate]
    roots: list[x509.Certificate]
    at: datetime = NOW


def openssl_accepts(case: Case, tmp_path: Path, purpose: Purpose | None) -> bool:
    roots = write_pem(tmp_path / "roots.pem", *case.roots)
    leaf = write_pem(tmp_path / "leaf.pem", case.chain[0])
    untrusted = ("-untrusted", write_pem(tmp_path / "chain.pem", *case.chain[1:])) if case.chain[1:] else ()
    purpose_args = ("-purpose", OPENSSL_PURPOSES[purpose]) if purpose else ()
    at = ("-attime", str(int(case.at.timestamp())))
    result = openssl("verify", *at, *purpose_args, "-CAfile", roots, *untrusted, leaf)
    return result.returncode == 0


def assert_agrees_with_openssl(case: Case, verdict: TrustVerdict, tmp_path: Path) -> None:
    assert verdict.trusted == openssl_accepts(case, tmp_path, None), verdict
    for purpose in verdict.purposes:
        assert purpose.valid == openssl_accepts(case, tmp_path, purpose.purpose), purpose


def purposes(verdict: TrustVerdict) -> dict[Purpose, bool]:
    return {purpose.purpose: purpose.valid for purpose in verdict.purposes}


def reasons(verdict: TrustVerdict) -> dict[Purpose, str]:
    return {purpose.purpose: purpose.reason for purpose in verdict.purposes}


def hand_made(
    name: str,
    issuer: CertificateAuthority,
    *,
    ca: bool | None = None,
    usages: list[x509.ObjectIdentifier] | None = None,
    not_after: datetime = NOW + timedelta(days=10),
) -> CertificateAuthority:
    """Shapes certmint never issues: a leaf that signs or outlives its issuer, a CA restricted by
    extendedKeyUsage. `ca` None: no basicConstraints at all."""
    key = generate_private_key(KeySpec())
    extensions: list[tuple[x509.ExtensionType, bool]] = []
    if ca is not None:
        extensions.append((x509.BasicConstraints(ca=ca, path_length=None), True))
    if usages:
        extensions.append((x509.ExtendedKeyUsage(usages), False))
    certificate = hand_made_certificate(
        key, name, NOW - timedelta(hours=1), not_after, extensions, issuer=issuer
    )
    return CertificateAuthority(certificate=certificate, private_key=key, chain=(issuer.certificate,))


def leaf_of(ca: CertificateAuthority, request: LeafRequest, key: KeySpec | None = None) -> x509.Certificate:
    return issue_leaf(request, key or KeySpec(), ca, NOW)[1]


def test_a_common_name_only_client_certificate_is_trusted_for_both_purposes(
    root_ca: CertificateAuthority, tmp_path: Path
) -> None:
    """The issue's report: openssl and nginx accept it, the TLS-client profile wanted a SAN."""
    case = Case([leaf_of(root_ca, LeafRequest(common_name="system:node:a"))], [root_ca.certificate])
    verdict = check_trust(case.chain, case.roots, NOW)
    assert verdict.trusted
    assert verdict.reason == "chains to CN=Test Root in the bundle"
    assert purposes(verdict) == {Purpose.SERVER: True, Purpose.CLIENT: True}
    assert_agrees_with_openssl(case, verdict, tmp_path)


@pytest.mark.parametrize(
    ("usages", "expected"),
    [
        (
            (Usage.DIGITAL_SIGNATURE, Usage.SERVER_AUTH),
            {
                Purpose.SERVER: (True, "extendedKeyUsage includes serverAuth"),
                Purpose.CLIENT: (False, "its extendedKeyUsage does not include clientAuth"),
            },
        ),
        (
            (Usage.DIGITAL_SIGNATURE, Usage.CLIENT_AUTH),
            {
                Purpose.SERVER: (False, "its extendedKeyUsage does not include serverAuth"),
                Purpose.CLIENT: (True, "extendedKeyUsage includes clientAuth"),
            },
        ),
        (
            (Usage.DIGITAL_SIGNATURE, Usage.CODE_SIGNING),
            {
                Purpose.SERVER: (False, "its extendedKeyUsage does not include serverAuth"),
                Purpose.CLIENT: (False, "its extendedKeyUsage does not include clientAuth"),
            },
        ),
        (
            (Usage.CRL_SIGN, Usage.SERVER_AUTH, Usage.CLIENT_AUTH),
            {
                Purpose.SERVER: (False, "its keyUsage allows no TLS handshake for serverAuth"),
                Purpose.CLIENT: (False, "its keyUsage allows no TLS handshake for clientAuth"),
            },
        ),
    ],
    ids=["server only", "client only", "code signing", "crl sign"],
)
def test_usages_decide_each_purpose_never_trust(
    root_ca: CertificateAuthority,
    tmp_path: Path,
    usages: tuple[Usage, ...],
    expected: dict[Purpose, tuple[bool, str]],
) -> None:
    request = LeafRequest(dns_names=("web.example.com",), usages=usages)
    case = Case([leaf_of(root_ca, request)], [root_ca.certificate])
    verdict = check_trust(case.chain, case.roots, NOW)
    assert verdict.trusted
    assert {purpose.purpose: (purpose.valid, purpose.reason) for purpose in verdict.purposes} == expected
    assert_agrees_with_openssl(case, verdict, tmp_path)


@pytest.mark.parametrize("key", [KeySpec(KeyAlgorithm.RSA, 2048), KeySpec(KeyAlgorithm.ED25519)], ids=str)
def test_other_key_types_are_judged_alike(
    root_ca: CertificateAuthority, tmp_path: Path, key: KeySpec
) -> None:
    case = Case([leaf_of(root_ca, LeafRequest(dns_names=("k.example.com",)), key)], [root_ca.certificate])
    verdict = check_trust(case.chain, case.roots, NOW)
    assert verdict.trusted
    assert purposes(verdict) == {Purpose.SERVER: True, Purpose.CLIENT: True}
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_a_certificate_from_another_ca_is_not_trusted(root_ca: CertificateAuthority, tmp_path: Path) -> None:
    stranger = create_root_ca(CARequest("Stranger", timedelta(days=30)), NOW)
    case = Case([leaf_of(stranger, LeafRequest(common_name="u"))], [root_ca.certificate])
    verdict = check_trust(case.chain, case.roots, NOW)
    assert not verdict.trusted
    assert verdict.reason == (
        "no path to a root in the bundle: neither the bundle nor the chain holds its issuer CN=Stranger"
    )
    assert reasons(verdict) == {
        Purpose.SERVER: "the chain is not trusted",
        Purpose.CLIENT: "the chain is not trusted",
    }
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_a_ca_of_the_same_name_with_another_key_is_not_trusted(
    root_ca: CertificateAuthority, tmp_path: Path
) -> None:
    impostor = create_root_ca(CARequest("Test Root", timedelta(days=365)), NOW - timedelta(days=1))
    case = Case([leaf_of(impostor, LeafRequest(common_name="u"))], [root_ca.certificate])
    verdict = check_trust(case.chain, case.roots, NOW)
    assert not verdict.trusted
    assert not any(purposes(verdict).values())
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_an_expired_certificate_is_not_trusted(root_ca: CertificateAuthority, tmp_path: Path) -> None:
    leaf = leaf_of(root_ca, LeafRequest(common_name="u", duration=timedelta(hours=1)))
    case = Case([leaf], [root_ca.certificate], at=NOW + timedelta(days=2))
    verdict = check_trust(case.chain, case.roots, case.at)
    assert not verdict.trusted
    assert verdict.reason == f"CN=u expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_an_expired_intermediate_is_named(root_ca: CertificateAuthority, tmp_path: Path) -> None:
    intermediate = hand_made("Short Lived", root_ca, ca=True)
    leaf = hand_made("u", intermediate, not_after=NOW + timedelta(days=30)).certificate
    case = Case([leaf, intermediate.certificate], [root_ca.certificate], at=NOW + timedelta(days=20))
    verdict = check_trust(case.chain, case.roots, case.at)
    assert not verdict.trusted
    expiry = intermediate.certificate.not_valid_after_utc
    assert verdict.reason == f"CN=Short Lived expired at {expiry:%Y-%m-%dT%H:%M:%SZ}"
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_an_intermediate_chain_is_trusted_only_with_the_intermediate(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = leaf_of(intermediate_ca, LeafRequest(common_name="u"))
    complete = Case([leaf, intermediate_ca.certificate], [root_ca.certificate])
    verdict = check_trust(complete.chain, complete.roots, NOW)
    assert verdict.trusted
    assert purposes(verdict) == {Purpose.SERVER: True, Purpose.CLIENT: True}
    assert_agrees_with_openssl(complete, verdict, tmp_path)
    alone = Case([leaf], [root_ca.certificate])
    without = check_trust(alone.chain, alone.roots, NOW)
    assert not without.trusted
    assert "CN=Test Issuing" in without.reason
    assert_agrees_with_openssl(alone, without, tmp_path)
    # As for OpenSSL's peers, an intermediate in the bundle completes a chain but anchors none.
    with_root = Case([leaf], [intermediate_ca.certificate, root_ca.certificate])
    assert check_trust(with_root.chain, with_root.roots, NOW).trusted
    assert_agrees_with_openssl(with_root, check_trust(with_root.chain, with_root.roots, NOW), tmp_path)
    no_root = Case([leaf], [intermediate_ca.certificate])
    verdict = check_trust(no_root.chain, no_root.roots, NOW)
    assert (verdict.trusted, verdict.reason) == (False, "the bundle holds no root (self-signed) certificate")
    assert_agrees_with_openssl(no_root, verdict, tmp_path)


def through(intermediate: CertificateAuthority, root: CertificateAuthority) -> Case:
    """A leaf CN=u of `intermediate`, presented with it, against `root` alone."""
    leaf = leaf_of(intermediate, LeafRequest(common_name="u"))
    return Case([leaf, intermediate.certificate], [root.certificate])


@pytest.mark.parametrize(
    ("root_path_length", "signer_is_ca", "reason"),
    [(None, False, "basicConstraints"), (0, True, "path length")],
    ids=["signed-by-a-non-ca", "beyond-the-path-length"],
)
def test_a_leaf_of_a_signer_no_ca_may_have_is_not_trusted(
    root_path_length: int | None, signer_is_ca: bool, reason: str, tmp_path: Path
) -> None:
    root = create_root_ca(
        CARequest("Root", timedelta(days=30), path_length=root_path_length), NOW - timedelta(days=1)
    )
    signer = hand_made("Signer", root, ca=signer_is_ca)
    case = through(signer, root)
    verdict = check_trust(case.chain, case.roots, NOW)
    assert not verdict.trusted
    assert reason in verdict.reason
    assert_agrees_with_openssl(case, verdict, tmp_path)


@pytest.mark.parametrize(
    ("usage", "expected", "refused"),
    [
        (
            ExtendedKeyUsageOID.SERVER_AUTH,
            {Purpose.SERVER: True, Purpose.CLIENT: False},
            {Purpose.CLIENT: "CN=Restricted's extendedKeyUsage does not include clientAuth"},
        ),
        (
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
            {Purpose.SERVER: False, Purpose.CLIENT: False},
            {
                Purpose.SERVER: "CN=Restricted's extendedKeyUsage does not include serverAuth",
                Purpose.CLIENT: "CN=Restricted's extendedKeyUsage does not include clientAuth",
            },
        ),
    ],
    ids=["serverAuth", "anyExtendedKeyUsage"],
)
def test_an_intermediates_extended_key_usage_limits_its_leaves_as_openssl_reads_it(
    usage: x509.ObjectIdentifier,
    expected: dict[Purpose, bool],
    refused: dict[Purpose, str],
    root_ca: CertificateAuthority,
    tmp_path: Path,
) -> None:
    """OpenSSL reads an intermediate's extendedKeyUsage as a restriction; anyExtendedKeyUsage is none of
    the TLS purposes there."""
    restricted = hand_made("Restricted", root_ca, ca=True, usages=[usage])
    case = through(restricted, root_ca)
    verdict = check_trust(case.chain, case.roots, NOW)
    assert verdict.trusted
    assert purposes(verdict) == expected
    assert {purpose: reason for purpose, reason in reasons(verdict).items() if purpose in refused} == refused
    assert_agrees_with_openssl(case, verdict, tmp_path)


def test_an_empty_bundle_trusts_nothing(root_ca: CertificateAuthority) -> None:
    verdict = check_trust([leaf_of(root_ca, LeafRequest(common_name="u"))], [], NOW)
    assert (verdict.trusted, verdict.reason) == (False, "the bundle holds no certificates")


def test_nothing_to_verify_is_an_error(root_ca: CertificateAuthority) -> None:
    with pytest.raises(PKIError, match="no certificate to verify"):
        check_trust([], [root_ca.certificate], NOW)
