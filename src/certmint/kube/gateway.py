"""Every Kubernetes read and write certmint makes, each written once, as a method of `Kube`.

Reconcilers are handed a `Kube`: in the operator it talks to the real API server; in the unit tests
it is `tests.kubefake.FakeKube`, the same class with `request` answered by an in-memory API server.
The contract tests (tests/kube_contract.py) hold both to the same behaviour.
"""

import base64
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube import configmaps, csrs, events, objects, podcerts, secrets
from certmint.kube.apply import (
    APPLY_PATCH,
    MERGE_PATCH,
    json_text,
    raise_if_rejected,
    request_json,
    stream_json_lines,
    version_of,
)
from certmint.kube.configmaps import ConfigMapManifest, ConfigMapObject
from certmint.kube.errors import describe
from certmint.kube.events import ObjectReference
from certmint.kube.secrets import FIELD_MANAGER, OwnerReference, SecretObject
from certmint.planning import markings, slots
from certmint.planning.cluster_trust import (
    PLURAL as CLUSTER_TRUST_BUNDLES,
)
from certmint.planning.cluster_trust import (
    ClusterTrustBundleManifest,
    ClusterTrustBundleObject,
    read_cluster_trust_bundle,
)
from certmint.planning.podcerts.request import PodFacts, pod_facts
from certmint.planning.slots import Lease, Ring

Query: TypeAlias = list[tuple[str, Any]]


