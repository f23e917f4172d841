"""Recording a revocation in the issuer's CA Secret: done by the Certificate side, under the
issuer's lock, read by the issuer side when it signs CRLs."""

from cryptography import x509
from kubernetes.aio.client.exceptions import ApiException

from certmint.api import Issuer
from certmint.operator.context import Context
from certmint.operator.state import Key
from certmint.pki import RevocationReason
from certmint.planning.issuers.ca import ca_secret_name
from certmint.planning.issuers.revocation import (
    CRL_KEY,
    REVOKED_KEY,
    dump_revocations,
    load_revocations,
    with_revocation,
)

REVOCATION_ATTEMPTS = 5
"""Reads and writes of the revocation list before a conflict is left to the caller's retry."""
REVOCATION_FIELD_MANAGER = "certmint-revocation"
"""Owns the revocation keys of a CA Secret, apart from whoever wrote its CA keys."""


def ca_secret_location(ctx: Context, key: Key, issuer: Issuer) -> tuple[str, str]:
    """ClusterIssuers keep their CA Secret in the operator's own namespace."""
    return key.namespace or ctx.config.namespace, ca_secret_name(issuer)


async def record_revocation(
    ctx: Context, key: Key, certificate: x509.Certificate, reason: RevocationReason
) -> None:
    """Raises when the list cannot be read or written; the caller retries. Recording twice changes
    nothing, so a crash between this and marking the request served is harmless. With several
    replicas, another replica's revocation or the owner's CRL landing between the read and the
    write is a 409: read again, a few times."""
    body = ctx.state.issuers.get(key)
    if body is None:
        raise LookupError(f"{key.kind} {key.name} is gone; cannot revoke")
    namespace, name = ca_secret_location(ctx, key, Issuer.model_validate(body))
    # Alone, this process's lock keeps its writers apart: a conflict is someone else's write, left
    # to the caller's retry with backoff as before there were replicas.
    attempts = 1 if ctx.shard.whole else REVOCATION_ATTEMPTS
    async with ctx.issuer_lock(key):
        for attempt in range(1, attempts + 1):
            secret = await ctx.kube.read_secret(namespace, name)
            if secret is None:
                raise LookupError(f"CA Secret {namespace}/{name} is gone; cannot revoke")
            revocations = load_revocations(secret.data.get(REVOKED_KEY))
            updated = with_revocation(revocations, certificate, reason, ctx.clock())
            if updated == revocations:
                return
            # The CRLs are written under the same field manager: declared as they are, so that this
            # write does not remove them until the issuer's owner signs new ones.
            kept = {CRL_KEY: secret.data[CRL_KEY]} if CRL_KEY in secret.data else {}
            try:
                await ctx.kube.apply_secret_data(
                    namespace,
                    name,
                    {REVOKED_KEY: dump_revocations(updated), **kept},
                    resource_version=secret.resource_version,
                    field_manager=REVOCATION_FIELD_MANAGER,
                )
            except ApiException as error:
                if error.status != 409 or attempt == attempts:
                    raise
                continue
            return
