"""What a reconcile asks for next. Reconcilers return it; only the controller applies it to the
work queue and the caches."""

from dataclasses import dataclass
from typing import Any

from certmint.operator.state import Body, Key
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.cluster_trust import ClusterTrustBundleObject
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.rotation import StepTaken


@dataclass(frozen=True)
class StatusWritten:
    """Our own status patch: until its watch event arrives, the cache must not offer the old status."""

    key: Key
    status: dict[str, Any]
    resource_version: str = ""
    """The object's version after the patch: the next patch's precondition (several replicas)."""
    based_on: str = ""
    """The version the patch was made to ("" without a precondition)."""


@dataclass(frozen=True)
class Outcome:
    requeue_after: float | None = None
    """Look at the key again after this many seconds (a renewal, a rotation step, a resync)."""
    backoff: bool = False
    """Retry at the key's next backoff step. Without it the key's backoff starts over."""
    wake: tuple[Key, ...] = ()
    """Other keys to reconcile now."""
    wait_for: Key | None = None
    """Reconcile this key again once that issuer has been reconciled (it is queued too)."""
    echoes: tuple[tuple[Key, str], ...] = ()
    """(object, resourceVersion) of our own writes: their watch events need no reconcile."""
    statuses: tuple[StatusWritten, ...] = ()
    issuer_loaded: Body | None = None
    """An issuer read from the API because no watch event had delivered it yet."""
    issuer_view: IssuerView | None = None
    """The issuer as Certificates and bundles see it now."""
    secrets: tuple[tuple[str, SecretView], ...] = ()
    """(namespace, view) of Secrets as our own writes left them: planned from before their watch
    events arrive."""
    unwatched_secrets: tuple[tuple[str, str], ...] = ()
    """(namespace, name) of Secrets a create found in the way that the Secret watch does not report."""
    rotation_step: StepTaken | None = None
    """The CA rotation step this issuer reconcile took."""
    cluster_trust_bundles: tuple[tuple[str, ClusterTrustBundleObject | None], ...] = ()
    """(name, object as written, None when deleted) of certmint's ClusterTrustBundles this reconcile
    wrote: cached before their watch events arrive, so a rotation sees what they publish."""

    def then(self, later: "Outcome") -> "Outcome":
        """This outcome followed by a later one of the same reconcile: effects add up, the later
        decision about when to look again wins."""
        return Outcome(
            requeue_after=later.requeue_after,
            backoff=later.backoff,
            wake=self.wake + later.wake,
            wait_for=later.wait_for or self.wait_for,
            echoes=self.echoes + later.echoes,
            statuses=self.statuses + later.statuses,
            issuer_loaded=later.issuer_loaded or self.issuer_loaded,
            issuer_view=later.issuer_view or self.issuer_view,
            secrets=self.secrets + later.secrets,
            unwatched_secrets=self.unwatched_secrets + later.unwatched_secrets,
            rotation_step=later.rotation_step or self.rotation_step,
            cluster_trust_bundles=self.cluster_trust_bundles + later.cluster_trust_bundles,
        )
