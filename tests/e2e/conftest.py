"""End-to-end fixtures: a real etcd + kube-apiserver (+ controller-manager), and the operator process."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from devcluster import ControlPlane, LocalControlPlane
from devcluster.controlplane import free_port
from tests.e2e.hygiene import Recorder
from tests.e2e.support import Cluster, OperatorProcess

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is e2e. Tests marked after_all search what the whole session published:
    they run last, by this rule rather than by the order of file names."""
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with LocalControlPlane(tmp_path_factory.mktemp("controlplane")) as plane:
        plane.install_certmint(REPO / "crds")
        yield plane


@pytest.fixture(scope="session")
def cluster(control_plane: ControlPlane) -> Cluster:
    api_client = config.new_client_from_config(str(control_plane.kubeconfig))
    return Cluster(plane=control_plane, api=api_client)


@pytest.fixture(scope="session", autouse=True)
def recorder(cluster: Cluster) -> Iterator[Recorder]:
    """Records everything certmint publishes during the session, for test_secrets_hygiene to search."""
    with Recorder(cluster.api) as recording:
        yield recording


def _throwaway_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    yield name
    cluster.core.delete_namespace(name)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    yield from _throwaway_namespace(cluster)


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    """A second namespace, for tests of what crosses from one namespace to another."""
    yield from _throwaway_namespace(cluster)


@pytest.fixture(scope="session")
def operator_process(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for the session; tests that restart or stop it use `fresh_operator` instead."""
    process = OperatorProcess(
        control_plane,
        tmp_path_factory.mktemp("operator") / "operator.log",
        {"CERTMINT_METRICS_PORT": str(free_port())},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def without_session_operator(operator_process: OperatorProcess) -> Iterator[None]:
    """For tests that run operators of their own: the session's one would work alongside them."""
    operator_process.stop()
    yield
    operator_process.start()
