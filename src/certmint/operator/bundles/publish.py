"""Publishing a bundle: write its ConfigMap where the plan says, withdraw it where it no longer belongs."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from certmint.api import NamespacedTrustBundle, TrustBundle
from certmint.kube.configmaps import ConfigMapManifest, ConfigMapObject
from certmint.kube.secrets import OwnerReference
from certmint.operator.context import Context
from certmint.planning import labels
from certmint.planning.bundles.targets import ConfigMapContent, TargetPlan
from certmint.planning.contest import Contest, contest_annotations

WRITE_CONCURRENCY = 8


@dataclass(frozen=True)
class Published:
    holding: frozenset[str]
    """Namespaces that hold the bundle's ConfigMap now."""
    conflicts: tuple[str, ...]
    """Namespaces where a ConfigMap of that name that certmint does not own is in the way."""


async def existing_copies(
    ctx: Context, bundle: TrustBundle | NamespacedTrustBundle, namespaces: tuple[str, ...]
) -> list[ConfigMapObject]:
    """The bundle's published copies in `namespaces` (empty: all): labelled with its UID (the cheap
    filter) by certmint's own field manager. A ConfigMap someone else labelled so is not a copy:
    never written, withdrawn or counted, and what it holds is not taken for what the bundle published."""
    selector = f"{labels.TRUST_BUNDLE_LABEL}={bundle.metadata.uid}"
    listed = await ctx.kube.list_configmaps(selector, namespaces)
    return [found for found in listed if labels.TRUST_BUNDLE_LABEL in found.certmint_labels]


async def publish(
    ctx: Context,
    bundle: TrustBundle | NamespacedTrustBundle,
    digest: str,
    content: ConfigMapContent,
    existing: dict[str, ConfigMapContent],
    plan: TargetPlan,
    contests: Mapping[str, Contest],
) -> Published:
    """`contests`: namespaces whose copy another writer keeps changing, with their backoff markings."""
    name = bundle.metadata.name
    owner = OwnerReference(bundle.api_version, bundle.kind, name, bundle.metadata.uid)
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def write(namespace: str) -> bool:
        manifest = ConfigMapManifest(
            namespace=namespace,
            name=name,
            data=content.data,
            binary_data=content.binary_data,
            labels={labels.TRUST_BUNDLE_LABEL: bundle.metadata.uid},
            annotations={
                labels.TRUST_BUNDLE_NAME: name,
                labels.BUNDLE_DIGEST: digest,
                **contest_annotations(contests.get(namespace)),
            },
            owner=owner,
        )
        async with limit:
            if namespace in existing:
                await ctx.kube.apply_configmap(manifest)
                return True
            return await ctx.kube.create_configmap(manifest)

    async def withdraw(namespace: str) -> None:
        async with limit:
            await ctx.kube.delete_configmap(namespace, name)

    results = await asyncio.gather(*(write(namespace) for namespace in plan.write))
    await asyncio.gather(*(withdraw(namespace) for namespace in plan.delete))
    written = dict(zip(plan.write, results, strict=True))
    holding = (set(existing) - set(plan.delete)) | {namespace for namespace, ok in written.items() if ok}
    conflicts = tuple(namespace for namespace, created in written.items() if not created)
    return Published(frozenset(holding), conflicts)
