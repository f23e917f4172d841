"""Issue 28, `certmint convert` on the real API server: the corpus of cert-manager manifests
(tests/corpus/cert-manager) converted, applied, and every object Ready (Synced for the bundle); the
same objects read back from the served cert-manager kinds (--from-cluster) convert to the same
manifests and refusals; the command reads with its caller's rights only.

cert-manager itself never runs: the CA Secrets its bootstrap Certificates would have written are
made here the way cert-manager makes them (tests/e2e/cert_manager.py), annotated as convert's notes
ask: the default output (each `ca` issuer a selfSigned issuer importing its CA Secret) is applied and
every issuer is Ready by the import; the `--ca-issuers=ca` output is checked by the API server's
schema (a server-side dry run)."""

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from kubernetes import client

from certmint.api.kinds import IMPORTED, by_kind
from certmint.cli.output import EXIT_API_ERROR, EXIT_FAILED_CHECK
from certmint.pki import (
    CARequest,
    CertificateAuthority,
    certificates_to_pem,
    create_root_ca,
)
from certmint.planning import reasons
from certmint.planning.labels import ALLOW_IMPORT_BY
from tests.convert_corpus import CORPUS, WRITTEN, expected_refusals, refusal_line_parts
from tests.e2e import cert_manager
from tests.e2e.cert_manager import install_cert_manager_kinds
from tests.e2e.support import Cluster, OperatorProcess, certmint, grant_role
from tests.e2e.test_chart import service_account_kubeconfig

OPERATOR_NAMESPACE = "certmint"
CLUSTER_SCOPED = {("ClusterIssuer", "corp-ca"), ("TrustBundle", "corp-trust")}
CERT_MANAGER_CLUSTER_SCOPED = (
    "clusterissuers.cert-manager.io/letsencrypt-prod",
    "clusterissuers.cert-manager.io/corp-selfsigned",
    "clusterissuers.cert-manager.io/corp-ca",
    "bundles.trust.cert-manager.io/corp-trust",
    "bundles.trust.cert-manager.io/public-and-corp",
)


def convert(
    cluster: Cluster, namespace: str, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`certmint convert` with every namespace the corpus leaves to the user set to `namespace`."""
    return certmint(
        cluster,
        "convert",
        *args,
        "--trust-namespace",
        namespace,
        "--cluster-resource-namespace",
        namespace,
        kubeconfig=kubeconfig,
        timeout=120,
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(text) if document]


def refusals(stderr: str) -> set[tuple[str, str]]:
    return {refusal_line_parts(line) for line in stderr.splitlines() if line.startswith("refused ")}


def cert_manager_ca_secret(
    cluster: Cluster, namespace: str, name: str, common_name: str, invitations: dict[tuple[str, str], str]
) -> cert_manager.Issued:
    """A root CA in a Secret as cert-manager writes it from a selfSigned isCA Certificate, annotated
    as convert's note asks."""
    ca = cert_manager.root_ca(common_name, algorithm="EC", lifetime=timedelta(days=3650))
    annotations = {ALLOW_IMPORT_BY: invitations[(namespace, name)]}
    manifest = cert_manager.ca_secret(namespace, name, cert_manager.ca_secret_data(ca), annotations)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret.model_validate(manifest))
    return ca


def leaf_of(cluster: Cluster, namespace: str, secret: str) -> x509.Certificate:
    data = cluster.secret_data(namespace, secret)
    assert data is not None, f"Secret {namespace}/{secret} was not written"
    return x509.load_pem_x509_certificates(data["tls.crt"])[0]


@pytest.fixture
def cert_manager_kinds(cluster: Cluster) -> Iterator[None]:
    install_cert_manager_kinds(cluster)
    yield
    cluster.plane.kubectl("delete", "--ignore-not-found", *CERT_MANAGER_CLUSTER_SCOPED, check=False)


