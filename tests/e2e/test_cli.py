"""The `certmint` command against the real API server and the running operator."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from kubernetes.client import V1ConfigMap

from certmint.api.kinds import CERTIFICATES, ISSUERS, TRUST_BUNDLES
from certmint.pki import (
    CARequest,
    KeySpec,
    LeafRequest,
    certificates_to_pem,
    create_root_ca,
    issue_leaf,
    load_certificates_pem,
    serial_hex,
)
from tests.e2e.manifests import certificate, issuer_bundle, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, certmint, wait_for


def serial(cluster: Cluster, namespace: str) -> str:
    return (cluster.get(CERTIFICATES.plural, namespace, "web") or {})["status"]["serialNumber"]


def test_status_renew_inspect_ca_and_bundle_commands(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"cli-test": namespace}}})
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace))
    cluster.apply(issuer_bundle(f"cli-{namespace}", namespace, {"cli-test": namespace}))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    cluster.wait_condition(TRUST_BUNDLES.plural, None, f"cli-{namespace}", "True")

    table = certmint(cluster, "status", "-n", namespace)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split()[:5] == ["NAMESPACE", "NAME", "READY", "REASON", "ISSUER"]
    assert row.split()[:6] == [namespace, "web", "True", "Ready", "ca", serial(cluster, namespace)]
    # As `openssl x509 -serial` prints it: uppercase, whole octets.
    leaf = load_certificates_pem((cluster.secret_data(namespace, "web-tls") or {})["tls.crt"])[0]
    assert serial(cluster, namespace) == serial_hex(leaf.serial_number)
    as_json = json.loads(certmint(cluster, "status", f"{namespace}/web", "-o", "json").stdout)
    assert as_json["ready"] == "True"
    assert as_json["renews_in"].endswith("m") or "h" in as_json["renews_in"]

    before = serial(cluster, namespace)
    renewed = certmint(cluster, "renew", f"{namespace}/web")
    assert renewed.returncode == 0, renewed.stderr
    wait_for(lambda: serial(cluster, namespace) != before, 10, what="renewal served")
    after = serial(cluster, namespace)
    assert "RenewRequested" in " ".join(e.message or "" for e in cluster.events(namespace, "web"))

    inspected = yaml.safe_load(
        certmint(
            cluster, "inspect", "secret", f"{namespace}/web-tls", "--bundle", f"{namespace}/cli-{namespace}"
        ).stdout
    )
    assert inspected["chain"][0]["serial"] == after
    assert inspected["chain"][0]["dnsNames"] == [f"web.{namespace}.svc"]
    assert inspected["trustedByBundle"]["trusted"] is True
    assert inspected["trustedByBundle"]["reason"].startswith("chains to ")
    assert inspected["trustedByBundle"]["purposes"] == {
        "serverAuth": {"valid": True, "reason": "extendedKeyUsage includes serverAuth"},
        "clientAuth": {"valid": True, "reason": "extendedKeyUsage includes clientAuth"},
    }

    shown = yaml.safe_load(certmint(cluster, "ca", "show", "ca", "-n", namespace).stdout)
    assert shown["ready"] == "True"
    assert shown["rotation"]["phase"] == "Stable"

    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes((cluster.secret_data(namespace, "web-tls") or {})["tls.crt"])
    trusted = certmint(cluster, "bundle", "check", f"{namespace}/cli-{namespace}", "--cert", str(leaf_file))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    verdict, server_auth, client_auth = trusted.stdout.splitlines()
    assert verdict.startswith("trusted: chains to ")
    assert server_auth == "serverAuth: valid: extendedKeyUsage includes serverAuth"
    assert client_auth == "clientAuth: valid: extendedKeyUsage includes clientAuth"
    stranger = create_root_ca(CARequest("stranger", timedelta(days=1)), datetime.now(UTC))
    _, foreign = issue_leaf(LeafRequest(dns_names=("x.example.com",)), KeySpec(), stranger, datetime.now(UTC))
    (tmp_path / "foreign.pem").write_bytes(certificates_to_pem([foreign]))
    rejected = certmint(
        cluster, "bundle", "check", f"{namespace}/cli-{namespace}", "--cert", str(tmp_path / "foreign.pem")
    )
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("not trusted: no path to a root in the bundle")
    assert "serverAuth: not valid: the chain is not trusted" in rejected.stdout

    rotated = certmint(cluster, "ca", "rotate", "ca", "-n", namespace)
    assert rotated.returncode == 0, rotated.stderr
    wait_for(
        lambda: (
            (cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"]["rotation"]["phase"] != "Stable"
        ),
        10,
    )


def test_inspect_judges_trust_and_each_purpose_and_fails_when_untrusted(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"inspect-test": namespace}}})
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace))
    cluster.apply(
        certificate(
            namespace,
            "client",
            dnsNames=[],
            commonName="client",
            identity={"serviceAccount": "client"},
            usages=["digital signature", "client auth"],
        )
    )
    cluster.apply(issuer_bundle(f"inspect-{namespace}", namespace, {"inspect-test": namespace}))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "client", "True")
    cluster.wait_condition(TRUST_BUNDLES.plural, None, f"inspect-{namespace}", "True")

    # The issue's report: a commonName-only client certificate is trusted, for client auth only.
    client = certmint(
        cluster,
        "inspect",
        "secret",
        f"{namespace}/client-tls",
        "--bundle",
        f"{namespace}/inspect-{namespace}",
    )
    assert client.returncode == 0, client.stdout + client.stderr
    client_verdict = yaml.safe_load(client.stdout)["trustedByBundle"]
    assert client_verdict["trusted"] is True
    assert client_verdict["purposes"] == {
        "serverAuth": {"valid": False, "reason": "its extendedKeyUsage does not include serverAuth"},
        "clientAuth": {"valid": True, "reason": "extendedKeyUsage includes clientAuth"},
    }

    # A bundle that does not trust the Secret's chain: the verdict says so, and the exit code too.
    stranger = create_root_ca(CARequest("stranger", timedelta(days=1)), datetime.now(UTC))
    cluster.core.create_namespaced_config_map(
        namespace,
        V1ConfigMap.model_validate(
            {
                "metadata": {"name": "stranger"},
                "data": {"ca.crt": certificates_to_pem([stranger.certificate]).decode()},
            }
        ),
    )
    untrusted = certmint(
        cluster,
        "inspect",
        "secret",
        f"{namespace}/web-tls",
        "--bundle",
        f"{namespace}/stranger",
        "-o",
        "json",
    )
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    untrusted_verdict = json.loads(untrusted.stdout)["trustedByBundle"]
    assert untrusted_verdict["trusted"] is False
    assert untrusted_verdict["reason"].startswith("no path to a root in the bundle")
    assert {purpose["valid"] for purpose in untrusted_verdict["purposes"].values()} == {False}
    without_bundle = certmint(cluster, "inspect", "secret", f"{namespace}/web-tls")
    assert without_bundle.returncode == 0, without_bundle.stderr


def test_errors_are_clear_with_exit_codes(cluster: Cluster, namespace: str) -> None:
    missing = certmint(cluster, "status", f"{namespace}/nope")
    assert missing.returncode == 3
    assert f"certificates {namespace}/nope not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    usage = certmint(cluster, "renew")
    assert usage.returncode == 2
    assert "name a Certificate" in usage.stderr
    no_secret = certmint(cluster, "inspect", "secret", f"{namespace}/absent")
    assert no_secret.returncode == 3
    assert f"Secret {namespace}/absent not found" in no_secret.stderr
    assert certmint(cluster, "version").stdout.strip() == "0.2.0.dev0"
