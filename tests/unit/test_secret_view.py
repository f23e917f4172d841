"""Views of Secrets are made from every watch event, from data a tenant may have written."""

import base64
from dataclasses import fields

from certmint.pki import KeySpec, encode_private_key_pem, generate_private_key
from certmint.planning import reasons
from certmint.planning.certificates.secret_view import SecretContents, SecretView, Unusable, view_secret
from tests.unit.planning_fixtures import issued_secret, make_ca, make_certificate

CA = make_ca()
EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
UNKNOWN_KEY_OID = bytes.fromhex("06072a8648ce3d0209")  # same length, no algorithm anyone knows


def test_a_view_keeps_the_certificate_and_facts_of_the_key_but_not_the_key() -> None:
    issued, spec = issued_secret(make_certificate(), CA)
    view = view_secret(issued.name, issued.data, issued.labels, issued.annotations)
    assert isinstance(view.contents, SecretContents)
    assert view.contents.key_matches
    assert view.contents.key_spec == spec.key
    assert view.present_keys == {"tls.crt", "tls.key", "ca.crt"}
    kept = repr([getattr(view, field.name) for field in fields(SecretView)])
    assert "PRIVATE KEY" not in kept
    assert issued.data["tls.key"].decode() not in kept


def test_a_certificate_with_a_public_key_nobody_can_read_is_unusable_not_an_error() -> None:
    issued, _ = issued_secret(make_certificate(), CA)
    assert isinstance(issued.contents, SecretContents)
    der = issued.contents.certificate_der
    assert der.count(EC_PUBLIC_KEY_OID) == 1
    odd = der.replace(EC_PUBLIC_KEY_OID, UNKNOWN_KEY_OID)
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(odd) + b"-----END CERTIFICATE-----\n"
    key = encode_private_key_pem(generate_private_key(KeySpec()))
    view = view_secret("web-tls", {"tls.crt": pem, "tls.key": key}, {}, {})
    assert view.contents == Unusable(reasons.SECRET_INVALID, "tls.crt has a public key certmint cannot read")
