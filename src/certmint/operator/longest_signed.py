"""Recording, before a replica signs, the longest leaf it signs under an issuer's CA, in that CA's
Secret (planning.issuers.longest_signed): the replica that owns the issuer sets the previous CA's
overlap from these records at activation. One replica alone (Shard.whole) records nothing: its own
scan of the Secrets it wrote covers everything it signed."""

from datetime import timedelta

from kubernetes.aio.client.exceptions import ApiException

from certmint.api import Issuer
from certmint.operator.context import Context
from certmint.operator.revocations import ca_secret_location
from certmint.operator.state import Key
from certmint.pki import CertificateAuthority, PKIError, load_certificates_pem
from certmint.planning.issuers import longest_signed

ATTEMPTS = 5
"""Reads and writes of the CA Secret before giving up (the reconcile is retried with backoff):
each 409 is another replica's record or the owner's write landing first."""


class CAMoved(LookupError):
    """The CA Secret's current CA is not the one this replica's view signs with: the owner activated
    another (its watch event brings the new view); nothing is signed with the old one meanwhile."""


async def record_longest_signed(
    ctx: Context, key: Key, ca: CertificateAuthority, duration: timedelta
) -> None:
    """Before signing a leaf of `duration` under `ca` for issuer `key`. Raises CAMoved when `ca` no
    longer signs (do not sign: the new view is on its way), ApiException when the record cannot be
    written: the caller's reconcile is retried, and nothing was signed."""
    if ctx.shard.whole:
        return
    serial = ca.certificate.serial_number
    if ctx.signed.covers(key, serial, duration):
        return
    body = ctx.state.issuers.get(key)
    if body is None:
        raise LookupError(f"{key.kind} {key.name} is gone; cannot sign")
    issuer = Issuer.model_validate(body)
    if issuer.spec.self_signed is None:
        return  # a given CA is never rotated by certmint: no overlap to cover
    namespace, name = ca_secret_location(ctx, key, issuer)
    slot = ctx.shard.slot
    for _ in range(ATTEMPTS):
        secret = await ctx.kube.read_secret(namespace, name)
        if secret is None or _current_serial(secret.data.get("tls.crt")) != serial:
            raise CAMoved(f"CA Secret {namespace}/{name} no longer holds the CA this replica signs with")
        own = {longest_signed.annotation(slot): secret.annotations.get(longest_signed.annotation(slot), "")}
        recorded = longest_signed.recorded_longest(own, ca.certificate)
        if recorded < duration:
            try:
                await ctx.kube.apply_secret_annotations(
                    namespace,
                    name,
                    {longest_signed.annotation(slot): longest_signed.value(serial, duration)},
                    resource_version=secret.resource_version,
                    field_manager=longest_signed.field_manager(slot),
                )
            except ApiException as error:
                if error.status == 409:
                    continue
                raise
        ctx.signed.remember(key, serial, max(duration, recorded))
        return
    raise CAMoved(f"CA Secret {namespace}/{name} kept changing; the longest leaf signed is not recorded yet")


def _current_serial(pem: bytes | None) -> int | None:
    try:
        return load_certificates_pem(pem or b"")[0].serial_number
    except (PKIError, IndexError):
        return None
