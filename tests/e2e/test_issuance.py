"""Issue 4 end to end: Issuers and Certificates on the real API server, the operator as a process."""

import base64
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes.client import V1Secret

from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.pki import (
    CARequest,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    key_matches_certificate,
    load_certificates_pem,
    load_private_key_pem,
    summarize_certificate,
)
from tests.e2e.manifests import ca_issuer, certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for


def secret_serial(cluster: Cluster, namespace: str, name: str) -> str | None:
    data = cluster.secret_data(namespace, name)
    if not data or not data.get("tls.crt"):
        return None
    return summarize_certificate(load_certificates_pem(data["tls.crt"])[0]).serial_number


def openssl_verify(
    tmp_path: Path, ca_pem: bytes, chain_pem: bytes, purpose: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "leaf.pem").write_bytes(chain_pem)
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_self_signed_issuer_and_certificate(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    # A namespaced Issuer's CA holds no IP address unless its policy or nameConstraints say so.
    constraints = {"permitted": {"dnsDomains": [f"{namespace}.svc"], "ipRanges": ["10.0.0.0/8"]}}
    cluster.apply(self_signed_issuer(namespace, nameConstraints=constraints))
    cluster.apply(certificate(namespace, ipAddresses=["10.0.0.7"], identity={"serviceAccount": "web"}))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", "CAReady")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", "Ready")

    ca_secret = cluster.secret_data(namespace, "ca-ca")
    leaf_secret = cluster.secret_data(namespace, "web-tls")
    assert ca_secret
    assert leaf_secret
    assert set(leaf_secret) == {"tls.crt", "tls.key", "ca.crt"}
    assert leaf_secret["ca.crt"] == ca_secret["tls.crt"]
    assert ca_secret["tls.key"] not in b"".join(leaf_secret.values())
    for purpose in ("sslserver", "sslclient"):
        result = openssl_verify(tmp_path, ca_secret["tls.crt"], leaf_secret["tls.crt"], purpose)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(": OK")

    summary = summarize_certificate(load_certificates_pem(leaf_secret["tls.crt"])[0])
    assert summary.dns_names == (f"web.{namespace}.svc",)
    assert summary.ip_addresses == ("10.0.0.7",)
    assert summary.uris == (f"spiffe://cluster.local/ns/{namespace}/sa/web",)
    assert summary.key_type == "ECDSA P-256"

    status = (cluster.get(CERTIFICATES.plural, namespace, "web") or {})["status"]
    assert status["serialNumber"] == summary.serial_number
    assert status["revision"] == 1
    assert status["observedGeneration"] == 1
    assert {c["type"] for c in status["conditions"]} == {"Ready", "Issuing"}
    issuer_status = (cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"]
    assert issuer_status["ca"]["subject"] == "CN=certmint ca"
    listing = cluster.plane.kubectl("get", "certificates.certmint.dev", "-n", namespace, "web")
    assert listing.splitlines()[1].split()[:4] == ["web", "True", "web-tls", "ca"]
    secret = cluster.core.read_namespaced_secret("web-tls", namespace)
    assert secret.type == "kubernetes.io/tls"
    assert (metadata_of(secret).labels or {})["certmint.dev/secret-role"] == "leaf"
    assert (metadata_of(secret).annotations or {})["certmint.dev/serial-number"] == summary.serial_number
    reasons = [event.reason for event in cluster.events(namespace, "web")]
    assert reasons == ["Issued"]
    certificate_object = cluster.get(CERTIFICATES.plural, namespace, "web") or {}
    assert not certificate_object["metadata"].get("finalizers"), "no finalizer may ever block deletion"


def test_renews_on_schedule_and_always_holds_a_valid_pair(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, duration="2m", renewBefore="1m"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    first = secret_serial(cluster, namespace, "web-tls")
    renewal = datetime.fromisoformat(
        (cluster.get(CERTIFICATES.plural, namespace, "web") or {})["status"]["renewalTime"]
    )
    serials = {first}
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline and len(serials) < 2:
        data = cluster.secret_data(namespace, "web-tls")
        assert data is not None
        leaf = load_certificates_pem(data["tls.crt"])[0]
        now = datetime.now(UTC)
        assert leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc, (
            "the Secret held an expired certificate"
        )
        assert key_matches_certificate(load_private_key_pem(data["tls.key"]), leaf), (
            "the Secret held a torn pair"
        )
        serials.add(summarize_certificate(leaf).serial_number)
        time.sleep(1)
    assert len(serials) == 2, "not renewed"
    renewed_at = datetime.now(UTC)
    assert renewed_at >= renewal, "renewed before its renewalTime"
    assert "Renewed" in [event.reason for event in cluster.events(namespace, "web")]


def test_heals_deleted_secret_swapped_key_and_follows_spec_changes(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    serial = secret_serial(cluster, namespace, "web-tls")

    cluster.core.delete_namespaced_secret("web-tls", namespace)
    serial = wait_for(
        lambda: s if (s := secret_serial(cluster, namespace, "web-tls")) and s != serial else None,
        10,
        what="Secret back",
    )

    data = cluster.secret_data(namespace, "web-tls") or {}
    foreign = create_root_ca(CARequest(common_name="x", duration=timedelta(days=1)), datetime.now(UTC))
    swapped = base64.b64encode(encode_private_key_pem(foreign.private_key)).decode()
    cluster.core.patch_namespaced_secret("web-tls", namespace, {"data": {"tls.key": swapped}})
    serial = wait_for(
        lambda: s if (s := secret_serial(cluster, namespace, "web-tls")) and s != serial else None,
        10,
        what="re-issue after key swap",
    )
    data = cluster.secret_data(namespace, "web-tls") or {}
    assert key_matches_certificate(
        load_private_key_pem(data["tls.key"]), load_certificates_pem(data["tls.crt"])[0]
    )

    cluster.apply(certificate(namespace, dnsNames=[f"renamed.{namespace}.svc"]))
    wait_for(
        lambda: (s := secret_serial(cluster, namespace, "web-tls")) and s != serial,
        10,
        what="re-issue after spec change",
    )
    leaf = load_certificates_pem((cluster.secret_data(namespace, "web-tls") or {})["tls.crt"])[0]
    assert summarize_certificate(leaf).dns_names == (f"renamed.{namespace}.svc",)
    # The event is posted after the Secret is written: wait for it, then count.
    reissued = wait_for(
        lambda: n if (n := reissued_events(cluster, namespace)) >= 3 else None,
        10,
        what="the third Reissued event",
    )
    assert reissued == 3


def reissued_events(cluster: Cluster, namespace: str) -> int:
    return [event.reason for event in cluster.events(namespace, "web")].count("Reissued")


def test_ca_issuer_reports_missing_secret_and_recovers(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    ca = create_root_ca(CARequest(common_name="team CA", duration=timedelta(days=30)), datetime.now(UTC))
    ca_data = {
        "tls.crt": base64.b64encode(certificates_to_pem([ca.certificate])).decode(),
        "tls.key": base64.b64encode(encode_private_key_pem(ca.private_key)).decode(),
    }
    cluster.core.create_namespaced_secret(
        namespace, V1Secret.model_validate({"metadata": {"name": "team-ca"}, "data": ca_data})
    )
    cluster.apply(ca_issuer(namespace, "team-ca"))
    cluster.apply(certificate(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", "CAReady")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    issued = load_certificates_pem((cluster.secret_data(namespace, "web-tls") or {})["tls.crt"])[0]
    assert issued.issuer == ca.certificate.subject

    team_ca = cluster.core.read_namespaced_secret("team-ca", namespace)
    assert metadata_of(team_ca).labels == {"certmint.dev/secret-role": "ca"}, (
        "labelled so the Secret watch sees it"
    )
    cluster.core.delete_namespaced_secret("team-ca", namespace)
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "False", "CASecretNotFound")
    cluster.apply(certificate(namespace, name="late"))
    cond = cluster.wait_condition(CERTIFICATES.plural, namespace, "late", "False", "IssuerNotReady")
    assert "CA Secret team-ca not found" in cond["message"]
    assert "IssuerNotReady" in [event.reason for event in cluster.events(namespace, "late")]
    assert operator_process.alive()

    cluster.core.create_namespaced_secret(
        namespace, V1Secret.model_validate({"metadata": {"name": "team-ca"}, "data": ca_data})
    )
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", "CAReady", timeout=60)
    cluster.wait_condition(CERTIFICATES.plural, namespace, "late", "True", timeout=60)
