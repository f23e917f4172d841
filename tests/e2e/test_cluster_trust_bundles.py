"""Issue 24 on a real API server: an Issuer with spec.podCertificates publishes its CAs as a
ClusterTrustBundle for its signer name; a CA rotation shows the next CA there before it signs; an
admin's ClusterTrustBundle of that name is left byte-identical; and against an API server without
the gates the operator keeps issuing Certificates and says APIUnavailable on the opted-in issuer.

devcluster's API servers serve certificates.k8s.io/v1beta1 with the gates on; this module keeps one of
its own (`gated`) for its operator with pod certificates on, and starts one without them (`ungated`,
Profile.pod_certificates=False) for the APIUnavailable test."""

import dataclasses
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client, config

from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.kube.client import connect
from certmint.kube.gateway import Kube
from certmint.pki import CARequest, certificates_to_pem, create_root_ca
from devcluster import LocalControlPlane
from devcluster.controlplane import API_ONLY, free_port
from tests.e2e import manifests
from tests.e2e.support import Cluster, OperatorProcess, wait_for
from tests.kube_contract import POD_CERTIFICATE_CONTRACTS, Contract

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1beta1", "clustertrustbundles"
POD_CERTIFICATES = {"CERTMINT_POD_CERTIFICATES": "true"}


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with LocalControlPlane(tmp_path_factory.mktemp("gated")) as plane:
        plane.install_certmint(REPO / "crds")
        yield Cluster(plane=plane, api=config.new_client_from_config(str(plane.kubeconfig)))


