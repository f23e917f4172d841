"""Constrained trust roots (issue 27): the RFC 5280 name-constraint checker, CAs that carry the
constraints, a namespaced Issuer's default constraints, and the gate that refuses to sign outside
them. The checker is compared with pyca/cryptography's own verifier by property tests."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmint.api import Issuer
from certmint.api.issuer import MAX_SUBTREES, IssuancePolicy, NameSubtrees
from certmint.pki import (
    CARequest,
    KeySpec,
    LeafNames,
    LeafRequest,
    NameConstraintSet,
    PKIError,
    RequestedNames,
    Subtrees,
    certificates_to_pem,
    constraints_of,
    create_root_ca,
    encode_private_key_pem,
    issue_leaf,
    sign_leaf,
)
from certmint.pki.constraints import dns_within, violation
from certmint.planning import reasons
from certmint.planning.certificates.plan import plan_certificate
from certmint.planning.certificates.results import Issue
from certmint.planning.constraints import (
    EVERY_IP,
    ClusterNames,
    ca_name_constraints,
    namespace_constraints,
    reaches_other_namespaces,
)
from certmint.planning.csrs.plan import Case, plan_signing_request
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.gates import Fail
from certmint.planning.issuers.ca import CAUnusable, GenerateCA, UseCA, plan_ca
from certmint.planning.issuers.rotation import Prepare, plan_rotation, stable_material
from certmint.planning.request import issuance_spec
from certmint.planning.signers import ISSUER, SignerRef
from tests.csr_material import csr_for
from tests.unit.pki.test_openssl import AT_NOW, openssl, write_pem
from tests.unit.planning_fixtures import NOW, make_certificate, ready_issuer
from tests.unit.test_csr_planning import csr_body

NAMES = ClusterNames(cluster_domain="cluster.local")


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def permitted(**kinds: Any) -> NameConstraintSet:
    return NameConstraintSet(permitted=Subtrees(**kinds))


# --- The checker at its boundaries ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inside"),
    [
        ("ns.svc", True),
        ("web.ns.svc", True),
        ("a.b.ns.svc", True),
        ("WEB.NS.SVC", True),
        ("*.ns.svc", True),
        ("evil-ns.svc", False),  # ends with "ns.svc" but is a sibling
        ("web.evil-ns.svc", False),
        ("ns.svc.evil.com", False),
        ("svc", False),
        ("web.other.svc", False),
        ("xns.svc", False),
    ],
)
def test_a_dns_subtree_holds_the_name_and_what_is_below_it_never_a_sibling(name: str, inside: bool) -> None:
    verdict = violation(permitted(dns=("ns.svc",)), LeafNames(dns_names=(name,)))
    assert (verdict is None) is inside, verdict


def test_a_leading_dot_means_strictly_below() -> None:
    assert dns_within("a.ns.svc", ".ns.svc")
    assert not dns_within("ns.svc", ".ns.svc")
    assert not dns_within("evil-ns.svc", ".ns.svc")


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("10.0.0.0", True),
        ("10.255.255.255", True),
        ("11.0.0.0", False),
        ("9.255.255.255", False),
        ("::ffff:10.0.0.1", False),  # an IPv4 network never matches an IPv6 address
        ("fd00::1", True),
        ("fdff:ffff::1", True),
        ("fe00::1", False),
        ("::1", False),
    ],
)
def test_ip_networks_of_both_families(address: str, inside: bool) -> None:
    constraints = permitted(ip=(net("10.0.0.0/8"), net("fd00::/8")))
    assert (violation(constraints, LeafNames(ip_addresses=(address,))) is None) is inside


def test_excluded_beats_permitted() -> None:
    constraints = NameConstraintSet(
        Subtrees(dns=("ns.svc",), ip=(net("10.0.0.0/8"),), email=("example.com",)),
        Subtrees(dns=("db.ns.svc",), ip=(net("10.9.0.0/16"),), email=("boss@example.com",)),
    )
    assert violation(constraints, LeafNames(dns_names=("web.ns.svc",))) is None
    assert "excluded" in (violation(constraints, LeafNames(dns_names=("x.db.ns.svc",))) or "")
    assert "excluded" in (
        violation(constraints, LeafNames(dns_names=("*.ns.svc",))) or ""
    )  # *.ns.svc covers db
    assert "excluded" in (violation(constraints, LeafNames(ip_addresses=("10.9.1.1",))) or "")
    assert violation(constraints, LeafNames(ip_addresses=("10.8.1.1",))) is None
    assert "excluded" in (violation(constraints, LeafNames(email_addresses=("Boss@example.com",))) or "")
    assert violation(constraints, LeafNames(email_addresses=("dev@example.com",))) is None


@pytest.mark.parametrize(
    ("base", "address", "inside"),
    [
        ("example.com", "a@example.com", True),
        ("example.com", "a@mail.example.com", False),
        (".example.com", "a@mail.example.com", True),
        (".example.com", "a@example.com", False),
        ("a@example.com", "a@example.com", True),
        ("a@example.com", "b@example.com", False),
        ("invalid", "a@example.com", False),
    ],
)
def test_email_subtrees_are_a_mailbox_a_host_or_a_domain_below(base: str, address: str, inside: bool) -> None:
    assert (violation(permitted(email=(base,)), LeafNames(email_addresses=(address,))) is None) is inside


def test_uri_constraints_see_the_host_only() -> None:
    constraints = permitted(uri=("cluster.local",))
    ok = "spiffe://cluster.local/ns/shop/sa/web"
    assert violation(constraints, LeafNames(uris=(ok,))) is None
    # X.509 cannot tell namespaces apart: the path is not part of the constraint.
    assert violation(constraints, LeafNames(uris=("spiffe://cluster.local/ns/other/sa/web",))) is None
    assert violation(constraints, LeafNames(uris=("spiffe://evil.local/ns/shop/sa/web",))) is not None
    assert violation(constraints, LeafNames(uris=("spiffe://sub.cluster.local/ns/shop/sa/web",))) is not None
    assert violation(constraints, LeafNames(uris=("urn:uuid:1234",))) is not None  # no host
    assert violation(constraints, LeafNames(uris=("https://10.0.0.1/x",))) is not None  # IP host
    below = permitted(uri=(".example.com",))
    assert violation(below, LeafNames(uris=("https://api.example.com/x",))) is None
    assert violation(below, LeafNames(uris=("https://example.com/x",))) is not None


def test_a_host_like_common_name_is_checked_as_a_dns_name() -> None:
    constraints = permitted(dns=("ns.svc",))
    assert violation(constraints, LeafNames(common_name="web.other.svc")) is not None
    assert violation(constraints, LeafNames(common_name="web.ns.svc")) is None
    assert violation(constraints, LeafNames(common_name="shop client")) is None
    assert violation(constraints, LeafNames(common_name="client")) is None


def test_kinds_without_permitted_subtrees_are_not_limited() -> None:
    constraints = permitted(dns=("ns.svc",))
    assert violation(constraints, LeafNames(ip_addresses=("192.0.2.1",), uris=("urn:x:y",))) is None


# --- The checker agrees with pyca/cryptography's verifier ----------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())
_LABELS = st.sampled_from(["a", "b", "ns", "evil-ns", "svc", "x1"])
_DOMAINS = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)


def _verifies(constraints: NameConstraintSet, leaf: LeafRequest) -> bool:
    ca = create_root_ca(CARequest("prop", timedelta(days=1), name_constraints=constraints), NOW)
    certificate = sign_leaf(leaf, _KEY.public_key(), ca, NOW)
    verifier = PolicyBuilder().store(Store([ca.certificate])).time(NOW).build_client_verifier()
    try:
        verifier.verify(certificate, [])
    except VerificationError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    permitted_dns=st.lists(_DOMAINS, max_size=3, unique=True),
    excluded_dns=st.lists(_DOMAINS, max_size=2, unique=True),
    names=st.lists(_DOMAINS.filter(lambda d: "." in d), min_size=1, max_size=3, unique=True),
)
def test_dns_verdicts_match_cryptographys_verifier(
    permitted_dns: list[str], excluded_dns: list[str], names: list[str]
) -> None:
    """Any DNS names certmint's checker accepts, the verifier accepts, and vice versa."""
    constraints = NameConstraintSet(Subtrees(dns=tuple(permitted_dns)), Subtrees(dns=tuple(excluded_dns)))
    if not constraints:
        return
    leaf = LeafRequest(dns_names=tuple(names), duration=timedelta(hours=1))
    ours = violation(constraints, LeafNames(dns_names=tuple(names))) is None
    assert ours == _verifies(constraints, leaf)


