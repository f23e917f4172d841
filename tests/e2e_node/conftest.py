"""End-to-end fixtures on a real node: one node for the session, the Helm chart installed on it with
the locally built image, and a namespace per test."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.node import LocalNode, RunningNode

REPO = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "certmint"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e_node/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with LocalNode(tmp_path_factory.mktemp("node")) as running:
        running.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        yield running


def chart_values(node: RunningNode) -> list[str]:
    """Values that name the local image, and crds.enabled=false: the node's session applied crds/
    with kubectl when it started (tests/e2e/test_upgrade.py proves the chart's own CRDs). Nothing
    else of the chart is changed."""
    image = node.images.certmint
    return [
        f"image.repository={image.repository}",
        f"image.tag={image.tag}",
        "image.pullPolicy=Never",
        "crds.enabled=false",
    ]


@pytest.fixture(scope="session")
def release(node: RunningNode) -> str:
    node.kubectl("create", "namespace", RELEASE_NAMESPACE)
    node.helm(
        "install",
        "certmint",
        str(REPO / "charts" / "certmint"),
        "--namespace",
        RELEASE_NAMESPACE,
        *(argument for value in chart_values(node) for argument in ("--set", value)),
    )
    node.kubectl("rollout", "status", "-n", RELEASE_NAMESPACE, "deployment/certmint", "--timeout=180s")
    return "certmint"


@pytest.fixture(scope="session")
def pod_certificates_release(node: RunningNode, release: str) -> str:
    """The same release with the chart's podCertificates.enabled: the operator signs
    PodCertificateRequests and publishes ClusterTrustBundles, with the RBAC for both. The other
    values are kept, so tests that ran before see the chart's defaults."""
    node.helm(
        "upgrade",
        release,
        str(REPO / "charts" / "certmint"),
        "--namespace",
        RELEASE_NAMESPACE,
        "--reuse-values",
        "--set",
        "podCertificates.enabled=true",
    )
    node.kubectl("rollout", "status", "-n", RELEASE_NAMESPACE, "deployment/certmint", "--timeout=180s")
    return release


@pytest.fixture
def namespace(node: RunningNode) -> Iterator[str]:
    name = f"n-{uuid.uuid4().hex[:8]}"
    node.kubectl("create", "namespace", name)
    yield name
    node.kubectl("delete", "namespace", name, "--wait=false")
