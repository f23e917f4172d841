"""The metrics endpoint, called as aiohttp calls it."""

from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from certmint.operator import endpoints, metrics


async def scrape(path: str) -> set[str]:
    response = await endpoints._metrics(make_mocked_request("GET", path))
    assert isinstance(response.body, bytes)
    return {family.name for family in text_string_to_metric_families(response.body.decode())}


async def test_name_parameters_restrict_the_exposition_to_those_series() -> None:
    metrics.queue_depth.set(0)
    metrics.reconciles.labels(kind="Certificate", result="ok").inc(0)
    everything = await scrape("/metrics")
    assert {"certmint_workqueue_depth", "certmint_reconciles"} <= everything
    only = await scrape("/metrics?name[]=certmint_workqueue_depth&name[]=certmint_reconciles_total")
    assert only == {"certmint_workqueue_depth", "certmint_reconciles"}
    assert len(everything) > len(only)
