"""Certificate reconciliation: gather the state, ask planning for the whole plan, then do it.

inputs: the Secret, its claimants and the namespace labels; planning.certificates.actions decides
everything at once; issuing: keys, signing and the Secret write; revoking: revoke requests;
readiness: status, events and metrics."""

from datetime import datetime

from cryptography import x509

from certmint.api import Certificate
from certmint.operator import metrics
from certmint.operator.certificates import inputs, issuing, readiness, revoking
from certmint.operator.context import Context
from certmint.operator.issuer_views import issuer_view, namespace_labels
from certmint.operator.outcome import Outcome
from certmint.operator.state import Key, issuer_key
from certmint.planning.certificates.actions import (
    Hold,
    Inputs,
    Keep,
    RevokeCurrent,
    SignAndWrite,
    plan_actions,
)
from certmint.planning.defaults import Resolved, resolve_issuer
from certmint.planning.gates import Fail
from certmint.planning.shards import leaf_bucket_label


async def reconcile(ctx: Context, key: Key) -> Outcome:
    body = ctx.state.certificates.get(key)
    if body is None or key.namespace in ctx.state.terminating:
        return Outcome()
    now = ctx.clock()
    parsed = inputs.parse(body, ctx.config.trust_domain)
    if isinstance(parsed, Fail):
        return await readiness.failed(ctx, key, body, parsed, now)
    certificate, spec = parsed
    if certificate.metadata.deletion_timestamp is not None:
        return Outcome()
    ref = resolve_issuer(certificate.spec.issuer_ref, ctx.state.defaults_for(key.namespace))
    if isinstance(ref, Fail):
        return await readiness.failed(ctx, key, body, ref, now)
    signer = issuer_key(ref.kind, key.namespace, ref.name)
    issuer = issuer_view(ctx, signer)
    if issuer is None:
        return Outcome(wait_for=signer)
    resolved = Resolved(ref, _default_since(ctx, certificate, signer, now))
    view = await inputs.current_secret(ctx, key.namespace, certificate.spec.secret_name)
    plan = plan_actions(
        Inputs(
            certificate,
            spec,
            issuer,
            view,
            inputs.owner_conflict(ctx, key, certificate, view),
            inputs.secret_refusal(ctx, key, certificate, view),
            await namespace_labels(ctx, key.namespace, issuer),
            now,
            serial_number=x509.random_serial_number(),
            resolved=resolved,
            bucket=leaf_bucket_label(ctx.shard, key.namespace, certificate.spec.secret_name),
            first_look=key not in ctx.state.planned,
        )
    )
    if isinstance(plan, Hold):
        held = await readiness.failed(ctx, key, body, plan.failure, now)
        return held.then(Outcome(requeue_after=(plan.until - now).total_seconds()))
    if isinstance(plan, Fail):
        return await readiness.failed(ctx, key, body, plan, now)
    if isinstance(plan, RevokeCurrent):
        return await revoking.revoke(ctx, key, certificate, signer, plan)
    if isinstance(plan, SignAndWrite):
        issued = await issuing.issue(ctx, key, certificate, signer, plan, now)
        if isinstance(issued, Fail):
            return await readiness.failed(ctx, key, body, issued, now)
        if issued is None:
            # The Secret exists, though the watch does not report it: the next plan reads it.
            in_the_way = (key.namespace, certificate.spec.secret_name)
            return Outcome(wake=(key,), unwatched_secrets=(in_the_way,))
        return issued.then(await readiness.ready(ctx, key, certificate, signer, plan.report))
    if plan.current.from_status:
        metrics.scheduled_from_status.inc()
    done = await _heal(ctx, key, certificate, plan)
    return done.then(await readiness.ready(ctx, key, certificate, signer, plan.report))


def _default_since(ctx: Context, certificate: Certificate, signer: Key, now: datetime) -> datetime | None:
    """For a Certificate that follows the default: when `signer` became it. Until its Default
    condition says so (its reconcile follows the change that made it the default), now: the
    followers are planned again once it does (Controller._refresh_default)."""
    if certificate.spec.issuer_ref is not None:
        return None
    return ctx.state.default_since(signer) or now


async def _heal(ctx: Context, key: Key, certificate: Certificate, plan: Keep) -> Outcome:
    if plan.heal is None:
        return Outcome()
    return await issuing.heal_metadata(ctx, key, certificate, plan.heal)
