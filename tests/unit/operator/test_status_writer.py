"""operator.status.write_status, the one status writer of the three reconcilers."""

from datetime import UTC, datetime
from typing import Any

from certmint.api import ConditionStatus, TrustBundleStatus
from certmint.api.kinds import SYNCED, TRUST_BUNDLES
from certmint.kube import objects
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.operator.outcome import Outcome
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


def sharded_harness() -> Harness:
    """A replica of a ring of two slots: its status patches carry a resourceVersion precondition."""
    harness = Harness()
    config = OperatorConfig(namespace="certmint", replicas=2)
    harness.controller = Controller(kube=harness.kube, config=config, clock=harness.clock)
    return harness


async def cached_bundle(harness: Harness) -> dict[str, Any]:
    """The TrustBundle as a user created it, its event seen."""
    body = manifests.trust_bundle("shared", [{"issuer": {"name": "ca", "namespace": "apps"}}])
    written = await harness.kube.request("POST", objects.path(TRUST_BUNDLES.plural, None), body=body)
    harness.controller.trust_bundle_event(None, written)
    return written


async def user_update(harness: Harness, body: dict[str, Any]) -> dict[str, Any]:
    """A user's write whose event has not arrived yet."""
    return await harness.kube.request("PUT", objects.path(TRUST_BUNDLES.plural, None, "shared"), body=body)


async def test_with_several_replicas_a_status_is_patched_only_to_the_version_planned_from() -> None:
    harness = sharded_harness()
    planned_from = (await cached_bundle(harness))["metadata"]["resourceVersion"]
    outcome = await write_status(harness.controller.context, BUNDLE, TrustBundleStatus(), synced("Synced"))
    assert harness.kube.writes[1:] == ["status trustbundles None/shared"]
    (written,) = outcome.statuses
    assert written.based_on == planned_from
    # Applied, the cache holds our version: the next patch's precondition, before our echo arrives.
    harness.controller.apply(BUNDLE, outcome)
    cached = harness.controller.state.bundles[BUNDLE]
    assert cached["metadata"]["resourceVersion"] == written.resource_version
    again = await write_status(harness.controller.context, BUNDLE, synced("Synced"), synced("Other"))
    assert harness.kube.writes[1:] == ["status trustbundles None/shared"] * 2
    assert again.statuses[0].based_on == written.resource_version


async def test_with_several_replicas_a_status_of_a_changed_object_is_not_written() -> None:
    """Someone changed the object after this reconcile planned from it: no write, no failure; the
    change's watch event brings the object back."""
    harness = sharded_harness()
    body = await cached_bundle(harness)
    changed = {**body, "metadata": {**body["metadata"], "labels": {"edited": "yes"}}}
    await user_update(harness, changed)
    arranged = list(harness.kube.writes)
    outcome = await write_status(harness.controller.context, BUNDLE, TrustBundleStatus(), synced("Synced"))
    assert harness.kube.writes == arranged
    assert outcome == Outcome()
    assert "status" not in harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")]


async def test_a_version_an_event_brought_meanwhile_stays_in_the_cache() -> None:
    harness = sharded_harness()
    await cached_bundle(harness)
    outcome = await write_status(harness.controller.context, BUNDLE, TrustBundleStatus(), synced("Synced"))
    stored = harness.kube.objects[(TRUST_BUNDLES.plural, None, "shared")]
    newer = await user_update(harness, {**stored, "spec": {"sources": []}})
    harness.controller.trust_bundle_event(None, newer)
    harness.controller.apply(BUNDLE, outcome)
    assert (
        harness.controller.state.bundles[BUNDLE]["metadata"]["resourceVersion"]
        == newer["metadata"]["resourceVersion"]
    )


async def test_a_single_replica_patches_its_status_without_a_precondition() -> None:
    """As before slots: a status written over a changed object (its event corrects it after)."""
    harness = Harness()
    body = await cached_bundle(harness)
    changed = {**body, "metadata": {**body["metadata"], "labels": {"edited": "yes"}}}
    await user_update(harness, changed)
    arranged = list(harness.kube.writes)
    outcome = await write_status(harness.controller.context, BUNDLE, TrustBundleStatus(), synced("Synced"))
    assert harness.kube.writes == [*arranged, "status trustbundles None/shared"]
    assert outcome.statuses[0].based_on == ""
