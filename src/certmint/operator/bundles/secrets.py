"""Publishing a bundle as Secrets (the `secret` target): write them where the plan says, withdraw them
where they no longer belong, never touch a Secret certmint did not create for this bundle."""

import asyncio
from dataclasses import dataclass
from typing import Final

from certmint.kube.secrets import OwnerReference, SecretObject
from certmint.operator.context import Context
from certmint.planning import labels
from certmint.planning.bundles.secret_target import (
    SECRET_TYPE,
    BundleIdentity,
    PublishedSecret,
    SecretContent,
    plan_secrets,
    secret_annotations,
    secret_labels,
)
from certmint.planning.contest import Contest

WRITE_CONCURRENCY: Final = 8


@dataclass(frozen=True)
class SecretsPublished:
    holding: frozenset[str]
    """Namespaces that hold the bundle's Secret now."""
    conflicts: tuple[str, ...]
    """Namespaces where a Secret of that name that certmint did not create for this bundle is in the way."""
    held: dict[str, Contest]
    """Namespaces whose copy another writer keeps changing, not repaired yet."""


async def published_secrets(
    ctx: Context, identity: BundleIdentity, listed_in: tuple[str, ...]
) -> dict[str, PublishedSecret]:
    """The bundle's Secrets, by namespace: labelled with its UID (the cheap filter) by certmint's own
    field manager, of its name and type. A Secret someone else labelled so is not a copy: never
    written, withdrawn or counted. `listed_in`: the namespaces to look in (empty: all)."""
    selector = f"{labels.TRUST_BUNDLE_LABEL}={identity.uid}"
    return {
        found.namespace: PublishedSecret(
            found.namespace, found.data, found.annotations, found.writers, found.uid, found.resource_version
        )
        async for found in ctx.kube.list_secrets(selector, listed_in)
        if _is_copy(found, identity)
    }


def _is_copy(found: SecretObject, identity: BundleIdentity) -> bool:
    return (
        found.name == identity.name
        and found.type == SECRET_TYPE
        and labels.TRUST_BUNDLE_LABEL in found.certmint_labels
        and found.labels.get(labels.TRUST_BUNDLE_LABEL) == identity.uid
    )


async def publish_secrets(
    ctx: Context,
    identity: BundleIdentity,
    namespaces: frozenset[str],
    content: SecretContent | None,
    listed_in: tuple[str, ...] = (),
) -> SecretsPublished:
    """The bundle's Secret, holding `content`, in exactly `namespaces`; `content` None withdraws every
    copy (the target was removed). A namespace where a Secret of that name is not the bundle's own
    is reported as a conflict and left as it is."""
    existing = await published_secrets(ctx, identity, listed_in)
    plan = plan_secrets(namespaces, existing, content, ctx.clock())
    owner = OwnerReference(identity.api_version, identity.kind, identity.name, identity.uid)
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def write(namespace: str, content: SecretContent) -> bool:
        """False when someone else's Secret of that name is in the way."""
        found = existing.get(namespace)
        annotations = secret_annotations(identity, content.digest, plan.contests.get(namespace))
        async with limit:
            if found is not None:
                # Only the version listed: a Secret replaced meanwhile is someone else's (409, retried).
                await ctx.kube.apply_secret(
                    namespace,
                    identity.name,
                    secret_type=SECRET_TYPE,
                    data=content.data,
                    labels=secret_labels(identity),
                    annotations=annotations,
                    owner=owner,
                    resource_version=found.resource_version,
                )
                return True
            created = await ctx.kube.create_secret(
                namespace,
                identity.name,
                data=content.data,
                labels=secret_labels(identity),
                annotations=annotations,
                owner=owner,
                secret_type=SECRET_TYPE,
            )
            return created is not None

    async def withdraw(namespace: str) -> bool:
        found = existing[namespace]
        async with limit:
            return await ctx.kube.delete_secret(namespace, identity.name, found.uid, found.resource_version)

    writes = [write(namespace, content) for namespace in plan.targets.write] if content is not None else []
    written = dict(zip(plan.targets.write, await asyncio.gather(*writes), strict=True))
    withdrawn = dict(
        zip(plan.targets.delete, await asyncio.gather(*map(withdraw, plan.targets.delete)), strict=True)
    )
    gone = {namespace for namespace, deleted in withdrawn.items() if deleted}
    holding = (set(existing) - gone) | {namespace for namespace, ok in written.items() if ok}
    conflicts = tuple(namespace for namespace, ok in written.items() if not ok)
    return SecretsPublished(frozenset(holding), conflicts, dict(plan.held))
