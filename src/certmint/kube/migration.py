"""Storage-version migration of one certmint.dev kind: every object rewritten at the storage version
(VERSION), then the CRD's status.storedVersions set to [VERSION], so that a later release may stop
serving the old versions without losing an object stored at one of them.

The one implementation: `certmint migrate` runs it for every kind, and so does the operator at start
when a CRD still lists another stored version (operator.storage)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubernetes.aio.client.exceptions import ApiException

from certmint.api.kinds import VERSION, Resource
from certmint.kube.apply import Rejected, raise_if_rejected
from certmint.kube.gateway import Kube
from certmint.planning.storage import StorageCheck, check_storage, crd_name, next_write_at


class MigrationRefused(Exception):
    """Nothing may be (or was, from here on) written: the message says why and what to do."""


@dataclass(frozen=True)
class KindMigration:
    resource: Resource
    objects: int
    """Objects of the kind when the migration listed them."""
    rewritten: int
    """Of those, how many the migration's writes changed in etcd (their resourceVersion moved): the
    ones still stored at an old version. 0 in a dry run."""
    stored_before: tuple[str, ...]
    stored_after: tuple[str, ...]
    """status.storedVersions after the migration; in a dry run, what it would be."""


async def check(kube: Kube, resource: Resource) -> StorageCheck:
    return check_storage(resource, await kube.read_crd(crd_name(resource)))


async def migrate_kind(
    kube: Kube,
    resource: Resource,
    writes_per_second: float,
    *,
    dry_run: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> KindMigration:
    """Rewrites every object of `resource`, at most `writes_per_second`, then sets storedVersions to
    [VERSION]. Raises MigrationRefused, before any write, when the CRD is missing or does not store
    VERSION, and without touching storedVersions when the CRD changed meanwhile or an object refused
    its write (it may still be stored at an old version; every other object is written first, and
    the message names it). An object deleted meanwhile is skipped; one created meanwhile is stored at
    VERSION already."""
    before = await check(kube, resource)
    if before.refusal:
        raise MigrationRefused(before.refusal)
    # Listed whole before the first write: paced writes over a long list would outlive its continue
    # token. Only what the writes need is kept (a few hundred bytes an object).
    listed = [
        (item["metadata"].get("namespace"), item["metadata"]["name"], item["metadata"].get("resourceVersion"))
        async for item in kube.list_objects(resource.plural)
    ]
    if not before.needed or dry_run:
        after = (VERSION,) if before.needed else before.stored_versions
        return KindMigration(resource, len(listed), 0, before.stored_versions, after)
    rewritten = 0
    refused: list[str] = []
    previous: float | None = None
    for namespace, name, version in listed:
        previous = next_write_at(previous, clock(), writes_per_second)
        if (delay := previous - clock()) > 0:
            await sleep(delay)
        try:
            written = await _rewrite(kube, resource, namespace, name)
        except Rejected as rejection:
            # One object's owner must not hold up everyone else's: it is reported after the rest.
            refused.append(f"{namespace + '/' if namespace else ''}{name} ({rejection})")
            continue
        rewritten += bool(written) and written != version
    if refused:
        raise MigrationRefused(
            f"{len(refused)} {resource.kind} object(s) refused the rewrite, e.g. {refused[0]}: "
            f"storedVersions left at {list(before.stored_versions)}; fix or delete them and run again"
        )
    await _set_stored_versions(kube, resource, before)
    return KindMigration(resource, len(listed), rewritten, before.stored_versions, (VERSION,))


async def _rewrite(kube: Kube, resource: Resource, namespace: str | None, name: str) -> str:
    """The new resourceVersion, "" when the object is gone; Rejected when the API server refuses the
    object as it is (400, 422). The API server retries conflicts of a patch without a precondition
    itself; a 409 that still comes back is tried once more."""
    try:
        try:
            return await kube.rewrite_object(resource.plural, namespace, name)
        except ApiException as error:
            if error.status != 409:
                raise
        return await kube.rewrite_object(resource.plural, namespace, name)
    except ApiException as error:
        raise_if_rejected(error)  # the object itself: Rejected
        raise


async def _set_stored_versions(kube: Kube, resource: Resource, before: StorageCheck) -> None:
    """Only if the CRD's spec is the one the migration started with: then every write above stored
    its object at VERSION. The write is conditional on the version read here."""
    crd = await kube.read_crd(before.crd)
    now = check_storage(resource, crd)
    if crd is None or now.refusal or now.generation != before.generation:
        raise MigrationRefused(
            f"CustomResourceDefinition {before.crd} changed during the migration: "
            f"storedVersions left at {list(now.stored_versions)}; run the migration again"
        )
    try:
        await kube.write_stored_versions(before.crd, [VERSION], str(crd["metadata"]["resourceVersion"]))
    except ApiException as error:
        if error.status != 409:
            raise
        raise MigrationRefused(
            f"CustomResourceDefinition {before.crd} changed while its storedVersions were set: "
            f"left at {list(now.stored_versions)}; run the migration again"
        ) from error
