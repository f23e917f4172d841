"""Whether an issuer change reaches its Certificates or its TrustBundles: a comparison of the view's
parts (what signs, what is trusted), never a list of fields kept by hand."""

import gc
from dataclasses import replace
from datetime import timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certmint.api.issuer import IssuancePolicy
from certmint.operator.issuer_views import reaches_bundles, reaches_certificates
from certmint.operator.ocsp_responder import Responders
from certmint.pki import CertificateAuthority, encode_private_key_pem, load_private_key_pem
from certmint.planning.issuer_view import Trust
from certmint.planning.issuers.ocsp import refresh_signers, responder_inputs
from tests.unit.planning_fixtures import NOW, make_ca, ready_issuer, with_revoking, with_signing

CA = make_ca()


def reloaded(ca: CertificateAuthority) -> CertificateAuthority:
    """The same CA as a fresh read of its Secret gives it: equal certificate, a new key object."""
    return CertificateAuthority(ca.certificate, load_private_key_pem(encode_private_key_pem(ca.private_key)))


def test_a_freshly_loaded_but_identical_ca_reaches_nobody() -> None:
    view = ready_issuer(CA)
    again = ready_issuer(reloaded(CA))
    assert again.signing.ca is not view.signing.ca
    assert not reaches_certificates(view, again)
    assert not reaches_bundles(view, again)


def test_a_new_ca_reaches_the_certificates() -> None:
    assert reaches_certificates(ready_issuer(CA), ready_issuer(make_ca("other CA")))


def test_a_new_crl_alone_reaches_the_bundles_not_every_certificate() -> None:
    view = ready_issuer(CA)
    revoked = with_revoking(replace(view, trust=Trust(crl_pem=b"new CRL")), revoked_serials=frozenset({7}))
    assert not reaches_certificates(view, revoked)
    assert reaches_bundles(view, revoked)


def test_a_policy_change_reaches_the_certificates_not_the_bundles() -> None:
    view = ready_issuer(CA)
    changed = with_signing(view, policy=IssuancePolicy(allowedDNSNames=["*.svc"]))
    assert reaches_certificates(view, changed)
    assert not reaches_bundles(view, changed)


def test_a_change_of_readiness_reaches_both() -> None:
    view = ready_issuer(CA)
    broken = replace(view, ready=False, reason="CASecretNotFound", message="gone")
    assert reaches_certificates(view, broken)
    assert reaches_bundles(view, broken)
    assert reaches_certificates(None, view)
    assert reaches_bundles(None, view)


SIGNERS = refresh_signers((CA,), (), NOW)
INPUTS = responder_inputs((CA,), SIGNERS, b"", timedelta(hours=1))


def test_responders_keep_their_cache_while_the_inputs_are_equal_and_drop_it_without_ocsp() -> None:
    responders = Responders()
    first = responders.for_issuer("issuer", INPUTS)
    assert first is not None
    equal = responder_inputs((CA,), SIGNERS, b"", INPUTS.validity)
    assert responders.for_issuer("issuer", equal) is first, "equal inputs of a new reconcile: same responder"
    assert responders.for_issuer("issuer", None) is None
    assert responders.for_issuer("issuer", INPUTS) is not first, "gone with the OCSP URL, started anew"


def test_a_responder_cache_entries_leave_with_the_issuers_ocsp() -> None:
    responders = Responders()
    responder = responders.for_issuer("issuer", INPUTS)
    assert responder is not None
    request = ocsp.OCSPRequestBuilder().add_certificate(CA.certificate, CA.certificate, hashes.SHA1()).build()
    assert responder.answer(request.public_bytes(serialization.Encoding.DER), NOW).signed
    assert len(responders.cache) == 1
    del responder
    responders.for_issuer("issuer", None)
    gc.collect()
    assert len(responders.cache) == 0
