"""Readiness: the Certificate's status, Warning events and metrics, and when to look again."""

from datetime import datetime

from pydantic import ValidationError

from certmint.api import Certificate, CertificateStatus
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import Body, Key
from certmint.planning.certificates.actions import Report
from certmint.planning.gates import Fail
from certmint.planning.status import READY, certificate_failed, condition

PLURAL = "certificates"


async def ready(ctx: Context, key: Key, certificate: Certificate, report: Report) -> Outcome:
    """The status the plan reports; look again at its renewal time."""
    written = await _write_status(ctx, key, certificate.status, report.status)
    metrics.record_certificate(
        key.namespace,
        key.name,
        metrics.issuer_label(certificate.spec.issuer_ref.kind, certificate.spec.issuer_ref.name),
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
        about = ObjectReference(
            "Certificate", metadata.get("name", ""), key.namespace, metadata.get("uid", "")
        )
        await ctx.kube.post_event(about, "Warning", failure.reason, failure.message)
    written = await _write_status(ctx, key, old, status)
    ref = body.get("spec", {}).get("issuerRef", {})
    issuer = metrics.issuer_label(ref.get("kind", "Issuer"), ref.get("name", ""))
    metrics.issuances.labels(issuer, "failed").inc()
    metrics.certificate_failures.labels(issuer, failure.reason).inc()
    metrics.record_certificate(key.namespace, key.name, issuer, False, old.not_after, None)
    return written.then(Outcome(backoff=failure.retryable))


async def _write_status(ctx: Context, key: Key, old: CertificateStatus, new: CertificateStatus) -> Outcome:
    if new == old:
        return Outcome()
    wire = new.to_api()
    version = await ctx.kube.patch_status(PLURAL, key.namespace, key.name, wire)
    return Outcome(echoes=((key, version),), statuses=(StatusWritten(key, wire),))


def _status_of(body: Body) -> CertificateStatus:
    try:
        return CertificateStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return CertificateStatus()
