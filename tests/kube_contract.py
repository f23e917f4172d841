"""What certmint relies on from the API server, as one set of tests of its gateway (kube.gateway.Kube).

Each contract is run on tests.kubefake.FakeKube by tests/unit/test_kube_contract.py and on a real
kube-apiserver by tests/e2e/test_kube_contract.py, so the fake the operator's unit tests run on is
held to the real behaviour. A contract gets the gateway and an existing namespace of its own;
what others do (users, GitOps tools, kubelets) it arranges through the same gateway's `request`
and `server_side_apply`, as those writers would.
"""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube import csrs, objects, podcerts
from certmint.kube.apply import MERGE_PATCH, Rejected, version_of
from certmint.kube.configmaps import ConfigMapManifest
from certmint.kube.events import ObjectReference
from certmint.kube.gateway import Kube
from certmint.kube.secrets import FIELD_MANAGER, TLS, OwnerReference, SecretObject
from certmint.kube.watching import Watched, list_and_watch
from certmint.pki import CARequest, RequestedNames, certificates_to_pem, create_root_ca
from certmint.planning import labels as label_names
from certmint.planning import markings
from certmint.planning.cluster_trust import issuer_bundle_name
from certmint.planning.cluster_trust import manifest as bundle_manifest
from tests.csr_material import csr_for
from tests.podcert_material import pcr_body, pod_body

Contract = Callable[[Kube, str], Awaitable[None]]
SOMEONE_ELSE = "contract-someone-else"
"""A field manager that is not certmint's (a user, a GitOps tool)."""
ROLE = "contract.test/role"


def secret_path(namespace: str, name: str = "") -> str:
    return objects.core_path("secrets", namespace, name)


def configmap_path(namespace: str, name: str = "") -> str:
    return objects.core_path("configmaps", namespace, name)


async def apply_as_someone_else(kube: Kube, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return await kube.server_side_apply(path, body, SOMEONE_ELSE)


def secret_body(namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, **fields.pop("metadata", {})}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, **fields}


