"""Constrained trust roots (issue 27), end to end: a tenant who can read its namespaced Issuer's CA
key (it reads Secrets in its namespace) mints leaves for another namespace with that key. The CA
certmint made carries RFC 5280 name constraints, so `openssl verify` and nginx, trusting that CA as a
bundle ships it, refuse the foreign names and accept the tenant's own. And certmint itself never signs
a name outside its CA's constraints: such a Certificate is Ready=False, OutsideNameConstraints."""

import ipaddress
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from kubernetes import client

from certmint.api.kinds import API_VERSION, CERTIFICATES, GROUP, ISSUERS, VERSION
from certmint.pki import (
    CARequest,
    CertificateAuthority,
    KeySpec,
    LeafRequest,
    build_crl,
    certificates_to_pem,
    create_root_ca,
    crl_to_pem,
    encode_private_key_pem,
    issue_leaf,
    load_ca,
)
from tests.e2e.canary import certmint_rules, tenant_client
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.nginx import IdentityBackend, Nginx, body_if_ok, curl
from tests.e2e.support import Cluster, OperatorProcess, wait_for
from tests.hand_made import hand_made_certificate

TRUST_DOMAIN = "cluster.local"
VICTIM = "payments"
"""Another namespace, whose identities the tenant must not be able to mint."""


def spiffe(namespace: str, account: str, trust_domain: str = TRUST_DOMAIN) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{account}"


def mint(ca: CertificateAuthority, directory: Path, stem: str, names: list[x509.GeneralName]) -> Path:
    """What a tenant holding the CA key can do without certmint: sign any leaf with cryptography."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), False),
    ]
    leaf = hand_made_certificate(
        key, stem, now - timedelta(minutes=1), now + timedelta(hours=1), extensions, issuer=ca
    )
    (directory / f"{stem}.key").write_bytes(encode_private_key_pem(key))
    (directory / f"{stem}.crt").write_bytes(certificates_to_pem([leaf]))
    return directory / f"{stem}.crt"


def openssl_verify(directory: Path, leaf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(directory / "ca.crt"), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
    )


class TenantApi:
    """The tenant's own credentials: a Role allowing Issuers and Certificates of its namespace only."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)


@pytest.fixture
def tenant(cluster: Cluster, namespace: str) -> TenantApi:
    return TenantApi(
        tenant_client(cluster, namespace, certmint_rules(ISSUERS.plural, CERTIFICATES.plural)), namespace
    )


