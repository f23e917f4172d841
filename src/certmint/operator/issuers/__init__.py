"""Issuer and ClusterIssuer reconciliation: load or bootstrap the CA, rotate it, publish its CRLs
and readiness. authority: the CA and its rotation; revocation: the revocation list and CRLs;
status: the Issuer's status and events."""

from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError

from certmint.api import Issuer
from certmint.api.certificate import IssuerKind
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.issuer_views import not_found
from certmint.operator.issuers import authority, revocation, status, trust
from certmint.operator.issuers.observed import issuer_body, observe
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import ca_secret_location
from certmint.operator.state import Key
from certmint.planning import reasons
from certmint.planning.defaults import Standing, default_standing
from certmint.planning.issuer_view import IssuerView, Revoking

__all__ = ["observe", "reconcile"]


async def reconcile(ctx: Context, key: Key) -> Outcome:
    """The issuer-wide work, done by the one replica that owns the issuer (Controller.owns); every
    other replica observes it (issuers.observe)."""
    async with ctx.issuer_lock(key):
        return await _reconcile_locked(ctx, key)


async def _reconcile_locked(ctx: Context, key: Key) -> Outcome:
    body, loaded = await issuer_body(ctx, key)
    if body is None:
        # Deleted: its ClusterTrustBundle goes with it.
        return (await trust.withdraw(ctx, key)).then(Outcome(issuer_view=not_found(key)))
    try:
        issuer = Issuer.model_validate(body)
    except ValidationError as error:
        view = IssuerView(exists=True, ready=False, reason=reasons.INVALID_SPEC, message=str(error))
        return loaded.then(Outcome(issuer_view=view, backoff=True))
    now = ctx.clock()
    default = _default(ctx, key, issuer)
    namespace, name = ca_secret_location(ctx, key, issuer)
    ca = await authority.load_or_bootstrap(ctx, key, issuer, namespace, name, now)
    if isinstance(ca, IssuerView):
        written = await status.write(ctx, key, issuer, ca, name, None, now, default=default)
        return loaded.then(written).then(Outcome(issuer_view=ca, backoff=True))
    ready = await _ready(ctx, key, issuer, namespace, name, ca, default, now)
    return loaded.then(Outcome(rotation_step=ca.step)).then(ready)


def _default(ctx: Context, key: Key, issuer: Issuer) -> Standing | None:
    """The Default condition of an issuer marked default: whether it is the one of its scope."""
    if not issuer.spec.default:
        return None
    return default_standing(IssuerKind(key.kind), key.name, ctx.state.marked_default_in_scope(key))


async def _ready(
    ctx: Context,
    key: Key,
    issuer: Issuer,
    namespace: str,
    name: str,
    ca: authority.Usable,
    default: Standing | None,
    now: datetime,
) -> Outcome:
    """A usable CA: publish its CRLs, then its status."""
    view, material = ca.view, ca.material
    signing_ca = view.signing.ca
    signers = material.crl_signers if material else ((signing_ca,) if signing_ca else ())
    try:
        crls = await revocation.publish_crls(ctx, namespace, name, ca.secret, issuer, signers, now)
    except ValueError as error:
        failed = IssuerView(
            exists=True, ready=False, reason=reasons.REVOCATION_LIST_INVALID, message=str(error)
        )
        written = await status.write(ctx, key, issuer, failed, name, material, now, default=default)
        return written.then(Outcome(issuer_view=failed, backoff=True))
    ocsp = await revocation.publish_ocsp(ctx, crls.secret, issuer, signers, crls.pem, now)
    view = replace(
        view,
        signing=authority.signing_policy(view.signing, issuer),
        trust=replace(view.trust, crl_pem=crls.pem),
        revoking=Revoking(
            revoked_serials=crls.revoked_serials,
            crl_der=revocation.crl_der_of(crls.pem, signing_ca) if signing_ca else b"",
            crl_distribution_point=issuer.spec.revocation.distribution_point_url,
            ocsp_url=issuer.spec.revocation.ocsp_url,
            ocsp=ocsp.inputs,
        ),
    )
    pods = await trust.publish_pod_trust(ctx, key, issuer, view)
    written = await status.write(
        ctx, key, issuer, view, name, material, now, ca.lagging, pods.condition, default=default
    )
    metrics.record_revocation_data(key.kind, key.namespace, key.name, crls.pem, ocsp.signers)
    delay = ctx.config.issuer_resync_seconds
    for moment in (ca.next_rotation_check, crls.refresh_at, ocsp.refresh_at):
        if moment is not None:
            delay = min(delay, (moment - ctx.clock()).total_seconds())
    if pods.retry_after is not None:
        delay = min(delay, pods.retry_after)
    return written.then(pods.outcome).then(Outcome(issuer_view=view, requeue_after=max(delay, 0.0)))
