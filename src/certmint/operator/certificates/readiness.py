"""Readiness: the Certificate's status, Warning events and metrics, and when to look again."""

from datetime import datetime

from pydantic import ValidationError

from certmint.api import Certificate, CertificateStatus
from certmint.api.kinds import READY
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import CERTIFICATE, Body, Key
from certmint.operator.status import write_status
from certmint.planning.certificates.actions import Report
from certmint.planning.gates import Fail
from certmint.planning.status import certificate_failed, condition


async def ready(ctx: Context, key: Key, certificate: Certificate, signer: Key, report: Report) -> Outcome:
    """The status the plan reports; look again at its renewal time. `signer`: the issuer the
    Certificate resolved to."""
    written = await write_status(ctx, key, certificate.status, report.status)
    before = certificate.status.issuer_ref
    if before is not None and (before.kind.value, before.name) != (signer.kind, signer.name):
        # It followed a default that moved: its series under the former default's label go.
        metrics.forget_certificate(key.namespace, key.name, metrics.issuer_label(before.kind, before.name))
    metrics.record_certificate(
        key.namespace,
        key.name,
        metrics.issuer_label(signer.kind, signer.name),
        True,
        report.not_after,
        report.renew_at,
    )
    return written.then(Outcome(requeue_after=max((report.renew_at - ctx.clock()).total_seconds(), 0.0)))


async def failed(ctx: Context, key: Key, body: Body, failure: Fail, now: datetime) -> Outcome:
    old = _status_of(body)
    metadata = body.get("metadata", {})
    generation = int(metadata.get("generation", 0))
    status = certificate_failed(old, failure.reason, failure.message, failure.retryable, generation, now)
    if condition(old.conditions, READY) != condition(status.conditions, READY):
        about = ObjectReference(CERTIFICATE, metadata.get("name", ""), key.namespace, metadata.get("uid", ""))
        await ctx.kube.post_event(about, "Warning", failure.reason, failure.message)
    written = await write_status(ctx, key, old, status)
    issuer = metrics.certificate_issuer_label(body)
    metrics.issuances.labels(issuer, "failed").inc()
    metrics.certificate_failures.labels(issuer, failure.reason).inc()
    metrics.record_certificate(key.namespace, key.name, issuer, False, old.not_after, None)
    return written.then(Outcome(backoff=failure.retryable))


def _status_of(body: Body) -> CertificateStatus:
    try:
        return CertificateStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return CertificateStatus()
