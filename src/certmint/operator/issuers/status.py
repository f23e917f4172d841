"""The Issuer's status (Ready condition, CA summary, rotation phase) and its events."""

from datetime import datetime

from cryptography import x509

from certmint.api import CAStatus, Issuer, IssuerStatus
from certmint.api.common import Condition, ConditionStatus
from certmint.api.issuer import RotationPhase, RotationStatus
from certmint.api.kinds import CA_PUBLISHED, DEFAULT, IMPORTED, POD_CERTIFICATES, READY
from certmint.kube.events import ObjectReference
from certmint.operator import metrics
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import CLUSTER_ISSUER, Key
from certmint.operator.status import write_status
from certmint.pki import summarize_certificate
from certmint.planning import reasons
from certmint.planning.defaults import Standing
from certmint.planning.issuer_view import IssuerView
from certmint.planning.issuers.pod_trust import PodCertificatesCondition
from certmint.planning.issuers.rotation import CAMaterial, rotation_policy, scheduled_rotation
from certmint.planning.status import condition, set_condition


class Unchanged:
    """The PodCertificates condition stays as it is."""


UNCHANGED = Unchanged()


async def write(
    ctx: Context,
    key: Key,
    issuer: Issuer,
    view: IssuerView,
    secret_name: str,
    material: CAMaterial | None,
    now: datetime,
    lagging: tuple[str, ...] = (),
    pod_certificates: "PodCertificatesCondition | Unchanged | None" = UNCHANGED,
    *,
    default: Standing | None,
) -> Outcome:
    """`pod_certificates`: the PodCertificates condition (None removes it; UNCHANGED, as a reconcile
    that did not get as far as publishing, leaves it as it is). `default`: the Default condition of
    an issuer marked default (None removes it)."""
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
    conditions = _publication(conditions, material, lagging, generation, now)
    conditions = _imported(conditions, material, secret_name, generation, now)
    if pod_certificates is None:
        conditions = [c for c in conditions if c.type != POD_CERTIFICATES]
    elif isinstance(pod_certificates, PodCertificatesCondition):
        conditions = set_condition(
            conditions,
            POD_CERTIFICATES,
            ConditionStatus.TRUE if pod_certificates.status else ConditionStatus.FALSE,
            pod_certificates.reason,
            pod_certificates.message,
            generation,
            now,
        )
    conditions = _default(conditions, default, generation, now)
    new = IssuerStatus(
        conditions=conditions,
        observed_generation=generation,
        secret_name=secret_name,
        ca=_ca_status(view.signing.ca.certificate) if view.signing.ca else None,
        rotation=_rotation_status(material, issuer) if material else None,
    )
    if view.signing.ca is not None:
        metrics.ca_expiration.labels(key.kind, key.namespace, key.name).set(
            view.signing.ca.certificate.not_valid_after_utc.timestamp()
        )
    if material is not None:
        metrics.record_rotation_phase(key.kind, key.namespace, key.name, material.phase)
    written = await write_status(ctx, key, old, new)
    if new != old and condition(old.conditions, READY) != condition(conditions, READY) and not view.ready:
        await ctx.kube.post_event(reference(key, issuer), "Warning", view.reason, view.message)
    return written


def _default(
    conditions: list[Condition], default: Standing | None, generation: int, now: datetime
) -> list[Condition]:
    if default is None:
        return [c for c in conditions if c.type != DEFAULT]
    status = ConditionStatus.TRUE if default.is_default else ConditionStatus.FALSE
    return set_condition(conditions, DEFAULT, status, default.reason, default.message, generation, now)


def _publication(
    conditions: list[Condition],
    material: CAMaterial | None,
    lagging: tuple[str, ...],
    generation: int,
    now: datetime,
) -> list[Condition]:
    """CAPublished, while a next CA is prepared: whether every TrustBundle including the issuer
    publishes it, else which ones its activation waits for. Absent in the other phases."""
    if material is None or material.phase != RotationPhase.PREPARED or material.next is None:
        return [c for c in conditions if c.type != CA_PUBLISHED]
    subject = material.next.certificate.subject.rfc4514_string()
    if lagging:
        message = (
            f"next CA {subject} signs once TrustBundle(s) {', '.join(lagging)} publish it "
            "(they publish the current CA only)"
        )
        return set_condition(
            conditions,
            CA_PUBLISHED,
            ConditionStatus.FALSE,
            reasons.BUNDLES_LAGGING,
            message,
            generation,
            now,
        )
    message = f"every TrustBundle that includes this issuer publishes the next CA {subject}"
    return set_condition(
        conditions, CA_PUBLISHED, ConditionStatus.TRUE, reasons.CA_PUBLISHED, message, generation, now
    )


def _imported(
    conditions: list[Condition],
    material: CAMaterial | None,
    secret_name: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Imported, while the current CA is the one imported: where it came from, and that the source
    Secret still holds a copy of its key. Absent otherwise."""
    if material is None or not material.imported_from:
        return [c for c in conditions if c.type != IMPORTED]
    subject = material.current.certificate.subject.rfc4514_string()
    message = (
        f"CA {subject} was imported from Secret {material.imported_from} and is kept in the CA Secret "
        f"{secret_name}, which certmint rotates; delete Secret {material.imported_from} so that its "
        "key lives in one Secret only"
    )
    return set_condition(
        conditions, IMPORTED, ConditionStatus.TRUE, reasons.CA_IMPORTED, message, generation, now
    )


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
