"""TrustBundle reconciliation: gather CA certificates, publish them as ConfigMaps in chosen namespaces."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from certmint.api import TrustBundle, TrustBundleStatus
from certmint.api.common import ConditionStatus
from certmint.api.trustbundle import BundleSource
from certmint.kube import objects
from certmint.kube.configmaps import (
    ConfigMapManifest,
    apply_configmap,
    create_configmap,
    delete_configmap,
    list_configmaps,
    read_configmap_data,
)
from certmint.kube.events import ObjectReference, post_event
from certmint.kube.secrets import OwnerReference, read_secret
from certmint.operator import issuers, metrics
from certmint.operator.state import Key, issuer_key
from certmint.pki import PKIError, assemble_bundle, certificates_to_pem
from certmint.planning import labels
from certmint.planning.bundle import (
    TRUST_CHANGED,
    ConfigMapContent,
    TrustChange,
    configmap_content,
    describe_trust_change,
    plan_targets,
    trust_change,
)
from certmint.planning.status import set_condition

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

log = logging.getLogger("certmint.bundles")

PLURAL = "trustbundles"
SYNCED = "Synced"
WRITE_CONCURRENCY = 8


class SourceUnavailable(Exception):
    """A source cannot be read now; publishing without it would silently drop trust."""


async def reconcile(controller: "Controller", key: Key) -> None:
    body = controller.state.bundles.get(key)
    if body is None:
        return  # deleted: the ConfigMaps carry an ownerReference and go with it
    now = datetime.now(UTC)
    try:
        bundle = TrustBundle.model_validate(body)
    except ValidationError as error:
        await _report(
            controller, key, body, ConditionStatus.FALSE, "InvalidSpec", str(error.errors()[0]["msg"])
        )
        return
    try:
        sources = [await _read_source(controller, source) for source in bundle.spec.sources]
        content = assemble_bundle([certificates for certificates, _ in sources], now)
    except SourceUnavailable as error:
        await _report(controller, key, body, ConditionStatus.FALSE, "SourceUnavailable", str(error))
        controller.queue.add_rate_limited(key)
        return
    except PKIError as error:
        await _report(controller, key, body, ConditionStatus.FALSE, "InvalidSource", error.message)
        return
    selector = f"{labels.TRUST_BUNDLE_LABEL}={bundle.metadata.uid}"
    existing = {
        found.namespace: ConfigMapContent(found.data, found.binary_data)
        for found in await list_configmaps(controller.api, selector, controller.config.watch_namespaces)
    }
    published = configmap_content(bundle, content, b"".join(crls for _, crls in sources))
    plan = plan_targets(
        bundle.spec.target.namespace_selector, controller.state.namespaces, existing, published
    )
    name = bundle.metadata.name
    owner = OwnerReference(bundle.api_version, "TrustBundle", name, bundle.metadata.uid)
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def publish(namespace: str) -> bool:
        manifest = ConfigMapManifest(
            namespace=namespace,
            name=name,
            data=published.data,
            binary_data=published.binary_data,
            labels={labels.TRUST_BUNDLE_LABEL: bundle.metadata.uid},
            annotations={labels.TRUST_BUNDLE_NAME: name, labels.BUNDLE_DIGEST: content.digest},
            owner=owner,
        )
        async with limit:
            if namespace in existing:
                await apply_configmap(controller.api, manifest)
                return True
            return await create_configmap(controller.api, manifest)

    async def withdraw(namespace: str) -> None:
        async with limit:
            await delete_configmap(controller.api, namespace, name)

    change = trust_change(
        (found.data.get(bundle.spec.target.config_map_key, "") for found in existing.values()),
        content.certificates,
    )
    results = await asyncio.gather(*(publish(namespace) for namespace in plan.write))
    if change and any(results):
        await _announce_trust_change(controller, bundle, change)
    await asyncio.gather(*(withdraw(namespace) for namespace in plan.delete))
    written = dict(zip(plan.write, results, strict=True))
    conflicts = [namespace for namespace, created in written.items() if not created]
    holding = (set(existing) - set(plan.delete)) | {namespace for namespace, ok in written.items() if ok}
    synced_count = len(holding)
    if conflicts:
        message = f"a ConfigMap named {name} that certmint does not own exists in: {', '.join(conflicts)}"
        await _report(
            controller,
            key,
            body,
            ConditionStatus.FALSE,
            "ConfigMapConflict",
            message,
            synced_count,
            content.digest,
        )
        controller.queue.add_rate_limited(key)
        return
    metrics.trust_bundle_certificates.labels(name).set(len(content.certificates))
    message = f"{len(content.certificates)} certificates published to {synced_count} namespaces"
    await _report(controller, key, body, ConditionStatus.TRUE, SYNCED, message, synced_count, content.digest)
    controller.queue.forget(key)


async def _announce_trust_change(controller: "Controller", bundle: TrustBundle, change: TrustChange) -> None:
    """A silent change of trust is what operators fear most: an event and a metric for every one."""
    name = bundle.metadata.name
    metrics.trust_bundle_changes.labels(name, "added").inc(len(change.added))
    metrics.trust_bundle_changes.labels(name, "removed").inc(len(change.removed))
    message = describe_trust_change(change)
    log.info("TrustBundle %s: %s", name, message)
    about = ObjectReference("TrustBundle", name, None, bundle.metadata.uid)
    await post_event(controller.api, about, "Normal", TRUST_CHANGED, message)


async def _read_source(controller: "Controller", source: BundleSource) -> tuple[bytes, bytes]:
    """The source's CA certificates, and its CRLs (PEM) when it is an issuer."""
    if source.inline_pem is not None:
        return source.inline_pem.encode(), b""
    _require_served(controller, source)
    if source.issuer is not None:
        issuer = source.issuer
        view = await issuers.issuer_view(
            controller, issuer_key(issuer.kind, issuer.namespace or "", issuer.name)
        )
        if not view.ready:
            raise SourceUnavailable(f"{issuer.kind} {issuer.name} is not ready: {view.reason}")
        return certificates_to_pem(view.trust), view.crl_pem
    if source.secret is not None:
        secret_ref = source.secret
        secret = await read_secret(controller.api, secret_ref.namespace, secret_ref.name)
        value = secret.data.get(secret_ref.key) if secret else None
        if value is None:
            raise SourceUnavailable(
                f"Secret {secret_ref.namespace}/{secret_ref.name} has no key {secret_ref.key}"
            )
        return value, b""
    if source.config_map is not None:
        map_ref = source.config_map
        data = await read_configmap_data(controller.api, map_ref.namespace, map_ref.name)
        text = data.get(map_ref.key) if data else None
        if text is None:
            raise SourceUnavailable(f"ConfigMap {map_ref.namespace}/{map_ref.name} has no key {map_ref.key}")
        return text.encode(), b""
    raise SourceUnavailable("a source sets none of issuer, secret, configMap or inlinePEM")


