"""TrustBundle and NamespacedTrustBundle reconciliation: gather CA certificates from the sources
(sources), publish them as ConfigMaps in the chosen namespaces (publish), report Synced (status).

One reconciler for both kinds: a NamespacedTrustBundle's sources are checked against its namespace
and resolved to a TrustBundle's (planning.bundles.scope), and it publishes into that namespace only.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from kubernetes.aio.client.exceptions import ApiException
from pydantic import ValidationError

from certmint.api import NamespacedTrustBundle, TrustBundle, TrustBundleStatus
from certmint.api.certificate import IssuerKind
from certmint.api.common import ConditionStatus
from certmint.api.kinds import SYNCED
from certmint.api.trustbundle import BundleSource, LabelSelector, SourceStatus
from certmint.kube.apply import Rejected
from certmint.kube.configmaps import ConfigMapObject
from certmint.kube.errors import describe
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.bundles.publish import Published, existing_copies, publish
from certmint.operator.bundles.secrets import SecretsPublished, publish_secrets
from certmint.operator.bundles.sources import IssuerNotReconciled, SourceUnavailable, read_source
from certmint.operator.cluster_trust import active
from certmint.operator.cluster_trust import publish as publish_cluster_trust
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import NAMESPACED_TRUST_BUNDLE, Body, Key, bundle_label, issuer_key
from certmint.operator.status import write_status
from certmint.pki import PKIError, TrustBundleContent, certificates_to_pem, load_certificates_pem
from certmint.planning import reasons
from certmint.planning.bundles.scope import foreign_sources, resolve_sources
from certmint.planning.bundles.secret_target import BundleIdentity, secret_content
from certmint.planning.bundles.sources import (
    BundleSources,
    LastPublished,
    SourceRead,
    plan_sources,
    recorded_crls,
    source_id,
)
from certmint.planning.bundles.targets import (
    ConfigMapContent,
    TrustChange,
    cluster_trust_bundle_problem,
    cluster_trust_bundle_target,
    configmap_content,
    configmap_keys,
    contested_targets,
    describe_trust_change,
    hold_back,
    plan_targets,
    reserved_name_refusal,
    trust_change,
)
from certmint.planning.cluster_trust import (
    cluster_trust_unavailable,
    trust_bundle_owner_labels,
    trust_bundle_target_name,
)
from certmint.planning.contest import Contest
from certmint.planning.selectors import selector_matches
from certmint.planning.shards import object_bucket_label
from certmint.planning.status import set_condition

log = logging.getLogger("certmint.bundles")

CLUSTER_TRUST_RETRY_SECONDS = 30.0
"""After a refused write of the ClusterTrustBundle target, the next try at the latest."""


AnyBundle = TrustBundle | NamespacedTrustBundle


@dataclass(frozen=True)
class Scoped:
    """A bundle of either kind as the one reconciler works with it."""

    bundle: AnyBundle
    sources: tuple[BundleSource, ...]
    """Its sources as a TrustBundle spells them: a NamespacedTrustBundle's in its own namespace."""
    selector: LabelSelector
    namespaces: Mapping[str, Mapping[str, str]]
    """The live namespaces it may publish into, with their labels: all of them for a TrustBundle,
    only its own for a NamespacedTrustBundle."""
    listed_in: tuple[str, ...]
    """Where its published copies are listed (empty: every namespace)."""


@dataclass(frozen=True)
class OutsideNamespace:
    """A NamespacedTrustBundle whose sources spell another namespace: refused, nothing read."""

    message: str


