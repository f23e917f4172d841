"""The controller: event intake from kopf, a work queue, workers running the reconcilers, and the one
place where their outcomes change the queue and the caches."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from certmint.api.kinds import CERTIFICATES
from certmint.kube import objects
from certmint.kube.errors import TRANSIENT, describe, namespace_gone
from certmint.kube.gateway import Kube
from certmint.kube.objects import core_path
from certmint.kube.secrets import LIST_PAGE, secret_from_body
from certmint.kube.watching import LISTED, SYNCED, Watched, list_and_watch
from certmint.operator import bundles, certificates, csrs, issuers, metrics, podcerts, shards
from certmint.operator.config import OperatorConfig
from certmint.operator.context import Clock, Context, IssuerLocks, SignedDurations, system_clock
from certmint.operator.echoes import EchoLedger, Source
from certmint.operator.issuer_views import reaches_bundles, reaches_certificates, same_view
from certmint.operator.issuers.trust import trust_of
from certmint.operator.longest_signed import CAMoved
from certmint.operator.loopwatch import watch_loop_lag
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import (
    CERTIFICATE,
    CERTIFICATE_BUCKET,
    CLUSTER_ISSUER,
    CLUSTER_TRUST_BUNDLE,
    ISSUER,
    NAMESPACED_TRUST_BUNDLE,
    OCSP_RESPONSE,
    POD_CERTIFICATE_REQUEST,
    SECRET,
    SECRET_BUCKET,
    SIGNER,
    SIGNING_REQUEST,
    TRUST_BUNDLE,
    Body,
    Key,
    Relabel,
    State,
    bundle_label,
    issuer_key,
    key_of,
)
from certmint.operator.workqueue import WorkQueue
from certmint.planning import labels
from certmint.planning.certificates.renewal import spread
from certmint.planning.cluster_trust import (
    ENABLE_API,
    ENABLE_FLAG,
    TRUST_BUNDLE_PREFIX,
    ClusterTrustBundleObject,
    read_cluster_trust_bundle,
)
from certmint.planning.csrs.signing_request import SigningRequestObject, read_signing_request
from certmint.planning.issuer_view import IssuerView
from certmint.planning.markings import FIELD_MANAGER, ca_secret_issuer, marked_by_certmint
from certmint.planning.podcerts.request import read_pod_certificate_request
from certmint.planning.shards import (
    WHOLE,
    Shard,
    certificate_bucket,
    certificate_selector,
    managed_secret_selector,
    object_bucket,
    read_bucket,
    secret_bucket,
    secret_bucket_of,
)
from certmint.planning.signers import (
    SignerRef,
    cluster_issuer_signer_name,
    is_certmint_signer,
    issuer_signer_name,
    parse_signer_name,
)

log = logging.getLogger("certmint.controller")

DELETED = "DELETED"

Reconciler = Callable[[Context, Key], Awaitable[Outcome]]
RECONCILERS: dict[str, Reconciler] = {
    CERTIFICATE: certificates.reconcile,
    ISSUER: issuers.reconcile,
    CLUSTER_ISSUER: issuers.reconcile,
    TRUST_BUNDLE: bundles.reconcile,
    NAMESPACED_TRUST_BUNDLE: bundles.reconcile,
    SIGNING_REQUEST: csrs.reconcile,
    POD_CERTIFICATE_REQUEST: podcerts.reconcile,
    CERTIFICATE_BUCKET: shards.relabel,
    SECRET_BUCKET: shards.relabel,
}
OWNER_ONLY = frozenset({TRUST_BUNDLE, NAMESPACED_TRUST_BUNDLE, SIGNING_REQUEST, POD_CERTIFICATE_REQUEST})
"""Kinds every replica watches (its caches stay complete) and only the owner of the object's bucket
reconciles (Controller.owns). A SIGNER key is not among them: it only lists the pending CSRs and pod
certificate requests of an issuer that appeared into every replica's cache (it writes nothing), and
each of those is then reconciled by its own owner, so the pick-up and the requests cannot disagree
on who acts."""

ISSUER_KINDS = frozenset({ISSUER, CLUSTER_ISSUER})
ISSUER_REQUEUE_FLOOR_SECONDS = 5.0
"""The soonest an issuer is looked at again on its own (a rotation step, a CRL or OCSP refresh, a
resync). Events (someone's write) still reconcile it at once; a rotation step they cause is bounded
by planning.issuers.rotation (minimums, and a backoff when the same step repeats)."""


@dataclass
class Controller:
    kube: Kube
    config: OperatorConfig
    clock: Clock = system_clock
    state: State = field(default_factory=State)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    active: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while this replica works: always when standalone, while it leads the peering otherwise."""
    echoes: EchoLedger = field(default_factory=EchoLedger)
    """Which events are our own writes coming back, held while their key is worked, or awaited."""
    shard: Shard = WHOLE
    """The buckets this replica serves (planning.shards): all of them unless several replicas split
    the work."""
    _locks: IssuerLocks = field(default_factory=IssuerLocks)
    _signed: SignedDurations = field(default_factory=SignedDurations)
    _secrets_watched: bool = False
    _told_disabled: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def context(self) -> Context:
        return Context(self.kube, self.config, self.clock, self.state, self._locks, self.shard, self._signed)

    async def start(self, leadership: Coroutine[Any, Any, None] | None = None) -> None:
        """`leadership` keeps `active` set while this replica leads; without it, it always works."""
        await self.discover_pod_certificates()
        await self.watch_secrets()
        await self.load_namespaces()
        self.watch_certificates()
        if leadership is not None:
            self._tasks.append(asyncio.create_task(leadership, name="certmint-peering"))
        else:
            self.active.set()
        self._tasks.append(asyncio.create_task(self.queue.run_timers(), name="certmint-timers"))
        self._tasks.append(asyncio.create_task(watch_loop_lag(), name="certmint-loop-lag"))
        self._expose_cache_sizes()
        if not self.shard.whole:
            self._start_labeller()
        for number in range(self.config.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"certmint-worker-{number}"))

    async def load_views(self) -> None:
        """The Secrets and namespaces, listed again when a standby replica starts to lead (kopf
        paused its watches meanwhile). certmint's own Secret watch (watch_secrets) never pauses:
        its view is current already."""
        if not self._secrets_watched:
            await self.load_secrets()
        await self.load_namespaces()

    async def load_namespaces(self) -> None:
        """Every namespace, listed before any bundle is planned. A bundle reconciled before the
        namespace watch's first events arrived would take the namespaces it publishes into for gone:
        it would withdraw its copies there and write them again once the events came. Watch events
        keep the view current from here on; listed again, replacing it, when a standby starts to lead
        (kopf paused the watch meanwhile)."""
        listed = [body async for body in self.kube.list_namespaces()]
        self.state.namespaces.clear()
        self.state.terminating.clear()
        for body in listed:
            self.namespace_event(None, body)
        log.info("%d namespaces listed", len(self.state.namespaces))

    async def load_secrets(self) -> None:
        """Every managed Secret, listed before anything is planned: a restart then reads no Secret
        one by one, and no Certificate takes its existing Secret for a missing one. Watch events
        keep the views current from here on. Listed again, replacing every view, when a standby
        replica starts to lead: kopf paused its watches meanwhile, and the listing they resume with
        reports no Secret deleted in between.

        Not kopf's own listing behind an index: kopf holds every other handler until each indexed
        object's worker is done, and at a thousand Secrets that waiting cost more than this list."""
        namespaces = tuple(self.config.watch_namespaces)
        listed = {}
        async for secret in self.kube.list_secrets(managed_secret_selector(self.shard), namespaces):
            listed[(secret.namespace, secret.name)] = secret.view()
        self.state.secrets.clear()
        self.state.secrets.update(listed)
        log.info("%d managed Secrets listed", len(listed))

    async def watch_secrets(self) -> None:
        """Every managed Secret, listed before anything is planned (as load_secrets) and then
        watched from that listing's version by certmint's own list+watch (kube.watching): one
        listing of the Secrets at a start, where kopf's watch used to list them a second time (and
        hand each one through its per-event machinery again). Returns once every listing is
        complete; a watch that fails for good fails the start."""
        namespaces: list[str | None] = [*self.config.watch_namespaces] or [None]
        synced = []
        for namespace in namespaces:
            listed = asyncio.Event()
            watched = Watched(
                core_path("secrets", namespace),
                label_selector=managed_secret_selector(self.shard),
                page_size=LIST_PAGE,
                timeout_seconds=self.config.watch_server_timeout,
                client_timeout_seconds=self.config.watch_client_timeout,
            )
            follower = asyncio.create_task(
                self._follow_secrets(watched, namespace, listed), name=f"certmint-watch-{watched.path}"
            )
            self._tasks.append(follower)
            synced.append((listed, follower))
        for listed, follower in synced:
            waiting = asyncio.create_task(listed.wait())
            await asyncio.wait({waiting, follower}, return_when=asyncio.FIRST_COMPLETED)
            if not listed.is_set():
                waiting.cancel()
                follower.result()  # its exception
                raise RuntimeError("the Secret watch ended before its first listing")
        self._secrets_watched = True
        log.info("%d managed Secrets listed", len(self.state.secrets))

    async def _follow_secrets(self, watched: Watched, namespace: str | None, listed: asyncio.Event) -> None:
        """The first listing builds the views at once (nothing is planned before it is complete);
        a later listing (after a 410) goes through secret_event like any event, and a Secret it no
        longer holds is gone."""
        first: dict[tuple[str, str], Any] = {}
        again: set[tuple[str, str]] = set()
        async for event in list_and_watch(self.kube, watched):
            if event.type == LISTED and not listed.is_set():
                secret = secret_from_body(event.object)
                first[(secret.namespace, secret.name)] = secret.view()
            elif event.type == LISTED:
                metadata = event.object.get("metadata", {})
                again.add((metadata.get("namespace", ""), metadata.get("name", "")))
                self._secret_event_logged(None, event.object)
            elif event.type == SYNCED and not listed.is_set():
                self.state.secrets.update(first)
                first.clear()
                listed.set()
            elif event.type == SYNCED:
                for place in [place for place in self.state.secrets if namespace in (None, place[0])]:
                    if place not in again:
                        self.secret_event(DELETED, {"metadata": {"namespace": place[0], "name": place[1]}})
                again.clear()
            else:
                self._secret_event_logged(event.type, event.object)

    def _secret_event_logged(self, event_type: str | None, body: Body) -> None:
        """One event into secret_event; a failure is logged and the watch goes on (as kopf did)."""
        try:
            self.secret_event(event_type, body)
        except Exception:
            log.exception("a Secret event failed: %s", (body.get("metadata") or {}).get("name", ""))

    def watch_certificates(self) -> None:
        """This replica's Certificates (its buckets' label selector when sharded), by certmint's own
        list+watch rather than kopf's: kopf handed each one through its per-object workers (a task
        and a queue each, at a restart all at once): at 12,500 that cost 6 s of a 14 s restart and
        about 100 MB. Not awaited: Certificates are planned as they are listed, as before. A standby
        (kopf peering) keeps watching: its view is current when it starts to lead."""
        namespaces: list[str | None] = [*self.config.watch_namespaces] or [None]
        for namespace in namespaces:
            watched = Watched(
                objects.path(CERTIFICATES.plural, namespace),
                label_selector=certificate_selector(self.shard),
                page_size=LIST_PAGE,
                timeout_seconds=self.config.watch_server_timeout,
                client_timeout_seconds=self.config.watch_client_timeout,
            )
            self._tasks.append(
                asyncio.create_task(
                    self._follow_certificates(watched, namespace), name=f"certmint-watch-{watched.path}"
                )
            )

    async def _follow_certificates(self, watched: Watched, namespace: str | None) -> None:
        """Every listed Certificate and every change into certificate_event; one that a later listing
        (after a 410) no longer holds is gone."""
        listed: set[Key] = set()
        async for event in list_and_watch(self.kube, watched):
            if event.type == SYNCED:
                for key in [key for key in self.state.certificates if namespace in (None, key.namespace)]:
                    if key not in listed:
                        self._certificate_event_logged(DELETED, self.state.certificates[key])
                listed.clear()
                continue
            if event.type == LISTED:
                listed.add(key_of(CERTIFICATE, event.object))
            self._certificate_event_logged(None if event.type == LISTED else event.type, event.object)

    def _certificate_event_logged(self, event_type: str | None, body: Body) -> None:
        try:
            self.certificate_event(event_type, body)
        except Exception:
            log.exception("a Certificate event failed: %s", (body.get("metadata") or {}).get("name", ""))

    async def discover_pod_certificates(self) -> None:
        """With pod certificates on: whether the API server serves them, asked once. Missing, one
        log line; issuers that opt in say so in their PodCertificates condition."""
        if not self.config.pod_certificates:
            return
        self.state.pod_certificate_api = await self.kube.serves_pod_certificates()
        if not self.state.pod_certificate_api:
            log.warning(
                "pod certificates are on, but the API server does not serve certificates.k8s.io/v1beta1 "
                "podcertificaterequests and clustertrustbundles (enable %s): no PodCertificateRequest is "
                "signed and no ClusterTrustBundle published; everything else is served",
                ENABLE_API,
            )

    def _expose_cache_sizes(self) -> None:
        """Counted when scraped: what this process holds, so a test (or an operator's dashboard) can
        see that nothing of a deleted object stays behind."""
        state = self.state
        sizes = {
            CERTIFICATE: lambda: len(state.certificates),
            SECRET: lambda: len(state.secrets),
            SIGNING_REQUEST: lambda: len(state.signing_requests),
            POD_CERTIFICATE_REQUEST: lambda: len(state.pod_certificate_requests),
            ISSUER: lambda: len(state.issuers),
            TRUST_BUNDLE: lambda: sum(1 for key in state.bundles if key.kind == TRUST_BUNDLE),
            NAMESPACED_TRUST_BUNDLE: lambda: sum(
                1 for key in state.bundles if key.kind == NAMESPACED_TRUST_BUNDLE
            ),
            CLUSTER_TRUST_BUNDLE: lambda: len(state.cluster_trust_bundles),
            OCSP_RESPONSE: lambda: len(state.ocsp_responders.cache),
        }
        for kind, size in sizes.items():
            metrics.cached_objects.labels(kind).set_function(size)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _start_labeller(self) -> None:
        """Watches of what no replica's bucket selector reaches: Certificates and managed Secrets
        without a bucket label (created so, or from before the operator was sharded), or with a
        value that is no bucket. Empty in steady state."""
        namespaces = tuple(self.config.watch_namespaces)
        followed = [
            *(
                (watched, self.unbucketed_certificate_event)
                for watched in shards.unbucketed_certificates(CERTIFICATES.plural, namespaces)
            ),
            *((watched, self.unbucketed_secret_event) for watched in shards.unbucketed_secrets(namespaces)),
        ]
        for number, (watched, intake) in enumerate(followed):
            timed = replace(
                watched,
                timeout_seconds=self.config.watch_server_timeout,
                client_timeout_seconds=self.config.watch_client_timeout,
            )
            task = asyncio.create_task(
                shards.follow(self.kube, timed, intake), name=f"certmint-labeller-{number}"
            )
            self._tasks.append(task)

    def owns(self, key: Key) -> bool:
        """Whether this replica does the object-wide work of `key` (an issuer's CA steps, CRLs and
        status; a bundle; a CSR; a pod certificate request). Certificates reach a replica only for
        its own buckets (the watch's label selector)."""
        if self.shard.whole or key.kind == CERTIFICATE:
            return True
        return self.shard.owns(object_bucket(key.kind, key.namespace, key.name))

    # Event intake: cheap bookkeeping only; the work happens in the workers.

    def certificate_event(self, event_type: str | None, body: Body) -> None:
        body = _without_managed_fields(body)
        key = key_of(CERTIFICATE, body)
        if event_type != DELETED and self._mislabelled(key, body):
            return
        if event_type == DELETED:
            self._relabelled(Key(CERTIFICATE_BUCKET, key.namespace, key.name))
            self.state.remove_certificate(key)
            self.state.planned.discard(key)
            self.queue.cancel(key)
            metrics.forget_certificate(key.namespace, key.name, metrics.certificate_issuer_label(body))
            # A Certificate that lost a Secret conflict to this one may take the Secret over now.
            secret_name = body.get("spec", {}).get("secretName", "")
            for other in self.state.certificates_for_secret(key.namespace, secret_name):
                self.queue.add(other)
            return
        before = self.state.issuer_of(key)
        self.state.put_certificate(key, body)
        if before is not None and before != self.state.issuer_of(key):
            # Its series under the old issuer label would stay forever: the new one replaces them.
            metrics.forget_certificate(
                key.namespace, key.name, metrics.issuer_label(before.kind, before.name)
            )
        self._wake(key, _source(key, body))

    def _mislabelled(self, key: Key, body: Body) -> bool:
        """Sharded: a Certificate whose bucket label is not the one its Secret's name hashes to (a
        tenant wrote another, or changed spec.secretName) is not served here; this replica, which
        sees it, relabels it to the replica that serves it. Served until then by nobody: at most
        one relabel per write of the tenant's."""
        if self.shard.whole:
            return False
        right = certificate_bucket(key.namespace, body.get("spec"))
        if (body.get("metadata", {}).get("labels") or {}).get(labels.BUCKET_LABEL) == right:
            return False
        self._forget_certificate(key)
        self._want_bucket(Key(CERTIFICATE_BUCKET, key.namespace, key.name), body, right, CERTIFICATES.plural)
        return True

    def _forget_certificate(self, key: Key) -> None:
        """It left this replica (relabelled, or its label lies): nothing of it stays here."""
        if key in self.state.certificates:
            issuer = self.state.issuer_of(key)
            self.state.remove_certificate(key)
            if issuer is not None:
                metrics.forget_certificate(
                    key.namespace, key.name, metrics.issuer_label(issuer.kind, issuer.name)
                )
        self.queue.cancel(key)

    def unbucketed_certificate_event(self, event_type: str, body: Body) -> None:
        """From the labeller's watch: a Certificate without a bucket, relabelled by the replica that
        owns the bucket its Secret's name hashes to."""
        key = key_of(CERTIFICATE_BUCKET, body)
        if event_type == DELETED:
            self._relabelled(key)
            return
        right = certificate_bucket(key.namespace, body.get("spec"))
        if self.shard.owns(int(right)):
            self._want_bucket(key, body, right, CERTIFICATES.plural)

    def unbucketed_secret_event(self, event_type: str, body: Body) -> None:
        """From the labeller's watch: a managed Secret without a bucket (written before the operator
        was sharded), relabelled by one replica: the owner of the bucket it is to carry, or for a
        shared one, of its name's."""
        key = key_of(SECRET_BUCKET, body)
        if event_type == DELETED:
            self._relabelled(key)
            return
        metadata = body.get("metadata", {})
        role = (metadata.get("labels") or {}).get(labels.SECRET_ROLE_LABEL)
        right = secret_bucket_of(
            key.namespace,
            key.name,
            role,
            certmint_ca=marked_by_certmint(body, labels.SECRET_ROLE_LABEL),
            bundle=self._bundle_bucket(body),
        )
        decider = read_bucket(right)
        if self.shard.owns(decider if decider is not None else secret_bucket(key.namespace, key.name)):
            self._want_bucket(key, body, right, "secrets")

    def _bundle_bucket(self, body: Body) -> str:
        """The bucket label of the bundle whose copy `body` is (by the UID certmint labelled it with),
        "" when no cached bundle has that UID."""
        metadata = body.get("metadata", {})
        uid = (metadata.get("labels") or {}).get(labels.TRUST_BUNDLE_LABEL)
        if not uid:
            return ""
        for key, bundle in self.state.bundles.items():
            if bundle.get("metadata", {}).get("uid") == uid:
                return str(object_bucket(key.kind, key.namespace, key.name))
        return ""

    def _want_bucket(self, key: Key, body: Body, value: str, plural: str) -> None:
        metadata = body.get("metadata", {})
        path = (
            objects.core_path("secrets", key.namespace, key.name)
            if plural == "secrets"
            else objects.path(plural, key.namespace, key.name)
        )
        self.state.relabels[key] = Relabel(path, value, str(metadata.get("resourceVersion") or ""))
        self.queue.add(key)

    def _relabelled(self, key: Key) -> None:
        if self.state.relabels.pop(key, None) is not None:
            self.queue.cancel(key)

    def issuer_event(self, kind: str, event_type: str | None, body: Body) -> None:
        key = key_of(kind, body)
        if event_type == DELETED:
            self.state.issuers.pop(key, None)
            self._refresh_default(key)
            self.state.rotation_steps.pop(key, None)
            self._signed.forget(key)
            metrics.forget_issuer(key.kind, key.namespace, key.name)
            self._forget_signing_requests_of(key)
            self._forget_pod_certificate_requests_of(key)
            self.queue.add(key)
            return
        if key not in self.state.issuers:
            self._issuer_known(key)
        self.state.issuers[key] = body
        self._refresh_default(key)
        self._note_pod_certificates_disabled(key, body)
        self._wake(key, _source(key, body))

    def _refresh_default(self, key: Key) -> None:
        """After the cached issuer changed: when its default marking, or the time it became the
        default, changed, the other defaults of its scope update their Default condition, and the
        Certificates without issuerRef it may move are planned again, in the order of their points
        in the spread re-issue window (as after a CA rotation). Only those: an Issuer reaches no
        further than its own namespace."""
        if not self.state.refresh_default(key):
            return
        for name in self.state.marked_default_in_scope(key):
            other = issuer_key(key.kind, key.namespace, name)
            if other != key:
                self.queue.add(other)
        followers = self.state.followers_of_scope(key)
        self.queue.fan_out(sorted(followers, key=lambda follower: spread(self.state.uid_of(follower))))

    def _note_pod_certificates_disabled(self, key: Key, body: Body) -> None:
        """One log line for the first issuer that opts in while pod certificates are off."""
        if self.config.pod_certificates or self._told_disabled:
            return
        spec = body.get("spec")
        if isinstance(spec, dict) and spec.get("podCertificates") is not None:
            self._told_disabled = True
            log.warning(
                "%s %s/%s sets spec.podCertificates, but the operator runs without %s: no "
                "PodCertificateRequest is signed and no ClusterTrustBundle published",
                key.kind,
                key.namespace,
                key.name,
                ENABLE_FLAG,
            )

    def cluster_trust_bundle_event(self, event_type: str | None, body: Body) -> None:
        """A ClusterTrustBundle carrying certmint's label (the watch's selector) changed: cached, and
        its owner publishes again unless it was our own write. The owner is read from labels certmint's
        field manager wrote; an issuer's must also carry that issuer's signer-derived name."""
        found = read_cluster_trust_bundle(body)
        key = Key(CLUSTER_TRUST_BUNDLE, "", found.name)
        if event_type == DELETED:
            self.state.cluster_trust_bundles.pop(found.name, None)
            source: Source = (key, "")  # never an echo: certmint's deletes are of bundles that must go
        else:
            self.state.cluster_trust_bundles[found.name] = found
            source = (key, found.resource_version)
        owner = self._owner_of(found)
        if owner is not None:
            self._wake(owner, source)
        else:
            self.echoes.own_write(source)

    def _owner_of(self, found: ClusterTrustBundleObject) -> Key | None:
        if not found.marked_by_certmint:
            return None
        kind = found.labels.get(labels.ISSUER_KIND)
        if kind in ISSUER_KINDS:
            issuer = issuer_key(
                kind, found.labels.get(labels.ISSUER_NAMESPACE, ""), found.labels.get(labels.ISSUER_NAME, "")
            )
            trust = trust_of(issuer)
            return issuer if found.owned_by(trust.owner) and found.name == trust.name else None
        uid = found.labels.get(labels.TRUST_BUNDLE_LABEL)
        if uid and found.name.startswith(TRUST_BUNDLE_PREFIX):
            bundle = Key(TRUST_BUNDLE, "", found.name.removeprefix(TRUST_BUNDLE_PREFIX))
            known = self.state.bundles.get(bundle)
            if known is not None and known.get("metadata", {}).get("uid") == uid:
                return bundle
        return None

    def trust_bundle_event(self, event_type: str | None, body: Body, kind: str = TRUST_BUNDLE) -> None:
        """A TrustBundle's event, or (`kind`) a NamespacedTrustBundle's."""
        key = key_of(kind, body)
        if event_type == DELETED:
            self.state.bundles.pop(key, None)
            metrics.forget_trust_bundle(bundle_label(key))
            self.queue.cancel(key)
            return
        self.state.bundles[key] = body
        self._wake(key, _source(key, body))

    def signing_request_event(self, event_type: str | None, body: Body) -> None:
        """CSRs are cluster-scoped and their requesters create them unlabelled, so no label selector
        can narrow the watch: every CSR of the cluster (kubelets' too) arrives here. Those for other
        signers are dropped before anything is cached or queued, and so are ours once they are
        final (signed, denied, failed): memory holds only CSRs certmint may still act on. So are
        those of issuers that do not exist (anyone may create CSRs for any signer name, and
        cluster-scoped objects have no quota): they are listed when their issuer appears. What is
        kept is the few fields certmint reads, not the object."""
        spec = body.get("spec") or {}
        signer_name = str(spec.get("signerName", ""))
        if not is_certmint_signer(signer_name):
            return
        key = key_of(SIGNING_REQUEST, body)
        if not self._serves_signer(signer_name):
            return
        csr = read_signing_request(body)
        if event_type == DELETED or csr.settled or not self._may_act_on(csr):
            self.state.signing_requests.pop(key, None)
            self.queue.cancel(key)
            return
        self.state.signing_requests[key] = csr
        self._wake(key, _source(key, body))

    def _may_act_on(self, csr: SigningRequestObject) -> bool:
        """An issuer that exists (its pending CSRs are listed when it appears), or an approved CSR
        waiting for a signature: that one is failed, once, with IssuerNotFound or UnknownSigner, and
        forgotten. Approving takes a right over the signer that tenants do not have."""
        if csr.approved and not (csr.denied or csr.failed or csr.certificate):
            return True
        signer = parse_signer_name(csr.signer_name)
        return (
            isinstance(signer, SignerRef)
            and issuer_key(signer.kind, signer.namespace, signer.name) in self.state.issuers
        )

    async def _pick_up_signing_requests(self, key: Key) -> Outcome:
        """An issuer appeared: the pending CSRs (and PodCertificateRequests) for its signer, which
        intake did not keep."""
        for body in await self.kube.list_signing_requests(key.name):
            self.signing_request_event(None, body)
        if self.state.pod_certificate_api:
            for body in await self.kube.list_pod_certificate_requests(None, key.name):
                self.pod_certificate_request_event(None, body)
        return Outcome()

    def pod_certificate_request_event(self, event_type: str | None, body: Body) -> None:
        """Every PodCertificateRequest of the cluster arrives here (kubelets create them for any
        signer). Kept only when addressed to a certmint signer of an issuer that exists and not yet
        final (or an issued one whose revocation is asked for), as the few fields certmint reads:
        at most one stub request of MAX_REQUEST_BYTES each, and the API server deletes every
        request 15 minutes after its creation."""
        spec = body.get("spec") or {}
        signer_name = str(spec.get("signerName", ""))
        if not is_certmint_signer(signer_name) or not self._serves_signer(signer_name):
            return
        key = key_of(POD_CERTIFICATE_REQUEST, body)
        signer = parse_signer_name(signer_name)
        known = isinstance(signer, SignerRef) and (
            issuer_key(signer.kind, signer.namespace, signer.name) in self.state.issuers
        )
        if event_type == DELETED or not known:
            self.state.pod_certificate_requests.pop(key, None)
            self.queue.cancel(key)
            return
        pcr = read_pod_certificate_request(body)
        if pcr.settled:
            self.state.pod_certificate_requests.pop(key, None)
            self.queue.cancel(key)
            return
        self.state.pod_certificate_requests[key] = pcr
        self._wake(key, _source(key, body))

    def _forget_pod_certificate_requests_of(self, issuer: Key) -> None:
        for key, pcr in list(self.state.pod_certificate_requests.items()):
            signer = parse_signer_name(pcr.signer_name)
            if isinstance(signer, SignerRef) and issuer == issuer_key(
                signer.kind, signer.namespace, signer.name
            ):
                del self.state.pod_certificate_requests[key]
                self.queue.cancel(key)

    def _issuer_known(self, key: Key) -> None:
        if key.kind == ISSUER:
            self.queue.add(Key(SIGNER, "", issuer_signer_name(key.namespace, key.name)))
        else:
            self.queue.add(Key(SIGNER, "", cluster_issuer_signer_name(key.name)))

    def _forget_signing_requests_of(self, issuer: Key) -> None:
        for key, csr in list(self.state.signing_requests.items()):
            signer = parse_signer_name(csr.signer_name)
            if isinstance(signer, SignerRef) and issuer == issuer_key(
                signer.kind, signer.namespace, signer.name
            ):
                del self.state.signing_requests[key]
                self.queue.cancel(key)

    def _serves_signer(self, signer_name: str) -> bool:
        """Restricted to some namespaces, this operator can read no Issuer elsewhere: CSRs for those
        are another deployment's (or nobody's) to sign."""
        signer = parse_signer_name(signer_name)
        served = self.config.watch_namespaces
        return not (
            served
            and isinstance(signer, SignerRef)
            and signer.kind == ISSUER
            and signer.namespace not in served
        )

    def namespace_event(self, event_type: str | None, body: Body) -> None:
        metadata = body.get("metadata", {})
        name = metadata.get("name", "")
        if self.config.watch_namespaces and name not in self.config.watch_namespaces:
            return  # not served: no bundle is published there
        active = event_type != DELETED and (body.get("status") or {}).get("phase", "Active") == "Active"
        if event_type != DELETED and not active:
            self.state.terminating.add(name)
        else:
            self.state.terminating.discard(name)
        labels_now = dict(metadata.get("labels") or {}) if active else None
        labels_before = self.state.namespaces.get(name)
        if labels_before == labels_now:
            return
        if labels_now is None:
            self.state.namespaces.pop(name, None)
        else:
            self.state.namespaces[name] = labels_now
        for key in self.state.bundles:
            if key.kind == TRUST_BUNDLE or key.namespace == name:
                self.queue.add(key)
        if labels_before is None or labels_now is None:
            return  # first sight (Certificates read the labels themselves), or gone
        # Relabelled: an issuer's namespaceSelector may now admit or refuse its Certificates.
        self.queue.fan_out(key for key in self.state.certificates if key.namespace == name)

    def configmap_event(self, body: Body) -> None:
        self._bundle_copy_event(body)

    def _bundle_copy_event(self, body: Body) -> None:
        """Someone changed or deleted a ConfigMap or Secret we publish: its bundle puts it right. Only
        a copy certmint itself labelled for that bundle (its UID, by certmint's field manager) counts:
        a tenant's object carrying the same markings wakes nobody's bundle. The bundle is the
        TrustBundle of that name, or the NamespacedTrustBundle of that name in the copy's namespace,
        whichever has that UID."""
        metadata = body.get("metadata", {})
        annotations = metadata.get("annotations") or {}
        name = annotations.get(labels.TRUST_BUNDLE_NAME)
        if not name or not marked_by_certmint(body, labels.TRUST_BUNDLE_LABEL, frozenset({FIELD_MANAGER})):
            return
        uid = (metadata.get("labels") or {}).get(labels.TRUST_BUNDLE_LABEL)
        candidates = (
            Key(TRUST_BUNDLE, "", name),
            Key(NAMESPACED_TRUST_BUNDLE, metadata.get("namespace", ""), name),
        )
        known = {key: self.state.bundles[key] for key in candidates if key in self.state.bundles}
        if not known:
            self.queue.add(candidates[0])  # not cached (yet): its own event reconciles it
            return
        for key, bundle in known.items():
            if bundle.get("metadata", {}).get("uid") == uid:
                self.queue.add(key)

    def secret_event(self, event_type: str | None, body: Body) -> None:
        metadata = body.get("metadata", {})
        namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
        secret = Key(SECRET, namespace, name)
        source = _source(secret, body)
        if not self._remember_secret(event_type, body, source):
            self.echoes.own_write(source)  # already known: our own write, or the listing we began with
            return
        annotations = metadata.get("annotations") or {}
        role = (metadata.get("labels") or {}).get(labels.SECRET_ROLE_LABEL)
        if role == labels.ROLE_TRUST_BUNDLE:
            self._bundle_copy_event(body)
            return
        if role == labels.ROLE_CA:
            # Only certmint's own CA marking, on a Secret where that issuer keeps its CA: a forged
            # one in a tenant's namespace reconciles no other tenant's issuer.
            issuer = ca_secret_issuer(namespace, annotations, self.config.namespace)
            if issuer is not None and marked_by_certmint(body, labels.SECRET_ROLE_LABEL):
                self.queue.add(Key(*issuer))
            return
        if event_type == DELETED:
            source = (secret, "")  # certmint never deletes a Secret: never an echo of ours
        elif self.echoes.own_write(source):
            return
        for key in self.state.certificates_for_secret(namespace, name):
            self._wake(key, source)

    def _remember_secret(self, event_type: str | None, body: Body, source: Source) -> bool:
        """Updates the Secret's view; False when the event tells nothing new."""
        place = (source[0].namespace, source[0].name)
        if event_type == DELETED:
            self.state.secrets.pop(place, None)
            return True
        known = self.state.secrets.get(place)
        if known is not None and source[1] and known.resource_version == source[1]:
            return False
        self.state.secrets[place] = secret_from_body(body).view()
        self.state.unwatched_secrets.discard(place)
        return True

    def _wake(self, key: Key, source: Source) -> None:
        """Reconcile `key` because of an event about `source`, unless that event is our own write."""
        if self.echoes.wants_reconcile(key, source, self.queue.processing(key)):
            self.queue.add(key)

    # Workers

    async def _work(self) -> None:
        while True:
            await self.active.wait()
            key = await self.queue.get()
            if not self.active.is_set():
                # Paused while waiting: the key stays queued for whoever works next.
                self.queue.done(key)
                self.queue.add(key)
                continue
            await self.process(key)

    async def process(self, key: Key) -> None:
        """One reconcile of a key the queue handed out, its outcome applied."""
        if key.kind in OWNER_ONLY and not self.owns(key):
            # Another replica's: watched here so that the caches stay complete, never written.
            self.queue.done(key)
            return
        self.echoes.started(key)
        try:
            if key.kind == SIGNER:
                outcome = await self._pick_up_signing_requests(key)
            elif key.kind in ISSUER_KINDS and not self.owns(key):
                # Another replica does its issuer-wide work: this one only reads it.
                outcome = await issuers.observe(self.context, key)
            else:
                outcome = await RECONCILERS[key.kind](self.context, key)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.echoes.failed(key)
            self._failed(key, error)
            metrics.reconciles.labels(key.kind, "error").inc()
        else:
            self.apply(key, outcome)
            result = "waiting" if outcome.wait_for is not None else "ok"
            if key.kind == CERTIFICATE and outcome.wait_for is None:
                self.state.planned.add(key)
            metrics.reconciles.labels(key.kind, result).inc()
        finally:
            if self.echoes.finished(key):
                self.queue.add(key)  # changed while the reconcile failed: look again
            self.queue.done(key)
            metrics.queue_depth.set(self.queue.busy())

    def _failed(self, key: Key, error: Exception) -> None:
        if isinstance(error, TRANSIENT) and namespace_gone(error):
            # Its deletion event follows; retrying would only fail again.
            log.info("dropping %s: its namespace is being deleted", key)
            self.queue.cancel(key)
            return
        metrics.reconcile_errors.labels(key.kind).inc()
        delay = self.queue.add_rate_limited(key)
        if isinstance(error, CAMoved):
            log.info("%s: %s; retrying in %.0f s", key, error, delay)
        elif isinstance(error, TRANSIENT):
            log.warning("reconciling %s failed (%s); retrying in %.0f s", key, describe(error), delay)
        else:
            log.error("reconciling %s failed; retrying in %.0f s", key, delay, exc_info=error)

    def apply(self, key: Key, outcome: Outcome) -> None:
        """The only place a reconcile's result reaches the caches and the queue."""
        # One attempt per version judged: a label write refused (409) or made is done; the watch's
        # next event about the object decides again.
        if key.kind in (CERTIFICATE_BUCKET, SECRET_BUCKET):
            self.state.relabels.pop(key, None)
        if outcome.issuer_loaded is not None and key not in self.state.issuers:
            self.state.issuers[key] = outcome.issuer_loaded
            self._refresh_default(key)
            self._issuer_known(key)
        for written in outcome.statuses:
            self._cache_status(written)
        # A replica observing another's issuer wakes the keys waiting for it only when what it read
        # changed: a revocation waits for the owner's CRL, which a look before it does not bring.
        keep_waiting = (
            key.kind in ISSUER_KINDS
            and not self.owns(key)
            and outcome.issuer_view is not None
            and same_view(self.state.issuer_views.get(key), outcome.issuer_view)
        )
        if outcome.issuer_view is not None:
            self._set_issuer_view(key, outcome.issuer_view)
        settled = self.echoes.settled(key, outcome.echoes)
        if settled.look_again:
            self.queue.add(key)  # someone else wrote while we worked: look again
        self._remember_written(outcome, settled.changed_by_others)
        for name, bundle in outcome.cluster_trust_bundles:
            if Key(CLUSTER_TRUST_BUNDLE, "", name) in settled.changed_by_others:
                continue  # the watch has the newer one
            if bundle is None:
                self.state.cluster_trust_bundles.pop(name, None)
            else:
                self.state.cluster_trust_bundles[name] = bundle
        for other in outcome.wake:
            self.queue.add(other)
        if outcome.wait_for is not None:
            self.echoes.wait(key, outcome.wait_for)
            self.queue.add(outcome.wait_for)
        if outcome.rotation_step is not None:
            self.state.rotation_steps[key] = outcome.rotation_step
        self._schedule_next_look(key, outcome)
        for waiter in settled.waiters:
            if keep_waiting:
                self.echoes.wait(waiter, key)
            else:
                self.queue.add(waiter)

    def _schedule_next_look(self, key: Key, outcome: Outcome) -> None:
        if outcome.backoff:
            self.queue.add_rate_limited(key)
            return
        self.queue.forget(key)
        if outcome.requeue_after is not None:
            delay = outcome.requeue_after
            if key.kind in ISSUER_KINDS:
                # The one floor of every issuer's next look: nothing an issuer's spec, its CA
                # Secret or a clock says makes it reconcile on its own more often than this.
                delay = max(delay, ISSUER_REQUEUE_FLOOR_SECONDS)
            self.queue.add_after(key, delay)

    def _remember_written(self, outcome: Outcome, changed_by_others: frozenset[Key]) -> None:
        """Secrets as our writes left them, unless someone else's write to them was seen meanwhile:
        then the watch has the newer view, and the reconcile it caused plans from it."""
        for namespace, view in outcome.secrets:
            if Key(SECRET, namespace, view.name) not in changed_by_others:
                self.state.secrets[(namespace, view.name)] = view
        self.state.unwatched_secrets.update(outcome.unwatched_secrets)

    def _cache_status(self, written: StatusWritten) -> None:
        """Our own patch comes back as an event; until then the cache must not offer the old status,
        nor (with several replicas) the version the patch replaced: the next patch's precondition.
        A version some event brought meanwhile stays (it may be newer than ours)."""
        key, status = written.key, written.status
        cache: MutableMapping[Key, Body] = {
            CERTIFICATE: self.state.certificates,
            ISSUER: self.state.issuers,
            CLUSTER_ISSUER: self.state.issuers,
            TRUST_BUNDLE: self.state.bundles,
            NAMESPACED_TRUST_BUNDLE: self.state.bundles,
        }[key.kind]
        cached = cache.get(key)
        if cached is not None:
            metadata = dict(cached.get("metadata") or {})
            if written.based_on and metadata.get("resourceVersion") == written.based_on:
                metadata["resourceVersion"] = written.resource_version
            cache[key] = {**cached, "metadata": metadata, "status": status}
            if key.kind in ISSUER_KINDS:
                self._refresh_default(key)  # its Default condition may have become True

    def _set_issuer_view(self, key: Key, view: IssuerView) -> None:
        previous = self.state.issuer_views.get(key)
        self.state.issuer_views[key] = view
        # Its responder follows the view: replaced on new inputs, gone (cache entries and all) without.
        self.state.ocsp_responders.for_issuer(key, view.revoking.ocsp)
        if reaches_certificates(previous, view):
            # In the order of their points in a rotation's reissueWindow, so that each is
            # re-planned (and its re-issue scheduled) before its point comes.
            dependents = self.state.certificates_for_issuer(key)
            self.queue.fan_out(sorted(dependents, key=lambda dependent: spread(self.state.uid_of(dependent))))
        if reaches_bundles(previous, view):
            self.queue.fan_out(self.state.bundles_for_issuer(key))
        if not self.owns(key) and _newly_revoked(previous, view):
            # The owner signed a CRL listing new serials: Certificates whose revocation this
            # replica recorded re-plan now (the owner's reconcile woke its own waiters at once).
            self.queue.fan_out(self.state.revoking_certificates_of(key))


def _newly_revoked(previous: IssuerView | None, view: IssuerView) -> bool:
    before = previous.revoking.revoked_serials if previous is not None else frozenset()
    return bool(view.revoking.revoked_serials - before)


def _source(key: Key, body: Body) -> Source:
    return key, str(body.get("metadata", {}).get("resourceVersion") or "")


def _without_managed_fields(body: Body) -> Body:
    """managedFields are often the largest part of an object and nothing here reads them; cached
    for every Certificate, they would cost kilobytes each."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return body
    return {**body, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
