"""The gateway contract (tests/kube_contract.py) on the real API server: what the unit tests' fake
(tests/kubefake.py) is held to."""

from collections.abc import AsyncIterator

import pytest

from certmint.kube.client import connect
from certmint.kube.gateway import Kube
from tests.e2e.support import Cluster
from tests.kube_contract import CONTRACTS, WRITES_CERTMINT_OBJECTS, Contract


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[Kube]:
    api = await connect(str(cluster.plane.kubeconfig))
    try:
        yield Kube(api)
    finally:
        await api.close()


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda contract: contract.__name__)
async def test_the_api_server_keeps_the_contract(
    contract: Contract, kube: Kube, namespace: str, request: pytest.FixtureRequest
) -> None:
    if contract in WRITES_CERTMINT_OBJECTS:
        request.getfixturevalue("without_session_operator")
    await contract(kube, namespace)
