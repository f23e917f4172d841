"""Issue 26 end to end: from the previous release to the working tree with `helm upgrade`, back with
`helm rollback`, and `helm uninstall`, on a real API server of this module's own (the session's has
the working tree's CRDs applied by kubectl).

The previous release is the newest one in releases.yaml: its chart and its code, extracted by
`git archive` of its commit (tools/devcluster/releases.py). No image is built and no node runs: "the
image" of each release is its code, run as the operator process with a token of the chart's
ServiceAccount, so the chart's RBAC of that release is all it has. The previous release creates
Issuers, Certificates (most not due, one due soon), a TrustBundle, a signed CSR and a CA rotation in
progress; after the upgrade, every Secret that was not due is byte-identical with the same
resourceVersion, the due one is renewed once, the rotation completes, every object reads as v1 and
as v1alpha1, and a field the previous CRDs pruned survives. Every "nothing changed" assertion comes
after the working tree's operator has reconciled every Certificate and gone idle."""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes import client, config

from certmint.api.kinds import (
    CERTIFICATES,
    CLUSTER_ISSUERS,
    DEPRECATED_VERSIONS,
    GROUP,
    ISSUERS,
    TRUST_BUNDLES,
    VERSION,
)
from certmint.pki import load_certificates_pem
from certmint.planning import reasons
from certmint.planning.labels import SECRET_ROLE_LABEL
from devcluster import LocalControlPlane
from devcluster.controlplane import free_port
from devcluster.releases import extract_release, newest_release, recorded_releases
from tests.e2e import manifests
from tests.e2e.support import Cluster, OperatorProcess, json_object, metadata_of, name_of, wait_for
from tests.e2e.test_chart import service_account_kubeconfig, submit_approved_csr, wait_csr_signed

REPO = Path(__file__).resolve().parents[2]
RELEASE = "certmint"  # the chart's full name is then `certmint`: its ServiceAccount and peering object
RELEASE_NAMESPACE = "certmint-system"
APP = "shop"
FIELDS = "fields"  # an Issuer of its own for the new field, with no Certificate to affect
CERTMINT_CRDS = tuple(
    f"{kind.plural}.{GROUP}" for kind in (CERTIFICATES, ISSUERS, CLUSTER_ISSUERS, TRUST_BUNDLES)
)
ROOT = "upgrade-root"
BUNDLE = "upgrade-bundle"
STEADY = ("steady-1", "steady-2", "steady-3")  # on the ClusterIssuer, 24h: never due in this test
SOON = "soon"  # on the ClusterIssuer, 3m: renewed 2 minutes after each issuance
ROTATED = ("server", "client")  # on the Issuer whose CA rotates: re-issued by the new CA
CHANGING_SECRETS = {(APP, "ca-ca"), (APP, f"{SOON}-tls"), *((APP, f"{name}-tls") for name in ROTATED)}
"""The Secrets the upgrade may change: the rotating CA's, and the leaves that are due."""
CERTIFICATE_COUNT = len(STEADY) + 1 + len(ROTATED)
CHART = REPO / "charts" / "certmint"
WORKING_TREE_VERSIONS = [(VERSION, True, True), *((version, True, False) for version in DEPRECATED_VERSIONS)]
"""(name, served, storage) of each version the working tree's CRDs define."""


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            str(cluster.plane.binaries.helm),
            *args,
            "--namespace",
            RELEASE_NAMESPACE,
            "--kubeconfig",
            str(cluster.plane.kubeconfig),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
    return result


def in_version(manifest: dict[str, Any], version: str) -> dict[str, Any]:
    return {**manifest, "apiVersion": f"{GROUP}/{version}"}