_V4 = st.builds(
    lambda address, prefix: ipaddress.ip_network(f"{ipaddress.IPv4Address(address)}/{prefix}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
_V6 = st.builds(
    lambda address, prefix: ipaddress.ip_network(f"{ipaddress.IPv6Address(address)}/{prefix}", strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)
_NEAR = st.sampled_from(
    ["10.0.0.1", "10.255.0.0", "11.0.0.1", "0.0.0.0", "255.255.255.255", "fd00::1", "::1"]
)
_ADDRESSES = st.one_of(st.ip_addresses().map(str), _NEAR)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    permitted_ip=st.lists(st.one_of(_V4, _V6, st.just(net("10.0.0.0/8"))), max_size=3, unique=True),
    excluded_ip=st.lists(st.one_of(_V4, _V6, st.just(net("10.128.0.0/9"))), max_size=2, unique=True),
    addresses=st.lists(_ADDRESSES, min_size=1, max_size=3, unique=True),
)
def test_ip_verdicts_match_cryptographys_verifier(
    permitted_ip: list[Any], excluded_ip: list[Any], addresses: list[str]
) -> None:
    constraints = NameConstraintSet(Subtrees(ip=tuple(permitted_ip)), Subtrees(ip=tuple(excluded_ip)))
    if not constraints:
        return
    leaf = LeafRequest(ip_addresses=tuple(addresses), duration=timedelta(hours=1))
    ours = violation(constraints, LeafNames(ip_addresses=tuple(addresses))) is None
    assert ours == _verifies(constraints, leaf)


@settings(max_examples=100, deadline=None)
@given(namespace=_LABELS, other=_LABELS, service=_LABELS)
def test_a_namespace_default_holds_its_services_and_no_other_namespaces(
    namespace: str, other: str, service: str
) -> None:
    constraints = namespace_constraints(namespace, None, NAMES)
    for suffix in ("svc", "svc.cluster.local"):
        assert violation(constraints, LeafNames(dns_names=(f"{service}.{namespace}.{suffix}",))) is None
        foreign = violation(constraints, LeafNames(dns_names=(f"{service}.{other}.{suffix}",)))
        assert (foreign is None) is (other == namespace)


# --- CAs carry the constraints -------------------------------------------------------------------


def test_a_ca_carries_its_constraints_critical_and_reads_them_back() -> None:
    constraints = NameConstraintSet(
        Subtrees(dns=("ns.svc",), uri=("cluster.local",), email=("invalid",), ip=(net("10.0.0.0/8"),)),
        Subtrees(ip=(net("10.1.0.0/16"),), dns=("db.ns.svc",)),
    )
    ca = create_root_ca(CARequest("c", timedelta(days=1), name_constraints=constraints), NOW)
    extension = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert extension.critical
    assert constraints_of(ca.certificate) == constraints


@pytest.mark.parametrize(
    "bad",
    [
        Subtrees(dns=(".ns.svc",)),  # pyca's verifier refuses a leading dot in a DNS constraint
        Subtrees(dns=("*.ns.svc",)),
        Subtrees(uri=("*.example.com",)),
        Subtrees(email=("a@b@c",)),
        Subtrees(dns=("10.0.0.1",)),
    ],
)
def test_malformed_subtrees_make_no_ca(bad: Subtrees) -> None:
    with pytest.raises(PKIError):
        create_root_ca(CARequest("c", timedelta(days=1), name_constraints=NameConstraintSet(bad)), NOW)


# --- Which constraints an issuer's CA gets -------------------------------------------------------


def issuer(kind: str = "Issuer", namespace: str | None = "shop", **spec: Any) -> Issuer:
    self_signed = spec.pop("selfSigned", {})
    metadata = {"name": "ca", **({"namespace": namespace} if namespace else {})}
    return Issuer.model_validate(
        {"kind": kind, "metadata": metadata, "spec": {"selfSigned": self_signed, **spec}}
    )


def test_a_namespaced_issuer_is_limited_to_its_namespace_by_default() -> None:
    constraints = ca_name_constraints(issuer(), ClusterNames("corp.local"))
    assert constraints.permitted.dns == ("shop.svc", "shop.svc.corp.local")
    assert constraints.permitted.uri == ()  # see test_the_default_leaves_uris_to_certmints_own_rules
    assert constraints.permitted.ip == ()
    assert constraints.permitted.email == ("invalid",)
    assert constraints.excluded.ip == EVERY_IP


def test_the_default_includes_what_the_policy_allows_but_never_other_namespaces() -> None:
    policy = {
        "allowedDNSNames": ["*.${namespace}.example.com", "api.example.com", "*.svc", "*.other.svc", "*"],
        "allowedURIs": [
            "spiffe://cluster.local/ns/${namespace}/sa/*",
            "spiffe://elsewhere.example/ns/${namespace}/sa/*",
            "https://*.shop.example.com/*",
            "urn:shop:*",
        ],
        "allowedIPAddresses": ["10.1.0.0/16", "fd00::/8"],
        "allowedEmailAddresses": ["*@${namespace}.example.com", "ops@*.example.com"],
    }
    constraints = ca_name_constraints(issuer(policy=policy), NAMES)
    assert constraints.permitted.dns == (
        "shop.svc",
        "shop.svc.cluster.local",
        "shop.example.com",
        "api.example.com",
    )
    assert constraints.permitted.uri == ()
    assert constraints.permitted.ip == (net("10.1.0.0/16"), net("fd00::/8"))
    assert constraints.excluded == Subtrees()
    assert constraints.permitted.email == ("shop.example.com", ".example.com")


def test_a_policy_without_ip_or_email_lists_still_allows_none() -> None:
    constraints = namespace_constraints("shop", IssuancePolicy(), NAMES)
    assert constraints.excluded.ip == EVERY_IP
    assert constraints.permitted.email == ("invalid",)


@pytest.mark.parametrize(
    ("domain", "reaches"),
    [
        ("shop.svc", False),
        ("db.shop.svc", False),
        ("shop.svc.cluster.local", False),
        ("example.com", False),
        ("svc", True),
        ("other.svc", True),
        ("cluster.local", True),
        ("local", True),
        ("svc.cluster.local", True),
        ("other.svc.cluster.local", True),
    ],
)
def test_what_reaches_other_namespaces(domain: str, reaches: bool) -> None:
    assert reaches_other_namespaces(domain, "shop", NAMES) is reaches


def test_an_explicit_field_replaces_the_default() -> None:
    spec = {
        "permitted": {"dnsDomains": ["shop.svc", "shop.example.com"]},
        "excluded": {"ipRanges": ["0.0.0.0/0"]},
    }
    constraints = ca_name_constraints(issuer(selfSigned={"nameConstraints": spec}), NAMES)
    assert constraints == NameConstraintSet(
        Subtrees(dns=("shop.svc", "shop.example.com")), Subtrees(ip=(net("0.0.0.0/0"),))
    )
    assert not ca_name_constraints(issuer(selfSigned={"nameConstraints": {}}), NAMES)


def test_a_namespaced_issuer_may_not_permit_other_namespaces_and_says_so() -> None:
    wide = issuer(selfSigned={"nameConstraints": {"permitted": {"dnsDomains": ["svc"]}}})
    plan = plan_ca(wide, None, False, NOW, NAMES)
    assert isinstance(plan, CAUnusable)
    assert plan.reason == reasons.INVALID_SPEC
    assert "reaches other namespaces" in plan.message


def test_cluster_issuers_are_unconstrained_unless_they_say_so() -> None:
    assert not ca_name_constraints(issuer("ClusterIssuer", None), NAMES)
    wide = {"nameConstraints": {"permitted": {"dnsDomains": ["svc"]}}}
    assert ca_name_constraints(issuer("ClusterIssuer", None, selfSigned=wide), NAMES).permitted.dns == (
        "svc",
    )


def test_a_generated_ca_of_a_namespaced_issuer_carries_the_default() -> None:
    plan = plan_ca(issuer(), None, False, NOW, NAMES)
    assert isinstance(plan, GenerateCA)
    ca = create_root_ca(plan.request, NOW)
    assert constraints_of(ca.certificate) == namespace_constraints("shop", None, NAMES)


def test_the_api_bounds_every_list() -> None:
    with pytest.raises(ValueError, match="at most"):
        NameSubtrees.model_validate({"dnsDomains": [f"n{i}.svc" for i in range(MAX_SUBTREES + 1)]})
    with pytest.raises(ValueError, match="pattern"):
        NameSubtrees.model_validate({"dnsDomains": [".shop.svc"]})


# --- The gate ------------------------------------------------------------------------------------

SHOP_CA = create_root_ca(
    CARequest("shop", timedelta(days=30), name_constraints=namespace_constraints("shop", None, NAMES)),
    NOW - timedelta(days=1),
)


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"dnsNames": ["web.shop.svc"], "identity": {"serviceAccount": "web"}}, True),
        ({"dnsNames": ["web.shop.svc.cluster.local"]}, True),
        ({"dnsNames": ["web.other.svc"]}, False),
        ({"dnsNames": ["evil-shop.svc"]}, False),
        ({"dnsNames": [], "commonName": "web.other.svc"}, False),  # OpenSSL checks a host-like CN
        ({"dnsNames": ["web.shop.svc"], "ipAddresses": ["10.0.0.1"]}, False),
        ({"dnsNames": ["web.shop.svc"], "emailAddresses": ["a@example.com"]}, False),
        ({"dnsNames": ["web.shop.svc"], "uris": ["https://example.com/x"]}, True),  # URIs: not constrained
    ],
)
def test_certmint_never_signs_outside_its_cas_constraints(
    spec: dict[str, Any], allowed: bool, tmp_path: Path
) -> None:
    issuance = issuance_spec(make_certificate("shop", **spec), "cluster.local")
    plan = plan_certificate(issuance, ready_issuer(SHOP_CA), None, None, NOW, "s")
    # What the gate decides, OpenSSL decides for the same leaf signed anyway.
    _, leaf = issue_leaf(issuance.leaf, KeySpec(), SHOP_CA, NOW)
    verified = openssl(
        "verify",
        *AT_NOW,
        "-CAfile",
        write_pem(tmp_path / "ca.pem", SHOP_CA.certificate),
        write_pem(tmp_path / "leaf.pem", leaf),
    )
    if allowed:
        assert isinstance(plan, Issue)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        return
    assert isinstance(plan, Fail)
    assert plan.reason == reasons.OUTSIDE_NAME_CONSTRAINTS
    assert plan.message.startswith("nameConstraints: ")
    assert "CN=shop" in plan.message
    assert verified.returncode != 0
    assert "subtree violation" in verified.stdout + verified.stderr


