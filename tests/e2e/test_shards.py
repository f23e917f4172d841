"""Shards end to end on the real API server (issue 25, part A): a real non-admin tenant creates
Certificates without the bucket label, with `shared`, with a value that is no bucket, and with
another replica's bucket. Two sharded controllers (slots 0 and 1 of a ring of two; the real
Controller, Kube, labeller and list+watch, in this process) put each label right with exactly one
write, and the Certificate is then served by the replica of its bucket (here: IssuerNotFound, for an
issuer that does not exist).

kopf is not run here: each controller watches its own Certificates and Secrets (certmint's own
list+watch, with its shard's selectors), as in the operator. The slot Leases and the process cycle
are another part of the issue (tests/e2e/test_slots.py)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, GROUP, VERSION
from certmint.kube import objects
from certmint.kube.client import USER_AGENT, connect
from certmint.kube.gateway import Kube
from certmint.kube.watching import Watched, list_and_watch
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.planning import labels
from certmint.planning.shards import BUCKETS, Shard, bucket_label, secret_bucket
from tests.e2e.manifests import certificate
from tests.e2e.support import Cluster, grant_role, token_client

RING = 2
TIMEOUT = 120


def right_bucket(namespace: str, name: str) -> str:
    return bucket_label(secret_bucket(namespace, f"{name}-tls"))


def lies(namespace: str) -> dict[str, str | None]:
    """Certificate name → the bucket label its tenant gives it (None: none)."""
    wrong = str((secret_bucket(namespace, "another-tls") + 1) % BUCKETS)
    while wrong == right_bucket(namespace, "another"):
        wrong = str((int(wrong) + 1) % BUCKETS)
    return {"unlabelled": None, "shared": labels.SHARED_BUCKET, "garbage": "not-a-bucket", "another": wrong}


@dataclass
class LabelHistory:
    """Every bucket label each Certificate of the namespace was seen with, in order, from a watch of
    its own; `failure` is set if that watch dies (the test then fails)."""

    seen: dict[str, list[str | None]] = field(default_factory=dict)
    failure: BaseException | None = None

    def record(self, body: dict[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        value = (metadata.get("labels") or {}).get(labels.BUCKET_LABEL)
        history = self.seen.setdefault(metadata.get("name", ""), [])
        if not history or history[-1] != value:
            history.append(value)


@pytest.fixture
def tenant_api(cluster: Cluster, namespace: str) -> Iterator[client.CustomObjectsApi]:
    """A ServiceAccount that may only create, read and delete Certificates in its namespace."""
    rules = [
        {
            "apiGroups": [GROUP],
            "resources": [CERTIFICATES.plural],
            "verbs": ["create", "get", "list", "delete"],
        }
    ]
    grant_role(cluster, namespace, "tenant", rules)
    api = token_client(cluster, namespace, "tenant")
    yield client.CustomObjectsApi(api)
    api.close()


@pytest.fixture
async def admin_kube(cluster: Cluster) -> AsyncIterator[Kube]:
    api = await connect(str(cluster.plane.kubeconfig))
    try:
        yield Kube(api)
    finally:
        await api.close()


async def test_a_tenants_missing_or_lying_bucket_labels_are_put_right_once_by_one_replica(
    cluster: Cluster,
    namespace: str,
    tenant_api: client.CustomObjectsApi,
    admin_kube: Kube,
    without_session_operator: None,
) -> None:
    tenant_labels = lies(namespace)
    history = LabelHistory()
    everything = Watched(objects.path(CERTIFICATES.plural, namespace), timeout_seconds=60)

    async def record() -> None:
        try:
            async for event in list_and_watch(admin_kube, everything):
                if event.object:
                    history.record(event.object)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            history.failure = error
            raise

    config = OperatorConfig(namespace="certmint", watch_namespaces=(namespace,), workers=2)
    controllers = [
        Controller(kube=admin_kube, config=config, shard=Shard(slot, RING)) for slot in range(RING)
    ]
    tasks = [asyncio.create_task(record(), name="label-history")]
    try:
        for controller in controllers:
            await controller.start()
        for name, value in tenant_labels.items():
            manifest = certificate(namespace, name, secretName=f"{name}-tls", issuerRef={"name": "absent"})
            if value is not None:
                manifest["metadata"]["labels"] = {labels.BUCKET_LABEL: value}
            await asyncio.to_thread(
                tenant_api.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                CERTIFICATES.plural,
                manifest,
            )

        async def all_right() -> bool:
            for name in tenant_labels:
                stored = await admin_kube.read_object(CERTIFICATES.plural, namespace, name) or {}
                found = (stored.get("metadata", {}).get("labels") or {}).get(labels.BUCKET_LABEL)
                if found != right_bucket(namespace, name) or not stored.get("status"):
                    return False
            return all(
                history.seen.get(name, [None])[-1] == right_bucket(namespace, name) for name in tenant_labels
            )

        async with asyncio.timeout(TIMEOUT):
            while not await all_right():
                assert history.failure is None, history.failure
                assert not any(task.done() for task in tasks), [task for task in tasks if task.done()]
                await asyncio.sleep(0.2)
        assert history.failure is None
        for name, value in tenant_labels.items():
            assert history.seen[name] == [value, right_bucket(namespace, name)], f"{name}: one relabel"
        for name in tenant_labels:
            stored = await admin_kube.read_object(CERTIFICATES.plural, namespace, name)
            assert stored is not None
            managers = {entry["manager"] for entry in stored["metadata"].get("managedFields") or []}
            assert USER_AGENT in managers, f"{name}: the relabel is certmint's ({managers})"
            reasons = {c.get("reason") for c in (stored.get("status") or {}).get("conditions") or []}
            assert reasons == {"IssuerNotFound"}, f"{name}: served by its bucket's replica once relabelled"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for controller in controllers:
            await controller.stop()
