import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certmint.pki import (
    CertificateAuthority,
    KeyAlgorithm,
    KeySpec,
    LeafRequest,
    PKCS12Profile,
    PKIError,
    combined_pem,
    issue_leaf,
    load_certificates_pem,
    load_private_key_pem,
    pkcs12_keystore,
    pkcs12_truststore,
)
from tests.unit.pki.support import NOW


@pytest.mark.parametrize("profile", list(PKCS12Profile))
@pytest.mark.parametrize(
    "spec", [KeySpec(), KeySpec(KeyAlgorithm.RSA, 2048), KeySpec(KeyAlgorithm.ED25519)], ids=str
)
def test_a_keystore_holds_key_leaf_and_chain_behind_its_password(
    root_ca: CertificateAuthority,
    intermediate_ca: CertificateAuthority,
    profile: PKCS12Profile,
    spec: KeySpec,
) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="java"), spec, intermediate_ca, NOW)
    store = pkcs12_keystore(
        key, leaf, [intermediate_ca.certificate, root_ca.certificate], b"changeit", profile
    )
    loaded = pkcs12.load_pkcs12(store, b"changeit")
    assert loaded.key is not None
    assert loaded.key.public_key() == key.public_key()
    assert loaded.cert is not None
    assert loaded.cert.certificate == leaf
    assert loaded.cert.friendly_name == b"certmint"
    assert [c.certificate for c in loaded.additional_certs] == [
        intermediate_ca.certificate,
        root_ca.certificate,
    ]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_pkcs12(store, b"wrong")


def test_a_keystore_without_chain_and_with_a_friendly_name(root_ca: CertificateAuthority) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="alias"), KeySpec(), root_ca, NOW)
    loaded = pkcs12.load_pkcs12(pkcs12_keystore(key, leaf, [], b"pw", friendly_name=b"my-alias"), b"pw")
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == b"my-alias"
    assert loaded.additional_certs == []


@pytest.mark.parametrize("profile", list(PKCS12Profile))
def test_a_truststore_holds_only_certificates(
    root_ca: CertificateAuthority, intermediate_ca: CertificateAuthority, profile: PKCS12Profile
) -> None:
    certificates = [root_ca.certificate, intermediate_ca.certificate]
    trust = pkcs12.load_pkcs12(pkcs12_truststore(certificates, b"changeit", profile), b"changeit")
    assert trust.key is None
    assert trust.cert is None
    assert [c.certificate for c in trust.additional_certs] == certificates
    assert [c.friendly_name for c in trust.additional_certs] == [b"CN=Test Root", b"CN=Test Issuing"]


def test_an_empty_password_is_refused(root_ca: CertificateAuthority) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="a"), KeySpec(), root_ca, NOW)
    with pytest.raises(PKIError, match=r"^a PKCS#12 password must not be empty$") as keystore:
        pkcs12_keystore(key, leaf, [], b"")
    with pytest.raises(PKIError, match=r"^a PKCS#12 password must not be empty$") as truststore:
        pkcs12_truststore([root_ca.certificate], b"", PKCS12Profile.LEGACY_DES)
    assert keystore.value.reason == truststore.value.reason == "InvalidRequest"


def test_combined_pem_is_the_pkcs8_key_then_the_chain(root_ca: CertificateAuthority) -> None:
    key, leaf = issue_leaf(LeafRequest(common_name="a"), KeySpec(), root_ca, NOW)
    combined = combined_pem(key, [leaf, root_ca.certificate])
    assert combined.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert combined.index(b"END PRIVATE KEY") < combined.index(b"BEGIN CERTIFICATE")
    assert load_private_key_pem(combined).public_key() == key.public_key()
    assert load_certificates_pem(combined) == [leaf, root_ca.certificate]