def operator(cluster: Cluster, kubeconfig: Path, log: Path, source: Path | None) -> OperatorProcess:
    """The operator as the chart's Deployment runs it, with only the chart's ServiceAccount; `source`:
    a release's src/ instead of the working tree's."""
    env = {
        "KUBECONFIG": str(kubeconfig),
        "CERTMINT_NAMESPACE": RELEASE_NAMESPACE,
        "CERTMINT_METRICS_PORT": str(free_port()),
        "CERTMINT_PEERING": RELEASE,  # the chart's ClusterKopfPeering, as its Deployment sets it
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return OperatorProcess(cluster.plane, log, env)


def version_of(source: Path) -> str:
    """The version of the certmint package a process with this PYTHONPATH imports."""
    return subprocess.run(
        [sys.executable, "-c", "import certmint; print(certmint.__version__)"],
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def versions_of_release(source: Path) -> list[tuple[str, bool, bool]]:
    """(name, served, storage) of each version a release's own CRDs define (its crds/)."""
    crd = yaml.safe_load((source / "crds" / f"{GROUP}_{CERTIFICATES.plural}.yaml").read_text())
    return [(version["name"], version["served"], version["storage"]) for version in crd["spec"]["versions"]]


def crd(cluster: Cluster, name: str) -> dict[str, Any]:
    found = client.ApiextensionsV1Api(cluster.api).read_custom_resource_definition(name)
    plain: dict[str, Any] = cluster.api.sanitize_for_serialization(found)
    return plain


def served_versions(cluster: Cluster, name: str) -> list[tuple[str, bool, bool]]:
    """(name, served, storage) of each version of the CRD."""
    return [(v["name"], v["served"], v["storage"]) for v in crd(cluster, name)["spec"]["versions"]]


def certmint_secrets(cluster: Cluster) -> dict[tuple[str, str], tuple[dict[str, str], str]]:
    """Every Secret certmint manages (CA and leaf), by namespace and name: its data and resourceVersion."""
    found = cluster.core.list_secret_for_all_namespaces(label_selector=SECRET_ROLE_LABEL).items
    return {
        (str(metadata_of(secret).namespace), name_of(secret)): (
            {key: str(value) for key, value in (secret.data or {}).items()},
            str(metadata_of(secret).resource_version),
        )
        for secret in found
    }


def certmint_objects(cluster: Cluster, version: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every certmint object as that API version serves it, by plural, namespace and name."""
    found = {}
    for kind in (CERTIFICATES, ISSUERS, CLUSTER_ISSUERS, TRUST_BUNDLES):
        listing = json_object(cluster.custom.list_cluster_custom_object(GROUP, version, kind.plural))
        for item in listing["items"]:
            metadata = item["metadata"]
            found[kind.plural, metadata.get("namespace", ""), metadata["name"]] = item
    return found


def rotation_phase(cluster: Cluster) -> object:
    return (
        ((cluster.get(ISSUERS.plural, APP, "ca") or {}).get("status") or {}).get("rotation", {}).get("phase")
    )


def leaf(cluster: Cluster, namespace: str, secret: str) -> x509.Certificate:
    return load_certificates_pem((cluster.secret_data(namespace, secret) or {})["tls.crt"])[0]


def event_count(cluster: Cluster, name: str, reason: str) -> int:
    return sum(event.count or 1 for event in cluster.events(APP, name) if event.reason == reason)


@pytest.fixture(scope="module")
def previous_source() -> Path:
    """The newest recorded release's tree, from `git archive` of its commit."""
    return extract_release(newest_release(recorded_releases()))


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with LocalControlPlane(tmp_path_factory.mktemp("upgrade")) as started:
        yield Cluster(plane=started, api=config.new_client_from_config(str(started.kubeconfig)))


def create_objects(previous: Cluster) -> None:
    """What the previous release serves when the upgrade starts, created through its API version."""
    for namespace, labels in ((APP, {"upgrade-test": APP}), (FIELDS, {})):
        previous.core.create_namespace(
            client.V1Namespace.model_validate({"metadata": {"name": namespace, "labels": labels}})
        )
    root = {"name": ROOT, "kind": "ClusterIssuer"}
    for manifest in (
        manifests.cluster_issuer(ROOT, selfSigned={}),
        # Requested rotations take two propagation delays (prepared, then overlapping).
        manifests.self_signed_issuer(APP, rotation={"propagationDelay": "30s"}),
        manifests.self_signed_issuer(FIELDS),
        *(manifests.certificate(APP, name, issuerRef=root) for name in STEADY),
        manifests.certificate(APP, SOON, issuerRef=root, duration="3m"),
        *(manifests.certificate(APP, name, duration="1h") for name in ROTATED),
        manifests.issuer_bundle(BUNDLE, APP, {"upgrade-test": APP}),
    ):
        previous.apply(in_version(manifest, previous.version))
    previous.wait_condition(CLUSTER_ISSUERS.plural, None, ROOT, "True", timeout=60)
    for namespace in (APP, FIELDS):
        previous.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)
    for name in (*STEADY, SOON, *ROTATED):
        previous.wait_condition(CERTIFICATES.plural, APP, name, "True", timeout=60)
    previous.wait_condition(TRUST_BUNDLES.plural, None, BUNDLE, "True", timeout=60)


def write_default_field(cluster: Cluster, version: str) -> dict[str, Any]:
    """Sets spec.default on the FIELDS Issuer (true: the schema's default is false, so only a stored
    value reads back true; no Certificate in FIELDS could pick a default issuer) and reads it back."""
    cluster.custom.patch_namespaced_custom_object(
        GROUP, version, FIELDS, ISSUERS.plural, "ca", {"spec": {"default": True}}
    )
    return json_object(
        cluster.custom.get_namespaced_custom_object(GROUP, version, FIELDS, ISSUERS.plural, "ca")
    )


@dataclass(frozen=True)
class Recorded:
    """What the previous release left when its operator stopped."""

    secrets: dict[tuple[str, str], tuple[dict[str, str], str]]
    objects: dict[tuple[str, str, str], dict[str, Any]]
    soon_renewals: int
    old_ca: x509.Certificate
    csr_certificate: bytes


def run_previous_release(previous: Cluster, old_operator: OperatorProcess) -> Recorded:
    """Its objects, a signed CSR and a CA rotation in progress; then its operator stops."""
    old_operator.start()
    create_objects(previous)
    pruned = write_default_field(previous, previous.version)
    assert "default" not in pruned["spec"], "the previous release's schema has no spec.default"
    submit_approved_csr(previous, "before-upgrade", f"issuers.certmint.dev/{APP}.ca", APP)
    csr_certificate = wait_csr_signed(previous, "before-upgrade")
    # Requested, then prepared: the next CA is trusted and does not sign yet.
    previous.plane.kubectl(
        "annotate", "issuers.certmint.dev", "ca", "-n", APP, "certmint.dev/rotate-ca=upgrade"
    )
    wait_for(lambda: rotation_phase(previous) == "Prepared", 60, what="the rotation prepared")
    old_operator.wait_reconciled(CERTIFICATE_COUNT, timeout=120)
    old_operator.stop()
    assert "Forbidden" not in old_operator.log(), old_operator.log()[-3000:]
    assert rotation_phase(previous) in {"Prepared", "Overlap"}, "the upgrade starts mid-rotation"
    secrets = certmint_secrets(previous)
    assert {(APP, f"{name}-tls") for name in (*STEADY, SOON, *ROTATED)} <= set(secrets)
    assert any(namespace == RELEASE_NAMESPACE for namespace, _ in secrets), "the ClusterIssuer's CA Secret"
    return Recorded(
        secrets=secrets,
        objects=certmint_objects(previous, previous.version),
        soon_renewals=event_count(previous, SOON, reasons.RENEWED),
        old_ca=leaf(previous, APP, "ca-ca"),
        csr_certificate=csr_certificate,
    )


def upgrade_to_the_working_tree(current: Cluster, previous_versions: list[tuple[str, bool, bool]]) -> None:
    """The README's one-time step from 0.1.0, after the plain upgrade it replaces is refused."""
    # The CRDs the previous release installed from crds/ belong to no release: a chart that
    # templates them cannot import them, and changes nothing.
    refused = helm(current, "upgrade", RELEASE, str(CHART), "--wait=false", check=False)
    assert refused.returncode != 0
    assert "exists and cannot be imported into the current release" in refused.stderr, refused.stderr
    assert all(served_versions(current, name) == previous_versions for name in CERTMINT_CRDS)
    helm(current, "upgrade", RELEASE, str(CHART), "--take-ownership", "--wait=false")
    for name in CERTMINT_CRDS:
        assert served_versions(current, name) == WORKING_TREE_VERSIONS
        assert crd(current, name)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def prove_the_rotation_completed(current: Cluster, old_ca: x509.Certificate) -> x509.Certificate:
    """Stable again; the bundle holds only the new CA, which signed the rotating issuer's leaves."""
    wait_for(lambda: rotation_phase(current) == "Stable", 120, what="the rotation completed")
    new_ca = leaf(current, APP, "ca-ca")
    assert new_ca != old_ca

    def bundle() -> list[x509.Certificate]:
        data = current.core.read_namespaced_config_map(BUNDLE, APP).data or {}
        return load_certificates_pem(data["ca.crt"].encode())

    wait_for(lambda: bundle() == [new_ca], 30, what="the bundle holds only the new CA")
    for name in ROTATED:
        secret = f"{name}-tls"

        def on_new_ca(secret: str = secret) -> bool:
            return leaf(current, APP, secret).issuer == new_ca.subject

        wait_for(on_new_ca, 60, what=f"{secret} issued by the new CA")
        leaf(current, APP, secret).verify_directly_issued_by(new_ca)
    return new_ca


def prove_only_the_due_changed(current: Cluster, new_operator: OperatorProcess, recorded: Recorded) -> None:
    """The due Certificate renewed once; once the operator is idle, every other Secret is untouched."""
    soon_before = recorded.secrets[APP, f"{SOON}-tls"][0]
    wait_for(
        lambda: certmint_secrets(current)[APP, f"{SOON}-tls"][0] != soon_before, 180, what=f"{SOON} renewed"
    )
    new_operator.wait_reconciled(CERTIFICATE_COUNT, timeout=120)
    secrets = certmint_secrets(current)
    assert set(secrets) == set(recorded.secrets), "no Secret created or deleted"
    for key, before in recorded.secrets.items():
        if key not in CHANGING_SECRETS:
            assert secrets[key] == before, f"{key} changed though it was not due"
    wait_for(lambda: event_count(current, SOON, reasons.RENEWED) > recorded.soon_renewals, 30, what="Renewed")
    assert event_count(current, SOON, reasons.RENEWED) == recorded.soon_renewals + 1

    def issued_at(data: dict[str, str]) -> datetime:
        return load_certificates_pem(base64.b64decode(data["tls.crt"]))[0].not_valid_before_utc

    assert issued_at(secrets[APP, f"{SOON}-tls"][0]) > issued_at(soon_before)


def read_in_both_versions(
    current: Cluster, key: tuple[str, str, str], older: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object as the storage version and as an older one, read at the same resourceVersion."""
    plural, namespace, name = key

    def read(version: str) -> dict[str, Any]:
        if namespace:
            found = current.custom.get_namespaced_custom_object(GROUP, version, namespace, plural, name)
        else:
            found = current.custom.get_cluster_custom_object(GROUP, version, plural, name)
        return json_object(found)

    def same_revision() -> tuple[dict[str, Any], dict[str, Any]] | None:
        pair = read(VERSION), read(older)
        same = pair[0]["metadata"]["resourceVersion"] == pair[1]["metadata"]["resourceVersion"]
        return pair if same else None

    return wait_for(same_revision, 30, what=f"{key} read twice at one resourceVersion")


def prove_every_version_serves_every_object(current: Cluster, recorded: Recorded) -> None:
    """Every object reads the same in every version the working tree serves; none appeared or went."""
    assert set(certmint_objects(current, VERSION)) == set(recorded.objects)
    for older in DEPRECATED_VERSIONS:
        assert set(certmint_objects(current, older)) == set(recorded.objects)
        for key in recorded.objects:
            as_current, as_older = read_in_both_versions(current, key, older)
            assert as_current["apiVersion"] == f"{GROUP}/{VERSION}"
            assert as_older["apiVersion"] == f"{GROUP}/{older}"
            assert {**as_older, "apiVersion": as_current["apiVersion"]} == as_current, key


def roll_back_and_serve_with_the_previous_release(
    current: Cluster,
    previous: Cluster,
    old_operator: OperatorProcess,
    recorded: Recorded,
    new_ca: x509.Certificate,
) -> None:
    """The templated CRDs are kept (still v1 storage), so is every object; the previous release's
    operator serves again, with the CA the working tree rotated to."""
    helm(current, "rollback", RELEASE, "1", "--wait=false")
    for name in CERTMINT_CRDS:
        assert served_versions(current, name) == WORKING_TREE_VERSIONS
    assert set(certmint_objects(previous, previous.version)) == set(recorded.objects)
    assert set(certmint_secrets(current)) == set(recorded.secrets)
    old_operator.start()
    previous.apply(in_version(manifests.certificate(APP, "after-rollback"), previous.version))
    previous.wait_condition(CERTIFICATES.plural, APP, "after-rollback", "True", timeout=60)
    leaf(current, APP, "after-rollback-tls").verify_directly_issued_by(new_ca)
    assert "Forbidden" not in old_operator.log(), old_operator.log()[-3000:]
    old_operator.stop()


def upgrade_again_and_uninstall(current: Cluster) -> None:
    """The CRDs are the release's now (no --take-ownership); uninstalled, every CRD, certmint object
    and Secret stays."""
    helm(current, "upgrade", RELEASE, str(CHART), "--wait=false")
    objects, secrets = certmint_objects(current, VERSION), certmint_secrets(current)
    uninstalled = helm(current, "uninstall", RELEASE)
    assert "kept due to the resource policy" in uninstalled.stdout, uninstalled.stdout
    for name in (*CERTMINT_CRDS, "clusterkopfpeerings.kopf.dev"):
        assert crd(current, name)["metadata"].get("deletionTimestamp") is None, name
    assert set(certmint_objects(current, VERSION)) == set(objects)
    assert set(certmint_secrets(current)) == set(secrets)


@pytest.mark.timeout(900)
def test_upgrade_from_the_previous_release_rollback_and_uninstall(
    plane: Cluster, previous_source: Path, tmp_path: Path
) -> None:
    previous_versions = versions_of_release(previous_source)
    (previous_storage,) = (name for name, _, storage in previous_versions if storage)
    assert previous_storage in {VERSION, *DEPRECATED_VERSIONS}, (
        "the working tree serves what the release reads"
    )
    previous = Cluster(plane=plane.plane, api=plane.api, version=previous_storage)
    current = plane
    # The previous release as its users installed it: its chart (CRDs from its crds/), its code.
    helm(
        current,
        "install",
        RELEASE,
        str(previous_source / "charts" / "certmint"),
        "--create-namespace",
        "--wait=false",
    )
    assert all(served_versions(current, name) == previous_versions for name in CERTMINT_CRDS)
    assert version_of(previous_source / "src") == newest_release(recorded_releases()).version
    kubeconfig = service_account_kubeconfig(current, RELEASE_NAMESPACE, RELEASE, tmp_path / "sa.kubeconfig")
    old_operator = operator(current, kubeconfig, tmp_path / "previous-operator.log", previous_source / "src")
    recorded = run_previous_release(previous, old_operator)

    upgrade_to_the_working_tree(current, previous_versions)
    new_operator = operator(current, kubeconfig, tmp_path / "operator.log", None)
    new_operator.start()
    new_operator.wait_reconciled(CERTIFICATE_COUNT, timeout=120)
    new_ca = prove_the_rotation_completed(current, recorded.old_ca)
    prove_only_the_due_changed(current, new_operator, recorded)
    # CSRs: the one signed before is left alone; one approved now is signed by the new CA.
    assert wait_csr_signed(current, "before-upgrade") == recorded.csr_certificate
    submit_approved_csr(current, "after-upgrade", f"issuers.certmint.dev/{APP}.ca", APP)
    load_certificates_pem(wait_csr_signed(current, "after-upgrade"))[0].verify_directly_issued_by(new_ca)
    prove_every_version_serves_every_object(current, recorded)
    # The field new in the working tree is stored now, and served by both versions.
    assert write_default_field(current, VERSION)["spec"]["default"] is True
    assert (previous.get(ISSUERS.plural, FIELDS, "ca") or {})["spec"]["default"] is True
    assert "Forbidden" not in new_operator.log(), new_operator.log()[-3000:]
    new_operator.stop()

    roll_back_and_serve_with_the_previous_release(current, previous, old_operator, recorded, new_ca)
    upgrade_again_and_uninstall(current)