@pytest.fixture(scope="module")
def ungated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A control plane as Kubernetes 1.36 ships: no PodCertificateRequest or ClusterTrustBundle API."""
    profile = dataclasses.replace(API_ONLY, pod_certificates=False)
    with LocalControlPlane(tmp_path_factory.mktemp("ungated"), profile=profile) as plane:
        plane.install_certmint(REPO / "crds")
        yield Cluster(plane=plane, api=config.new_client_from_config(str(plane.kubeconfig)))


@pytest.fixture(scope="module")
def gated_operator(gated: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        gated.plane,
        tmp_path_factory.mktemp("gated-operator") / "operator.log",
        {"CERTMINT_METRICS_PORT": str(free_port()), **POD_CERTIFICATES},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def gated_namespace(gated: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    gated.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    yield name
    gated.core.delete_namespace(name)


@pytest.mark.parametrize("contract", POD_CERTIFICATE_CONTRACTS, ids=lambda contract: contract.__name__)
async def test_the_gated_api_server_keeps_the_contract(
    contract: Contract, gated: Cluster, gated_namespace: str
) -> None:
    """tests/kube_contract.py's ClusterTrustBundle contracts (FakeKube is held to them); they move to
    test_kube_contract.py once every devcluster API server has the gates on."""
    api = await connect(str(gated.plane.kubeconfig))
    try:
        await contract(Kube(api), gated_namespace)
    finally:
        await api.close()


def bundle(cluster: Cluster, name: str) -> dict[str, Any] | None:
    try:
        found = cluster.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise
    assert isinstance(found, dict)
    return found


def fingerprints(pem: str) -> set[str]:
    return {
        hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
        for certificate in x509.load_pem_x509_certificates(pem.encode())
    }


def published(cluster: Cluster, name: str) -> set[str]:
    found = bundle(cluster, name)
    return fingerprints(found["spec"]["trustBundle"]) if found else set()


def issuer_status(cluster: Cluster, namespace: str, name: str = "ca") -> dict[str, Any]:
    found = cluster.get(ISSUERS.plural, namespace, name) or {}
    status: dict[str, Any] = found.get("status") or {}
    return status


def pod_condition(cluster: Cluster, namespace: str, name: str = "ca") -> dict[str, Any] | None:
    return cluster.condition(ISSUERS.plural, namespace, name, "PodCertificates")


def bundle_name(namespace: str, name: str = "ca") -> str:
    return f"issuers.certmint.dev:{namespace}.{name}:primary"


@pytest.mark.usefixtures("gated_operator")
def test_the_ctb_holds_the_ca_and_the_next_one_before_it_signs(gated: Cluster, gated_namespace: str) -> None:
    namespace, name = gated_namespace, bundle_name(gated_namespace)
    gated.apply(
        manifests.issuer(
            namespace,
            "ca",
            selfSigned={"caDuration": "24h", "rotation": {"propagationDelay": "10s", "reissueWindow": "10s"}},
            podCertificates={"maxDuration": "1h"},
        )
    )
    gated.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    current = wait_for(lambda: issuer_status(gated, namespace).get("ca", {}).get("fingerprint"), what="CA")
    wait_for(lambda: current in published(gated, name), what=f"ClusterTrustBundle {name} with the CA")
    found = bundle(gated, name)
    assert found is not None
    assert found["spec"]["signerName"] == f"issuers.certmint.dev/{namespace}.ca"
    assert found["metadata"]["labels"]["certmint.dev/cluster-trust-bundle"] == "true"
    state = wait_for(lambda: pod_condition(gated, namespace), what="PodCertificates condition")
    assert (state["status"], state["reason"]) == ("True", "Published")
    assert name in state["message"]

    gated.plane.kubectl(
        "annotate", "issuers.certmint.dev", "ca", "-n", namespace, "certmint.dev/rotate-ca=now"
    )
    # Sampled together until the new CA signs: the bundle must have held it at an earlier sample.
    first_published: float | None = None
    deadline = time.monotonic() + 90
    while True:
        assert time.monotonic() < deadline, f"no activation; status {issuer_status(gated, namespace)}"
        status = issuer_status(gated, namespace)
        signing = (status.get("ca") or {}).get("fingerprint")
        following = ((status.get("rotation") or {}).get("nextCa") or {}).get("fingerprint")
        holds = published(gated, name)
        if signing and signing != current:
            assert first_published is not None, "the next CA signed before the ClusterTrustBundle held it"
            assert signing in holds
            break
        if following and following in holds and first_published is None:
            first_published = time.monotonic()
        time.sleep(0.2)
    assert current in published(gated, name), "the previous CA stays trusted during the overlap"


@pytest.mark.usefixtures("gated_operator")
def test_an_admins_ctb_of_that_name_is_left_byte_identical(gated: Cluster, gated_namespace: str) -> None:
    namespace, name = gated_namespace, bundle_name(gated_namespace, "admins")
    pem = _some_ca_pem()
    admins = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": name, "labels": {"certmint.dev/cluster-trust-bundle": "true"}},
        "spec": {"signerName": f"issuers.certmint.dev/{namespace}.admins", "trustBundle": pem},
    }
    gated.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, admins)
    try:
        before = bundle(gated, name)
        gated.apply(manifests.issuer(namespace, "admins", selfSigned={}, podCertificates={}))
        gated.wait_condition(ISSUERS.plural, namespace, "admins", "True")
        state = wait_for(
            lambda: (c := pod_condition(gated, namespace, "admins")) and c["reason"] != "Published" and c,
            what="PodCertificates condition",
        )
        assert (state["status"], state["reason"]) == ("False", "ClusterTrustBundleNotOwned")
        gated.plane.kubectl("delete", "issuers.certmint.dev", "admins", "-n", namespace)
        wait_for(lambda: gated.get(ISSUERS.plural, namespace, "admins") is None, what="issuer deleted")
        assert bundle(gated, name) == before, "neither written nor deleted"
    finally:
        gated.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


def _some_ca_pem() -> str:
    authority = create_root_ca(CARequest("admins-own", timedelta(days=1)), datetime.now(UTC))
    return certificates_to_pem([authority.certificate]).decode()


def test_without_the_api_certificates_are_issued_and_the_issuer_says_so(
    ungated: Cluster, tmp_path: Path
) -> None:
    cluster = ungated
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    process = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {"CERTMINT_METRICS_PORT": str(free_port()), **POD_CERTIFICATES},
    )
    process.start()
    try:
        cluster.apply(manifests.issuer(namespace, "ca", selfSigned={}, podCertificates={}))
        cluster.apply(manifests.certificate(namespace))
        cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
        state = wait_for(lambda: pod_condition(cluster, namespace), what="PodCertificates condition")
        assert (state["status"], state["reason"]) == ("False", "APIUnavailable")
        assert "--runtime-config=certificates.k8s.io/v1beta1=true" in state["message"]
        ready = cluster.condition(ISSUERS.plural, namespace, "ca")
        assert ready is not None
        assert ready["status"] == "True"
        assert process.log().count("does not serve certificates.k8s.io/v1beta1") == 1
    finally:
        process.stop()


@pytest.mark.usefixtures("gated_operator")
def test_a_trust_bundle_target_publishes_a_ctb_that_goes_with_the_bundle(gated: Cluster) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    pem = _some_ca_pem()
    gated.apply(manifests.trust_bundle(name, [{"inlinePEM": pem}], clusterTrustBundle={}))
    wait_for(lambda: bundle(gated, f"certmint-{name}"), what=f"ClusterTrustBundle certmint-{name}")
    found = bundle(gated, f"certmint-{name}")
    assert found is not None
    assert fingerprints(found["spec"]["trustBundle"]) == fingerprints(pem)
    assert "signerName" not in found["spec"]
    gated.plane.kubectl("delete", "trustbundles.certmint.dev", name)
    wait_for(
        lambda: bundle(gated, f"certmint-{name}") is None, what="ClusterTrustBundle deleted with the bundle"
    )
