"""The issuer's revocation list and the CRLs signed from it, kept in its CA Secret."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from certmint.api import Issuer, parse_duration
from certmint.operator.context import Context
from certmint.operator.revocations import REVOCATION_FIELD_MANAGER
from certmint.pki import CertificateAuthority
from certmint.planning.revocation import (
    CRL_KEY,
    REVOKED_KEY,
    build_crls,
    crl_der_of,
    crls_fresh,
    dump_revocations,
    load_revocations,
    next_crl_refresh,
    without_expired,
)

__all__ = ["PublishedCRLs", "crl_der_of", "publish_crls"]


@dataclass(frozen=True)
class PublishedCRLs:
    revoked_serials: frozenset[int]
    pem: bytes
    refresh_at: datetime | None


async def publish_crls(
    ctx: Context,
    namespace: str,
    name: str,
    issuer: Issuer,
    signers: tuple[CertificateAuthority, ...],
    now: datetime,
) -> PublishedCRLs:
    """Signs new CRLs when the revocations, the CAs or the CRL age call for it. Raises ValueError
    when the stored list cannot be read: it is never overwritten, so no revocation is lost."""
    secret = await ctx.kube.read_secret(namespace, name)
    if secret is None:
        raise LookupError(f"CA Secret {namespace}/{name} disappeared")
    duration = parse_duration(issuer.spec.revocation.crl_duration)
    stored = load_revocations(secret.data.get(REVOKED_KEY))
    revocations = without_expired(stored, now)
    pem = secret.data.get(CRL_KEY, b"")
    if revocations != stored or not crls_fresh(pem, signers, revocations, now, duration):
        revocations, pem = await asyncio.to_thread(build_crls, signers, revocations, now, duration)
        await ctx.kube.apply_secret_data(
            namespace,
            name,
            {REVOKED_KEY: dump_revocations(revocations), CRL_KEY: pem},
            resource_version=secret.resource_version,
            field_manager=REVOCATION_FIELD_MANAGER,
        )
    return PublishedCRLs(
        revoked_serials=frozenset(entry.serial_number for entry in revocations.entries),
        pem=pem,
        refresh_at=next_crl_refresh(pem, duration),
    )
