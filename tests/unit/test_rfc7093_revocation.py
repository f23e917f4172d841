"""A provided CA whose subjectKeyIdentifier is not the SHA-1 of its key (RFC 7093): its leaves'
AKI is that SKI, and a revoked leaf is on its CRL and answered revoked over OCSP."""

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from certmint.operator.ocsp_responder import OCSPResponder
from certmint.pki import (
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    RevocationReason,
    certificates_to_pem,
    issue_leaf,
    key_identifier_of,
    load_ca,
    load_crls_pem,
)
from certmint.pki.ocsp import CertStatus
from certmint.planning.issuers.ocsp import refresh_signers, responder_inputs
from certmint.planning.issuers.revocation import (
    RevocationList,
    build_crls,
    crls_fresh,
    issuer_key_id,
    key_id,
    with_revocation,
)
from tests.hand_made import hand_made_certificate
from tests.rfc7093 import rfc7093_method1_key_identifier, rfc7093_root_ca, sha1_key_identifier
from tests.unit.planning_fixtures import NOW

DAY = timedelta(days=1)


def _loaded_rfc7093_ca() -> CertificateAuthority:
    """As an Issuer reads it from its CA Secret."""
    built = rfc7093_root_ca(NOW)
    return load_ca(certificates_to_pem([built.certificate]), _key_pem(built), NOW)


def _key_pem(ca: CertificateAuthority) -> bytes:
    return ca.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _leaf(ca: CertificateAuthority) -> x509.Certificate:
    return issue_leaf(LeafRequest(common_name="web", duration=timedelta(hours=12)), KeySpec(), ca, NOW)[1]


def _aki(certificate: x509.Certificate) -> bytes | None:
    return certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


def test_the_ca_key_identifier_is_its_stated_ski() -> None:
    ca = _loaded_rfc7093_ca()
    public_key = ca.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert ca.key_identifier == rfc7093_method1_key_identifier(public_key)
    assert ca.key_identifier != sha1_key_identifier(public_key)
    assert key_identifier_of(ca.certificate) == ca.key_identifier


def test_a_leaf_names_its_ca_by_the_cas_ski() -> None:
    ca = _loaded_rfc7093_ca()
    leaf = _leaf(ca)
    assert _aki(leaf) == ca.key_identifier
    assert issuer_key_id(leaf) == key_id(ca.certificate)


def test_a_ca_without_ski_is_named_by_the_sha1_of_its_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_only = [(x509.BasicConstraints(ca=True, path_length=None), True)]
    certificate = hand_made_certificate(key, "no SKI", NOW - DAY, NOW + DAY, ca_only, serial=1)
    assert key_identifier_of(certificate) == sha1_key_identifier(key.public_key())


def test_a_revoked_leaf_is_on_the_crl_and_answered_revoked() -> None:
    ca = _loaded_rfc7093_ca()
    leaf, other = _leaf(ca), _leaf(ca)
    revocations = with_revocation(RevocationList(), leaf, RevocationReason.KEY_COMPROMISE, NOW)
    revocations, crl_pem = build_crls([ca], revocations, NOW, DAY)
    assert crls_fresh(crl_pem, [ca], revocations, NOW, DAY)
    (crl,) = load_crls_pem(crl_pem)
    assert [entry.serial_number for entry in crl] == [leaf.serial_number]
    responder = OCSPResponder(
        responder_inputs([ca], refresh_signers([ca], (), NOW), crl_pem, timedelta(hours=1))
    )
    for certificate, expected in ((leaf, CertStatus.REVOKED), (other, CertStatus.GOOD)):
        query = ocsp.OCSPRequestBuilder().add_certificate(certificate, ca.certificate, hashes.SHA1()).build()
        answer = responder.answer(query.public_bytes(serialization.Encoding.DER), NOW)
        assert answer.status == expected


def test_a_leaf_signed_before_the_fix_still_reaches_the_crl() -> None:
    """Earlier certmint put the SHA-1 of the CA's key in the AKI; such a leaf is revoked all the same."""
    ca = _loaded_rfc7093_ca()
    public_key = ca.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    sha1_aki = [(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), False)]
    legacy = hand_made_certificate(leaf_key, "old", NOW - DAY, NOW + DAY, sha1_aki, issuer=ca)
    revocations = with_revocation(RevocationList(), legacy, RevocationReason.SUPERSEDED, NOW)
    _, crl_pem = build_crls([ca], revocations, NOW, DAY)
    (crl,) = load_crls_pem(crl_pem)
    assert [entry.serial_number for entry in crl] == [legacy.serial_number]
