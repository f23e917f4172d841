"""The issuer's revocation list and the CRLs signed from it, kept in its CA Secret."""

from dataclasses import dataclass
from datetime import datetime

from certmint.api import Issuer, parse_duration
from certmint.kube.secrets import SecretObject
from certmint.operator.context import Context
from certmint.operator.offload import off_loop
from certmint.operator.revocations import REVOCATION_FIELD_MANAGER
from certmint.pki import CertificateAuthority
from certmint.pki.ocsp import OCSPSigner
from certmint.planning.issuer_view import ResponderInputs
from certmint.planning.issuers.ocsp import (
    dump_signers,
    load_signers,
    next_signer_refresh,
    refresh_signers,
    responder_inputs,
    signers_fresh,
)
from certmint.planning.issuers.revocation import (
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

__all__ = ["PublishedCRLs", "PublishedOCSP", "crl_der_of", "publish_crls", "publish_ocsp"]

OCSP_FIELD_MANAGER = "certmint-ocsp"
"""Owns the OCSP signer keys of a CA Secret, apart from its CA keys and its revocation list."""


@dataclass(frozen=True)
class PublishedCRLs:
    revoked_serials: frozenset[int]
    pem: bytes
    refresh_at: datetime | None
    secret: SecretObject
    """The CA Secret after this step, for the next one."""


async def publish_crls(
    ctx: Context,
    namespace: str,
    name: str,
    known: SecretObject | None,
    issuer: Issuer,
    signers: tuple[CertificateAuthority, ...],
    now: datetime,
) -> PublishedCRLs:
    """Signs new CRLs when the revocations, the CAs or the CRL age call for it. `known`: the CA
    Secret as this reconcile last saw it (read when None): revocations are recorded under the
    issuer's lock, which this reconcile holds, so none lands in between. Raises ValueError when the
    stored list cannot be read: it is never overwritten, so no revocation is lost."""
    secret = known or await _read(ctx, namespace, name)
    duration = parse_duration(issuer.spec.revocation.crl_duration)
    stored = load_revocations(secret.data.get(REVOKED_KEY))
    revocations = without_expired(stored, now)
    pem = secret.data.get(CRL_KEY, b"")
    if revocations != stored or not crls_fresh(pem, signers, revocations, now, duration):
        revocations, pem = await off_loop(build_crls, signers, revocations, now, duration)
        secret = await ctx.kube.apply_secret_data(
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
        secret=secret,
    )


async def _read(ctx: Context, namespace: str, name: str) -> SecretObject:
    secret = await ctx.kube.read_secret(namespace, name)
    if secret is None:
        raise LookupError(f"CA Secret {namespace}/{name} disappeared")
    return secret


@dataclass(frozen=True)
class PublishedOCSP:
    inputs: ResponderInputs | None = None
    signers: tuple[OCSPSigner, ...] = ()
    refresh_at: datetime | None = None


async def publish_ocsp(
    ctx: Context,
    secret: SecretObject,
    issuer: Issuer,
    cas: tuple[CertificateAuthority, ...],
    crl_pem: bytes,
    now: datetime,
) -> PublishedOCSP:
    """With an OCSP URL: a delegated signer per CA (signed by the CA here, never per request), kept
    in the CA Secret, and what the responder answers from: the CRLs just published. `secret`: the CA
    Secret as the CRL step left it."""
    if issuer.spec.revocation.ocsp_url is None:
        return PublishedOCSP()
    namespace, name = secret.namespace, secret.name
    stored = load_signers(secret.data)
    signers = await off_loop(refresh_signers, cas, stored, now)
    if not signers_fresh(cas, stored, now):
        await ctx.kube.apply_secret_data(
            namespace,
            name,
            dump_signers(signers),
            resource_version=secret.resource_version,
            field_manager=OCSP_FIELD_MANAGER,
        )
    validity = parse_duration(issuer.spec.revocation.ocsp_response_duration)
    inputs = responder_inputs(cas, signers, crl_pem, validity)
    return PublishedOCSP(inputs, signers, next_signer_refresh(signers))
