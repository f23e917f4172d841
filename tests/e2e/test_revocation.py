"""Issue 6 end to end: revocation proven with real peers — nginx checking client certificates against
the bundle's ca.crt and ca.crl, curl as the client, openssl verify agreeing — and CRLs served over HTTP."""

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes.client import V1Secret
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, ISSUERS, TRUST_BUNDLES
from certmint.pki import (
    CARequest,
    KeySpec,
    LeafRequest,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    issue_leaf,
    load_certificates_pem,
    load_crls_pem,
    serial_hex,
)
from tests.e2e import manifests
from tests.e2e.manifests import certificate, client_certificate, issuer_bundle
from tests.e2e.nginx import IdentityBackend, Nginx, body_if_ok, curl
from tests.e2e.support import Cluster, OperatorProcess, certmint, wait_for


def loopback_constraints(namespace: str) -> dict[str, object]:
    """The issuer also serves nginx on loopback: localhost and 127.0.0.1 on top of its namespace's
    Service names (a namespaced Issuer's default name constraints hold no IP address)."""
    return {
        "permitted": {
            "dnsDomains": [f"{namespace}.svc", f"{namespace}.svc.cluster.local", "localhost"],
            "ipRanges": ["127.0.0.1/32"],
        }
    }


def issuer(namespace: str, crl_url: str) -> dict[str, object]:
    return manifests.issuer(
        namespace,
        selfSigned={"nameConstraints": loopback_constraints(namespace)},
        revocation={"crlDuration": "1h", "distributionPointURL": crl_url},
    )


def publish_bundle(cluster: Cluster, namespace: str) -> str:
    """A TrustBundle of the namespace's issuer `ca`, published into that namespace only."""
    bundle = f"bundle-{namespace}"
    cluster.apply(issuer_bundle(bundle, namespace, {"kubernetes.io/metadata.name": namespace}))
    return bundle