def test_the_converted_corpus_is_accepted_and_every_object_becomes_ready(
    cluster: Cluster, operator_process: OperatorProcess, namespace: str
) -> None:
    assert_kept_as_ca_issuers(cluster, namespace)

    # The default: each `ca` issuer imports its CA Secret, annotated as the notes say.
    converted = convert(cluster, namespace, "-f", str(CORPUS), "-n", namespace)
    assert converted.returncode == EXIT_FAILED_CHECK, converted.stderr
    assert refusals(converted.stderr) == expected_refusals(namespace)
    manifests = documents(converted.stdout)
    assert {(d["kind"], d["metadata"]["name"]) for d in manifests} == WRITTEN
    invitations = import_invitations(converted.stderr)
    assert invitations == {
        (namespace, "root-ca-secret"): "Issuer/root-ca-issuer",
        (namespace, "corp-root-secret"): "ClusterIssuer/corp-ca",
    }, converted.stderr
    importing = [d for d in manifests if "importFrom" in d["spec"].get("selfSigned", {})]
    assert {d["metadata"]["name"] for d in importing} == {"root-ca-issuer", "corp-ca"}

    # What cert-manager and the user had made before the conversion, and what the notes ask for.
    root = cert_manager_ca_secret(cluster, namespace, "root-ca-secret", "shop root CA", invitations)
    corp = cert_manager_ca_secret(cluster, namespace, "corp-root-secret", "corp root CA", invitations)
    partner = user_objects(cluster, namespace)
    try:
        cluster.apply(converted.stdout)
        for manifest in manifests:
            wait_ready(cluster, manifest)
        for manifest in importing:
            metadata = manifest["metadata"]
            plural = by_kind(manifest["kind"]).plural
            imported = cluster.condition(plural, metadata.get("namespace"), metadata["name"], IMPORTED)
            assert imported is not None, f"{metadata['name']}: Ready, but not by the import"
            assert (imported["status"], imported["reason"]) == ("True", reasons.CA_IMPORTED)

        web = leaf_of(cluster, namespace, "web-tls")
        assert web.issuer == root.certificate.subject
        assert web.public_key().key_size == 384  # type: ignore[union-attr]
        assert leaf_of(cluster, namespace, "api-tls").issuer == corp.certificate.subject
        intermediate = leaf_of(cluster, namespace, "intermediate-ca-secret")
        assert intermediate.issuer == root.certificate.subject
        assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        for signed in (web, intermediate):
            signed.verify_directly_issued_by(root.certificate)
        leaf_of(cluster, namespace, "api-tls").verify_directly_issued_by(corp.certificate)
        client_key = leaf_of(cluster, namespace, "billing-client-tls").public_key()
        assert isinstance(client_key, ed25519.Ed25519PublicKey)
        java = cluster.secret_data(namespace, "java-app-tls")
        assert java is not None
        assert "keystore.p12" in java
        assert_bundle_published(cluster, namespace, corp, partner)
    finally:
        for kind, name in CLUSTER_SCOPED:
            cluster.plane.kubectl(
                "delete", "--ignore-not-found", f"{by_kind(kind).plural}.certmint.dev/{name}"
            )


def import_invitations(stderr: str) -> dict[tuple[str, str], str]:
    """(namespace, Secret) -> the allow-import-by value convert's notes ask that Secret be annotated with."""
    found = re.findall(
        rf"imports the CA of Secret ([^/\s]+)/(\S+): annotate it {ALLOW_IMPORT_BY}=(\S+);", stderr
    )
    return {(namespace, name): value for namespace, name, value in found}


def assert_kept_as_ca_issuers(cluster: Cluster, namespace: str) -> None:
    """--ca-issuers=ca: the same objects, `ca` issuers of the same Secrets, accepted by the schema."""
    kept = convert(cluster, namespace, "-f", str(CORPUS), "-n", namespace, "--ca-issuers", "ca")
    assert kept.returncode == EXIT_FAILED_CHECK, kept.stderr
    assert refusals(kept.stderr) == expected_refusals(namespace)
    assert {(d["kind"], d["metadata"]["name"]) for d in documents(kept.stdout)} == WRITTEN
    assert "copy Secret" in kept.stderr, "a ClusterIssuer's CA Secret lives in certmint's namespace"
    issuers = [d for d in documents(kept.stdout) if d["kind"] in ("Issuer", "ClusterIssuer")]
    assert {d["metadata"]["name"] for d in issuers if "ca" in d["spec"]} == {"root-ca-issuer", "corp-ca"}
    assert not [d for d in issuers if "importFrom" in d["spec"].get("selfSigned", {})]
    accepted = cluster.plane.kubectl(
        "apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump_all(issuers)
    )
    assert "(server dry run)" in accepted, accepted


def user_objects(cluster: Cluster, namespace: str) -> CertificateAuthority:
    """What the user had made for cert-manager's objects: a keystore password, a ConfigMap of a
    partner's root (returned) and the namespace label the Bundle selects."""
    partner = create_root_ca(CARequest("partner root", timedelta(days=365)), datetime.now(UTC))
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {
                "metadata": {"name": "keystore-password", "labels": {"certmint.dev/pkcs12-password": "true"}},
                "stringData": {"password": "correct-horse-battery-staple"},
            }
        ),
    )
    partner_pem = certificates_to_pem([partner.certificate]).decode()
    cluster.core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap.model_validate(
            {"metadata": {"name": "partner-roots"}, "data": {"roots.pem": partner_pem}}
        ),
    )
    cluster.plane.kubectl("label", "namespace", namespace, "trust.example.com/corp=true")
    return partner


def assert_bundle_published(
    cluster: Cluster, namespace: str, corp: cert_manager.Issued, partner: CertificateAuthority
) -> None:
    """The converted Bundle: every source in its ConfigMap, and its target.secret as a Secret."""
    bundle = cluster.core.read_namespaced_config_map("corp-trust", namespace).data or {}
    published = x509.load_pem_x509_certificates(bundle["trust.pem"].encode())
    subjects = {certificate.subject.rfc4514_string() for certificate in published}
    assert corp.certificate.subject.rfc4514_string() in subjects
    assert partner.certificate.subject.rfc4514_string() in subjects
    assert "O=Example Corp,CN=Example Corp Legacy Root" in subjects  # the inline source
    # trust-manager's target.secret: the same bundle published as a Secret, nothing private in it.
    secret = cluster.secret_data(namespace, "corp-trust")
    assert secret is not None, "the Bundle's target.secret is published as a Secret"
    assert secret["ca.crt"] == bundle["trust.pem"].encode()
    assert not [key for key, value in secret.items() if b"PRIVATE KEY" in value]