def configmap_body(namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, **fields.pop("metadata", {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, **fields}


async def owner_in(kube: Kube, namespace: str) -> OwnerReference:
    """An object to own what the contract writes: an owner that does not exist would have the
    garbage collector delete what it owns meanwhile."""
    body = configmap_body(namespace, "owner")
    made = await apply_as_someone_else(kube, configmap_path(namespace, "owner"), body)
    return OwnerReference("v1", "ConfigMap", "owner", made["metadata"]["uid"])


async def raw(kube: Kube, path: str) -> dict[str, Any]:
    return await kube.request("GET", path)


@contextlib.asynccontextmanager
async def deleted_after(kube: Kube, path: str) -> AsyncIterator[None]:
    """Removes a cluster-scoped object the contract made (namespaces remove the rest)."""
    try:
        yield
    finally:
        with contextlib.suppress(ApiException):
            await kube.request("DELETE", path)


async def secrets_are_created_once(kube: Kube, namespace: str) -> None:
    owner = await owner_in(kube, namespace)
    assert await kube.read_secret(namespace, "created") is None
    created = await kube.create_secret(
        namespace,
        "created",
        data={"tls.crt": b"certificate", "tls.key": b"key"},
        labels={ROLE: "leaf"},
        annotations={"contract.test/note": "first"},
        owner=owner,
    )
    assert created is not None
    assert created.type == "kubernetes.io/tls"
    assert created.data == {"tls.crt": b"certificate", "tls.key": b"key"}
    assert created.labels == {ROLE: "leaf"}
    assert created.annotations == {"contract.test/note": "first"}
    assert created.owner_uids == {owner.uid}
    assert created.resource_version
    assert {(w.manager, w.keys) for w in created.writers} == {
        (FIELD_MANAGER, frozenset({"tls.crt", "tls.key"}))
    }
    assert await kube.read_secret(namespace, "created") == created
    again = await kube.create_secret(
        namespace, "created", data={"tls.crt": b"other", "tls.key": b"other"}, labels={}, annotations={}
    )
    assert again is None, "a create of an existing Secret is refused (409), never an overwrite"
    assert await kube.read_secret(namespace, "created") == created


async def an_invalid_object_is_rejected(kube: Kube, namespace: str) -> None:
    with pytest.raises(Rejected):
        await kube.create_secret(
            namespace, "invalid", data={}, labels={ROLE: "not a label value"}, annotations={}
        )
    assert await kube.read_secret(namespace, "invalid") is None


async def apply_removes_what_its_manager_no_longer_declares(kube: Kube, namespace: str) -> None:
    owner = await owner_in(kube, namespace)
    first = await kube.apply_secret(
        namespace,
        "applied",
        secret_type="Opaque",
        data={"kept": b"1", "dropped": b"2"},
        labels={ROLE: "leaf", "contract.test/dropped": "yes"},
        annotations={"contract.test/kept": "1", "contract.test/dropped": "2"},
        owner=owner,
    )
    assert first.labels == {ROLE: "leaf", "contract.test/dropped": "yes"}
    path = secret_path(namespace, "applied")
    others = {"labels": {"contract.test/theirs": "x"}, "annotations": {"contract.test/dropped": "2"}}
    await apply_as_someone_else(
        kube, path, secret_body(namespace, "applied", metadata=others, data={"theirs": ""})
    )

    async def apply_fewer() -> SecretObject:
        return await kube.apply_secret(
            namespace,
            "applied",
            secret_type="Opaque",
            data={"kept": b"1"},
            labels={ROLE: "leaf"},
            annotations={"contract.test/kept": "1"},
            owner=owner,
        )

    second = await apply_fewer()
    assert second.labels == {ROLE: "leaf", "contract.test/theirs": "x"}
    assert second.annotations == {"contract.test/kept": "1", "contract.test/dropped": "2"}, (
        "what another manager also declared stays"
    )
    assert set(second.data) == {"kept", "theirs"}
    assert second.owner_uids == {owner.uid}
    same = await apply_fewer()
    assert same.resource_version == second.resource_version, "an apply that changes nothing writes nothing"


async def apply_leaves_what_a_create_wrote(kube: Kube, namespace: str) -> None:
    """A create is an update: what it wrote is not the apply's to remove, even under the same name."""
    await kube.create_secret(
        namespace,
        "created-then-applied",
        data={"tls.crt": b"1", "tls.key": b"1"},
        labels={ROLE: "leaf", "contract.test/at-create": "1"},
        annotations={},
    )
    applied = await kube.apply_secret(
        namespace,
        "created-then-applied",
        secret_type="kubernetes.io/tls",
        data={"tls.crt": b"2", "tls.key": b"2"},
        labels={ROLE: "leaf"},
        annotations={},
    )
    assert applied.labels == {ROLE: "leaf", "contract.test/at-create": "1"}
    assert applied.data == {"tls.crt": b"2", "tls.key": b"2"}


async def marking_touches_only_the_markings(kube: Kube, namespace: str) -> None:
    path = secret_path(namespace, "users-ca")
    users = secret_body(namespace, "users-ca", metadata={"labels": {"team": "a"}}, data={"tls.crt": "Y2E="})
    await apply_as_someone_else(kube, path, users)
    marked = await kube.mark_secret(namespace, "users-ca", {ROLE: "ca"}, {"contract.test/issuer": "ca"})
    assert marked.labels == {"team": "a", ROLE: "ca"}
    assert marked.annotations == {"contract.test/issuer": "ca"}
    assert marked.data == {"tls.crt": b"ca"}
    served = await raw(kube, path)
    assert markings.marked_by_certmint(served, ROLE)
    assert not markings.marked_by_certmint(served, "team")
    unmarked = await kube.mark_secret(namespace, "users-ca", {}, {})
    assert unmarked.labels == {"team": "a"}, "the marking certmint no longer declares is removed"
    assert unmarked.annotations == {}
    assert not markings.marked_by_certmint(await raw(kube, path), ROLE)


async def data_keys_are_written_only_to_the_version_read(kube: Kube, namespace: str) -> None:
    async def apply_ca() -> SecretObject:
        return await kube.apply_secret(
            namespace,
            "ca",
            secret_type=TLS,
            data={"tls.crt": b"ca", "tls.key": b"key"},
            labels={},
            annotations={},
        )

    written = await apply_ca()
    added = await kube.apply_secret_data(
        namespace,
        "ca",
        {"revoked": b"1"},
        resource_version=written.resource_version,
        field_manager="certmint-revoke",
    )
    assert added.data == {"tls.crt": b"ca", "tls.key": b"key", "revoked": b"1"}
    assert ("certmint-revoke", frozenset({"revoked"})) in {(w.manager, w.keys) for w in added.writers}
    with pytest.raises(ApiException) as stale:
        await kube.apply_secret_data(
            namespace,
            "ca",
            {"revoked": b"2"},
            resource_version=written.resource_version,
            field_manager="certmint-revoke",
        )
    assert stale.value.status == 409
    rewritten = await apply_ca()
    assert rewritten.data == {"tls.crt": b"ca", "tls.key": b"key", "revoked": b"1"}, (
        "the other manager's key survives"
    )
    recreated = await kube.apply_secret_data(
        namespace, "absent", {"revoked": b"1"}, resource_version="1", field_manager="certmint-revoke"
    )
    assert (recreated.type, recreated.data) == ("Opaque", {"revoked": b"1"}), (
        "a Secret that is gone is created anew, whatever resourceVersion the apply names"
    )


async def secrets_are_listed_by_label(kube: Kube, namespace: str) -> None:
    for name, labels in (("labelled", {ROLE: namespace}), ("other", {ROLE: "other"}), ("bare", {})):
        await kube.apply_secret(namespace, name, secret_type="Opaque", data={}, labels=labels, annotations={})

    async def listed(selector: str, namespaces: tuple[str, ...] = (namespace,)) -> set[str]:
        return {s.name async for s in kube.list_secrets(selector, namespaces) if s.namespace == namespace}

    assert await listed(ROLE) == {"labelled", "other"}
    assert await listed(f"{ROLE}={namespace}") == {"labelled"}
    assert await listed(f"{ROLE}!={namespace}") == {"other", "bare"}
    assert await listed(f"!{ROLE}") == {"bare"}
    assert await listed(f"{ROLE}={namespace}", ()) == {"labelled"}, "listed in every namespace"
    found = [s async for s in kube.list_secrets(f"{ROLE}={namespace}", (namespace,))]
    assert [s.labels for s in found] == [{ROLE: namespace}]
    assert found[0].writers, "listed with their managedFields"


async def lists_come_in_pages(kube: Kube, namespace: str) -> None:
    for name in ("a", "b", "c"):
        body = configmap_body(namespace, name, metadata={"labels": {ROLE: "paged"}})
        await apply_as_someone_else(kube, configmap_path(namespace, name), body)
    query = [("labelSelector", f"{ROLE}=paged"), ("limit", 2)]
    first = await kube.request("GET", configmap_path(namespace), query=query)
    token = first["metadata"]["continue"]
    assert len(first["items"]) == 2
    assert token
    rest = await kube.request("GET", configmap_path(namespace), query=[*query, ("continue", token)])
    assert not rest["metadata"].get("continue")
    names = [item["metadata"]["name"] for item in first["items"] + rest["items"]]
    assert sorted(names) == ["a", "b", "c"]


async def kinds_are_listed_then_watched(kube: Kube, namespace: str) -> None:
    """kube.watching: a paged listing, SYNCED, then the changes seen through the label selector (an
    object whose labels stop matching is DELETED for this watch)."""
    watched_label = {ROLE: "watched"}
    for name, labels in (("a", watched_label), ("b", watched_label), ("unwatched", {ROLE: "other"})):
        await apply_as_someone_else(
            kube, secret_path(namespace, name), secret_body(namespace, name, metadata={"labels": labels})
        )
    watched = Watched(secret_path(namespace), label_selector=f"{ROLE}=watched", page_size=1)
    events = list_and_watch(kube, watched)

    async def following() -> tuple[str, str]:
        event = await asyncio.wait_for(anext(events), 60)
        return event.type, (event.object.get("metadata") or {}).get("name", "")

    try:
        assert [await following() for _ in range(3)] == [("LISTED", "a"), ("LISTED", "b"), ("SYNCED", "")]
        await apply_as_someone_else(
            kube, secret_path(namespace, "c"), secret_body(namespace, "c", metadata={"labels": watched_label})
        )
        assert await following() == ("ADDED", "c")
        note = {"labels": watched_label, "annotations": {"contract.test/note": "1"}}
        await apply_as_someone_else(
            kube, secret_path(namespace, "c"), secret_body(namespace, "c", metadata=note)
        )
        assert await following() == ("MODIFIED", "c")
        unlabel = {"metadata": {"labels": {ROLE: None}}}
        await kube.request("PATCH", secret_path(namespace, "b"), body=unlabel, content_type=MERGE_PATCH)
        assert await following() == ("DELETED", "b"), "no longer selected: gone from this watch"
        await kube.request("DELETE", secret_path(namespace, "a"))
        assert await following() == ("DELETED", "a")
    finally:
        await events.aclose()


async def custom_objects_are_read_and_their_status_patched(kube: Kube, namespace: str) -> None:
    cluster_name = f"{namespace}-contract"
    async with deleted_after(kube, objects.path("clusterissuers", None, cluster_name)):
        for kind, plural, where, name in (
            ("Issuer", "issuers", namespace, "ca"),
            ("ClusterIssuer", "clusterissuers", None, cluster_name),
        ):
            assert await kube.read_object(plural, where, name) is None
            assert await kube.patch_status(plural, where, name, {"secretName": "x"}) == ""
            body = {
                "apiVersion": "certmint.dev/v1",
                "kind": kind,
                "metadata": {"name": name, **({"namespace": where} if where else {})},
                "spec": {"selfSigned": {}},
            }
            created = await kube.request("POST", objects.path(plural, where), body=body)
            read = await kube.read_object(plural, where, name)
            assert read is not None
            assert "selfSigned" in read["spec"]
            version = await kube.patch_status(plural, where, name, {"secretName": "ca-secret"})
            assert version
            assert version != version_of(created)
            again = await kube.patch_status(plural, where, name, {"observedGeneration": 1})
            patched = await kube.read_object(plural, where, name)
            assert patched is not None
            assert version_of(patched) == again
            assert patched["status"] == {"secretName": "ca-secret", "observedGeneration": 1}, "a merge patch"
            assert patched["spec"] == read["spec"]


async def namespace_labels_are_read(kube: Kube, namespace: str) -> None:
    name = f"{namespace}-labelled"
    path = objects.core_path("namespaces", None, name)
    assert await kube.read_namespace_labels(name) is None
    async with deleted_after(kube, path):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": "a"}}}
        await kube.request("POST", objects.core_path("namespaces", None), body=body)
        assert await kube.read_namespace_labels(name) == {"team": "a", "kubernetes.io/metadata.name": name}


async def events_are_posted_and_a_lost_one_is_no_failure(kube: Kube, namespace: str) -> None:
    about = ObjectReference("Certificate", "web", namespace, "uid-web")
    await kube.post_event(about, "Warning", "ContractReason", "x" * 2000)
    listed = await kube.request("GET", objects.core_path("events", namespace))
    found = [item for item in listed["items"] if item.get("reason") == "ContractReason"]
    assert len(found) == 1
    assert found[0]["type"] == "Warning"
    assert found[0]["message"] == "x" * 1024
    assert found[0]["involvedObject"]["name"] == "web"
    assert found[0]["involvedObject"]["uid"] == "uid-web"
    elsewhere = ObjectReference("Certificate", "web", f"{namespace}-absent", "uid-web")
    await kube.post_event(elsewhere, "Normal", "ContractReason", "into a namespace that is not there")


def manifest(
    namespace: str, name: str, data: dict[str, str], labels: dict[str, str], owner: OwnerReference
) -> ConfigMapManifest:
    return ConfigMapManifest(
        namespace=namespace,
        name=name,
        data=data,
        binary_data={"ca.der": b"\x00\x01"},
        labels=labels,
        annotations={"contract.test/digest": "d1"},
        owner=owner,
    )


async def configmaps_are_published_and_contested(kube: Kube, namespace: str) -> None:
    owner = await owner_in(kube, namespace)
    label = f"{ROLE}={namespace}"
    published = manifest(
        namespace, "bundle", {"ca.crt": "one"}, {ROLE: namespace, "contract.test/extra": "1"}, owner
    )
    assert await kube.read_configmap_data(namespace, "bundle") is None
    assert await kube.create_configmap(published)
    assert not await kube.create_configmap(published), "one of that name exists: refused (409)"
    assert await kube.read_configmap_data(namespace, "bundle") == {"ca.crt": "one"}
    (copy,) = await kube.list_configmaps(label, (namespace,))
    assert copy.data == {"ca.crt": "one"}
    assert copy.binary_data == {"ca.der": b"\x00\x01"}
    assert copy.annotations == {"contract.test/digest": "d1"}
    assert ROLE in copy.certmint_labels
    assert {w.manager for w in copy.writers if "ca.crt" in w.keys} == {FIELD_MANAGER}
    await kube.apply_configmap(
        manifest(namespace, "bundle", {"ca.crt": "two"}, {ROLE: namespace, "contract.test/extra": "1"}, owner)
    )
    await kube.apply_configmap(manifest(namespace, "bundle", {"ca.crt": "two"}, {ROLE: namespace}, owner))
    path = configmap_path(namespace, "bundle")
    assert (await raw(kube, path))["metadata"]["labels"] == {ROLE: namespace, "contract.test/extra": "1"}, (
        "the label the create wrote is not the apply's to remove"
    )
    await apply_as_someone_else(kube, path, configmap_body(namespace, "bundle", data={"ca.crt": "theirs"}))
    (contested,) = await kube.list_configmaps(label, ())
    assert contested.data == {"ca.crt": "theirs"}
    theirs = [w for w in contested.writers if w.manager == SOMEONE_ELSE]
    assert [w.keys for w in theirs] == [frozenset({"ca.crt"})]
    assert theirs[0].time is not None
    assert not [w for w in contested.writers if w.manager == FIELD_MANAGER and "ca.crt" in w.keys], (
        "a forced write takes the key from certmint"
    )
    await apply_as_someone_else(kube, configmap_path(namespace, "users"), configmap_body(namespace, "users"))
    assert not await kube.create_configmap(manifest(namespace, "users", {}, {ROLE: namespace}, owner))
    assert [c.name for c in await kube.list_configmaps(label, (namespace,))] == ["bundle"]
    await kube.delete_configmap(namespace, "bundle")
    assert await kube.read_configmap_data(namespace, "bundle") is None
    await kube.delete_configmap(namespace, "bundle")


async def configmap_labels_certmint_applied_are_removed(kube: Kube, namespace: str) -> None:
    owner = await owner_in(kube, namespace)
    path = configmap_path(namespace, "applied")
    await kube.apply_configmap(
        manifest(
            namespace, "applied", {"ca.crt": "one"}, {ROLE: namespace, "contract.test/extra": "1"}, owner
        )
    )
    await kube.apply_configmap(manifest(namespace, "applied", {"ca.crt": "one"}, {ROLE: namespace}, owner))
    assert (await raw(kube, path))["metadata"]["labels"] == {ROLE: namespace}


def certificate_pem() -> bytes:
    authority = create_root_ca(CARequest("contract", timedelta(hours=1)), datetime.now(UTC))
    return certificates_to_pem([authority.certificate])


async def signing_requests_are_listed_and_answered(kube: Kube, namespace: str) -> None:
    signer = f"example.com/{namespace}"
    names = {"mine": f"{namespace}-mine", "other": f"{namespace}-other"}
    _, request = csr_for(RequestedNames(dns_names=("contract.example.com",)))
    async with deleted_after(kube, csrs.path(names["mine"])), deleted_after(kube, csrs.path(names["other"])):
        for role, name in names.items():
            body = {
                "apiVersion": "certificates.k8s.io/v1",
                "kind": "CertificateSigningRequest",
                "metadata": {"name": name},
                "spec": {
                    "request": base64.b64encode(request).decode(),
                    "signerName": signer if role == "mine" else f"{signer}-other",
                    "usages": ["digital signature", "server auth"],
                },
            }
            await kube.request("POST", csrs.path(), body=body)
        listed = await kube.list_signing_requests(signer)
        assert [item["metadata"]["name"] for item in listed] == [names["mine"]]
        version = version_of(listed[0])
        approved = [{"type": "Approved", "status": "True", "reason": "ContractApproved", "message": "yes"}]
        await kube.write_csr_conditions(names["mine"], csrs.APPROVAL, approved, version)
        with pytest.raises(ApiException) as stale:
            await kube.write_csr_conditions(names["mine"], csrs.APPROVAL, approved, version)
        assert stale.value.status == 409
        pem = certificate_pem()
        await kube.write_csr_certificate(names["mine"], pem)
        (answered,) = await kube.list_signing_requests(signer)
        assert base64.b64decode(answered["status"]["certificate"]) == pem
        assert [c["type"] for c in answered["status"]["conditions"]] == ["Approved"]
        (other,) = await kube.list_signing_requests(f"{signer}-other")
        failed = [{"type": "Failed", "status": "True", "reason": "ContractFailed", "message": "no"}]
        await kube.write_csr_conditions(names["other"], csrs.STATUS, failed, version_of(other))
        (refused,) = await kube.list_signing_requests(f"{signer}-other")
        assert [c["reason"] for c in refused["status"]["conditions"]] == ["ContractFailed"]
        assert "certificate" not in refused["status"]
        # Deleted meanwhile: nothing left to sign or report on, and no error.
        await kube.write_csr_certificate(f"{namespace}-absent", pem)
        await kube.write_csr_conditions(f"{namespace}-absent", csrs.STATUS, approved, "1")


async def pod_certificate_requests_are_read_and_answered(kube: Kube, namespace: str) -> None:
    """Needs the PodCertificateRequest feature gate and certificates.k8s.io/v1beta1 on the server."""
    assert await kube.serves_pod_certificates()
    assert not (await kube.read_pod(namespace, "absent")).exists
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}
    await kube.request("POST", objects.core_path("serviceaccounts", namespace), body=account)
    pod = pod_body(namespace, "web-0", signers=("example.com/contract",))
    pod["metadata"].pop("uid")
    pod["spec"]["automountServiceAccountToken"] = False
    created = await kube.request("POST", objects.core_path("pods", namespace), body=pod)
    facts = await kube.read_pod(namespace, "web-0")
    assert facts.exists
    assert facts.uid == created["metadata"]["uid"]
    assert (facts.service_account_name, facts.node_name) == ("web", "node-1")
    assert facts.signer_names == frozenset({"example.com/contract"})
    for name in ("denied", "failed"):
        body = pcr_body(
            namespace, name, signer="example.com/contract", pod_uid=facts.uid, max_expiration=3600
        )
        for field in ("uid", "resourceVersion", "annotations"):
            body["metadata"].pop(field)
        await kube.request("POST", podcerts.path(namespace), body=body)
    listed = {item["metadata"]["name"]: item for item in await kube.list_pod_certificate_requests(namespace)}
    assert set(listed) == {"denied", "failed"}
    assert listed["denied"]["spec"]["maxExpirationSeconds"] == 3600
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    denied = {
        "conditions": [
            {
                "type": "Denied",
                "status": "True",
                "reason": "Contract",
                "message": "no",
                "lastTransitionTime": now,
            }
        ]
    }
    version = version_of(listed["denied"])
    with pytest.raises(ApiException) as stale:
        await kube.write_pod_certificate_status(namespace, "denied", denied, str(int(version) - 1))
    assert stale.value.status == 409
    assert await kube.write_pod_certificate_status(namespace, "denied", denied, version)
    (answered,) = [
        i for i in await kube.list_pod_certificate_requests(namespace) if i["metadata"]["name"] == "denied"
    ]
    assert [c["reason"] for c in answered["status"]["conditions"]] == ["Contract"]
    again = {**denied, "conditions": [{**denied["conditions"][0], "message": "changed"}]}
    with pytest.raises(ApiException) as terminal:
        await kube.write_pod_certificate_status(namespace, "denied", again, version_of(answered))
    assert terminal.value.status == 422
    # A Failed status carries nothing but its condition.
    failed = {"conditions": [{**denied["conditions"][0], "type": "Failed"}], "notBefore": now}
    with pytest.raises(ApiException) as refused:
        await kube.write_pod_certificate_status(namespace, "failed", failed, version_of(listed["failed"]))
    assert refused.value.status == 422
    assert not await kube.write_pod_certificate_status(namespace, "absent", denied, "1")


def cluster_trust_bundle_path(name: str = "") -> str:
    return "/apis/certificates.k8s.io/v1beta1/clustertrustbundles" + (f"/{name}" if name else "")


async def cluster_trust_bundles_are_published_and_contested(kube: Kube, namespace: str) -> None:
    """Needs certificates.k8s.io/v1beta1 with the ClusterTrustBundle gate on."""
    assert await kube.serves_pod_certificates()
    signer = f"contract.test/{namespace}"
    owner = {label_names.CLUSTER_TRUST_BUNDLE_LABEL: "true", ROLE: namespace}
    mine = bundle_manifest(issuer_bundle_name(signer), signer, certificate_pem(), owner)
    theirs = bundle_manifest(f"theirs-{namespace}", "", certificate_pem(), owner)
    async with (
        deleted_after(kube, cluster_trust_bundle_path(mine.name)),
        deleted_after(kube, cluster_trust_bundle_path(theirs.name)),
    ):
        assert await kube.read_cluster_trust_bundle(mine.name) is None
        created = await kube.create_cluster_trust_bundle(mine)
        assert created is not None
        assert (created.name, created.signer_name, created.trust_bundle) == (
            mine.name,
            signer,
            mine.trust_bundle,
        )
        assert created.owned_by(owner), "labels written by certmint's field manager"
        assert await kube.create_cluster_trust_bundle(mine) is None, "a create never overwrites"
        assert [found.name for found in await kube.list_cluster_trust_bundles(f"{ROLE}={namespace}")] == [
            mine.name
        ]
        newer = replace(mine, trust_bundle=mine.trust_bundle + certificate_pem().decode())
        updated = await kube.update_cluster_trust_bundle(newer, created.resource_version)
        assert updated.trust_bundle == newer.trust_bundle
        assert updated.owned_by(owner)
        assert updated.resource_version != created.resource_version
        with pytest.raises(ApiException) as stale:
            await kube.update_cluster_trust_bundle(mine, created.resource_version)
        assert stale.value.status == 409
        with pytest.raises(ApiException) as changed:
            await kube.delete_cluster_trust_bundle(mine.name, updated.uid, created.resource_version)
        assert changed.value.status == 409
        with pytest.raises(ApiException) as replaced:
            await kube.delete_cluster_trust_bundle(mine.name, "another-uid", updated.resource_version)
        assert replaced.value.status == 409
        assert await kube.read_cluster_trust_bundle(mine.name) == updated
        assert await kube.delete_cluster_trust_bundle(mine.name, updated.uid, updated.resource_version)
        assert await kube.read_cluster_trust_bundle(mine.name) is None
        assert not await kube.delete_cluster_trust_bundle(mine.name, updated.uid, updated.resource_version)
        # Someone else's, carrying certmint's labels: not certmint's, whatever its labels say.
        await kube.request(
            "POST",
            cluster_trust_bundle_path(),
            body=theirs.body(),
            query=[("fieldManager", SOMEONE_ELSE)],
        )
        found = await kube.read_cluster_trust_bundle(theirs.name)
        assert found is not None
        assert found.labels == dict(theirs.labels)
        assert not found.owned_by(owner)
        # The API server's naming rules for signer-named bundles.
        with pytest.raises(Rejected):
            await kube.create_cluster_trust_bundle(replace(mine, name=f"wrong-{namespace}"))


async def bundle_secrets_are_written_to_the_version_read_and_deleted_only_as_read(
    kube: Kube, namespace: str
) -> None:
    """A TrustBundle's Secret: an Opaque create; an apply and a delete made only to the version read,
    so a Secret someone replaced or changed meanwhile is never overwritten or deleted."""
    owner = await owner_in(kube, namespace)
    marks = {label_names.TRUST_BUNDLE_LABEL: "uid-1"}
    created = await kube.create_secret(
        namespace,
        "bundle",
        data={"ca.crt": b"one"},
        labels=marks,
        annotations={},
        owner=owner,
        secret_type="Opaque",
    )
    assert created is not None
    assert created.type == "Opaque"
    assert created.uid
    assert label_names.TRUST_BUNDLE_LABEL in created.certmint_labels
    written = await kube.apply_secret(
        namespace,
        "bundle",
        secret_type="Opaque",
        data={"ca.crt": b"two"},
        labels=marks,
        annotations={},
        owner=owner,
        resource_version=created.resource_version,
    )
    assert written.data == {"ca.crt": b"two"}
    with pytest.raises(ApiException) as stale:
        await kube.apply_secret(
            namespace,
            "bundle",
            secret_type="Opaque",
            data={"ca.crt": b"three"},
            labels=marks,
            annotations={},
            resource_version=created.resource_version,
        )
    assert stale.value.status == 409
    assert not await kube.delete_secret(namespace, "bundle", written.uid, created.resource_version), "changed"
    assert not await kube.delete_secret(namespace, "bundle", "another-uid", written.resource_version)
    assert await kube.read_secret(namespace, "bundle") == written
    assert await kube.delete_secret(namespace, "bundle", written.uid, written.resource_version)
    assert await kube.read_secret(namespace, "bundle") is None
    assert not await kube.delete_secret(namespace, "bundle", written.uid, written.resource_version), "gone"
    # Someone else's Secret carrying the same label: not marked by certmint's field manager.
    await apply_as_someone_else(
        kube, secret_path(namespace, "forged"), secret_body(namespace, "forged", metadata={"labels": marks})
    )
    forged = await kube.read_secret(namespace, "forged")
    assert forged is not None
    assert forged.labels == marks
    assert forged.certmint_labels == frozenset()


async def the_pod_certificate_api_is_discovered(kube: Kube, namespace: str) -> None:
    """Served with the gates on (the contracts run there); tests/unit checks the answer without."""
    assert await kube.serves_pod_certificates()


CONTRACTS: tuple[Contract, ...] = (
    secrets_are_created_once,
    an_invalid_object_is_rejected,
    apply_removes_what_its_manager_no_longer_declares,
    apply_leaves_what_a_create_wrote,
    marking_touches_only_the_markings,
    data_keys_are_written_only_to_the_version_read,
    secrets_are_listed_by_label,
    lists_come_in_pages,
    kinds_are_listed_then_watched,
    custom_objects_are_read_and_their_status_patched,
    namespace_labels_are_read,
    events_are_posted_and_a_lost_one_is_no_failure,
    configmaps_are_published_and_contested,
    configmap_labels_certmint_applied_are_removed,
    bundle_secrets_are_written_to_the_version_read_and_deleted_only_as_read,
    signing_requests_are_listed_and_answered,
    pod_certificate_requests_are_read_and_answered,
)
POD_CERTIFICATE_CONTRACTS: tuple[Contract, ...] = (
    the_pod_certificate_api_is_discovered,
    cluster_trust_bundles_are_published_and_contested,
)
"""Contracts on certificates.k8s.io/v1beta1: they need an API server with the ClusterTrustBundle and
PodCertificateRequest gates on and the beta API enabled."""
WRITES_CERTMINT_OBJECTS = frozenset({custom_objects_are_read_and_their_status_patched})
"""Contracts on objects a running operator would reconcile (and write) meanwhile."""
