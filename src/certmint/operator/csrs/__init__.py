"""CertificateSigningRequest reconciliation: certmint as the Kubernetes signer of its issuers.

A CSR addressed to one of certmint's signer names is judged by planning.csrs; this module does
what it decides: sign (status.certificate), report a failure (the Failed condition), approve or
deny (the approval subresource), and record a revocation asked for by annotation. Signed, denied
and failed CSRs are final: they cost no write, so a restart costs none."""

import logging
from dataclasses import replace
from datetime import datetime

from cryptography import x509

from certmint.kube.csrs import APPROVAL, STATUS
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.issuer_views import issuer_view, namespace_labels
from certmint.operator.longest_signed import record_longest_signed
from certmint.operator.offload import off_loop
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import record_revocation
from certmint.operator.state import Key, issuer_key
from certmint.pki import certificates_to_pem, serial_hex, sign_leaf
from certmint.planning.csrs.actions import (
    RecordRevocation,
    Retry,
    SignChain,
    WriteConditions,
    plan_actions,
    signer_refused,
)
from certmint.planning.csrs.plan import Case
from certmint.planning.csrs.signing_request import SigningRequestObject, acting_namespace
from certmint.planning.events import Event
from certmint.planning.gates import Fail
from certmint.planning.signers import SignerRef, parse_signer_name

log = logging.getLogger("certmint.csrs")

CSR_API_VERSION = "certificates.k8s.io/v1"


async def reconcile(ctx: Context, key: Key) -> Outcome:
    csr = ctx.state.signing_requests.get(key)
    if csr is None:
        return Outcome()
    signer = parse_signer_name(csr.signer_name)
    if isinstance(signer, Fail):
        refusal = signer_refused(csr, signer, ctx.clock())
        return await _write_conditions(ctx, csr, refusal) if refusal is not None else Outcome()
    signer_key = issuer_key(signer.kind, signer.namespace, signer.name)
    issuer = issuer_view(ctx, signer_key)
    if issuer is None:
        return Outcome(wait_for=signer_key)
    if not ctx.config.csr_auto_approve:
        issuer = replace(issuer, signing=replace(issuer.signing, auto_approval=None))
    now = ctx.clock()
    acting = acting_namespace(signer, csr.username)
    # A person asking a ClusterIssuer acts in no namespace: a namespaceSelector admits no one.
    labels = await namespace_labels(ctx, acting, issuer) if acting else {}
    # Parsing and judging a request anyone may send (a signature check, hundreds of names): off
    # the loop, where a large one costs its own time only.
    case = Case(csr, signer, issuer, ctx.config.trust_domain, labels, now)
    plan = await off_loop(plan_actions, case, x509.random_serial_number())
    revoked = await _revoke(ctx, signer_key, csr, plan.revocation)
    then = plan.then
    if isinstance(then, SignChain):
        done = await _sign(ctx, csr, signer, then, now)
    elif isinstance(then, WriteConditions):
        done = await _write_conditions(ctx, csr, then)
    elif isinstance(then, Retry):
        done = Outcome(backoff=True)
    else:
        done = Outcome()
    return revoked.then(done)


async def _sign(
    ctx: Context, csr: SigningRequestObject, signer: SignerRef, plan: SignChain, now: datetime
) -> Outcome:
    await record_longest_signed(
        ctx, issuer_key(signer.kind, signer.namespace, signer.name), plan.ca, plan.leaf.duration
    )
    chain_pem = await off_loop(_signed_chain, plan, now)
    await ctx.kube.write_csr_certificate(csr.name, chain_pem)
    await ctx.kube.post_event(_reference(csr), plan.event.type, plan.event.reason, plan.event.message)
    metrics.issuances.labels(_issuer_label(signer), "issued").inc()
    log.info("signed CSR %s for %s: serial %s", csr.name, csr.username, serial_hex(plan.serial_number))
    return Outcome()


def _signed_chain(plan: SignChain, now: datetime) -> bytes:
    """The leaf, then the issuing CA and every CA above it that certmint knows: the requester gets
    its whole path (whom to trust it still learns from a TrustBundle, not from this)."""
    ca = plan.ca
    leaf = sign_leaf(plan.leaf, plan.public_key, ca, now, plan.serial_number)
    root = (ca.root_certificate,) if ca.root_certificate is not None else ()
    return certificates_to_pem([leaf, ca.certificate, *ca.chain, *root])


async def _write_conditions(ctx: Context, csr: SigningRequestObject, plan: WriteConditions) -> Outcome:
    subresource = APPROVAL if plan.approval else STATUS
    await ctx.kube.write_csr_conditions(csr.name, subresource, plan.conditions, csr.resource_version)
    await ctx.kube.post_event(_reference(csr), plan.event.type, plan.event.reason, plan.event.message)
    log.info("CSR %s of %s: %s: %s", csr.name, csr.username, plan.event.reason, plan.event.message)
    return Outcome()


async def _revoke(
    ctx: Context, signer_key: Key, csr: SigningRequestObject, plan: RecordRevocation | Event | None
) -> Outcome:
    """A revoke annotation on a signed CSR: its serial goes on the issuer's list, then the issuer
    signs new CRLs."""
    if plan is None:
        return Outcome()
    if isinstance(plan, Event):
        await ctx.kube.post_event(_reference(csr), plan.type, plan.reason, plan.message)
        return Outcome()
    await record_revocation(ctx, signer_key, plan.certificate, plan.request.reason)
    await ctx.kube.post_event(_reference(csr), plan.event.type, plan.event.reason, plan.event.message)
    log.info(
        "revoked CSR %s serial %s (%s)",
        csr.name,
        serial_hex(plan.certificate.serial_number),
        plan.request.reason,
    )
    return Outcome(wait_for=signer_key)


def _reference(csr: SigningRequestObject) -> ObjectReference:
    return ObjectReference("CertificateSigningRequest", csr.name, None, csr.uid, api_version=CSR_API_VERSION)


def _issuer_label(signer: SignerRef) -> str:
    return metrics.issuer_label(signer.kind, signer.name)
