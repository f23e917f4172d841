"""The operator's storage-version migration at start (kube.migration, as `certmint migrate` runs it):
in the background once the operator serves, only for kinds whose CRD stores VERSION and still lists
another stored version, paced, once per process. A failure is one log line; storedVersions stays as
it was and the next start tries again."""

import asyncio
import logging

from certmint.api.kinds import RESOURCES
from certmint.kube.errors import TRANSIENT, describe
from certmint.kube.gateway import Kube
from certmint.kube.migration import MigrationRefused, check, migrate_kind
from certmint.operator.config import OperatorConfig
from certmint.planning.storage import DEFAULT_WRITES_PER_SECOND

log = logging.getLogger("certmint.storage")


async def migrate_at_start(kube: Kube, config: OperatorConfig, active: asyncio.Event) -> None:
    """Waits until this replica works (a standby leaves it to the leader), then migrates what needs it."""
    if config.watch_namespaces:
        # Its RBAC lists objects in those namespaces only: storedVersions must not lose a version
        # while objects elsewhere may still be stored at it.
        log.info("storage migration left to `certmint migrate`: this operator serves only some namespaces")
        return
    await active.wait()
    for resource in RESOURCES:
        try:
            found = await check(kube, resource)
            if not found.needed:
                if found.refusal:
                    log.warning("storage migration of %s not run: %s", resource.kind, found.refusal)
                continue
            done = await migrate_kind(kube, resource, DEFAULT_WRITES_PER_SECOND)
        except MigrationRefused as refusal:
            log.warning(
                "storage migration of %s stopped, retried at the next start: %s", resource.kind, refusal
            )
            return
        except TRANSIENT as error:
            log.warning(
                "storage migration of %s failed, storedVersions unchanged, retried at the next start: %s",
                resource.kind,
                describe(error),
            )
            return
        log.info(
            "storage migration of %s done: %d objects, %d rewritten, storedVersions %s -> %s",
            resource.kind,
            done.objects,
            done.rewritten,
            list(done.stored_before),
            list(done.stored_after),
        )