def fetch_crl(url: str) -> bytes | None:
    """None while the operator does not serve it (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read())
    except (urllib.error.URLError, ConnectionError):
        return None


def serial_of(cluster: Cluster, namespace: str, name: str) -> int:
    data = cluster.secret_data(namespace, f"{name}-tls") or {}
    return load_certificates_pem(data["tls.crt"])[0].serial_number


def write_client(
    cluster: Cluster, namespace: str, name: str, directory: Path, stem: str = ""
) -> tuple[Path, Path]:
    data = cluster.secret_data(namespace, f"{name}-tls") or {}
    cert, key = directory / f"{stem or name}.crt", directory / f"{stem or name}.key"
    cert.write_bytes(data["tls.crt"])
    key.write_bytes(data["tls.key"])
    return cert, key


def write_bundle(cluster: Cluster, namespace: str, bundle: str, directory: Path) -> dict[str, str]:
    data = cluster.core.read_namespaced_config_map(bundle, namespace).data
    assert data is not None, f"bundle {bundle} published without data"
    (directory / "ca.crt").write_text(data["ca.crt"])
    (directory / "ca.crl").write_text(data["ca.crl"])
    return dict(data)


def crl_lists(cluster: Cluster, namespace: str, bundle: str, serial: int) -> bool:
    try:
        data = cluster.core.read_namespaced_config_map(bundle, namespace).data or {}
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return any(
        crl.get_revoked_certificate_by_serial_number(serial) for crl in load_crls_pem(data["ca.crl"].encode())
    )


def openssl_verify(directory: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", "ca.crt", "-CRLfile", "ca.crl", str(cert)],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )


def unrelated_client(directory: Path) -> tuple[Path, Path]:
    now = datetime.now(UTC)
    stranger = create_root_ca(CARequest("stranger CA", timedelta(days=1)), now)
    key, leaf = issue_leaf(
        LeafRequest(
            common_name="intruder", uris=("spiffe://cluster.local/ns/x/sa/y",), duration=timedelta(hours=1)
        ),
        KeySpec(),
        stranger,
        now,
    )
    cert_path, key_path = directory / "stranger.crt", directory / "stranger.key"
    cert_path.write_bytes(certificates_to_pem([leaf]))
    key_path.write_bytes(encode_private_key_pem(key))
    return cert_path, key_path


@dataclass(frozen=True)
class Peers:
    """What the mTLS test starts from: an issuer, its bundle, and a server and a client certificate
    written to files the way pods would mount them."""

    namespace: str
    bundle: str
    crl_url: str
    directory: Path
    client_cert: Path
    client_key: Path
    published_crl: str


@pytest.fixture
def peers(cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path) -> Peers:
    crl_url = operator_process.crl_url(namespace, "ca")
    cluster.apply(issuer(namespace, crl_url))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    bundle = publish_bundle(cluster, namespace)
    cluster.core.create_namespaced_secret(
        namespace,
        V1Secret.model_validate(
            {
                "metadata": {"name": "p12-password", "labels": {"certmint.dev/pkcs12-password": "true"}},
                "stringData": {"password": "s3cret"},
            }
        ),
    )
    cluster.apply(certificate(namespace, "server", dnsNames=["localhost"], ipAddresses=["127.0.0.1"]))
    cluster.apply(
        client_certificate(
            namespace,
            keystores={
                "pkcs12": {"create": True, "passwordSecretRef": {"name": "p12-password", "key": "password"}}
            },
        )
    )
    for name in ("server", "client"):
        cluster.wait_condition(CERTIFICATES.plural, namespace, name, "True")
    cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "True", "Synced")
    server_cert, server_key = write_client(cluster, namespace, "server", tmp_path)
    server_cert.rename(tmp_path / "server.crt")
    server_key.rename(tmp_path / "server.key")
    client_cert, client_key = write_client(cluster, namespace, "client", tmp_path)
    published = write_bundle(cluster, namespace, bundle, tmp_path)
    return Peers(namespace, bundle, crl_url, tmp_path, client_cert, client_key, published["ca.crl"])


def test_leaves_name_the_crl_served_over_http_which_equals_the_configmap_one(peers: Peers) -> None:
    leaf = x509.load_pem_x509_certificate(peers.client_cert.read_bytes())
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name or []] == [peers.crl_url]
    served = fetch_crl(peers.crl_url) or b""
    published = load_crls_pem(peers.published_crl.encode())
    assert served in [crl.public_bytes(serialization.Encoding.DER) for crl in published]
    crl = x509.load_der_x509_crl(served)
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=1)


@pytest.mark.timeout(300)
def test_nginx_curl_and_openssl_enforce_revocation(cluster: Cluster, peers: Peers) -> None:
    directory, ca_file = peers.directory, peers.directory / "ca.crt"
    client = ("--cert", str(peers.client_cert), "--key", str(peers.client_key))
    with IdentityBackend() as backend, Nginx(directory, backend.port) as nginx:
        accepted = wait_for(
            lambda: body_if_ok(curl(nginx.url, ca_file, *client)), 15, what="nginx to accept the client"
        )
        identity = json.loads(accepted)
        assert identity["verify"] == "SUCCESS"
        assert identity["dn"] == "CN=client"
        assert identity["uris"] == [f"spiffe://cluster.local/ns/{peers.namespace}/sa/client"]

        assert curl(nginx.url, ca_file)[0] == 400, "no client certificate"
        stranger_cert, stranger_key = unrelated_client(directory)
        assert curl(nginx.url, ca_file, "--cert", str(stranger_cert), "--key", str(stranger_key))[0] == 400
        p12 = directory / "client.p12"
        p12.write_bytes((cluster.secret_data(peers.namespace, "client-tls") or {})["keystore.p12"])
        assert curl(nginx.url, ca_file, "--cert-type", "P12", "--cert", f"{p12}:s3cret")[0] == 200
        assert openssl_verify(directory, peers.client_cert).returncode == 0

        revoked_serial = serial_of(cluster, peers.namespace, "client")
        result = certmint(cluster, "revoke", f"{peers.namespace}/client", "--reason", "keyCompromise")
        assert result.returncode == 0, result.stderr
        wait_for(
            lambda: crl_lists(cluster, peers.namespace, peers.bundle, revoked_serial),
            20,
            what="CRL published",
        )
        wait_for(lambda: serial_of(cluster, peers.namespace, "client") != revoked_serial, 20, what="re-issue")
        write_bundle(cluster, peers.namespace, peers.bundle, directory)
        nginx.reload()
        wait_for(
            lambda: curl(nginx.url, ca_file, *client)[0] == 400, 15, what="nginx to reject the revoked client"
        )
        assert "certificate revoked" in nginx.error_log()
        verdict = openssl_verify(directory, peers.client_cert)
        assert verdict.returncode != 0
        assert "certificate revoked" in verdict.stdout + verdict.stderr

        new_cert, new_key = write_client(cluster, peers.namespace, "client", directory, "reissued")
        assert curl(nginx.url, ca_file, "--cert", str(new_cert), "--key", str(new_key))[0] == 200
        assert openssl_verify(directory, new_cert).returncode == 0
        old_key = serialization.load_pem_private_key(peers.client_key.read_bytes(), None)
        new_leaf = x509.load_pem_x509_certificate(new_cert.read_bytes())
        assert new_leaf.public_key() != old_key.public_key(), "a revoked certificate's key is never reused"

    served = fetch_crl(peers.crl_url) or b""
    assert x509.load_der_x509_crl(served).get_revoked_certificate_by_serial_number(revoked_serial) is not None
    events = {event.reason: event.message or "" for event in cluster.events(peers.namespace, "client")}
    assert "keyCompromise" in events["Revoked"]
    reissued = f"Revoked: certificate serial {serial_hex(revoked_serial)} was revoked"
    assert events["Reissued"].startswith(reissued)


def test_revocations_survive_a_restart_and_no_reissue_leaves_the_certificate_revoked(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    crl_url = operator_process.crl_url(namespace, "ca")
    cluster.apply(issuer(namespace, crl_url))
    cluster.apply(certificate(namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    revoked_serial = serial_of(cluster, namespace, "web")
    result = certmint(cluster, "revoke", f"{namespace}/web", "--no-reissue")
    assert result.returncode == 0, result.stderr
    condition = cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "False", "Revoked")
    assert "revoke-reissue" in condition["message"]
    assert serial_of(cluster, namespace, "web") == revoked_serial, "nothing re-issued"
    before = fetch_crl(crl_url) or b""
    assert x509.load_der_x509_crl(before).get_revoked_certificate_by_serial_number(revoked_serial) is not None

    bundle = publish_bundle(cluster, namespace)
    wait_for(lambda: crl_lists(cluster, namespace, bundle, revoked_serial), 20, what="CRL in the bundle")
    inspected = certmint(
        cluster, "inspect", "secret", f"{namespace}/web-tls", "--bundle", bundle, "-o", "json"
    )
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["revoked"] is True

    ca_secret = cluster.secret_data(namespace, "ca-ca") or {}
    stored = json.loads(ca_secret["revoked.json"])
    assert [entry["serial"] for entry in stored["revoked"]] == [serial_hex(revoked_serial)]
    assert b"PRIVATE KEY" not in ca_secret["ca.crl"]

    operator_process.stop()
    operator_process.start()
    wait_for(
        lambda: (fetch_crl(crl_url) or b"") == before,
        30,
        what="the restarted operator to serve the same CRL",
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "False", "Revoked")

    result = certmint(cluster, "renew", f"{namespace}/web")
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: serial_of(cluster, namespace, "web") != revoked_serial, 20, what="renewal after revocation"
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")

    result = certmint(cluster, "revoke", f"{namespace}/web", "--reason", "bored")
    assert result.returncode == 2
    assert "Invalid value for '--reason'" in result.stderr


def test_a_bad_revoke_reason_annotation_is_a_clear_condition(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(issuer(namespace, operator_process.crl_url(namespace, "ca")))
    manifest = certificate(namespace, "web")
    manifest["metadata"]["annotations"] = {"certmint.dev/revoke": "1", "certmint.dev/revoke-reason": "bored"}
    cluster.apply(manifest)
    condition = cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "False", "InvalidSpec")
    assert "bored" in condition["message"]
    assert cluster.secret_data(namespace, "web-tls") is None
