"""Issue 28 end to end: the trust material of Gateway API backend TLS (README "Gateway API backend
TLS"), both ways. nginx is the backend: it serves the backend Certificate and verifies clients with
`ssl_verify_client on` against the TrustBundle ConfigMap a BackendTLSPolicy's caCertificateRefs
names. The client speaks as the gateway would: it verifies the backend against that same ConfigMap
with the policy's hostname (sent as SNI and checked against the certificate) and presents the
gateway's client Certificate. No gateway implementation runs; what it would be given is what is
tested."""

import json
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, TRUST_BUNDLES, VERSION
from certmint.pki import CARequest, certificates_to_pem, create_root_ca
from tests.e2e.manifests import certificate, cluster_issuer, trust_bundle
from tests.e2e.nginx import IdentityBackend, Nginx
from tests.e2e.support import Cluster, OperatorProcess, wait_for
from tests.e2e.test_revocation import unrelated_client, write_client

TIMEOUT = 60


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def as_gateway(port: int, hostname: str, trusted: str, client: tuple[Path, Path] | None) -> Answer:
    """One request as a gateway makes it to a backend under a BackendTLSPolicy: connect to the
    endpoint's address, send `hostname` as SNI, verify the certificate against `trusted` (the
    caCertificateRefs' PEM) and for `hostname`, present the gateway's client certificate."""
    context = ssl.create_default_context(cadata=trusted)  # CERT_REQUIRED and check_hostname
    if client is not None:
        context.load_cert_chain(*client)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=15) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return Answer(int(head.split()[1]), body.decode(errors="replace"))


@dataclass(frozen=True)
class Setup:
    backend_namespace: str
    hostname: str
    directory: Path
    trusted: str
    """ca.crt of the TrustBundle's ConfigMap in the backend's namespace (the policy's caCertificateRefs)."""
    gateway_client: tuple[Path, Path]


@pytest.fixture
def setup(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    operator_process: OperatorProcess,
    tmp_path: Path,
) -> Iterator[Setup]:
    """The README's manifests: a ClusterIssuer for the mesh, the backend's Certificate in its
    namespace, the gateway's client Certificate in the gateway's, and the TrustBundle that puts the
    CA into the backend's namespace as the ConfigMap the BackendTLSPolicy names."""
    backend_namespace, gateway_namespace = namespace, other_namespace
    suffix = uuid.uuid4().hex[:6]
    issuer, bundle = f"mesh-ca-{suffix}", f"mesh-trust-{suffix}"
    hostname = f"backend.{backend_namespace}.svc"
    cluster.apply(cluster_issuer(issuer, selfSigned={}))
    try:
        cluster.wait_condition(CLUSTER_ISSUERS.plural, None, issuer, "True", timeout=TIMEOUT)
        reference = {"name": issuer, "kind": "ClusterIssuer"}
        cluster.apply(
            trust_bundle(
                bundle,
                [{"issuer": reference}],
                namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": backend_namespace}},
            )
        )
        cluster.apply(
            certificate(backend_namespace, "backend", issuer=None, issuerRef=reference, dnsNames=[hostname])
        )
        cluster.apply(
            certificate(
                gateway_namespace,
                "gateway-client",
                issuer=None,
                issuerRef=reference,
                dnsNames=[],
                commonName="gateway",
                usages=["digital signature", "client auth"],
            )
        )
        cluster.wait_condition(CERTIFICATES.plural, backend_namespace, "backend", "True", timeout=TIMEOUT)
        cluster.wait_condition(
            CERTIFICATES.plural, gateway_namespace, "gateway-client", "True", timeout=TIMEOUT
        )
        cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "True", "Synced", timeout=TIMEOUT)
        trusted = (cluster.core.read_namespaced_config_map(bundle, backend_namespace).data or {})["ca.crt"]
        # The backend pod mounts its Secret and the ConfigMap: nginx's files.
        (tmp_path / "ca.crt").write_text(trusted)
        server_cert, server_key = write_client(cluster, backend_namespace, "backend", tmp_path)
        server_cert.rename(tmp_path / "server.crt")
        server_key.rename(tmp_path / "server.key")
        gateway_client = write_client(cluster, gateway_namespace, "gateway-client", tmp_path)
        yield Setup(backend_namespace, hostname, tmp_path, trusted, gateway_client)
    finally:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, bundle)
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, issuer)


def accepted(port: int, setup: Setup) -> Answer | None:
    """The gateway's request once nginx listens and answers 200 (a wait_for check)."""
    try:
        answer = as_gateway(port, setup.hostname, setup.trusted, setup.gateway_client)
    except ConnectionRefusedError:  # nginx wrote its pid file, its socket is not listening yet
        return None
    return answer if answer.status == 200 else None


@pytest.mark.timeout(300)
def test_the_gateway_verifies_the_backend_and_the_backend_verifies_the_gateway(setup: Setup) -> None:
    with IdentityBackend() as backend, Nginx(setup.directory, backend.port, crl=False) as nginx:
        answer = wait_for(lambda: accepted(nginx.port, setup), 15, what="the backend to accept the gateway")
        identity = json.loads(answer.body)
        assert identity["verify"] == "SUCCESS"
        assert identity["dn"] == "CN=gateway"

        refused = as_gateway(nginx.port, setup.hostname, setup.trusted, None)
        assert refused.status == 400, "a client without a certificate is refused"
        assert "No required SSL certificate was sent" in refused.body
        stranger = unrelated_client(setup.directory)
        refused = as_gateway(nginx.port, setup.hostname, setup.trusted, stranger)
        assert refused.status == 400, "a client certificate of another CA is refused"
        assert "The SSL certificate error" in refused.body

        # The gateway's own checks are real: another hostname, or other trust, fails the handshake.
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            as_gateway(
                nginx.port, f"other.{setup.backend_namespace}.svc", setup.trusted, setup.gateway_client
            )
        other = create_root_ca(CARequest("another CA", timedelta(days=1)), datetime.now(UTC))
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            as_gateway(
                nginx.port,
                setup.hostname,
                certificates_to_pem([other.certificate]).decode(),
                setup.gateway_client,
            )
