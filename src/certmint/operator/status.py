"""The one writer of certmint objects' status, for every reconciler."""

import logging
from collections.abc import Mapping

from kubernetes.aio.client.exceptions import ApiException

from certmint.api.common import ApiModel
from certmint.api.kinds import by_kind
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import CERTIFICATE, CLUSTER_ISSUER, ISSUER, Body, Key

log = logging.getLogger("certmint.status")


async def write_status(ctx: Context, key: Key, old: ApiModel, new: ApiModel) -> Outcome:
    """Patches the status of `key` to `new` unless it is `old` already. The outcome carries the
    version our patch made, so that its watch event is known as our own, and the status as
    written, which the cache offers until that event arrives.

    With several replicas the patch is made only to the version of the object this reconcile
    planned from: one that changed since is written by no one; its watch event brings it back."""
    if new == old:
        return Outcome()
    wire = new.to_api()
    version = _cached_version(ctx, key) if ctx.config.replicas > 1 else ""
    try:
        written = await ctx.kube.patch_status(
            by_kind(key.kind).plural, key.namespace or None, key.name, wire, resource_version=version
        )
    except ApiException as error:
        if error.status != 409 or not version:
            raise
        log.info("status of %s not written: it changed since version %s, looking again", key, version)
        return Outcome()
    return Outcome(echoes=((key, written),), statuses=(StatusWritten(key, wire, written, version),))


def _cached_version(ctx: Context, key: Key) -> str:
    """The resourceVersion of the object as the cache holds it (our own last status write's, once
    made); "" when it is not cached."""
    cache: Mapping[Key, Body] = {
        CERTIFICATE: ctx.state.certificates,
        ISSUER: ctx.state.issuers,
        CLUSTER_ISSUER: ctx.state.issuers,
    }.get(key.kind, ctx.state.bundles)
    body = cache.get(key) or {}
    return str((body.get("metadata") or {}).get("resourceVersion") or "")