class Kube:
    """certmint's Kubernetes API: each method one request (or one paged list) and what it means."""

    fence: Callable[[], None] | None = None
    """With several replicas: checked before every request that is not a GET; it raises
    errors.FenceLost once this replica may no longer hold its slot (operator.slots)."""

    def __init__(self, api: client.ApiClient, fence: Callable[[], None] | None = None) -> None:
        self.api = api
        self.fence = fence

    def guard(self, method: str) -> None:
        """Lets a write leave only inside the fence (reads always)."""
        if method != "GET" and self.fence is not None:
            self.fence()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: str | dict[str, Any] | None = None,
        query: Query | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """The one way to the API server: an answer as plain JSON, or ApiException (FenceLost for a
        write outside the fence)."""
        self.guard(method)
        return await request_json(self.api, method, path, body=body, query=query, content_type=content_type)

    async def server_side_apply(
        self, path: str, manifest: Mapping[str, Any], field_manager: str
    ) -> dict[str, Any]:
        """Declares `manifest` as everything `field_manager` owns of the object at `path` (conflicts
        forced); returns the object as written. Raises Rejected for an invalid object.

        Sent as UTF-8 text: the client would send `json.dumps(body)`, which escapes characters beyond
        the Basic Multilingual Plane (an emoji in a common name or an annotation) as UTF-16 surrogate
        pairs, and the API server parses apply patches as YAML and refuses those escapes."""
        try:
            return await self.request(
                "PATCH",
                path,
                body=json_text(manifest),
                query=[("fieldManager", field_manager), ("force", True)],
                content_type=APPLY_PATCH,
            )
        except ApiException as error:
            raise_if_rejected(error)
            raise

    async def list_page(self, path: str, query: Query, page_size: int, token: str) -> dict[str, Any]:
        """One page of a list (its items, and in its metadata the resourceVersion and the continue
        token of the next page)."""
        paging: Query = [("limit", page_size), *([("continue", token)] if token else [])]
        return await self.request("GET", path, query=[*query, *paging])

    async def watch_events(
        self,
        path: str,
        query: Query,
        resource_version: str,
        timeout_seconds: int,
        client_timeout_seconds: float = 0,
    ) -> AsyncIterator[dict[str, Any]]:
        """One watch request: the events ({"type", "object"}) after `resource_version`, with
        bookmarks, until the server ends the stream after `timeout_seconds`. The client abandons it
        after `client_timeout_seconds` (0: that and a margin) even if the server never ended it (a
        stream gone silent). An ERROR event carries a Status (410: the version is too old, list
        again). The one streaming request (kube.watching loops over it)."""
        watch: Query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", timeout_seconds),
        ]
        async for event in stream_json_lines(
            self.api, path, [*query, *watch], client_timeout_seconds or timeout_seconds + WATCH_CLIENT_MARGIN
        ):
            yield event

    async def _read(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def _pages(self, path: str, query: Query, page_size: int) -> AsyncIterator[dict[str, Any]]:
        """The items of a list, read in pages."""
        token = ""
        while True:
            page = await self.list_page(path, query, page_size, token)
            for item in page.get("items") or []:
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    # Secrets

    async def read_secret(self, namespace: str, name: str) -> SecretObject | None:
        found = await self._read(objects.core_path("secrets", namespace, name))
        return secrets.secret_from_body(found) if found is not None else None

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        secret_type: str,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerReference | None = None,
        resource_version: str = "",
    ) -> SecretObject:
        """Declares exactly the fields certmint owns; what we stop declaring is removed, others' fields
        stay. Returns the Secret as written. With `resource_version`, ApiException 409 when the Secret
        changed since it was read (one that no longer exists is created anew)."""
        body = secrets.secret_manifest(
            namespace, name, secret_type, data, labels, annotations, owner, resource_version
        )
        written = await self.server_side_apply(
            objects.core_path("secrets", namespace, name), body, FIELD_MANAGER
        )
        return secrets.secret_from_body(written)

    async def create_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerReference | None = None,
        secret_type: str = secrets.TLS,
    ) -> SecretObject | None:
        """Creates a Secret (kubernetes.io/tls unless told) with a plain create, so a concurrent
        creator wins: returns it as created, or None when one of that name already exists (never
        overwritten). Raises Rejected when the API server refuses the object (e.g. a label value)."""
        body = secrets.secret_manifest(namespace, name, secret_type, data, labels, annotations, owner)
        try:
            created = await self.request(
                "POST",
                objects.core_path("secrets", namespace),
                body=body,
                query=[("fieldManager", FIELD_MANAGER)],
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise_if_rejected(error)
            raise
        return secrets.secret_from_body(created)

    async def mark_secret(
        self, namespace: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> SecretObject:
        """Adds labels and annotations to a Secret someone else owns (a user's CA), touching nothing
        else. A field manager of its own keeps this apart from the Secrets certmint writes in full."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels),
                "annotations": dict(annotations),
            },
        }
        written = await self.server_side_apply(
            objects.core_path("secrets", namespace, name), body, markings.WATCH_FIELD_MANAGER
        )
        return secrets.secret_from_body(written)

    async def list_secrets(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> AsyncIterator[SecretObject]:
        """In every namespace, or only in `namespaces`; read in pages and handed out one by one, so the
        data of tens of thousands of Secrets is never in memory at once."""
        for path in [objects.core_path("secrets", namespace) for namespace in namespaces] or [
            objects.core_path("secrets", None)
        ]:
            async for item in self._pages(path, [("labelSelector", label_selector)], secrets.LIST_PAGE):
                yield secrets.secret_from_body(item)

    async def delete_secret(self, namespace: str, name: str, uid: str, resource_version: str) -> bool:
        """Deletes exactly the Secret read (uid and resourceVersion preconditions), never one someone
        made or changed since: False when it is gone already or was changed or replaced (its watch
        event brings it back to be judged again)."""
        preconditions = {"uid": uid, "resourceVersion": resource_version}
        return await self._delete_as_read(objects.core_path("secrets", namespace, name), preconditions)

    async def apply_secret_data(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        *,
        resource_version: str,
        field_manager: str,
    ) -> SecretObject:
        """Sets some data keys of an existing Secret under a field manager of their own, so the writer
        of its other keys neither removes nor reclaims them. `resource_version` makes it fail with 409
        when the Secret changed since it was read; a Secret that no longer exists is created anew
        (the API server ignores the resourceVersion then; tests/kube_contract.py pins this)."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
            "data": secrets.encoded(data),
        }
        written = await self.server_side_apply(
            objects.core_path("secrets", namespace, name), body, field_manager
        )
        return secrets.secret_from_body(written)

    # Slot Leases (planning.slots), in the operator's namespace

    async def read_ring(self, namespace: str) -> Ring | None:
        """The ring, or None when there is none."""
        found = await self._read(objects.lease_path(namespace, slots.RING_NAME))
        return slots.read_ring(found) if found is not None else None

    async def write_ring(self, namespace: str, ring: Ring, resource_version: str | None) -> Ring | None:
        """Creates the ring (`resource_version` None) or replaces the one of that resourceVersion;
        None when another process got there first."""
        body = slots.ring_manifest(namespace, replace(ring, resource_version=resource_version or ""))
        try:
            if resource_version is None:
                written = await self.request("POST", objects.lease_path(namespace), body=body)
            else:
                written = await self.request("PUT", objects.lease_path(namespace, slots.RING_NAME), body=body)
        except ApiException as error:
            if error.status in (404, 409):
                return None
            raise
        return slots.read_ring(written)

    async def list_slot_leases(self, namespace: str) -> list[Lease]:
        listed = await self.request(
            "GET", objects.lease_path(namespace), query=[("labelSelector", slots.SLOT_LEASE_LABEL)]
        )
        found = (slots.read_lease(item) for item in listed.get("items") or [])
        return [lease for lease in found if lease is not None]

    async def write_slot_lease(self, namespace: str, lease: Lease) -> Lease | None:
        """Creates the Lease (no resourceVersion) or updates the one of its resourceVersion; None when
        another process got there first (it exists already, or changed since it was read)."""
        body = slots.lease_manifest(namespace, lease)
        try:
            if lease.resource_version:
                written = await self.request("PUT", objects.lease_path(namespace, lease.name), body=body)
            else:
                written = await self.request("POST", objects.lease_path(namespace), body=body)
        except ApiException as error:
            if error.status in (404, 409):
                return None
            raise
        return slots.read_lease(written)

    async def delete_slot_lease(self, namespace: str, lease: Lease) -> bool:
        """Deletes exactly the Lease read (resourceVersion precondition): False when it is gone or
        was changed since."""
        preconditions = {"resourceVersion": lease.resource_version}
        return await self._delete_as_read(objects.lease_path(namespace, lease.name), preconditions)

    async def _delete_as_read(self, path: str, preconditions: dict[str, str]) -> bool:
        """DELETE under `preconditions`: False when the object is gone or no longer meets them."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}
        try:
            await self.request("DELETE", path, body=options)
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    async def apply_secret_annotations(
        self,
        namespace: str,
        name: str,
        annotations: Mapping[str, str],
        *,
        resource_version: str,
        field_manager: str,
    ) -> SecretObject:
        """Sets some annotations of an existing Secret under a field manager of their own, touching
        nothing else; 409 when the Secret changed since it was read (`resource_version`)."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "resourceVersion": resource_version,
                "annotations": dict(annotations),
            },
        }
        written = await self.server_side_apply(
            objects.core_path("secrets", namespace, name), body, field_manager
        )
        return secrets.secret_from_body(written)

    # certmint.dev objects and namespaces

    async def set_label(self, path: str, label: str, value: str, resource_version: str) -> bool:
        """Sets one label of the object at `path` (any kind), only in the version read: False when it
        is gone or changed since (its watch event brings the new version to be judged again)."""
        body = {"metadata": {"resourceVersion": resource_version, "labels": {label: value}}}
        try:
            await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    async def read_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await self._read(objects.path(plural, namespace, name))

    async def patch_status(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        status: dict[str, Any],
        resource_version: str = "",
    ) -> str:
        """Returns the object's new resourceVersion ("" when it is gone). With `resource_version`,
        ApiException 409 when the object changed since that version."""
        path = objects.path(plural, namespace, name) + "/status"
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            written = await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing left to report on
                raise
            return ""
        return version_of(written)

    async def list_objects(self, plural: str) -> AsyncIterator[dict[str, Any]]:
        """Every object of a certmint.dev kind, in every namespace, read in pages."""
        async for item in self._pages(objects.path(plural, None), [], OBJECT_PAGE):
            yield item

    async def rewrite_object(self, plural: str, namespace: str | None, name: str) -> str:
        """The write that moves an object to the storage version and changes nothing else: an empty
        merge patch of its status (certmint may write no other part). The API server encodes the
        object at the storage version and writes it to etcd only when those bytes differ from what is
        stored, so an object already stored at it is not written (its resourceVersion stays; e2e
        test_migrate proves both). Returns the resourceVersion after, "" when the object is gone."""
        path = objects.path(plural, namespace, name) + "/status"
        try:
            written = await self.request("PATCH", path, body={}, content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status != 404:
                raise
            return ""
        return version_of(written)

    async def read_crd(self, name: str) -> dict[str, Any] | None:
        return await self._read(objects.crd_path(name))

    async def write_stored_versions(
        self, name: str, stored_versions: list[str], resource_version: str
    ) -> None:
        """Sets a CRD's status.storedVersions, only in the version read: ApiException 409 when the CRD
        changed since (its storage version may have changed with it)."""
        body = {
            "metadata": {"resourceVersion": resource_version},
            "status": {"storedVersions": stored_versions},
        }
        await self.request("PATCH", objects.crd_path(name) + "/status", body=body, content_type=MERGE_PATCH)

    async def list_namespaces(self) -> AsyncIterator[dict[str, Any]]:
        """Every namespace, as the API server has it (a namespace holds no secret), read in pages."""
        async for item in self._pages(objects.core_path("namespaces", None), [], NAMESPACE_LIST_PAGE):
            yield item

    async def read_namespace_labels(self, name: str) -> dict[str, str] | None:
        """None when the namespace does not exist."""
        found = await self._read(objects.core_path("namespaces", None, name))
        return dict((found.get("metadata") or {}).get("labels") or {}) if found is not None else None

    async def post_event(self, about: ObjectReference, kind: str, reason: str, message: str) -> None:
        """`kind` is Normal or Warning. Events of cluster-scoped objects go to the `default` namespace."""
        namespace = about.namespace or "default"
        event = events.event_body(about, kind, reason, message, datetime.now(UTC))
        try:
            await self.request("POST", objects.core_path("events", namespace), body=event)
        except ApiException as error:
            # Events are for people reading `kubectl describe`; a lost one (say, in a namespace being
            # deleted) must not fail the reconcile that already did its work.
            events.log.warning(
                "event %s on %s %s/%s not posted (%s)",
                reason,
                about.kind,
                namespace,
                about.name,
                describe(error),
            )

    # ConfigMaps (trust bundles)

    async def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        found = await self._read(objects.core_path("configmaps", namespace, name))
        return dict(found.get("data") or {}) if found is not None else None

    async def list_configmaps(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> list[ConfigMapObject]:
        """In every namespace, or only in `namespaces` (when RBAC allows no cluster-wide list)."""
        found: list[ConfigMapObject] = []
        for path in [objects.core_path("configmaps", namespace) for namespace in namespaces] or [
            objects.core_path("configmaps", None)
        ]:
            listed = await self.request("GET", path, query=[("labelSelector", label_selector)])
            found.extend(configmaps.configmap_from_body(item) for item in listed.get("items") or [])
        return found

    async def create_configmap(self, manifest: ConfigMapManifest) -> bool:
        """False when a ConfigMap of that name already exists: someone else's, never overwritten."""
        try:
            await self.request(
                "POST",
                objects.core_path("configmaps", manifest.namespace),
                body=configmaps.configmap_body(manifest),
                query=[("fieldManager", FIELD_MANAGER)],
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    async def apply_configmap(self, manifest: ConfigMapManifest) -> None:
        """Updates a ConfigMap certmint created."""
        path = objects.core_path("configmaps", manifest.namespace, manifest.name)
        await self.server_side_apply(path, configmaps.configmap_body(manifest), FIELD_MANAGER)

    async def delete_configmap(self, namespace: str, name: str) -> None:
        try:
            await self.request("DELETE", objects.core_path("configmaps", namespace, name))
        except ApiException as error:
            if error.status != 404:
                raise

    # certificates.k8s.io/v1 CertificateSigningRequests: only their status and approval, never spec

    async def list_signing_requests(self, signer_name: str) -> list[dict[str, Any]]:
        """The CSRs addressed to one signer (the API server filters by spec.signerName), in pages."""
        query = [("fieldSelector", f"spec.signerName={signer_name}")]
        return [item async for item in self._pages(csrs.path(), query, csrs.LIST_PAGE)]

    async def write_csr_certificate(self, name: str, certificate_pem: bytes) -> None:
        """The one write that issues: status.certificate (leaf, then its chain)."""
        body = {"status": {"certificate": base64.b64encode(certificate_pem).decode()}}
        await self._patch_csr(name, csrs.STATUS, body)

    async def write_csr_conditions(
        self, name: str, subresource: str, conditions: list[dict[str, Any]], resource_version: str
    ) -> None:
        """`conditions` is the whole list (a merge patch replaces lists). The resourceVersion makes it
        conditional: if anyone (an approver, another replica) changed the CSR meanwhile, the API
        server answers 409 and the CSR is judged again from what it now is."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": {"conditions": conditions}}
        await self._patch_csr(name, subresource, body)

    async def _patch_csr(self, name: str, subresource: str, body: dict[str, Any]) -> None:
        try:
            await self.request(
                "PATCH", f"{csrs.path(name)}/{subresource}", body=body, content_type=MERGE_PATCH
            )
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing left to sign or report on
                raise

    # certificates.k8s.io/v1beta1: pod certificates' API and ClusterTrustBundles

    async def serves_pod_certificates(self) -> bool:
        """Whether the API server serves certificates.k8s.io/v1beta1 podcertificaterequests and
        clustertrustbundles (both feature gates on, and the beta API enabled)."""
        try:
            found = await self.request("GET", f"/apis/{POD_CERTIFICATES_API}")
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        served = {str(resource.get("name", "")) for resource in found.get("resources") or []}
        return {"podcertificaterequests", CLUSTER_TRUST_BUNDLES} <= served

    async def read_cluster_trust_bundle(self, name: str) -> ClusterTrustBundleObject | None:
        found = await self._read(_cluster_trust_bundle_path(name))
        return read_cluster_trust_bundle(found) if found is not None else None

    async def list_cluster_trust_bundles(self, label_selector: str) -> list[ClusterTrustBundleObject]:
        query = [("labelSelector", label_selector)]
        return [
            read_cluster_trust_bundle(item)
            async for item in self._pages(_cluster_trust_bundle_path(""), query, CLUSTER_TRUST_BUNDLE_PAGE)
        ]

    async def create_cluster_trust_bundle(
        self, manifest: ClusterTrustBundleManifest
    ) -> ClusterTrustBundleObject | None:
        """A plain create: None when one of that name already exists (someone else's, never
        overwritten). Raises Rejected for an object the API server refuses."""
        try:
            created = await self.request(
                "POST",
                _cluster_trust_bundle_path(""),
                body=manifest.body(),
                query=[("fieldManager", FIELD_MANAGER)],
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise_if_rejected(error)
            raise
        return read_cluster_trust_bundle(created)

    async def update_cluster_trust_bundle(
        self, manifest: ClusterTrustBundleManifest, resource_version: str
    ) -> ClusterTrustBundleObject:
        """Replaces one certmint created, only in the version read: ApiException 409 when anyone
        wrote it since (it is read and judged again), 404 when it is gone."""
        try:
            written = await self.request(
                "PUT",
                _cluster_trust_bundle_path(manifest.name),
                body=manifest.body(resource_version),
                query=[("fieldManager", FIELD_MANAGER)],
            )
        except ApiException as error:
            raise_if_rejected(error)
            raise
        return read_cluster_trust_bundle(written)

    async def delete_cluster_trust_bundle(self, name: str, uid: str, resource_version: str) -> bool:
        """Deletes exactly the object read (uid and resourceVersion preconditions): False when it is
        gone already; ApiException 409 when it was replaced or changed since."""
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
        }
        try:
            await self.request("DELETE", _cluster_trust_bundle_path(name), body=options)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    async def read_pod(self, namespace: str, name: str) -> PodFacts:
        """What a PodCertificateRequest is cross-checked against; `exists` is False for no such Pod.
        Only those fields are kept of the answer."""
        return pod_facts(await self._read(objects.core_path("pods", namespace, name)))

    async def list_pod_certificate_requests(
        self, namespace: str | None = None, signer_name: str = ""
    ) -> list[dict[str, Any]]:
        """In `namespace`, or every namespace; only those for `signer_name` when given (the API
        server filters by spec.signerName); in pages."""
        query: Query = [("fieldSelector", f"spec.signerName={signer_name}")] if signer_name else []
        return [item async for item in self._pages(podcerts.path(namespace), query, podcerts.LIST_PAGE)]

    async def write_pod_certificate_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str
    ) -> bool:
        """A merge patch of the status subresource, made only to the version read (409 when anyone
        changed the request meanwhile; the API server answers 422 for a status it refuses). False
        when the request is gone (the cleaner deletes every request 15 minutes after creation)."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        try:
            await self.request(
                "PATCH", podcerts.path(namespace, name) + "/status", body=body, content_type=MERGE_PATCH
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


POD_CERTIFICATES_API = "certificates.k8s.io/v1beta1"
WATCH_CLIENT_MARGIN = 30
"""Seconds past a watch's own timeout after which its stream counts as stalled and is abandoned."""
OBJECT_PAGE = 500
"""certmint.dev objects per page of a full listing (a storage migration's)."""
CLUSTER_TRUST_BUNDLE_PAGE = 100
NAMESPACE_LIST_PAGE = 500


def _cluster_trust_bundle_path(name: str) -> str:
    return f"/apis/{POD_CERTIFICATES_API}/{CLUSTER_TRUST_BUNDLES}" + (f"/{name}" if name else "")
