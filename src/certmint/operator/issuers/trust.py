"""The issuer's ClusterTrustBundle (spec.podCertificates): published with its CAs, withdrawn when it
opts out or is deleted, never one certmint did not create; and the PodCertificates condition."""

import logging
from dataclasses import dataclass

from kubernetes.aio.client.exceptions import ApiException

from certmint.api import Issuer
from certmint.kube.apply import Rejected
from certmint.kube.errors import describe
from certmint.operator.cluster_trust import active, publish
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import ISSUER, Key
from certmint.planning import reasons
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.pod_trust import (
    PodCertificatesCondition,
    PodTrust,
    pod_trust,
    published,
    published_by_cluster_trust_bundle,
    unavailable,
    wanted_bundle,
)
from certmint.planning.signers import cluster_issuer_signer_name, issuer_signer_name

log = logging.getLogger("certmint.issuers")

WRITE_RETRY_SECONDS = 30.0
"""After a refused write of the ClusterTrustBundle (RBAC, a conflict), the next try at the latest;
a change to it wakes the issuer sooner."""


@dataclass(frozen=True)
class PodTrustResult:
    condition: PodCertificatesCondition | None
    """None: the issuer does not opt in (no PodCertificates condition)."""
    outcome: Outcome
    retry_after: float | None = None


def trust_of(key: Key) -> PodTrust:
    signer = (
        issuer_signer_name(key.namespace, key.name)
        if key.kind == ISSUER
        else cluster_issuer_signer_name(key.name)
    )
    return pod_trust(key.kind, key.namespace, key.name, signer)


async def publish_pod_trust(ctx: Context, key: Key, issuer: Issuer, view: IssuerView) -> PodTrustResult:
    """For a ready issuer: its CAs (view.trust) into its ClusterTrustBundle, or it withdrawn."""
    if issuer.spec.pod_certificates is None:
        return PodTrustResult(None, await withdraw(ctx, key))
    problem = unavailable(
        key.kind, key.namespace, key.name, ctx.config.pod_certificates, ctx.state.pod_certificate_api
    )
    if problem is not None:
        return PodTrustResult(problem, Outcome())
    trust = trust_of(key)
    try:
        done = await publish(ctx, trust.name, wanted_bundle(trust, view.trust.certificates), trust.owner)
    except (ApiException, Rejected) as error:
        detail = describe(error) if isinstance(error, ApiException) else str(error)
        message = f"ClusterTrustBundle {trust.name} not written: {detail}"
        log.warning("%s %s/%s: %s", key.kind, key.namespace, key.name, message)
        failed = PodCertificatesCondition(False, reasons.CLUSTER_TRUST_BUNDLE_WRITE_FAILED, message)
        return PodTrustResult(failed, Outcome(), WRITE_RETRY_SECONDS)
    return PodTrustResult(published(trust, done.result), done.outcome, done.retry_after)


async def withdraw(ctx: Context, key: Key) -> Outcome:
    """Deletes certmint's ClusterTrustBundle of an issuer that opted out or is gone. Only one the
    watch reported as certmint's is looked at: issuers that never opted in cost no request."""
    if not active(ctx):
        return Outcome()
    trust = trust_of(key)
    cached = ctx.state.cluster_trust_bundles.get(trust.name)
    if cached is None or not cached.owned_by(trust.owner):
        return Outcome()
    return (await publish(ctx, trust.name, None, trust.owner)).outcome


def published_for_rotation(ctx: Context, key: Key, issuer: Issuer) -> dict[str, frozenset[str]]:
    """What the issuer's ClusterTrustBundle publishes of it, for the rotation's wait (lagging_bundles)."""
    if issuer.spec.pod_certificates is None or not active(ctx):
        return {}
    trust = trust_of(key)
    return published_by_cluster_trust_bundle(trust, ctx.state.cluster_trust_bundles.get(trust.name))
