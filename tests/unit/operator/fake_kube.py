"""An in-memory KubeAPI: what the operator's unit tests run the reconcilers against.

It keeps Secrets, ConfigMaps and status patches with resourceVersions, records every call, and
refuses what the API server would (a create of an existing object)."""

import base64
import copy
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from certmint.kube.configmaps import ConfigMapManifest, ConfigMapObject
from certmint.kube.events import ObjectReference
from certmint.kube.secrets import OwnerReference, SecretObject


@dataclass
class FakeClock:
    now: datetime = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class Event:
    about: ObjectReference
    kind: str
    reason: str
    message: str


@dataclass
class FakeKube:
    secrets: dict[tuple[str, str], SecretObject] = field(default_factory=dict)
    objects: dict[tuple[str, str | None, str], dict[str, Any]] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], ConfigMapManifest] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    """Every write, as "verb kind namespace/name"."""
    reads: list[str] = field(default_factory=list)
    _versions: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    def _version(self) -> str:
        return str(next(self._versions))

    def put_secret(self, secret: SecretObject) -> None:
        self.secrets[(secret.namespace, secret.name)] = replace(secret, resource_version=self._version())

    async def read_secret(self, namespace: str, name: str) -> SecretObject | None:
        self.reads.append(f"get secret {namespace}/{name}")
        return self.secrets.get((namespace, name))

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
        self.writes.append(f"apply secret {namespace}/{name}")
        old = self.secrets.get((namespace, name))
        merged_labels = {**(old.labels if old else {}), **labels}
        merged_annotations = {**(old.annotations if old else {}), **annotations}
        version = self._version()
        owners = (old.owner_uids if old else frozenset()) | ({owner.uid} if owner else set())
        self.secrets[(namespace, name)] = SecretObject(
            name, namespace, secret_type, dict(data), merged_labels, merged_annotations, version, owners
        )
        return self.secrets[(namespace, name)]

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
        if (namespace, name) in self.secrets:
            return None
        self.writes.append(f"create secret {namespace}/{name}")
        version = self._version()
        self.secrets[(namespace, name)] = SecretObject(
            name,
            namespace,
            "kubernetes.io/tls",
            dict(data),
            dict(labels),
            dict(annotations),
            version,
            owner_uids=frozenset({owner.uid}) if owner else frozenset(),
        )
        return self.secrets[(namespace, name)]

    async def mark_secret(
        self, namespace: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> SecretObject:
        self.writes.append(f"mark secret {namespace}/{name}")
        old = self.secrets[(namespace, name)]
        self.secrets[(namespace, name)] = replace(
            old,
            labels={**old.labels, **labels},
            annotations={**old.annotations, **annotations},
            resource_version=self._version(),
        )
        return self.secrets[(namespace, name)]

    async def list_secrets(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> AsyncIterator[SecretObject]:
        """`label_selector` names a label that must be present (the only form the operator uses)."""
        self.reads.append(f"list secrets {label_selector}")
        for (namespace, _), secret in list(self.secrets.items()):
            if label_selector in secret.labels and (not namespaces or namespace in namespaces):
                yield secret

    async def apply_secret_data(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        *,
        resource_version: str,
        field_manager: str,
    ) -> SecretObject:
        old = self.secrets[(namespace, name)]
        if old.resource_version != resource_version:
            raise RuntimeError("409 Conflict")
        self.writes.append(f"apply secret-data {namespace}/{name}")
        version = self._version()
        self.secrets[(namespace, name)] = replace(old, data={**old.data, **data}, resource_version=version)
        return self.secrets[(namespace, name)]

    async def read_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.reads.append(f"get {plural} {namespace}/{name}")
        return self.objects.get((plural, namespace, name))

    async def patch_status(
        self, plural: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> str:
        self.writes.append(f"status {plural} {namespace}/{name}")
        version = self._version()
        found = self.objects.get((plural, namespace, name))
        if found is not None:
            found["status"] = status
            found["metadata"]["resourceVersion"] = version
        return version

    async def read_namespace_labels(self, name: str) -> dict[str, str] | None:
        return self.namespace_labels.get(name)

    async def post_event(self, about: ObjectReference, kind: str, reason: str, message: str) -> None:
        self.events.append(Event(about, kind, reason, message))

    async def read_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        found = self.configmaps.get((namespace, name))
        return dict(found.data) if found else None

    async def list_configmaps(
        self, label_selector: str, namespaces: tuple[str, ...] = ()
    ) -> list[ConfigMapObject]:
        label, _, value = label_selector.partition("=")
        return [
            ConfigMapObject(
                m.namespace, m.name, dict(m.data), dict(m.binary_data), certmint_labels=frozenset(m.labels)
            )
            for (namespace, _), m in self.configmaps.items()
            if m.labels.get(label) == value and (not namespaces or namespace in namespaces)
        ]

    async def create_configmap(self, manifest: ConfigMapManifest) -> bool:
        if (manifest.namespace, manifest.name) in self.configmaps:
            return False
        self.writes.append(f"create configmap {manifest.namespace}/{manifest.name}")
        self.configmaps[(manifest.namespace, manifest.name)] = manifest
        return True

    async def apply_configmap(self, manifest: ConfigMapManifest) -> None:
        self.writes.append(f"apply configmap {manifest.namespace}/{manifest.name}")
        self.configmaps[(manifest.namespace, manifest.name)] = manifest

    async def delete_configmap(self, namespace: str, name: str) -> None:
        self.writes.append(f"delete configmap {namespace}/{name}")
        self.configmaps.pop((namespace, name), None)

    async def list_signing_requests(self, signer_name: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(body)
            for (plural, _, _), body in self.objects.items()
            if plural == "certificatesigningrequests" and body["spec"]["signerName"] == signer_name
        ]

    async def write_csr_certificate(self, name: str, certificate_pem: bytes) -> None:
        self.writes.append(f"sign csr {name}")
        found = self.objects[("certificatesigningrequests", None, name)]
        found.setdefault("status", {})["certificate"] = base64.b64encode(certificate_pem).decode()
        found["metadata"]["resourceVersion"] = self._version()

    async def write_csr_conditions(
        self, name: str, subresource: str, conditions: list[dict[str, Any]], resource_version: str
    ) -> None:
        found = self.objects[("certificatesigningrequests", None, name)]
        if found["metadata"]["resourceVersion"] != resource_version:
            raise RuntimeError("409 Conflict")
        self.writes.append(f"{subresource} csr {name} " + ",".join(c["type"] for c in conditions))
        found.setdefault("status", {})["conditions"] = conditions
        found["metadata"]["resourceVersion"] = self._version()
