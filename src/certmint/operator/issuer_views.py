"""Issuers as Certificates and TrustBundles see them: the one module both reconcilers share.

The issuer reconciler produces the views (through its Outcome); the controller stores them."""

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
    if cached is not None or issuer.policy is None or issuer.policy.namespace_selector is None:
        return cached or {}
    return await ctx.kube.read_namespace_labels(namespace) or {}


def certificate_facing(view: IssuerView | None) -> tuple[object, ...] | None:
    """What Certificates depend on; a freshly loaded but identical CA is no change. A new CRL is
    none either: the one Certificate a revocation concerns waits for the issuer by itself."""
    if view is None:
        return None
    return (
        view.exists,
        view.ready,
        view.reason,
        view.message,
        view.ca.certificate if view.ca else None,
        view.trust,
        view.activated_at,
        view.policy,
        view.allow_ca,
    )


def bundle_facing(view: IssuerView | None) -> tuple[object, ...] | None:
    if view is None:
        return None
    return (view.exists, view.ready, view.trust, view.crl_pem)


def not_found(key: Key) -> IssuerView:
    return IssuerView(
        exists=False, ready=False, reason=reasons.ISSUER_NOT_FOUND, message=f"{key.kind} {key.name} not found"
    )
