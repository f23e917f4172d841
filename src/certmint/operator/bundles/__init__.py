"""TrustBundle reconciliation: gather CA certificates from the sources (sources), publish them as
ConfigMaps in the chosen namespaces (publish), report Synced (status)."""

import logging

from pydantic import ValidationError

from certmint.api import TrustBundle, TrustBundleStatus
from certmint.api.common import ConditionStatus
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.bundles.publish import existing_copies, publish
from certmint.operator.bundles.sources import IssuerNotReconciled, SourceUnavailable, read_source
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import Body, Key
from certmint.pki import PKIError, assemble_bundle
from certmint.planning import reasons
from certmint.planning.bundle import (
    ConfigMapContent,
    TrustChange,
    configmap_content,
    contested_targets,
    describe_trust_change,
    hold_back,
    plan_targets,
    reserved_name_refusal,
    trust_change,
)
from certmint.planning.status import set_condition

log = logging.getLogger("certmint.bundles")

PLURAL = "trustbundles"
SYNCED = "Synced"
"""The condition type."""


async def reconcile(ctx: Context, key: Key) -> Outcome:
    body = ctx.state.bundles.get(key)
    if body is None:
        return Outcome()  # deleted: the ConfigMaps carry an ownerReference and go with it
    try:
        bundle = TrustBundle.model_validate(body)
    except ValidationError as error:
        return await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.INVALID_SPEC, str(error.errors()[0]["msg"])
        )
    reserved = reserved_name_refusal(bundle.metadata.name)
    if reserved is not None:  # the CRD refuses it too; this guards objects made before that rule
        return await _report(ctx, key, body, ConditionStatus.FALSE, reasons.RESERVED_NAME, reserved)
    try:
        sources = [await read_source(ctx, source) for source in bundle.spec.sources]
        content = assemble_bundle([certificates for certificates, _ in sources], ctx.clock())
    except IssuerNotReconciled as waiting:
        return Outcome(wait_for=waiting.key)
    except SourceUnavailable as error:
        reported = await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.SOURCE_UNAVAILABLE, str(error)
        )
        return reported.then(Outcome(backoff=True))
    except PKIError as error:
        return await _report(ctx, key, body, ConditionStatus.FALSE, reasons.INVALID_SOURCE, error.message)
    copies = await existing_copies(ctx, bundle)
    existing = {found.namespace: ConfigMapContent(found.data, found.binary_data) for found in copies}
    published = configmap_content(bundle, content, b"".join(crls for _, crls in sources))
    now = ctx.clock()
    plan = plan_targets(bundle.spec.target.namespace_selector, ctx.state.namespaces, existing, published)
    contests = contested_targets(
        plan.write,
        {found.namespace: found.writers for found in copies},
        {found.namespace: found.annotations for found in copies},
        published,
        now,
    )
    plan, held = hold_back(plan, contests, now)
    change = trust_change(
        (copy.data.get(bundle.spec.target.config_map_key, "") for copy in existing.values()),
        content.certificates,
    )
    result = await publish(ctx, bundle, content.digest, published, existing, plan, contests)
    if change and len(plan.write) > len(result.conflicts):  # at least one copy now holds it
        await _announce_trust_change(ctx, bundle, change)
    count = len(result.holding)
    if held:
        # Another writer keeps changing a published copy: say who, and look again when due.
        namespace, first = min(held.items(), key=lambda item: item[1].due)
        message = first.message("ConfigMap", f"{namespace}/{bundle.metadata.name}")
        reported = await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.CONFIGMAP_CONTESTED, message, count
        )
        return reported.then(Outcome(requeue_after=(first.due - now).total_seconds()))
    if result.conflicts:
        message = (
            f"a ConfigMap named {bundle.metadata.name} that certmint does not own exists in: "
            f"{', '.join(result.conflicts)}"
        )
        reported = await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.CONFIGMAP_CONFLICT, message, count, content.digest
        )
        return reported.then(Outcome(backoff=True))
    metrics.trust_bundle_certificates.labels(bundle.metadata.name).set(len(content.certificates))
    message = f"{len(content.certificates)} certificates published to {count} namespaces"
    return await _report(ctx, key, body, ConditionStatus.TRUE, reasons.SYNCED, message, count, content.digest)


async def _announce_trust_change(ctx: Context, bundle: TrustBundle, change: TrustChange) -> None:
    """A silent change of trust is what operators fear most: an event and a metric for every one."""
    name = bundle.metadata.name
    metrics.trust_bundle_changes.labels(name, "added").inc(len(change.added))
    metrics.trust_bundle_changes.labels(name, "removed").inc(len(change.removed))
    message = describe_trust_change(change)
    log.info("TrustBundle %s: %s", name, message)
    about = ObjectReference("TrustBundle", name, None, bundle.metadata.uid)
    await ctx.kube.post_event(about, "Normal", reasons.TRUST_CHANGED, message)


async def _report(
    ctx: Context,
    key: Key,
    body: Body,
    status: ConditionStatus,
    reason: str,
    message: str,
    namespace_count: int | None = None,
    digest: str | None = None,
) -> Outcome:
    metadata = body.get("metadata")
    generation = int(metadata.get("generation", 0)) if isinstance(metadata, dict) else 0
    try:
        old = TrustBundleStatus.model_validate(body.get("status") or {})
    except ValidationError:
        old = TrustBundleStatus()
    metrics.trust_bundle_synced.labels(key.name).set(1 if status == ConditionStatus.TRUE else 0)
    conditions = set_condition(old.conditions, SYNCED, status, reason, message, generation, ctx.clock())
    new = old.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "namespace_count": namespace_count if namespace_count is not None else old.namespace_count,
            "digest": digest or old.digest,
        }
    )
    if new == old:
        return Outcome()
    wire = new.to_api()
    version = await ctx.kube.patch_status(PLURAL, None, key.name, wire)
    return Outcome(echoes=((key, version),), statuses=(StatusWritten(key, wire),))