def test_a_csr_outside_the_constraints_fails_with_the_reason() -> None:
    _, request = csr_for(RequestedNames(dns_names=("web.other.svc",)))
    body = csr_body(request, username="alice")
    body["spec"]["signerName"] = "issuers.certmint.dev/shop.ca"
    signer = SignerRef(ISSUER, "shop", "ca")
    plan = plan_signing_request(
        Case(read_signing_request(body), signer, ready_issuer(SHOP_CA), "cluster.local", {}, NOW)
    )
    assert isinstance(plan, Fail)
    assert plan.reason == reasons.OUTSIDE_NAME_CONSTRAINTS


# --- When: at creation and rotation, never by rewriting an existing CA ---------------------------


def test_an_existing_unconstrained_ca_is_used_as_it_is() -> None:
    old = create_root_ca(CARequest("old", timedelta(days=30)), NOW - timedelta(days=1))
    data = {
        "tls.crt": certificates_to_pem([old.certificate]),
        "tls.key": encode_private_key_pem(old.private_key),
    }
    plan = plan_ca(issuer(), data, True, NOW, NAMES)
    assert isinstance(plan, UseCA)
    assert constraints_of(plan.ca.certificate) is None


def test_the_next_ca_of_a_rotation_carries_the_namespace_default() -> None:
    old = create_root_ca(CARequest("old", timedelta(days=30)), NOW - timedelta(days=29))
    step = plan_rotation(issuer(), stable_material(old), "", timedelta(hours=1), NOW, names=NAMES)
    assert isinstance(step, Prepare)
    assert step.request.name_constraints == namespace_constraints("shop", None, NAMES)
    requested = plan_rotation(issuer(), stable_material(old), "now", timedelta(hours=1), NOW, names=NAMES)
    assert isinstance(requested, Prepare)
    made = create_root_ca(requested.request, NOW)
    assert constraints_of(made.certificate) == namespace_constraints("shop", None, NAMES)