async def reconcile(ctx: Context, key: Key) -> Outcome:
    body = ctx.state.bundles.get(key)
    if body is None:
        return Outcome()  # deleted: the ConfigMaps carry an ownerReference and go with it
    try:
        scoped = _scoped(ctx, key, body)
    except ValidationError as error:
        return await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.INVALID_SPEC, str(error.errors()[0]["msg"])
        )
    if isinstance(scoped, OutsideNamespace):
        # Before any read: a namespace owner's bundle may not make certmint read another's objects.
        # Only a change of its spec can fix it, and that change is an event: no retry.
        return await _report(
            ctx, key, body, ConditionStatus.FALSE, reasons.SOURCE_OUTSIDE_NAMESPACE, scoped.message
        )
    bundle = scoped.bundle
    reserved = reserved_name_refusal(bundle.metadata.name)
    if reserved is not None:  # the CRD refuses it too; this guards objects made before that rule
        return await _report(ctx, key, body, ConditionStatus.FALSE, reasons.RESERVED_NAME, reserved)
    reads = []
    for source in scoped.sources:
        try:
            reads.append(await _read(ctx, source))
        except IssuerNotReconciled as waiting:
            return Outcome(wait_for=waiting.key)
    old = _old_status(body)
    last = {recorded.source: LastPublished(recorded.certificates, recorded.crls) for recorded in old.sources}
    selector = scoped.selector
    targets = {name for name, labels in scoped.namespaces.items() if selector_matches(selector, labels)}
    copies = await existing_copies(ctx, bundle, scoped.listed_in)
    unrecorded = [] if old.sources else _published_now(copies, bundle.spec.target.config_map_key)
    planned = plan_sources(reads, last, targets, ctx.clock(), unrecorded)
    content = planned.content
    problem = planned.condition()
    if problem is not None and not content.certificates:
        # Nothing readable and nothing known from before: an empty bundle would trust nothing.
        reported = await _report(ctx, key, body, ConditionStatus.FALSE, problem[0], problem[1])
        return reported.then(Outcome(backoff=True))
    existing = {found.namespace: ConfigMapContent(found.data, found.binary_data) for found in copies}
    published = configmap_content(bundle, content, planned.crls)
    now = ctx.clock()
    plan = plan_targets(selector, scoped.namespaces, existing, published)
    contests = contested_targets(
        plan.write,
        {found.namespace: found.writers for found in copies},
        {found.namespace: found.annotations for found in copies},
        configmap_keys(published),
        now,
    )
    plan, held = hold_back(plan, contests, now)
    change = trust_change(
        (copy.data.get(bundle.spec.target.config_map_key, "") for copy in existing.values()),
        content.certificates,
    )
    result = await publish(ctx, bundle, content.digest, published, existing, plan, contests)
    secrets = await _publish_secrets(ctx, scoped, frozenset(targets), content)
    if change and len(plan.write) > len(result.conflicts):  # at least one copy now holds it
        await _announce_trust_change(ctx, key, bundle, change)
    cluster = (
        await _cluster_trust_bundle(ctx, bundle, content.certificates)
        if isinstance(bundle, TrustBundle)
        else _ClusterTarget(Outcome())
    )
    if problem is None:
        problem = cluster.problem
    tail = await _finish(ctx, key, body, scoped, planned, content, result, secrets, held, problem, now)
    outcome = cluster.outcome.then(tail)  # the status's decision of when to look again wins
    if cluster.retry_after is not None:
        retry = min(outcome.requeue_after or cluster.retry_after, cluster.retry_after)
        outcome = outcome.then(Outcome(requeue_after=retry, backoff=outcome.backoff))
    return outcome


async def _publish_secrets(
    ctx: Context, scoped: Scoped, namespaces: frozenset[str], content: TrustBundleContent
) -> SecretsPublished:
    """The `secret` target: published where the ConfigMap is, or every copy withdrawn when unset."""
    bundle = scoped.bundle
    bucket = object_bucket_label(
        ctx.shard, bundle.kind, bundle.metadata.namespace or "", bundle.metadata.name
    )
    identity = BundleIdentity(
        bundle.api_version, bundle.kind, bundle.metadata.name, bundle.metadata.uid, bucket
    )
    target = bundle.spec.target.secret
    wanted = None if target is None else secret_content(target.key, content.certificates, content.digest)
    return await publish_secrets(ctx, identity, namespaces, wanted, scoped.listed_in)


def _scoped(ctx: Context, key: Key, body: Body) -> Scoped | OutsideNamespace:
    """The bundle of `body` with where it reads and publishes. Raises ValidationError on an invalid
    spec."""
    if key.kind != NAMESPACED_TRUST_BUNDLE:
        bundle = TrustBundle.model_validate(body)
        return Scoped(
            bundle,
            tuple(bundle.spec.sources),
            bundle.spec.target.namespace_selector,
            ctx.state.namespaces,
            ctx.config.watch_namespaces,
        )
    local = NamespacedTrustBundle.model_validate(body)
    refusal = foreign_sources(key.namespace, local.spec.sources)
    if refusal is not None:
        return OutsideNamespace(refusal)
    own = {name: labels for name, labels in ctx.state.namespaces.items() if name == key.namespace}
    return Scoped(
        local, resolve_sources(key.namespace, local.spec.sources), LabelSelector(), own, (key.namespace,)
    )


