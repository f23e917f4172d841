"""The controller: event intake from kopf, a work queue, and workers running the reconcilers."""

import asyncio
import logging
from dataclasses import dataclass, field

from kubernetes.aio import client

from certmint.kube.errors import TRANSIENT, describe, namespace_gone
from certmint.operator import bundles, certificates, issuers, metrics, peering
from certmint.operator.config import OperatorConfig
from certmint.operator.state import (
    CERTIFICATE,
    CLUSTER_ISSUER,
    ISSUER,
    SECRET,
    TRUST_BUNDLE,
    Body,
    Key,
    State,
    key_of,
)
from certmint.operator.workqueue import WorkQueue
from certmint.planning import labels

log = logging.getLogger("certmint.controller")

DELETED = "DELETED"


@dataclass
class Controller:
    api: client.ApiClient
    config: OperatorConfig
    state: State = field(default_factory=State)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    issuer_locks: dict[Key, asyncio.Lock] = field(default_factory=dict)
    active: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while this replica works: always when standalone, while it leads the peering otherwise."""
    echoes: dict[Key, str] = field(default_factory=dict)
    """resourceVersions of our own latest writes: their watch events need no reconcile."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        if self.config.peering:
            interval = max(1.0, self.config.peering_lifetime / 10)
            follow = peering.follow(
                self.api,
                self.config.peering,
                self.config.identity,
                self.config.priority,
                interval,
                self.active,
            )
            self._tasks.append(asyncio.create_task(follow, name="certmint-peering"))
        else:
            self.active.set()
        self._tasks.append(asyncio.create_task(self.queue.run_timers(), name="certmint-timers"))
        for number in range(self.config.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"certmint-worker-{number}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # Event intake: cheap bookkeeping only; the work happens in the workers.

    def certificate_event(self, event_type: str | None, body: Body) -> None:
        body = _without_managed_fields(body)
        key = key_of(CERTIFICATE, body)
        if event_type == DELETED:
            self.state.remove_certificate(key)
            self.queue.cancel(key)
            ref = body.get("spec", {}).get("issuerRef", {})
            metrics.forget_certificate(
                key.namespace, key.name, metrics.issuer_label(ref.get("kind", ISSUER), ref.get("name", ""))
            )
            # A Certificate that lost a Secret conflict to this one may take the Secret over now.
            secret_name = body.get("spec", {}).get("secretName", "")
            for other in self.state.certificates_for_secret(key.namespace, secret_name):
                self.queue.add(other)
            return
        self.state.put_certificate(key, body)
        if not self._is_echo(key, body):
            self.queue.add(key)

    def issuer_event(self, kind: str, event_type: str | None, body: Body) -> None:
        key = key_of(kind, body)
        if event_type == DELETED:
            self.state.issuers.pop(key, None)
        else:
            self.state.issuers[key] = body
        self.queue.add(key)

    def trust_bundle_event(self, event_type: str | None, body: Body) -> None:
        key = key_of(TRUST_BUNDLE, body)
        if event_type == DELETED:
            self.state.bundles.pop(key, None)
            self.queue.cancel(key)
            return
        self.state.bundles[key] = body
        self.queue.add(key)

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
            self.queue.add(key)
        if labels_before is None or labels_now is None:
            return  # first sight (Certificates read the labels themselves), or gone
        # Relabelled: an issuer's namespaceSelector may now admit or refuse its Certificates.
        for key in self.state.certificates:
            if key.namespace == name:
                self.queue.add(key)

    def configmap_event(self, body: Body) -> None:
        """Someone changed or deleted a ConfigMap we publish: its TrustBundle puts it right."""
        annotations = body.get("metadata", {}).get("annotations") or {}
        name = annotations.get(labels.TRUST_BUNDLE_NAME)
        if name:
            self.queue.add(Key(TRUST_BUNDLE, "", name))

    def secret_event(self, body: Body) -> None:
        metadata = body.get("metadata", {})
        namespace = metadata.get("namespace", "")
        annotations = metadata.get("annotations") or {}
        role = (metadata.get("labels") or {}).get(labels.SECRET_ROLE_LABEL)
        if role == labels.ROLE_CA:
            kind = annotations.get(labels.ISSUER_KIND, ISSUER)
            issuer_namespace = annotations.get(labels.ISSUER_NAMESPACE, "") if kind == ISSUER else ""
            self.queue.add(Key(kind, issuer_namespace, annotations.get(labels.ISSUER_NAME, "")))
            return
        if self._is_echo(Key(SECRET, namespace, metadata.get("name", "")), body):
            return
        for key in self.state.certificates_for_secret(namespace, metadata.get("name", "")):
            self.queue.add(key)

    def expect_echo(self, key: Key, resource_version: str) -> None:
        if resource_version:
            self.echoes[key] = resource_version

    def _is_echo(self, key: Key, body: Body) -> bool:
        version = body.get("metadata", {}).get("resourceVersion")
        if version is not None and self.echoes.get(key) == version:
            del self.echoes[key]
            return True
        return False

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
            try:
                await self._reconcile(key)
            except asyncio.CancelledError:
                raise
            except TRANSIENT as error:
                if namespace_gone(error):
                    # Its deletion event follows; retrying would only fail again.
                    log.info("dropping %s: its namespace is being deleted", key)
                    self.queue.cancel(key)
                    continue
                metrics.reconcile_errors.labels(key.kind).inc()
                delay = self.queue.add_rate_limited(key)
                log.warning("reconciling %s failed (%s); retrying in %.0f s", key, describe(error), delay)
            except Exception:
                metrics.reconcile_errors.labels(key.kind).inc()
                delay = self.queue.add_rate_limited(key)
                log.exception("reconciling %s failed; retrying in %.0f s", key, delay)
            finally:
                self.queue.done(key)

    async def _reconcile(self, key: Key) -> None:
        if key.kind == CERTIFICATE:
            await certificates.reconcile(self, key)
        elif key.kind in (ISSUER, CLUSTER_ISSUER):
            await issuers.reconcile(self, key)
        elif key.kind == TRUST_BUNDLE:
            await bundles.reconcile(self, key)


def _without_managed_fields(body: Body) -> Body:
    """managedFields are often the largest part of an object and nothing here reads them; cached
    for every Certificate, they would cost kilobytes each."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return body
    return {**body, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