def test_the_default_leaves_uris_to_certmints_own_rules() -> None:
    """No URI subtree by default: certmint's identity rule refuses another namespace's SPIFFE ID."""
    own = issuance_spec(
        make_certificate("shop", dnsNames=["web.shop.svc"], identity={"serviceAccount": "web"}),
        "cluster.local",
    )
    assert isinstance(plan_certificate(own, ready_issuer(SHOP_CA), None, None, NOW, "s"), Issue)
    foreign = issuance_spec(
        make_certificate(
            "shop", dnsNames=["web.shop.svc"], uris=["spiffe://cluster.local/ns/payments/sa/api"]
        ),
        "cluster.local",
    )
    plan = plan_certificate(foreign, ready_issuer(SHOP_CA), None, None, NOW, "s")
    assert isinstance(plan, Fail)
    assert plan.reason == reasons.POLICY_DENIED


def test_explicit_uri_subtrees_bind_the_host_for_openssl_and_break_pycas_verifier(tmp_path: Path) -> None:
    """What the README says of uriDomains: OpenSSL enforces the host, never the path; pyca's verifier
    (and rustls-webpki) refuse any leaf with a URI SAN under such a CA."""
    constraints = permitted(dns=("shop.svc",), uri=("cluster.local",))
    ca = create_root_ca(CARequest("uri", timedelta(days=1), name_constraints=constraints), NOW)
    ca_pem = write_pem(tmp_path / "ca.pem", ca.certificate)

    def openssl_accepts(uri: str) -> bool:
        _, leaf = issue_leaf(LeafRequest(uris=(uri,), duration=timedelta(hours=1)), KeySpec(), ca, NOW)
        return (
            openssl("verify", *AT_NOW, "-CAfile", ca_pem, write_pem(tmp_path / "l.pem", leaf)).returncode == 0
        )

    assert openssl_accepts("spiffe://cluster.local/ns/shop/sa/web")
    assert openssl_accepts("spiffe://cluster.local/ns/payments/sa/api"), "the path is not constrained"
    assert not openssl_accepts("spiffe://evil.example/ns/shop/sa/web")
    assert not _verifies(constraints, LeafRequest(uris=("spiffe://cluster.local/ns/shop/sa/web",)))
    assert _verifies(constraints, LeafRequest(dns_names=("web.shop.svc",)))


def test_a_network_with_host_bits_makes_the_issuer_invalid() -> None:
    spec = {"nameConstraints": {"excluded": {"ipRanges": ["10.0.0.1/8"]}}}
    plan = plan_ca(issuer("ClusterIssuer", None, selfSigned=spec), None, False, NOW, NAMES)
    assert isinstance(plan, CAUnusable)
    assert plan.reason == reasons.INVALID_SPEC
    assert "host bits must be zero" in plan.message
