"""Hostile Certificates and policies through the whole decision path the reconciler takes: parse,
plan, sign. Nothing raises past the places the reconciler reports from, every failure has a reason
and a message, and nothing signed is outside the issuer's policy."""

from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from certmint.api import Certificate, Issuer, parse_duration
from certmint.api.issuer import IssuancePolicy
from certmint.pki import (
    KeySpec,
    LeafRequest,
    PKIError,
    PrivateKey,
    assemble_bundle,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    generate_private_key,
    sign_leaf,
)
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue
from certmint.planning.gates import Fail
from certmint.planning.issuers.ca import CAUnusable, GenerateCA, plan_ca
from certmint.planning.issuers.revocation import RevocationList, load_revocations
from certmint.planning.policy import policy_denial
from certmint.planning.request import issuance_spec
from tests.unit.hostile import LABELS, PEM_JUNK, certificate_bodies, issuer_bodies, policies
from tests.unit.planning_fixtures import NOW, make_ca, ready_issuer, with_signing

CA = make_ca(days=3650)


@cache
def key_for(spec: KeySpec) -> PrivateKey:
    """One key per kind: RSA generation would otherwise dominate the run."""
    return generate_private_key(spec)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=certificate_bodies(), policy=policies(), namespace_labels=LABELS)
def test_hostile_certificates_end_in_a_reason_and_never_escape_policy(
    body: dict[str, Any], policy: dict[str, Any] | None, namespace_labels: dict[str, str]
) -> None:
    try:
        certificate = Certificate.model_validate(body)
        spec = issuance_spec(certificate, "cluster.local")
    except (ValidationError, ValueError):
        return  # the reconciler reports these as InvalidSpec
    rules = IssuancePolicy.model_validate(policy) if policy is not None else None
    issuer = with_signing(ready_issuer(CA), policy=rules)
    plan = plan_certificate(spec, issuer, None, None, NOW, "seed", namespace_labels)
    if isinstance(plan, Fail):
        assert plan.reason
        assert plan.message
        return
    assert isinstance(plan, Issue)
    assert policy_denial(rules, spec, namespace_labels) is None
    leaf = _signed(spec.leaf, spec.key)
    if leaf is None:
        return
    namespace = certificate.metadata.namespace
    for uri in _san(leaf, x509.UniformResourceIdentifier):
        segments = urlsplit(uri).path.split("/")
        for index, segment in enumerate(segments[:-1]):
            if urlsplit(uri).scheme.lower() == "spiffe" and segment == "ns":
                assert segments[index + 1] == namespace, f"{namespace} got {uri}"
    if rules is None:
        return
    is_ca = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert rules.allow_ca or not is_ca
    if rules.max_duration is not None:
        assert leaf.not_valid_after_utc - NOW <= parse_duration(rules.max_duration) + timedelta(seconds=1)
    if rules.allowed_key_algorithms is not None:
        assert spec.key.algorithm in rules.allowed_key_algorithms


def _signed(request: LeafRequest, key: KeySpec) -> x509.Certificate | None:
    """None when the PKI refuses the request with a reason, which the reconciler reports."""
    try:
        return sign_leaf(request, key_for(key).public_key(), CA, NOW)
    except PKIError as error:
        if not (error.reason and error.message):
            raise
        return None


def _san(leaf: x509.Certificate, kind: type[x509.GeneralName]) -> list[str]:
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(value) for value in names.get_values_for_type(kind)]  # type: ignore[arg-type]


VALID_CA = certificates_to_pem([CA.certificate]), encode_private_key_pem(CA.private_key)
LEAF = sign_leaf(LeafRequest(common_name="leaf"), key_for(KeySpec()).public_key(), CA, NOW)


@settings(max_examples=150, deadline=None)
@given(
    body=issuer_bodies(),
    cert=st.one_of(PEM_JUNK, st.sampled_from([VALID_CA[0], certificates_to_pem([LEAF])])),
    key=st.one_of(PEM_JUNK, st.sampled_from([VALID_CA[1], encode_private_key_pem(key_for(KeySpec()))])),
    present=st.booleans(),
    ours=st.booleans(),
)
def test_hostile_issuers_and_ca_secrets_end_in_a_reason(
    body: dict[str, Any], cert: bytes, key: bytes, present: bool, ours: bool
) -> None:
    """Malformed PEM, a leaf posing as a CA, a foreign key, impossible names and durations."""
    try:
        issuer = Issuer.model_validate(body)
    except ValidationError:
        return
    plan = plan_ca(issuer, {"tls.crt": cert, "tls.key": key} if present else None, ours, NOW)
    if isinstance(plan, CAUnusable):
        assert plan.reason
        assert plan.message
    elif isinstance(plan, GenerateCA):
        assert create_root_ca(plan.request, NOW).certificate is not None


@settings(max_examples=150, deadline=None)
@given(sources=st.lists(st.one_of(PEM_JUNK, st.just(VALID_CA[0])), min_size=1, max_size=4))
def test_hostile_bundle_sources_are_refused_with_a_reason(sources: list[bytes]) -> None:
    try:
        content = assemble_bundle(sources, NOW)
    except PKIError as error:
        refused = error.message
    else:
        refused = ""
    if refused:
        assert refused.startswith("bundle source"), refused
        return
    assert all(certificate == CA.certificate for certificate in content.certificates)


@settings(max_examples=100, deadline=None)
@given(data=st.one_of(PEM_JUNK, st.binary(max_size=100).map(lambda raw: b'{"revoked": ' + raw + b"}")))
def test_a_damaged_revocation_list_is_an_error_never_an_empty_list(data: bytes) -> None:
    try:
        revocations = load_revocations(data)
    except ValueError:
        return
    assert revocations == RevocationList(), "only an absent list may read as empty"