def _require_served(controller: "Controller", source: BundleSource) -> None:
    """An operator serving a namespace list may not read anything outside it (nor has RBAC to)."""
    served = controller.config.watch_namespaces
    ref = source.issuer or source.secret or source.config_map
    namespace = getattr(ref, "namespace", None) if ref is not None else None
    if served and namespace and namespace not in served:
        raise SourceUnavailable(f"namespace {namespace} is not among the namespaces this operator serves")


async def _report(
    controller: "Controller",
    key: Key,
    body: dict[str, object],
    status: ConditionStatus,
    reason: str,
    message: str,
    namespace_count: int | None = None,
    digest: str | None = None,
) -> None:
    metadata = body.get("metadata")
    generation = int(metadata.get("generation", 0)) if isinstance(metadata, dict) else 0
    try:
        old = TrustBundleStatus.model_validate(body.get("status") or {})
    except ValidationError:
        old = TrustBundleStatus()
    metrics.trust_bundle_synced.labels(key.name).set(1 if status == ConditionStatus.TRUE else 0)
    conditions = set_condition(old.conditions, SYNCED, status, reason, message, generation, datetime.now(UTC))
    new = old.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": generation,
            "namespace_count": namespace_count if namespace_count is not None else old.namespace_count,
            "digest": digest or old.digest,
        }
    )
    if new == old:
        return
    await objects.patch_status(controller.api, PLURAL, None, key.name, new.to_api())
    controller.state.bundles[key] = {**body, "status": new.to_api()}
