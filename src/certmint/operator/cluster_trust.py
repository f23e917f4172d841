"""Publishing one ClusterTrustBundle certmint owns (an issuer's, or a TrustBundle's target): read
what is there, plan (planning.cluster_trust), write or delete only certmint's own.

Shared by the issuer and TrustBundle reconcilers; it imports neither."""

from collections.abc import Mapping
from dataclasses import dataclass

from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import CLUSTER_TRUST_BUNDLE, Key
from certmint.planning.cluster_trust import (
    ClusterTrustBundleManifest,
    ClusterTrustBundleObject,
    Create,
    Delete,
    Held,
    NotOwned,
    Publication,
    Update,
    plan_publication,
)


@dataclass(frozen=True)
class Published:
    result: Publication
    """What was done: a Create that lost to someone else's create is NotOwned."""
    outcome: Outcome
    """The object as written (for the controller's cache) and its echo."""
    retry_after: float | None = None
    """A held repair: seconds until it is due."""


def active(ctx: Context) -> bool:
    """Pod certificates on and the API served: only then is any ClusterTrustBundle read or written."""
    return ctx.config.pod_certificates and ctx.state.pod_certificate_api


async def publish(
    ctx: Context, name: str, wanted: ClusterTrustBundleManifest | None, owner: Mapping[str, str]
) -> Published:
    """`wanted` None withdraws certmint's ClusterTrustBundle of that name, if there is one."""
    existing = await ctx.kube.read_cluster_trust_bundle(name)
    now = ctx.clock()
    plan = plan_publication(name, wanted, existing, owner, now)
    written: ClusterTrustBundleObject | None = existing
    if isinstance(plan, Create):
        written = await ctx.kube.create_cluster_trust_bundle(plan.manifest)
        if written is None:  # created by someone else since the read
            return Published(NotOwned(name), Outcome())
    elif isinstance(plan, Update):
        written = await ctx.kube.update_cluster_trust_bundle(plan.manifest, plan.resource_version)
    elif isinstance(plan, Delete):
        await ctx.kube.delete_cluster_trust_bundle(plan.name, plan.uid, plan.resource_version)
        return Published(plan, Outcome(cluster_trust_bundles=((name, None),)))
    elif isinstance(plan, Held):
        delay = max((plan.contest.due - now).total_seconds(), 0.0)
        return Published(plan, Outcome(), retry_after=delay)
    if written is None or isinstance(plan, NotOwned):
        return Published(plan, Outcome())
    echoes = (
        ((Key(CLUSTER_TRUST_BUNDLE, "", name), written.resource_version),) if written is not existing else ()
    )
    return Published(plan, Outcome(cluster_trust_bundles=((name, written),), echoes=echoes))