@dataclass(frozen=True)
class _ClusterTarget:
    outcome: Outcome
    problem: tuple[str, str] | None = None
    retry_after: float | None = None


async def _cluster_trust_bundle(
    ctx: Context, bundle: TrustBundle, certificates: Sequence[x509.Certificate]
) -> _ClusterTarget:
    """The `clusterTrustBundle` target: published (only certmint's own), or withdrawn when unset."""
    name = trust_bundle_target_name(bundle.metadata.name)
    owner = trust_bundle_owner_labels(bundle.metadata.uid)
    if bundle.spec.target.cluster_trust_bundle is None:
        cached = ctx.state.cluster_trust_bundles.get(name)
        if not active(ctx) or cached is None or not cached.owned_by(owner):
            return _ClusterTarget(Outcome())
        return _ClusterTarget((await publish_cluster_trust(ctx, name, None, owner)).outcome)
    unavailable = cluster_trust_unavailable(ctx.config.pod_certificates, ctx.state.pod_certificate_api)
    if unavailable is not None:
        return _ClusterTarget(Outcome(), unavailable)
    wanted = cluster_trust_bundle_target(bundle, certificates)
    try:
        done = await publish_cluster_trust(ctx, name, wanted, owner)
    except (ApiException, Rejected) as error:
        failed = (
            reasons.CLUSTER_TRUST_BUNDLE_WRITE_FAILED,
            f"ClusterTrustBundle {name} not written: {describe(error)}",
        )
        return _ClusterTarget(Outcome(), failed, CLUSTER_TRUST_RETRY_SECONDS)
    return _ClusterTarget(done.outcome, cluster_trust_bundle_problem(name, done.result), done.retry_after)


async def _finish(
    ctx: Context,
    key: Key,
    body: Body,
    scoped: Scoped,
    planned: BundleSources,
    content: TrustBundleContent,
    result: Published,
    secrets: SecretsPublished,
    held: dict[str, Contest],
    problem: tuple[str, str] | None,
    now: datetime,
) -> Outcome:
    """The status after publishing, and when to look again."""
    bundle = scoped.bundle
    count = len(result.holding)
    contested = [
        *((found.due, "ConfigMap", reasons.CONFIGMAP_CONTESTED, at, found) for at, found in held.items()),
        *((found.due, "Secret", reasons.SECRET_CONTESTED, at, found) for at, found in secrets.held.items()),
    ]
    if contested:
        # Another writer keeps changing a published copy: say who, and look again when due.
        due, kind, reason, namespace, first = min(contested, key=lambda item: item[0])
        message = first.message(kind, f"{namespace}/{bundle.metadata.name}")
        # The held-back copies still hold what they held: what the status records stays as it was.
        reported = await _report(ctx, key, body, ConditionStatus.FALSE, reason, message, count)
        return reported.then(Outcome(requeue_after=(due - now).total_seconds()))
    recorded = _source_statuses(planned)
    wake = _issuers_to_wake(scoped.sources, _old_status(body).sources, recorded)
    if result.conflicts or secrets.conflicts:
        conflicts = {"ConfigMap": result.conflicts, "Secret": secrets.conflicts}
        message = "; ".join(
            f"a {kind} named {bundle.metadata.name} that certmint did not create for this bundle exists in: "
            f"{', '.join(namespaces)}"
            for kind, namespaces in conflicts.items()
            if namespaces
        )
        reason = reasons.CONFIGMAP_CONFLICT if result.conflicts else reasons.SECRET_CONFLICT
        reported = await _report(
            ctx, key, body, ConditionStatus.FALSE, reason, message, count, content.digest, recorded
        )
        return reported.then(Outcome(backoff=True, wake=wake))
    metrics.trust_bundle_certificates.labels(bundle_label(key)).set(len(content.certificates))
    message = f"{len(content.certificates)} certificates published to {count} namespaces"
    if bundle.spec.target.secret is not None:
        message += f", as a Secret in {len(secrets.holding)}"
    if problem is not None:
        # Published all the same: the healthy sources as they are now, the failing ones as last seen.
        reason, detail = problem
        reported = await _report(
            ctx,
            key,
            body,
            ConditionStatus.FALSE,
            reason,
            f"{message}; {detail}",
            count,
            content.digest,
            recorded,
        )
        retry = any(p.reason != reasons.UNCONSTRAINED_ISSUER_CA for p in planned.problems)
        return reported.then(Outcome(backoff=retry, wake=wake))
    reported = await _report(
        ctx, key, body, ConditionStatus.TRUE, reasons.SYNCED, message, count, content.digest, recorded
    )
    return reported.then(Outcome(wake=wake))


