"""Issue 4 end to end: restarts without re-issues, clear failures, deletion, and other writers."""

import subprocess
from pathlib import Path

import yaml
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, GROUP, VERSION
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for


def test_restart_with_50_valid_certificates_reissues_nothing(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    names = [f"svc-{n:02d}" for n in range(50)]
    cluster.apply("---\n".join(yaml.safe_dump(certificate(namespace, name)) for name in names))
    for name in names:
        cluster.wait_condition(CERTIFICATES.plural, namespace, name, "True", timeout=60)
    before = {metadata_of(s).name: metadata_of(s).resource_version for s in _leaf_secrets(cluster, namespace)}
    statuses = {
        name: (cluster.get(CERTIFICATES.plural, namespace, name) or {})["metadata"]["resourceVersion"]
        for name in names
    }
    assert len(before) == 50

    operator_process.stop()
    operator_process.start()
    # The restarted operator lists every Certificate and reconciles it: wait until it has.
    operator_process.wait_reconciled(len(names))

    after = {metadata_of(s).name: metadata_of(s).resource_version for s in _leaf_secrets(cluster, namespace)}
    assert after == before, "a Secret was written after the restart"
    for name in names:
        assert (cluster.get(CERTIFICATES.plural, namespace, name) or {})["metadata"][
            "resourceVersion"
        ] == statuses[name]
    reasons = [e.reason for name in names for e in cluster.events(namespace, name)]
    assert reasons.count("Issued") == 50
    assert "Reissued" not in reasons
    assert "Renewed" not in reasons


def test_invalid_but_schema_valid_inputs_fail_with_a_reason_and_an_event(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace, caDuration="2h"))
    cluster.apply(certificate(namespace, "orphan", issuer="nonexistent"))
    cluster.apply(
        certificate(
            namespace,
            "java",
            duration="1h",
            keystores={"pkcs12": {"passwordSecretRef": {"name": "p12-password"}}},
        )
    )
    cluster.apply(certificate(namespace, "toolong", duration="3h"))
    cluster.apply(certificate(namespace, "badname", dnsNames=["bad_name.example.com"]))
    expectations = {
        "orphan": ("IssuerNotFound", "Issuer nonexistent not found"),
        "java": (
            "PasswordSecretNotFound",
            "PKCS#12 password Secret p12-password with key password not found",
        ),
        "toolong": ("DurationExceedsIssuer", "after the issuer CA expires"),
        "badname": ("InvalidRequest", "label 'bad_name' must be"),
    }
    for name, (reason, message) in expectations.items():
        cond = cluster.wait_condition(CERTIFICATES.plural, namespace, name, "False", reason)
        assert message in cond["message"]
        events = cluster.events(namespace, name)
        assert [(e.type, e.reason) for e in events] == [("Warning", reason)]
        assert cluster.secret_data(namespace, f"{name}-tls") is None
    assert operator_process.alive()

    # Fixing the input recovers without any manual action.
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {
                "metadata": {"name": "p12-password", "labels": {"certmint.dev/pkcs12-password": "true"}},
                "stringData": {"password": "changeit"},
            }
        ),
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "java", "True", timeout=40)
    data = cluster.secret_data(namespace, "java-tls") or {}
    assert {"keystore.p12", "truststore.p12"} <= set(data)


def test_pkcs12_keystore_opens_with_openssl(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {
                "metadata": {"name": "p12-password", "labels": {"certmint.dev/pkcs12-password": "true"}},
                "stringData": {"password": "changeit"},
            }
        ),
    )
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(
        certificate(
            namespace,
            keystores={"pkcs12": {"passwordSecretRef": {"name": "p12-password"}}},
            additionalOutputFormats=[{"type": "CombinedPEM"}, {"type": "DER"}],
            privateKey={"encoding": "PKCS8"},
        )
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    data = cluster.secret_data(namespace, "web-tls") or {}
    assert data["tls.key"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert data["tls-combined.pem"].startswith(data["tls.key"])
    (tmp_path / "keystore.p12").write_bytes(data["keystore.p12"])
    opened = subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-in",
            str(tmp_path / "keystore.p12"),
            "-info",
            "-nokeys",
            "-passin",
            "pass:changeit",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr
    assert "BEGIN CERTIFICATE" in opened.stdout


def test_deleting_a_certificate_keeps_its_secret_unless_asked(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, "keep"))
    cluster.apply(certificate(namespace, "drop", cleanupSecretOnDelete=True))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "keep", "True")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "drop", "True")
    owners = metadata_of(cluster.core.read_namespaced_secret("drop-tls", namespace)).owner_references
    assert [o.kind for o in owners or []] == ["Certificate"]

    cluster.plane.kubectl(
        "delete", "certificates.certmint.dev", "keep", "drop", "-n", namespace, "--timeout=10s"
    )
    # The garbage collector of the real kube-controller-manager follows the ownerReference.
    wait_for(lambda: cluster.secret_data(namespace, "drop-tls") is None, 30, what="owned Secret collected")
    assert cluster.secret_data(namespace, "keep-tls") is not None


