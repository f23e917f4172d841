"""Every Kubernetes read and write the reconcilers make, behind one object.

Reconcilers are handed a `KubeAPI`; the operator gives them `Kube` (the real API server through
the official client) and the operator's unit tests an in-memory fake with the same methods.
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes.aio import client

from certmint.kube import configmaps, csrs, events, objects, secrets
from certmint.kube.configmaps import ConfigMapManifest, ConfigMapObject
from certmint.kube.events import ObjectReference
from certmint.kube.secrets import OwnerReference, SecretObject


class KubeAPI(Protocol):
    async def read_secret(self, namespace: str, name: str) -> SecretObject | None: ...

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
    ) -> SecretObject: ...

    async def create_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerReference | None = None,
    ) -> SecretObject | None: ...

    async def mark_secret(
        self, namespace: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> SecretObject: ...

    def list_secrets(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> AsyncIterator[SecretObject]: ...

    async def apply_secret_data(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        *,
        resource_version: str,
        field_manager: str,
    ) -> SecretObject: ...

    async def read_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def patch_status(
        self, plural: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> str: ...

    async def read_namespace_labels(self, name: str) -> dict[str, str] | None: ...

    async def post_event(self, about: ObjectReference, kind: str, reason: str, message: str) -> None: ...

    async def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def list_configmaps(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> list[ConfigMapObject]: ...

    async def create_configmap(self, manifest: ConfigMapManifest) -> bool: ...

    async def apply_configmap(self, manifest: ConfigMapManifest) -> None: ...

    async def delete_configmap(self, namespace: str, name: str) -> None: ...

    async def list_signing_requests(self, signer_name: str) -> list[dict[str, Any]]: ...

    async def write_csr_certificate(self, name: str, certificate_pem: bytes) -> None: ...

    async def write_csr_conditions(
        self, name: str, subresource: str, conditions: list[dict[str, Any]], resource_version: str
    ) -> None: ...


@dataclass(frozen=True)
class Kube:
    """`KubeAPI` on a real API server."""

    api: client.ApiClient

    async def read_secret(self, namespace: str, name: str) -> SecretObject | None:
        return await secrets.read_secret(self.api, namespace, name)

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
    ) -> SecretObject:
        return await secrets.apply_secret(
            self.api,
            namespace,
            name,
            secret_type=secret_type,
            data=data,
            labels=labels,
            annotations=annotations,
            owner=owner,
        )

    async def create_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: Mapping[str, bytes],
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerReference | None = None,
    ) -> SecretObject | None:
        """The new Secret, or None when one of that name exists already."""
        return await secrets.create_secret(
            self.api, namespace, name, data=data, labels=labels, annotations=annotations, owner=owner
        )

    async def mark_secret(
        self, namespace: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> SecretObject:
        return await secrets.mark_secret(self.api, namespace, name, labels, annotations)

    def list_secrets(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> AsyncIterator[SecretObject]:
        return secrets.list_secrets(self.api, label_selector, namespaces)

    async def apply_secret_data(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        *,
        resource_version: str,
        field_manager: str,
    ) -> SecretObject:
        return await secrets.apply_secret_data(
            self.api, namespace, name, data, resource_version=resource_version, field_manager=field_manager
        )

    async def read_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await objects.read_object(self.api, plural, namespace, name)

    async def patch_status(
        self, plural: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> str:
        return await objects.patch_status(self.api, plural, namespace, name, status)

    async def read_namespace_labels(self, name: str) -> dict[str, str] | None:
        return await objects.read_namespace_labels(self.api, name)

    async def post_event(self, about: ObjectReference, kind: str, reason: str, message: str) -> None:
        await events.post_event(self.api, about, kind, reason, message)

    async def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return await configmaps.read_configmap_data(self.api, namespace, name)

    async def list_configmaps(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> list[ConfigMapObject]:
        return await configmaps.list_configmaps(self.api, label_selector, namespaces)

    async def create_configmap(self, manifest: ConfigMapManifest) -> bool:
        return await configmaps.create_configmap(self.api, manifest)

    async def apply_configmap(self, manifest: ConfigMapManifest) -> None:
        await configmaps.apply_configmap(self.api, manifest)

    async def delete_configmap(self, namespace: str, name: str) -> None:
        await configmaps.delete_configmap(self.api, namespace, name)

    async def list_signing_requests(self, signer_name: str) -> list[dict[str, Any]]:
        return await csrs.list_for_signer(self.api, signer_name)

    async def write_csr_certificate(self, name: str, certificate_pem: bytes) -> None:
        await csrs.write_certificate(self.api, name, certificate_pem)

    async def write_csr_conditions(
        self, name: str, subresource: str, conditions: list[dict[str, Any]], resource_version: str
    ) -> None:
        await csrs.write_conditions(self.api, name, subresource, conditions, resource_version)
