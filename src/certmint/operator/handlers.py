"""kopf wiring only: operator settings, startup and cleanup, and raw watch events into the controller.

Only `on.event` handlers: they keep no diff-base annotations, progress records or finalizers on
any object (kopf #1087), so kopf itself never writes to our resources or to Secrets.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import kopf
from aiohttp import web
from kubernetes.aio.client import ApiClient

from certmint.api import GROUP, VERSION
from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS, NAMESPACED_TRUST_BUNDLES, TRUST_BUNDLES
from certmint.kube.client import connect
from certmint.kube.gateway import POD_CERTIFICATES_API, Kube
from certmint.kube.podcerts import PLURAL as PCR_PLURAL
from certmint.kube.secrets import LIST_PAGE
from certmint.operator import endpoints, peering
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.operator.state import CLUSTER_ISSUER, ISSUER, NAMESPACED_TRUST_BUNDLE
from certmint.operator.storage import migrate_at_start
from certmint.planning import labels
from certmint.planning.cluster_trust import PLURAL as CLUSTER_TRUST_BUNDLES
from certmint.planning.shards import WHOLE, Shard

CONTROLLER = "controller"
API = "api"
ENDPOINTS = "endpoints"
MIGRATION = "migration"


class NoDiffBase(kopf.DiffBaseStorage):
    """certmint registers only raw event handlers, which never look at diffs, yet kopf deep-copies
    every object on every event to build a diff base; at thousands of objects that copying was
    the largest CPU cost of the operator. This storage builds and keeps nothing."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


CONFIG = "config"
"""The memo key of the OperatorConfig that `certmint operator` built and handed to kopf."""
SHARD = "shard"
"""The memo key of the Shard this run of kopf serves (planning.shards); absent: every bucket."""
FENCE = "fence"
"""The memo key of a sharded replica's fence (operator.slots.Fence), checked before each write."""
log = logging.getLogger("certmint.operator")


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Every kopf setting certmint makes. `certmint operator` applies them before kopf starts
    (kopf's resource observer reads `scanning` while startup handlers still run); the startup
    handler applies them again because kopf.operator() overwrites `peering.clusterwide` from its
    `clusterwide=` argument, which is false when a namespace list is served."""
    # The CRDs are installed before the operator (by the chart, or crds/ by the admin): kopf need not
    # list and watch every CRD of the cluster for new resources, one list fewer on every start.
    settings.scanning.disabled = True
    # Events are ours to post (kopf would post every handler log line as one).
    settings.posting.enabled = False
    # The server ends every watch after server_timeout and kopf starts it again; client_timeout
    # abandons a stream the server never ended, so a silently stalled watch (kopf #1120) is noticed.
    settings.watching.server_timeout = config.watch_server_timeout
    settings.watching.client_timeout = config.watch_client_timeout
    settings.watching.connect_timeout = 30
    # Certificates and Secrets are watched by the controller itself, with the shard's selectors
    # (Controller.watch_certificates, Controller.watch_secrets).
    settings.watching.label_selectors["v1", "configmaps"] = labels.TRUST_BUNDLE_LABEL
    settings.watching.label_selectors[POD_CERTIFICATES_API, CLUSTER_TRUST_BUNDLES] = (
        labels.CLUSTER_TRUST_BUNDLE_LABEL
    )
    # kopf lists a kind in one response unless told otherwise: a restart at 10,000 Certificates
    # and Secrets then held both whole lists at once (459 MB peak RSS in bench/scale.py, under a
    # 512Mi limit). In pages, as certmint lists its Secrets.
    settings.watching.chunk_size = LIST_PAGE
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.peering.standalone = not config.peering
    if config.peering:
        settings.peering.mandatory = True
        settings.peering.name = config.peering
    settings.peering.priority = config.priority
    settings.peering.lifetime = config.peering_lifetime
    # Replicas serving a namespace list still share one cluster-wide peering object.
    settings.peering.clusterwide = True


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig = memo[CONFIG]
    shard: Shard = memo.get(SHARD, WHOLE)
    configure_kopf(settings, config)
    api = await connect(config.kubeconfig)
    controller = Controller(kube=Kube(api, fence=memo.get(FENCE)), config=config, shard=shard)
    await controller.start(_leadership(api, config, controller))
    if controller.state.pod_certificate_api:
        register_pod_certificates()
    memo[API] = api
    memo[CONTROLLER] = controller
    if config.metrics_port:
        memo[ENDPOINTS] = await endpoints.serve(controller, config.http_address, config.metrics_port)
    logging.getLogger("certmint").info("certmint operator started with %s", controller.config)
    if config.migrate_storage:
        # After the start, in a task of its own: a migration of many objects takes minutes.
        memo[MIGRATION] = asyncio.create_task(
            migrate_at_start(controller.kube, config, controller.active), name="certmint-storage-migration"
        )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    migration: asyncio.Task[None] | None = memo.get(MIGRATION)
    if migration is not None:
        migration.cancel()
        await asyncio.gather(migration, return_exceptions=True)
    runner: web.AppRunner | None = memo.get(ENDPOINTS)
    if runner is not None:
        await runner.cleanup()
    controller: Controller | None = memo.get(CONTROLLER)
    if controller is not None:
        await controller.stop()
    api: ApiClient | None = memo.get(API)
    if api is not None:
        await api.close()  # type: ignore[no-untyped-call]


def _leadership(
    api: ApiClient, config: OperatorConfig, controller: Controller
) -> Coroutine[Any, Any, None] | None:
    """With peering, the controller works only while this replica leads (kopf's own rule)."""
    if not config.peering:
        return None
    return peering.follow(
        api,
        config.peering,
        config.identity,
        config.priority,
        max(1.0, config.peering_lifetime / 10),
        controller.active,
        controller.clock,
        controller.load_views,
    )


@kopf.on.event(GROUP, VERSION, ISSUERS.plural)
async def issuer_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].issuer_event(ISSUER, event.get("type"), dict(event["object"]))


@kopf.on.event(GROUP, VERSION, CLUSTER_ISSUERS.plural)
async def cluster_issuer_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].issuer_event(CLUSTER_ISSUER, event.get("type"), dict(event["object"]))


