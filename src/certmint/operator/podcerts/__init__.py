"""PodCertificateRequest reconciliation: certmint as the signer of pods' own keys.

A request addressed to one of certmint's signer names is judged by planning.podcerts; this module
does what it decides: read the Pod it names (only once the cheap checks passed), sign (off the
loop), write the status (Issued, Denied or Failed: terminal, so each request costs one write),
report an event on the request, and record a revocation asked for by annotation. It writes nothing
on behalf of a pod but the request's status and events about the request."""

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography import x509
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.errors import describe
from certmint.kube.events import ObjectReference
from certmint.kube.podcerts import GROUP_VERSION
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.issuer_views import issuer_view, namespace_labels
from certmint.operator.offload import off_loop
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import record_revocation
from certmint.operator.state import Key, issuer_key
from certmint.pki import certificates_to_pem, serial_hex, sign_leaf
from certmint.planning.events import Event
from certmint.planning.podcerts.actions import (
    RecordRevocation,
    RetryLater,
    SignAndIssue,
    WriteStatus,
    issued_status,
    plan_actions,
)
from certmint.planning.podcerts.plan import Case, cheap_verdict
from certmint.planning.podcerts.request import KIND, PodCertificateRequestObject
from certmint.planning.signers import SignerRef, parse_signer_name

log = logging.getLogger("certmint.podcerts")

CONFLICTS = frozenset({409, 422})
"""A status write the API server refused: someone changed the request (409), or it is final or the
status is refused (422). Logged and retried with backoff, never at once."""


async def reconcile(ctx: Context, key: Key) -> Outcome:
    pcr = ctx.state.pod_certificate_requests.get(key)
    if pcr is None:
        return Outcome()
    signer = parse_signer_name(pcr.signer_name)
    if not isinstance(signer, SignerRef):
        return Outcome()  # intake keeps only requests for issuers that exist
    signer_key = issuer_key(signer.kind, signer.namespace, signer.name)
    issuer = issuer_view(ctx, signer_key)
    if issuer is None:
        return Outcome(wait_for=signer_key)
    now = ctx.clock()
    labels = await namespace_labels(ctx, pcr.namespace, issuer)
    case = Case(pcr, issuer, ctx.config.trust_domain, labels, now)
    if cheap_verdict(case) is None:
        # Only a request that passed the cheap checks costs a read of its Pod.
        case = replace(case, pod=await ctx.kube.read_pod(pcr.namespace, pcr.pod_name))
    # Parsing and verifying the stub request, and the gates: off the loop.
    plan = await off_loop(plan_actions, case, x509.random_serial_number())
    revoked = await _revoke(ctx, signer_key, pcr, plan.revocation)
    then = plan.then
    if isinstance(then, SignAndIssue):
        done = await _issue(ctx, pcr, signer, then, now)
    elif isinstance(then, WriteStatus):
        done = await _write(ctx, pcr, then.status, then.event)
    elif isinstance(then, RetryLater):
        log.info(
            "PodCertificateRequest %s/%s waits: %s: %s", pcr.namespace, pcr.name, then.reason, then.message
        )
        done = Outcome(backoff=True)
    else:
        done = Outcome()
    return revoked.then(done)


async def _issue(
    ctx: Context, pcr: PodCertificateRequestObject, signer: SignerRef, plan: SignAndIssue, now: datetime
) -> Outcome:
    chain_pem = await off_loop(signed_chain, plan, now)
    done = await _write(ctx, pcr, issued_status(plan, chain_pem, now), plan.event)
    if not done.backoff:
        metrics.issuances.labels(metrics.issuer_label(signer.kind, signer.name), "issued").inc()
    return done


def signed_chain(plan: SignAndIssue, now: datetime) -> bytes:
    """The leaf, then the issuing CA and every CA above it that certmint knows."""
    ca = plan.ca
    leaf = sign_leaf(
        plan.leaf, plan.public_key, ca, now, plan.serial_number, validity=(plan.not_before, plan.not_after)
    )
    root = (ca.root_certificate,) if ca.root_certificate is not None else ()
    return certificates_to_pem([leaf, ca.certificate, *ca.chain, *root])


async def _write(
    ctx: Context, pcr: PodCertificateRequestObject, status: dict[str, Any], event: Event
) -> Outcome:
    try:
        written = await ctx.kube.write_pod_certificate_status(
            pcr.namespace, pcr.name, status, pcr.resource_version
        )
    except ApiException as error:
        if error.status not in CONFLICTS:
            raise
        log.warning(
            "PodCertificateRequest %s/%s: status %s not written (%s); retrying with backoff",
            pcr.namespace,
            pcr.name,
            event.reason,
            describe(error),
        )
        return Outcome(backoff=True)
    if not written:
        return Outcome()  # deleted meanwhile: nothing left to report on
    await ctx.kube.post_event(_reference(pcr), event.type, event.reason, event.message)
    log.info("PodCertificateRequest %s/%s: %s: %s", pcr.namespace, pcr.name, event.reason, event.message)
    return Outcome()


async def _revoke(
    ctx: Context, signer_key: Key, pcr: PodCertificateRequestObject, plan: RecordRevocation | Event | None
) -> Outcome:
    if plan is None:
        return Outcome()
    if isinstance(plan, Event):
        await ctx.kube.post_event(_reference(pcr), plan.type, plan.reason, plan.message)
        return Outcome()
    await record_revocation(ctx, signer_key, plan.certificate, plan.request.reason)
    await ctx.kube.post_event(_reference(pcr), plan.event.type, plan.event.reason, plan.event.message)
    log.info(
        "revoked PodCertificateRequest %s/%s serial %s (%s)",
        pcr.namespace,
        pcr.name,
        serial_hex(plan.certificate.serial_number),
        plan.request.reason,
    )
    return Outcome(wait_for=signer_key)


def _reference(pcr: PodCertificateRequestObject) -> ObjectReference:
    return ObjectReference(KIND, pcr.name, pcr.namespace, pcr.uid, api_version=GROUP_VERSION)
