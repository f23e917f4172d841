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
from certmint.operator.offload import off_loop
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import record_revocation
from certmint.operator.state import Key, issuer_key
from certmint.pki import (
    CertificateAuthority,
    LeafRequest,
    PublicKey,
    certificates_to_pem,
    serial_hex,
    sign_leaf,
)
from certmint.planning import reasons
from certmint.planning.csrs.plan import (
    Approve,
    Case,
    Deny,
    Sign,
    plan_signing_request,
    revocation_due,
    with_condition,
)
from certmint.planning.csrs.signing_request import (
    SignerRef,
    SigningRequestObject,
    acting_namespace,
    parse_signer_name,
)
from certmint.planning.gates import Fail
from certmint.planning.issuer_view import IssuerView, with_issuer_pointers

log = logging.getLogger("certmint.csrs")

CSR_API_VERSION = "certificates.k8s.io/v1"


async def reconcile(ctx: Context, key: Key) -> Outcome:
    csr = ctx.state.signing_requests.get(key)
    if csr is None:
        return Outcome()
    signer = parse_signer_name(csr.signer_name)
    if isinstance(signer, Fail):
        return await _failed(ctx, csr, signer) if _awaits_signature(csr) else Outcome()
    signer_key = issuer_key(signer.kind, signer.namespace, signer.name)
    issuer = issuer_view(ctx, signer_key)
    if issuer is None:
        return Outcome(wait_for=signer_key)
    if not ctx.config.csr_auto_approve:
        issuer = replace(issuer, signing=replace(issuer.signing, auto_approval=None))
    now = ctx.clock()
    revoked = await _serve_revocation(ctx, signer_key, csr, issuer, now)
    acting = acting_namespace(signer, csr.username)
    # A person asking a ClusterIssuer acts in no namespace: a namespaceSelector admits no one.
    labels = await namespace_labels(ctx, acting, issuer) if acting else {}
    # Parsing and judging a request anyone may send (a signature check, hundreds of names): off
    # the loop, where a large one costs its own time only.
    plan = await off_loop(
        plan_signing_request, Case(csr, signer, issuer, ctx.config.trust_domain, labels, now)
    )
    if isinstance(plan, Sign):
        done = await _sign(ctx, csr, signer, issuer, plan, now)
    elif isinstance(plan, Approve | Deny):
        done = await _decide(ctx, csr, plan, now)
    elif isinstance(plan, Fail):
        done = await _failed(ctx, csr, plan) if not plan.retryable else Outcome(backoff=True)
    else:
        done = Outcome()
    return revoked.then(done)


def _awaits_signature(csr: SigningRequestObject) -> bool:
    return csr.approved and not (csr.denied or csr.failed or csr.certificate)


async def _sign(
    ctx: Context, csr: SigningRequestObject, signer: SignerRef, issuer: IssuerView, plan: Sign, now: datetime
) -> Outcome:
    if issuer.signing.ca is None:  # planning fails first when the issuer has no CA
        raise AssertionError("signing without a CA")
    leaf_request = with_issuer_pointers(plan.spec.leaf, issuer)
    chain_pem = await off_loop(_signed_chain, leaf_request, plan.public_key, issuer.signing.ca, now)
    await ctx.kube.write_csr_certificate(csr.name, chain_pem)
    leaf = x509.load_pem_x509_certificate(chain_pem)
    serial = serial_hex(leaf.serial_number)
    await ctx.kube.post_event(
        _reference(csr),
        "Normal",
        reasons.CSR_ISSUED,
        f"signed serial {serial} for {csr.username}, valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
    )
    metrics.issuances.labels(_issuer_label(signer), "issued").inc()
    log.info("signed CSR %s for %s: serial %s", csr.name, csr.username, serial)
    return Outcome()


def _signed_chain(
    leaf_request: LeafRequest, public_key: PublicKey, ca: CertificateAuthority, now: datetime
) -> bytes:
    """The leaf, then the issuing CA and every CA above it that certmint knows: the requester gets
    its whole path (whom to trust it still learns from a TrustBundle, not from this)."""
    leaf = sign_leaf(leaf_request, public_key, ca, now)
    root = (ca.root_certificate,) if ca.root_certificate is not None else ()
    return certificates_to_pem([leaf, ca.certificate, *ca.chain, *root])


async def _decide(ctx: Context, csr: SigningRequestObject, plan: Approve | Deny, now: datetime) -> Outcome:
    kind = "Approved" if isinstance(plan, Approve) else "Denied"
    conditions = with_condition(_conditions(csr), kind, plan.reason, plan.message, now)
    await ctx.kube.write_csr_conditions(csr.name, APPROVAL, conditions, csr.resource_version)
    await ctx.kube.post_event(
        _reference(csr), "Normal" if kind == "Approved" else "Warning", plan.reason, plan.message
    )
    log.info("%s CSR %s of %s: %s", kind.lower(), csr.name, csr.username, plan.message)
    return Outcome()


async def _failed(ctx: Context, csr: SigningRequestObject, failure: Fail) -> Outcome:
    """Failed is final: the requester fixes the request and sends a new CSR."""
    conditions = with_condition(_conditions(csr), "Failed", failure.reason, failure.message, ctx.clock())
    await ctx.kube.write_csr_conditions(csr.name, STATUS, conditions, csr.resource_version)
    await ctx.kube.post_event(_reference(csr), "Warning", failure.reason, failure.message)
    log.info("CSR %s of %s failed: %s: %s", csr.name, csr.username, failure.reason, failure.message)
    return Outcome()


async def _serve_revocation(
    ctx: Context, signer_key: Key, csr: SigningRequestObject, issuer: IssuerView, now: datetime
) -> Outcome:
    """A revoke annotation on a signed CSR: its serial goes on the issuer's list, then the issuer
    signs new CRLs. Recording is idempotent and skipped once the issuer lists the serial, so the
    annotation may stay."""
    try:
        due = revocation_due(csr, issuer, now)
    except ValueError as error:
        await ctx.kube.post_event(_reference(csr), "Warning", reasons.INVALID_SPEC, str(error))
        return Outcome()
    if due is None:
        return Outcome()
    leaf, request = due
    await record_revocation(ctx, signer_key, leaf, request.reason)
    serial = serial_hex(leaf.serial_number)
    await ctx.kube.post_event(
        _reference(csr),
        "Normal",
        reasons.REVOKED,
        f"revoked serial {serial} ({request.reason}); it is on the issuer's CRL until it expires",
    )
    log.info("revoked CSR %s serial %s (%s)", csr.name, serial, request.reason)
    return Outcome(wait_for=signer_key)


def _conditions(csr: SigningRequestObject) -> list[dict[str, object]]:
    return [dict(condition) for condition in csr.conditions]


def _reference(csr: SigningRequestObject) -> ObjectReference:
    return ObjectReference("CertificateSigningRequest", csr.name, None, csr.uid, api_version=CSR_API_VERSION)


def _issuer_label(signer: SignerRef) -> str:
    return metrics.issuer_label(signer.kind, signer.name)