@pytest.fixture
def stolen_ca(
    cluster: Cluster, tenant: TenantApi, operator_process: OperatorProcess, tmp_path: Path
) -> CertificateAuthority:
    """The tenant's Issuer, made by the tenant with no nameConstraints field (the default), and its CA
    key as anyone who reads Secrets in the namespace reads it. ca.crt is the CA as a bundle ships it."""
    namespace = tenant.namespace
    tenant.create(ISSUERS.plural, self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", "CAReady")
    data = cluster.secret_data(namespace, "ca-ca") or {}
    ca = load_ca(data["tls.crt"], data["tls.key"], datetime.now(UTC))
    (tmp_path / "ca.crt").write_bytes(certificates_to_pem([ca.certificate]))
    return ca


def test_the_namespaced_issuers_ca_carries_its_namespace_as_name_constraints(
    stolen_ca: CertificateAuthority, tenant: TenantApi
) -> None:
    extension = stolen_ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert extension.critical
    namespace = tenant.namespace
    assert extension.value.permitted_subtrees == [
        x509.DNSName(f"{namespace}.svc"),
        x509.DNSName(f"{namespace}.svc.cluster.local"),
        x509.RFC822Name("invalid"),
    ]
    assert extension.value.excluded_subtrees == [
        x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
        x509.IPAddress(ipaddress.ip_network("::/0")),
    ]


def test_openssl_refuses_what_the_stolen_key_mints_for_another_namespace(
    stolen_ca: CertificateAuthority, tenant: TenantApi, tmp_path: Path
) -> None:
    own = tenant.namespace
    own_leaf = mint(
        stolen_ca,
        tmp_path,
        "own",
        [x509.DNSName(f"web.{own}.svc"), x509.UniformResourceIdentifier(spiffe(own, "web"))],
    )
    verified = openssl_verify(tmp_path, own_leaf)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    refused: dict[str, tuple[list[x509.GeneralName], str]] = {
        "foreign": (
            [x509.DNSName(f"api.{VICTIM}.svc"), x509.UniformResourceIdentifier(spiffe(VICTIM, "api"))],
            "permitted subtree violation",
        ),
        "foreign-long": ([x509.DNSName(f"api.{VICTIM}.svc.cluster.local")], "permitted subtree violation"),
        "sibling": ([x509.DNSName(f"evil-{own}.svc")], "permitted subtree violation"),
        "public": ([x509.DNSName("login.bank.example")], "permitted subtree violation"),
        "ip": ([x509.IPAddress(ipaddress.ip_address("10.96.0.1"))], "excluded subtree violation"),
        "email": ([x509.RFC822Name("root@bank.example")], "permitted subtree violation"),
    }
    for stem, (names, error) in refused.items():
        result = openssl_verify(tmp_path, mint(stolen_ca, tmp_path, stem, names))
        assert result.returncode != 0, stem
        assert error in result.stdout + result.stderr, (stem, result.stdout + result.stderr)


def test_what_the_default_does_not_constrain_a_spiffe_id_alone(
    stolen_ca: CertificateAuthority, tmp_path: Path
) -> None:
    """URI name constraints compare hosts only, so the namespace in a SPIFFE ID's path cannot be
    expressed, and the default carries no URI subtree at all (pyca and rustls would reject every
    SPIFFE leaf under one). A leaf whose only name is another namespace's SPIFFE ID verifies: peers
    that authorize by SPIFFE ID must check its namespace against the CA that issued it. The README
    says so; if this ever fails, the README is to be corrected."""
    for stem, uri in (("path-only", spiffe(VICTIM, "api")), ("other-domain", spiffe(VICTIM, "api", "x.io"))):
        leaf = mint(stolen_ca, tmp_path, stem, [x509.UniformResourceIdentifier(uri)])
        result = openssl_verify(tmp_path, leaf)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_nginx_refuses_a_client_minted_for_another_namespace_and_accepts_the_tenants_own(
    stolen_ca: CertificateAuthority, tenant: TenantApi, tmp_path: Path
) -> None:
    own = tenant.namespace
    now = datetime.now(UTC)
    # nginx's own server certificate comes from an unrelated CA; curl trusts that one.
    server_ca = create_root_ca(CARequest("nginx server CA", timedelta(days=1)), now)
    server_key, server_leaf = issue_leaf(
        LeafRequest(dns_names=("localhost",), ip_addresses=("127.0.0.1",), duration=timedelta(hours=1)),
        KeySpec(),
        server_ca,
        now,
    )
    (tmp_path / "server.crt").write_bytes(certificates_to_pem([server_leaf]))
    (tmp_path / "server.key").write_bytes(encode_private_key_pem(server_key))
    server_trust = tmp_path / "server-ca.crt"
    server_trust.write_bytes(certificates_to_pem([server_ca.certificate]))
    # nginx checks CRLs of the client CA; the stolen key signs an empty one, as the tenant could.
    (tmp_path / "ca.crl").write_bytes(crl_to_pem(build_crl(stolen_ca, [], now, timedelta(hours=1), 1)))

    own_leaf = mint(
        stolen_ca,
        tmp_path,
        "own",
        [x509.DNSName(f"web.{own}.svc"), x509.UniformResourceIdentifier(spiffe(own, "web"))],
    )
    foreign_leaf = mint(
        stolen_ca,
        tmp_path,
        "foreign",
        [x509.DNSName(f"api.{VICTIM}.svc"), x509.UniformResourceIdentifier(spiffe(VICTIM, "api"))],
    )

    def as_client(leaf: Path) -> tuple[str, ...]:
        return ("--cert", str(leaf), "--key", str(leaf.with_suffix(".key")))

    with IdentityBackend() as backend, Nginx(tmp_path, backend.port) as nginx:
        answer = wait_for(
            lambda: body_if_ok(curl(nginx.url, server_trust, *as_client(own_leaf))),
            20,
            what="nginx to accept the tenant's own identity",
        )
        identity = json.loads(answer)
        assert identity["verify"] == "SUCCESS"
        assert identity["uris"] == [spiffe(own, "web")]

        status, body = curl(nginx.url, server_trust, *as_client(foreign_leaf))
        assert status == 400, body
        assert "The SSL certificate error" in body
        assert "permitted subtree violation" in nginx.error_log()


def test_certmint_refuses_a_certificate_outside_its_issuers_constraints(
    cluster: Cluster, stolen_ca: CertificateAuthority, tenant: TenantApi
) -> None:
    namespace = tenant.namespace
    attempts: dict[str, dict[str, Any]] = {
        "foreign-service": {"dnsNames": [f"api.{VICTIM}.svc"]},
        "sibling": {"dnsNames": [f"evil-{namespace}.svc"]},
        "ip": {"dnsNames": [f"web.{namespace}.svc"], "ipAddresses": ["10.96.0.1"]},
    }
    for name, spec in attempts.items():
        tenant.create(CERTIFICATES.plural, certificate(namespace, name, **spec))
    tenant.create(
        CERTIFICATES.plural,
        certificate(
            namespace,
            "own",
            dnsNames=[f"web.{namespace}.svc", f"web.{namespace}.svc.cluster.local"],
            identity={"serviceAccount": "web"},
        ),
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "own", "True", "Ready")
    for name in attempts:
        condition = cluster.wait_condition(
            CERTIFICATES.plural, namespace, name, "False", "OutsideNameConstraints"
        )
        assert condition["message"].startswith("nameConstraints: "), condition["message"]
        assert "verifiers would reject" in condition["message"]
        assert cluster.secret_data(namespace, f"{name}-tls") is None


def test_a_tenant_cannot_permit_other_namespaces_service_names(
    cluster: Cluster, tenant: TenantApi, operator_process: OperatorProcess
) -> None:
    namespace = tenant.namespace
    wide = {"permitted": {"dnsDomains": [f"{namespace}.svc", "svc.cluster.local"]}}
    tenant.create(ISSUERS.plural, self_signed_issuer(namespace, "wide", nameConstraints=wide))
    condition = cluster.wait_condition(ISSUERS.plural, namespace, "wide", "False", "InvalidSpec")
    assert "svc.cluster.local reaches other namespaces' Service names" in condition["message"]
    assert cluster.secret_data(namespace, "wide-ca") is None, "no CA is made from such a spec"


@pytest.mark.parametrize(
    ("subtrees", "message"),
    [
        ({"dnsDomains": [f"n{i}.svc" for i in range(33)]}, "must have at most 32 items"),
        ({"dnsDomains": [".shop.svc"]}, "should match"),
        ({"dnsDomains": ["*.shop.svc"]}, "should match"),
        ({"ipRanges": ["10.0.0.0/99x"]}, "should match"),
        ({"uriDomains": ["spiffe://cluster.local"]}, "should match"),
        ({"emailAddresses": ["a@b@c.example"]}, "should match"),
    ],
    ids=["too-many", "leading-dot-dns", "wildcard-dns", "bad-cidr", "uri-not-host", "bad-email"],
)
def test_the_api_server_refuses_malformed_name_constraints(
    cluster: Cluster, namespace: str, subtrees: dict[str, Any], message: str
) -> None:
    # A raw dict, not manifests.self_signed_issuer: the model refuses these too, and the point is
    # that the API server does, whatever client sends them.
    manifest = {
        "apiVersion": API_VERSION,
        "kind": ISSUERS.kind,
        "metadata": {"name": "ca", "namespace": namespace},
        "spec": {"selfSigned": {"nameConstraints": {"permitted": subtrees}}},
    }
    assert message in cluster.apply_rejected(manifest)