def wait_ready(cluster: Cluster, manifest: dict[str, Any]) -> None:
    """Ready (Synced for a TrustBundle); on a timeout the object's status says why not."""
    resource = by_kind(manifest["kind"])
    namespace, name = manifest["metadata"].get("namespace"), manifest["metadata"]["name"]
    try:
        cluster.wait_condition(resource.plural, namespace, name, "True", timeout=180)
    except AssertionError as timeout:
        status = (cluster.get(resource.plural, namespace, name) or {}).get("status")
        raise AssertionError(f"{timeout}; status: {status}") from timeout


def _mine(manifest: dict[str, Any], namespace: str) -> bool:
    """A manifest of this test's objects (-A also reads what other tests left in the cluster)."""
    metadata = manifest["metadata"]
    if metadata.get("namespace"):
        return bool(metadata["namespace"] == namespace)
    return (manifest["kind"], metadata["name"]) in CLUSTER_SCOPED


def test_from_cluster_gives_the_same_output_as_the_files(
    cluster: Cluster, namespace: str, cert_manager_kinds: None
) -> None:
    cluster.plane.kubectl("apply", "--server-side", "-n", namespace, "-f", str(CORPUS))

    from_files = convert(cluster, namespace, "-f", str(CORPUS), "-n", namespace)
    from_cluster = convert(cluster, namespace, "--from-cluster", "-A")

    assert from_files.returncode == from_cluster.returncode == EXIT_FAILED_CHECK, from_cluster.stderr
    files_manifests = documents(from_files.stdout)
    cluster_manifests = [d for d in documents(from_cluster.stdout) if _mine(d, namespace)]
    assert cluster_manifests == files_manifests
    expected = expected_refusals(namespace)
    mine = {refusal for refusal in refusals(from_cluster.stderr) if refusal in expected}
    assert mine == expected
    other_lines = refusals(from_cluster.stderr) - expected
    assert not {line for line in other_lines if f" {namespace}/" in line[0]}, other_lines

    # -n reads that namespace's Certificates and Issuers only: no cluster-scoped kind.
    one_namespace = convert(cluster, namespace, "--from-cluster", "-n", namespace)
    assert one_namespace.returncode == EXIT_FAILED_CHECK, one_namespace.stderr
    kinds = {d["kind"] for d in documents(one_namespace.stdout)}
    assert kinds == {"Issuer", "Certificate"}, kinds


def test_convert_reads_with_the_callers_rights_only(
    cluster: Cluster, namespace: str, cert_manager_kinds: None, tmp_path: Path
) -> None:
    """A tenant who may list cert-manager's kinds in its namespace converts them; every namespace
    (-A), or a namespace it may not list, is a clear error with exit 4, and nothing on stdout."""
    cluster.plane.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", str(CORPUS / "leaf-with-sans.yaml")
    )
    grant_role(
        cluster,
        namespace,
        "reader",
        [
            {
                "apiGroups": ["cert-manager.io"],
                "resources": ["certificates", "issuers"],
                "verbs": ["get", "list"],
            }
        ],
    )
    grant_role(
        cluster, namespace, "stranger", [{"apiGroups": ["certmint.dev"], "resources": ["*"], "verbs": ["*"]}]
    )
    reader = service_account_kubeconfig(cluster, namespace, "reader", tmp_path / "reader.kubeconfig")
    stranger = service_account_kubeconfig(cluster, namespace, "stranger", tmp_path / "stranger.kubeconfig")

    allowed = convert(cluster, namespace, "--from-cluster", "-n", namespace, kubeconfig=reader)
    assert allowed.returncode == 0, allowed.stderr
    assert [(d["kind"], d["metadata"]["name"]) for d in documents(allowed.stdout)] == [("Certificate", "web")]

    everywhere = convert(cluster, namespace, "--from-cluster", "-A", kubeconfig=reader)
    assert everywhere.returncode == EXIT_API_ERROR, everywhere.stderr
    assert everywhere.stdout == ""
    assert (
        "error: cannot list clusterissuers.cert-manager.io in every namespace: the API server answered 403 "
        "Forbidden" in everywhere.stderr
    ), everywhere.stderr

    refused = convert(cluster, namespace, "--from-cluster", "-n", namespace, kubeconfig=stranger)
    assert refused.returncode == EXIT_API_ERROR, refused.stderr
    assert refused.stdout == ""
    assert (
        f"error: cannot list issuers.cert-manager.io in namespace {namespace}: the API server answered 403 "
        "Forbidden" in refused.stderr
    ), refused.stderr
