"""Certificate reconciliation: gather the state, ask planning what to do, do it, report it.

inputs: the Secret, its claimants and the namespace labels; issuing: keys, signing and the Secret
write; revoking: revoke requests; readiness: status, events and metrics."""

from certmint.operator.certificates import inputs, issuing, readiness, revoking
from certmint.operator.context import Context
from certmint.operator.issuer_views import issuer_view, namespace_labels
from certmint.operator.outcome import Outcome
from certmint.operator.state import Key, issuer_key
from certmint.planning import reasons
from certmint.planning.certificates.plan import contested_repair, plan_certificate
from certmint.planning.certificates.renewal import renewal_time
from certmint.planning.certificates.results import Issue, Revoke
from certmint.planning.contest import contest_annotations
from certmint.planning.gates import Fail


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
    ref = certificate.spec.issuer_ref
    signer = issuer_key(ref.kind, key.namespace, ref.name)
    issuer = issuer_view(ctx, signer)
    if issuer is None:
        return Outcome(wait_for=signer)
    view = await inputs.current_secret(ctx, key.namespace, certificate.spec.secret_name)
    plan = plan_certificate(
        spec,
        issuer,
        view,
        inputs.owner_conflict(ctx, key, certificate, view),
        now,
        seed=certificate.metadata.uid,
        namespace_labels=await namespace_labels(ctx, key.namespace, issuer),
        secret_refusal=inputs.secret_refusal(ctx, key, certificate, view),
    )
    contest = contested_repair(plan, spec, view, now)
    if contest is not None and contest.due > now:
        # Another writer keeps changing the Secret: repaired only when its backoff step is due.
        message = contest.message("Secret", certificate.spec.secret_name)
        held = await readiness.failed(ctx, key, body, Fail(reasons.SECRET_CONTESTED, message, False), now)
        return held.then(Outcome(requeue_after=(contest.due - now).total_seconds()))
    if isinstance(plan, Fail):
        return await readiness.failed(ctx, key, body, plan, now)
    if isinstance(plan, Revoke):
        return await revoking.revoke(ctx, key, certificate, signer, plan)
    if isinstance(plan, Issue):
        issued = await issuing.issue(
            ctx, key, certificate, spec, issuer, view, plan, now, contest_annotations(contest)
        )
        if isinstance(issued, Fail):
            return await readiness.failed(ctx, key, body, issued, now)
        if issued is None:
            # The Secret exists, though the watch does not report it: the next plan reads it.
            in_the_way = (key.namespace, certificate.spec.secret_name)
            return Outcome(wake=(key,), unwatched_secrets=(in_the_way,))
        leaf = issued.current.certificate
        revision = (certificate.status.revision or 0) + 1
        renew_at = renewal_time(
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
            spec.renew_before,
            spec.renew_before_percentage,
            certificate.metadata.uid,
            spec.leaf.duration,
        )
        done = issued.outcome
    else:
        leaf = plan.current.certificate
        revision = certificate.status.revision or 1
        renew_at = plan.renewal_time
        done = await issuing.heal_metadata(ctx, key, certificate, spec, view, leaf) if view else Outcome()
    return done.then(await readiness.ready(ctx, key, certificate, leaf, renew_at, revision, now))
