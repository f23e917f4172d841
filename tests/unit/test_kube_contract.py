"""The gateway contract (tests/kube_contract.py) on the fake the operator's unit tests run on; the
same contract runs on a real API server in tests/e2e/test_kube_contract.py."""

import pytest

from certmint.kube import objects
from tests.kube_contract import CONTRACTS, POD_CERTIFICATE_CONTRACTS, Contract
from tests.kubefake import FakeKube

NAMESPACE = "contract"


@pytest.mark.parametrize(
    "contract", CONTRACTS + POD_CERTIFICATE_CONTRACTS, ids=lambda contract: contract.__name__
)
async def test_the_fake_keeps_the_contract(contract: Contract) -> None:
    kube = FakeKube()
    await kube.request("POST", objects.core_path("namespaces", None), body={"metadata": {"name": NAMESPACE}})
    await contract(kube, NAMESPACE)


async def test_without_the_gates_the_pod_certificate_api_is_not_discovered() -> None:
    assert not await FakeKube(serves_pod_certificate_api=False).serves_pod_certificates()
