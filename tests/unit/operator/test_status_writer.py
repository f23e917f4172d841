"""operator.status.write_status, the one status writer of the three reconcilers."""

from datetime import UTC, datetime

from certmint.api import ConditionStatus, TrustBundleStatus
from certmint.api.kinds import SYNCED, TRUST_BUNDLES
from certmint.operator.state import TRUST_BUNDLE, Key
from certmint.operator.status import write_status
from certmint.planning.status import set_condition
from tests.e2e import manifests
from tests.unit.operator.test_controller import Harness

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
BUNDLE = Key(TRUST_BUNDLE, "", "shared")


def synced(reason: str) -> TrustBundleStatus:
    conditions = set_condition([], SYNCED, ConditionStatus.TRUE, reason, "", 1, NOW)
    return TrustBundleStatus(conditions=conditions, observed_generation=1)


async def test_an_unchanged_status_is_not_written() -> None:
    harness = Harness()
    outcome = await write_status(harness.controller.context, BUNDLE, synced("Synced"), synced("Synced"))
    assert harness.kube.writes == []
    assert outcome.echoes == ()
    assert outcome.statuses == ()


async def test_a_changed_status_is_patched_in_its_wire_form_and_its_version_is_an_echo() -> None:
    harness = Harness()
    body = manifests.trust_bundle(
        "shared", [{"issuer": {"name": "ca", "namespace": "apps"}}], meta={"resourceVersion": "b1"}
    )
    harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")] = body
    new = synced("Synced")
    outcome = await write_status(harness.controller.context, BUNDLE, TrustBundleStatus(), new)
    assert harness.kube.writes == ["status trustbundles None/shared"]
    stored = harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")]
    assert stored["status"] == new.to_api()
    (echo,) = outcome.echoes
    assert echo == (BUNDLE, stored["metadata"]["resourceVersion"])
    assert echo[1] != "b1"
    assert [(written.key, written.status) for written in outcome.statuses] == [(BUNDLE, new.to_api())]
