"""The one writer of certmint objects' status, for every reconciler."""

from certmint.api.common import ApiModel
from certmint.api.kinds import by_kind
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import Key


async def write_status(ctx: Context, key: Key, old: ApiModel, new: ApiModel) -> Outcome:
    """Patches the status of `key` to `new` unless it is `old` already. The outcome carries the
    version our patch made, so that its watch event is known as our own, and the status as
    written, which the cache offers until that event arrives."""
    if new == old:
        return Outcome()
    wire = new.to_api()
    version = await ctx.kube.patch_status(by_kind(key.kind).plural, key.namespace or None, key.name, wire)
    return Outcome(echoes=((key, version),), statuses=(StatusWritten(key, wire),))