def test_other_writers_metadata_survives_and_ours_is_restored_without_reissue(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, secretTemplate={"labels": {"team": "payments"}}))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    serial = (metadata_of(cluster.core.read_namespaced_secret("web-tls", namespace)).annotations or {})[
        "certmint.dev/serial-number"
    ]

    cluster.plane.kubectl("label", "secret", "web-tls", "-n", namespace, "backup=daily")
    cluster.plane.kubectl("annotate", "secret", "web-tls", "-n", namespace, "reflector/enabled=true")
    cluster.plane.kubectl("label", "secret", "web-tls", "-n", namespace, "team-")

    def restored() -> bool:
        labels = metadata_of(cluster.core.read_namespaced_secret("web-tls", namespace)).labels or {}
        return labels.get("team") == "payments"

    wait_for(restored, 10, what="template label restored")
    secret = cluster.core.read_namespaced_secret("web-tls", namespace)
    assert (metadata_of(secret).labels or {})["backup"] == "daily"
    assert (metadata_of(secret).annotations or {})["reflector/enabled"] == "true"
    assert (metadata_of(secret).annotations or {})["certmint.dev/serial-number"] == serial, (
        "metadata drift must not re-issue"
    )
    assert [e.reason for e in cluster.events(namespace, "web")] == ["Issued"]


def test_two_certificates_for_one_secret_do_not_fight(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, "first"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "first", "True")
    cluster.apply(
        certificate(namespace, "second", secretName="first-tls", dnsNames=[f"second.{namespace}.svc"])
    )
    cond = cluster.wait_condition(CERTIFICATES.plural, namespace, "second", "False", "SecretConflict")
    assert "Certificate first" in cond["message"]
    version = metadata_of(cluster.core.read_namespaced_secret("first-tls", namespace)).resource_version
    # Make the loser look again (a label is no spec change), and wait until it has.
    finished = operator_process.reconciles()
    cluster.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        CERTIFICATES.plural,
        "second",
        {"metadata": {"labels": {"poke": "1"}}},
    )
    operator_process.wait_reconciled(finished + 1)
    assert (
        metadata_of(cluster.core.read_namespaced_secret("first-tls", namespace)).resource_version == version
    )
    assert [e.reason for e in cluster.events(namespace, "first")] == ["Issued"]

    # Once the owner is gone the Secret still belongs to it (by UID): the other Certificate takes it
    # over only when someone allowed to edit the Secret invites it.
    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural, "first")
    cluster.wait_condition(CERTIFICATES.plural, namespace, "second", "False", "SecretNotOwned")
    assert (
        metadata_of(cluster.core.read_namespaced_secret("first-tls", namespace)).resource_version == version
    )
    cluster.core.patch_namespaced_secret(
        "first-tls", namespace, {"metadata": {"annotations": {"certmint.dev/allow-adoption-by": "second"}}}
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "second", "True", timeout=60)
    secret = cluster.core.read_namespaced_secret("first-tls", namespace)
    assert (metadata_of(secret).annotations or {})["certmint.dev/certificate-name"] == "second"


def _leaf_secrets(cluster: Cluster, namespace: str) -> list[client.V1Secret]:
    found = cluster.core.list_namespaced_secret(namespace, label_selector="certmint.dev/secret-role=leaf")
    return list(found.items)