async def _read(ctx: Context, source: BundleSource) -> SourceRead:
    """A source as read now; IssuerNotReconciled propagates (the bundle waits for that issuer)."""
    ref = source.issuer
    namespace = ref.namespace or "" if ref is not None and ref.kind == IssuerKind.ISSUER else None
    try:
        certificates, crls = await read_source(ctx, source)
    except SourceUnavailable as error:
        return SourceRead(source_id(source), None, problem=str(error), issuer_namespace=namespace)
    return SourceRead(source_id(source), certificates, crls, issuer_namespace=namespace)


def _published_now(copies: list[ConfigMapObject], key: str) -> list[x509.Certificate]:
    """Every CA certificate the published copies hold (a hand-edited, unreadable one adds none)."""
    found: list[x509.Certificate] = []
    for copy in copies:
        try:
            found.extend(load_certificates_pem(copy.data.get(key, "").encode()))
        except PKIError:
            continue
    return found


def _old_status(body: Body) -> TrustBundleStatus:
    try:
        return TrustBundleStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return TrustBundleStatus()


def _source_statuses(planned: BundleSources) -> list[SourceStatus]:
    return [
        SourceStatus(
            source=publication.id,
            synced=publication.fresh,
            fingerprints=list(publication.fingerprints),
            certificates=certificates_to_pem(publication.certificates).decode(),
            crls=crls.decode(errors="replace"),
            message=publication.problem or None,
        )
        for publication, crls in zip(planned.sources, recorded_crls(planned.sources), strict=True)
    ]


def _issuers_to_wake(
    sources: tuple[BundleSource, ...], before: list[SourceStatus], after: list[SourceStatus]
) -> tuple[Key, ...]:
    """Issuer sources whose published CAs changed: a rotation waiting for this bundle looks again."""
    old = {recorded.source: recorded.fingerprints for recorded in before}
    new = {recorded.source: recorded.fingerprints for recorded in after}
    wake = []
    for source in sources:
        ref = source.issuer
        if ref is not None and old.get(source_id(source)) != new.get(source_id(source)):
            wake.append(issuer_key(ref.kind, ref.namespace or "", ref.name))
    return tuple(wake)


async def _announce_trust_change(ctx: Context, key: Key, bundle: AnyBundle, change: TrustChange) -> None:
    """A silent change of trust is what operators fear most: an event and a metric for every one."""
    label = bundle_label(key)
    metrics.trust_bundle_changes.labels(label, "added").inc(len(change.added))
    metrics.trust_bundle_changes.labels(label, "removed").inc(len(change.removed))
    message = describe_trust_change(change)
    log.info("%s %s: %s", key.kind, label, message)
    about = ObjectReference(key.kind, key.name, key.namespace or None, bundle.metadata.uid)
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
    sources: list[SourceStatus] | None = None,
) -> Outcome:
    metadata = body.get("metadata")
    generation = int(metadata.get("generation", 0)) if isinstance(metadata, dict) else 0
    old = _old_status(body)
    metrics.trust_bundle_synced.labels(bundle_label(key)).set(1 if status == ConditionStatus.TRUE else 0)
    conditions = set_condition(old.conditions, SYNCED, status, reason, message, generation, ctx.clock())
    new = old.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "namespace_count": namespace_count if namespace_count is not None else old.namespace_count,
            "digest": digest or old.digest,
            "sources": sources if sources is not None else old.sources,
        }
    )
    return await write_status(ctx, key, old, new)
