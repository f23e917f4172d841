"""Issuers as Certificates and TrustBundles see them: the one module both reconcilers share.

The issuer reconciler produces the views (through its Outcome); the controller stores them."""

from dataclasses import replace

from certmint.operator.context import Context
from certmint.operator.state import Key
from certmint.planning import reasons
from certmint.planning.issuer_view import IssuerView


def issuer_view(ctx: Context, key: Key) -> IssuerView | None:
    """None while the issuer has not been reconciled yet: the caller waits for it (Outcome.wait_for)."""
    return ctx.state.issuer_views.get(key)


async def namespace_labels(ctx: Context, namespace: str, issuer: IssuerView) -> dict[str, str]:
    """The labels an issuer's policy judges a namespace by: from the namespace watch; read directly
    only when a selector needs them before it reported."""
    cached = ctx.state.namespaces.get(namespace)
    policy = issuer.signing.policy
    if cached is not None or policy is None or policy.namespace_selector is None:
        return cached or {}
    return await ctx.kube.read_namespace_labels(namespace) or {}


def reaches_certificates(previous: IssuerView | None, view: IssuerView) -> bool:
    """Whether Certificates must plan again: the issuer became (un)usable, or what signs changed."""
    return previous is None or _standing(previous) != _standing(view) or previous.signing != view.signing


def reaches_bundles(previous: IssuerView | None, view: IssuerView) -> bool:
    """Whether TrustBundles must publish again: the issuer became (un)usable, or what is trusted changed."""
    return previous is None or _standing(previous) != _standing(view) or previous.trust != view.trust


def same_view(previous: IssuerView | None, view: IssuerView) -> bool:
    """Whether nothing anyone plans from changed (keys compare by their certificates)."""
    if previous is None or _standing(previous) != _standing(view):
        return False
    if (previous.signing, previous.trust) != (view.signing, view.trust):
        return False
    before, now = previous.revoking, view.revoking
    if replace(before, ocsp=None) != replace(now, ocsp=None):
        return False
    if before.ocsp is None or now.ocsp is None:
        return before.ocsp is None and now.ocsp is None
    return before.ocsp.same_as(now.ocsp)


def _standing(view: IssuerView) -> tuple[bool, bool, str, str]:
    return view.exists, view.ready, view.reason, view.message


def not_found(key: Key) -> IssuerView:
    return IssuerView(
        exists=False, ready=False, reason=reasons.ISSUER_NOT_FOUND, message=f"{key.kind} {key.name} not found"
    )
