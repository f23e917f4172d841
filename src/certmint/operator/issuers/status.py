"""The Issuer's status (Ready condition, CA summary, rotation phase) and its events."""

from datetime import datetime

from cryptography import x509

from certmint.api import CAStatus, Issuer, IssuerStatus
from certmint.api.common import ConditionStatus
from certmint.api.issuer import RotationStatus
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome, StatusWritten
from certmint.operator.state import CLUSTER_ISSUER, Key
from certmint.pki import summarize_certificate
from certmint.planning.plan import IssuerView
from certmint.planning.rotation import CAMaterial, rotation_policy, scheduled_rotation
from certmint.planning.status import READY, condition, set_condition

PLURALS = {"Issuer": "issuers", "ClusterIssuer": "clusterissuers"}


async def write(
    ctx: Context,
    key: Key,
    issuer: Issuer,
    view: IssuerView,
    secret_name: str,
    material: CAMaterial | None,
    now: datetime,
) -> Outcome:
    generation = issuer.metadata.generation
    old = issuer.status
    conditions = set_condition(
        old.conditions,
        READY,
        ConditionStatus.TRUE if view.ready else ConditionStatus.FALSE,
        view.reason,
        view.message,
        generation,
        now,
    )
    new = IssuerStatus(
        conditions=conditions,
        observed_generation=generation,
        secret_name=secret_name,
        ca=_ca_status(view.ca.certificate) if view.ca else None,
        rotation=_rotation_status(material, issuer) if material else None,
    )
    if view.ca is not None:
        metrics.ca_expiration.labels(key.kind, key.namespace, key.name).set(
            view.ca.certificate.not_valid_after_utc.timestamp()
        )
    if material is not None:
        metrics.record_rotation_phase(key.kind, key.namespace, key.name, material.phase)
    if new == old:
        return Outcome()
    wire = new.to_api()
    version = await ctx.kube.patch_status(PLURALS[key.kind], key.namespace or None, key.name, wire)
    if condition(old.conditions, READY) != condition(conditions, READY) and not view.ready:
        await ctx.kube.post_event(reference(key, issuer), "Warning", view.reason, view.message)
    return Outcome(echoes=((key, version),), statuses=(StatusWritten(key, wire),))


async def event(ctx: Context, key: Key, issuer: Issuer, reason: str, message: str) -> None:
    await ctx.kube.post_event(reference(key, issuer), "Normal", reason, message)


def reference(key: Key, issuer: Issuer) -> ObjectReference:
    return ObjectReference(
        kind=key.kind,
        name=key.name,
        namespace=None if key.kind == CLUSTER_ISSUER else key.namespace,
        uid=issuer.metadata.uid,
    )


def _ca_status(certificate: x509.Certificate) -> CAStatus:
    summary = summarize_certificate(certificate)
    return CAStatus(
        subject=summary.subject,
        not_after=summary.not_after,
        fingerprint=summary.sha256_fingerprint,
        serial_number=summary.serial_number,
    )


def _rotation_status(material: CAMaterial, issuer: Issuer) -> RotationStatus:
    return RotationStatus(
        phase=material.phase,
        next_ca=_ca_status(material.next.certificate) if material.next else None,
        previous_ca=_ca_status(material.previous) if material.previous else None,
        activates_at=material.activates_at if material.next else None,
        retires_at=material.retires_at if material.previous else None,
        next_rotation_at=scheduled_rotation(material.current.certificate, rotation_policy(issuer)),
    )
