"""The gateway contract (tests/kube_contract.py) on the fake the operator's unit tests run on; the
same contract runs on a real API server in tests/e2e/test_kube_contract.py."""

import pytest

from certmint.kube import objects
from tests.kube_contract import CONTRACTS, Contract
from tests.kubefake import FakeKube

NAMESPACE = "contract"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda contract: contract.__name__)
async def test_the_fake_keeps_the_contract(contract: Contract) -> None:
    kube = FakeKube()
    await kube.request("POST", objects.core_path("namespaces", None), body={"metadata": {"name": NAMESPACE}})
    await contract(kube, NAMESPACE)