@kopf.on.event(GROUP, VERSION, TRUST_BUNDLES.plural)
async def trust_bundle_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].trust_bundle_event(event.get("type"), dict(event["object"]))


@kopf.on.event(GROUP, VERSION, NAMESPACED_TRUST_BUNDLES.plural)
async def namespaced_trust_bundle_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].trust_bundle_event(event.get("type"), dict(event["object"]), NAMESPACED_TRUST_BUNDLE)


@kopf.on.event("certificates.k8s.io", "v1", "certificatesigningrequests")
async def signing_request_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Every CSR in the cluster: the controller keeps only those addressed to certmint's signers."""
    memo[CONTROLLER].signing_request_event(event.get("type"), dict(event["object"]))


@kopf.on.event("v1", "namespaces")
async def namespace_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].namespace_event(event.get("type"), dict(event["object"]))


@kopf.on.event("v1", "configmaps")
async def configmap_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].configmap_event(dict(event["object"]))


async def pod_certificate_request_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Every PodCertificateRequest in the cluster: the controller keeps only those addressed to
    certmint's signers. Registered only by register_pod_certificates."""
    memo[CONTROLLER].pod_certificate_request_event(event.get("type"), dict(event["object"]))


async def cluster_trust_bundle_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo[CONTROLLER].cluster_trust_bundle_event(event.get("type"), dict(event["object"]))


def register_pod_certificates(registry: kopf.OperatorRegistry | None = None) -> None:
    """The PodCertificateRequest and ClusterTrustBundle watches: only with pod certificates on and
    certificates.k8s.io/v1beta1 served (the controller asked once at start). Registered from the
    startup handler, before kopf's resource observer reads its handlers, so that otherwise neither
    kind is ever listed or watched. The label selector (configure_kopf) keeps the ClusterTrustBundles
    to certmint's own; PodCertificateRequests cannot be selected (the kubelet labels none)."""
    group, version = POD_CERTIFICATES_API.split("/")
    kopf.on.event(group, version, PCR_PLURAL, registry=registry)(pod_certificate_request_event)
    kopf.on.event(group, version, CLUSTER_TRUST_BUNDLES, registry=registry)(cluster_trust_bundle_event)
