"""Issuer and ClusterIssuer reconciliation: load or bootstrap the CA, rotate it, publish readiness."""

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from pydantic import ValidationError

from certmint.api import CAStatus, Issuer, IssuerStatus, parse_duration
from certmint.api.common import ConditionStatus
from certmint.api.issuer import RotationStatus
from certmint.kube import objects
from certmint.kube.events import ObjectReference, post_event
from certmint.kube.secrets import (
    apply_secret,
    apply_secret_data,
    create_secret,
    mark_secret,
    read_secret,
)
from certmint.operator import metrics
from certmint.operator.state import CLUSTER_ISSUER, Key
from certmint.pki import CertificateAuthority, RevocationReason, create_root_ca, summarize_certificate
from certmint.pki.ocsp import OCSPSigner
from certmint.planning import labels
from certmint.planning.issuer import CAUnusable, GenerateCA, ca_secret_name, plan_ca
from certmint.planning.ocsp import (
    OCSPResponder,
    dump_signers,
    load_signers,
    next_signer_refresh,
    refresh_signers,
    responder_inputs,
    reuse_responder,
    signers_fresh,
)
from certmint.planning.plan import IssuerView
from certmint.planning.revocation import (
    CRL_KEY,
    REVOKED_KEY,
    build_crls,
    crl_der_of,
    crls_fresh,
    dump_revocations,
    load_revocations,
    next_crl_refresh,
    with_revocation,
    without_expired,
)
from certmint.planning.rotation import (
    ROTATE_REQUEST,
    Activate,
    CAMaterial,
    Hold,
    Prepare,
    Retire,
    advance,
    ca_secret_content,
    next_check,
    plan_rotation,
    read_material,
    rotation_policy,
    rotation_time,
    stable_material,
)
from certmint.planning.status import READY, condition, set_condition

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

log = logging.getLogger("certmint.issuers")

PLURALS = {"Issuer": "issuers", "ClusterIssuer": "clusterissuers"}
TLS_SECRET_TYPE = "kubernetes.io/tls"
REVOCATION_FIELD_MANAGER = "certmint-revocation"
OCSP_FIELD_MANAGER = "certmint-ocsp"


@dataclass(frozen=True)
class Outcome:
    view: IssuerView
    next_check: datetime | None = None
    """When the CA needs attention again (a rotation step); None: the periodic resync is enough."""


async def issuer_view(controller: "Controller", key: Key) -> IssuerView:
    """The Issuer as Certificates see it; loaded on first use, so no Certificate waits for an event."""
    view = controller.state.issuer_views.get(key)
    if view is None:
        await reconcile(controller, key)
        view = controller.state.issuer_views.get(key)
    return view or IssuerView(
        exists=False, ready=False, reason="IssuerNotFound", message=f"{key.kind} {key.name} not found"
    )


async def reconcile(controller: "Controller", key: Key) -> None:
    lock = controller.issuer_locks.setdefault(key, asyncio.Lock())
    async with lock:
        outcome = await _reconcile_locked(controller, key)
    previous = controller.state.issuer_views.get(key)
    if outcome is None:
        controller.state.issuer_views.pop(key, None)
    else:
        controller.state.issuer_views[key] = outcome.view
    current = outcome.view if outcome else None
    if _certificate_facing(previous) != _certificate_facing(current):
        for dependent in controller.state.certificates_for_issuer(key):
            controller.queue.add(dependent)
    if _bundle_facing(previous) != _bundle_facing(current):
        for dependent in controller.state.bundles_for_issuer(key):
            controller.queue.add(dependent)
    if outcome is None:
        return
    if not outcome.view.ready:
        controller.queue.add_rate_limited(key)
        return
    controller.queue.forget(key)
    delay = controller.config.issuer_resync_seconds
    if outcome.next_check is not None:
        delay = min(delay, (outcome.next_check - datetime.now(UTC)).total_seconds())
    controller.queue.add_after(key, max(delay, 0.0))


def _certificate_facing(view: IssuerView | None) -> tuple[object, ...] | None:
    """What Certificates depend on; a freshly loaded but identical CA is no change. A new CRL is
    none either: the one Certificate a revocation concerns is queued by its own reconcile."""
    if view is None:
        return None
    return (
        view.exists,
        view.ready,
        view.reason,
        view.message,
        view.ca.certificate if view.ca else None,
        view.trust,
        view.activated_at,
        view.policy,
    )


def _bundle_facing(view: IssuerView | None) -> tuple[object, ...] | None:
    if view is None:
        return None
    return (view.exists, view.ready, view.trust, view.crl_pem)


async def revoke(
    controller: "Controller", key: Key, certificate: x509.Certificate, reason: RevocationReason
) -> None:
    """Records the revocation in the CA Secret, then reconciles the issuer, which signs and publishes
    the new CRLs. Raises when the list cannot be read or written; the caller retries."""
    body = controller.state.issuers.get(key)
    if body is None:
        raise LookupError(f"{key.kind} {key.name} is gone; cannot revoke")
    namespace = key.namespace or controller.config.namespace
    name = ca_secret_name(Issuer.model_validate(body))
    async with controller.issuer_locks.setdefault(key, asyncio.Lock()):
        secret = await read_secret(controller.api, namespace, name)
        if secret is None:
            raise LookupError(f"CA Secret {namespace}/{name} is gone; cannot revoke")
        revocations = load_revocations(secret.data.get(REVOKED_KEY))
        updated = with_revocation(revocations, certificate, reason, datetime.now(UTC))
        if updated != revocations:
            await apply_secret_data(
                controller.api,
                namespace,
                name,
                {REVOKED_KEY: dump_revocations(updated)},
                resource_version=secret.resource_version,
                field_manager=REVOCATION_FIELD_MANAGER,
            )
    await reconcile(controller, key)


@dataclass(frozen=True)
class PublishedCRLs:
    revoked_serials: frozenset[int]
    pem: bytes
    refresh_at: datetime | None


async def _publish_crls(
    controller: "Controller",
    namespace: str,
    name: str,
    issuer: Issuer,
    signers: tuple[CertificateAuthority, ...],
    now: datetime,
) -> PublishedCRLs:
    """Signs new CRLs when the revocations, the CAs or the CRL age call for it. Raises ValueError
    when the stored list cannot be read: it is never overwritten, so no revocation is lost."""
    secret = await read_secret(controller.api, namespace, name)
    if secret is None:
        raise LookupError(f"CA Secret {namespace}/{name} disappeared")
    duration = parse_duration(issuer.spec.revocation.crl_duration)
    stored = load_revocations(secret.data.get(REVOKED_KEY))
    revocations = without_expired(stored, now)
    pem = secret.data.get(CRL_KEY, b"")
    if revocations != stored or not crls_fresh(pem, signers, revocations, now, duration):
        revocations, pem = await asyncio.to_thread(build_crls, signers, revocations, now, duration)
        await apply_secret_data(
            controller.api,
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


async def _reconcile_locked(controller: "Controller", key: Key) -> Outcome | None:
    body = controller.state.issuers.get(key)
    if body is None:
        body = await objects.read_object(controller.api, PLURALS[key.kind], key.namespace or None, key.name)
        if body is None:
            return None
        controller.state.issuers[key] = body
    try:
        issuer = Issuer.model_validate(body)
    except ValidationError as error:
        return Outcome(IssuerView(exists=True, ready=False, reason="InvalidSpec", message=str(error)))
    namespace = key.namespace or controller.config.namespace
    name = ca_secret_name(issuer)
    now = datetime.now(UTC)
    secret = await read_secret(controller.api, namespace, name)
    ours = secret is not None and secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
    plan = plan_ca(issuer, secret.data if secret else None, ours, now)
    if isinstance(plan, CAUnusable):
        outcome = Outcome(IssuerView(exists=True, ready=False, reason=plan.reason, message=plan.message))
        await _write_status(controller, key, issuer, outcome.view, name, None, now)
        return outcome
    if isinstance(plan, GenerateCA):
        material = stable_material(await asyncio.to_thread(create_root_ca, plan.request, now))
        if not await _store(controller, key, namespace, name, material, create=secret is None):
            # Someone created the Secret between our read and our create: use theirs. Returning None
            # here would mean "Issuer deleted" and fail every Certificate of it.
            return await _reconcile_locked(controller, key)
        await _event(
            controller, key, issuer, plan.reason, f"generated CA {_subject(material.current.certificate)}"
        )
    elif issuer.spec.self_signed is None:
        if not ours:
            # A user's CA Secret: labelled, it joins the label-selected Secret watch, so its deletion
            # or replacement reaches this Issuer at once instead of at the next resync.
            role = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA}
            await mark_secret(controller.api, namespace, name, role, _ca_annotations(key))
        view = IssuerView(
            exists=True,
            ready=True,
            reason="CAReady",
            message="CA is valid",
            ca=plan.ca,
            trust=(plan.ca.root,),
        )
        return await _ready(controller, key, issuer, namespace, name, view, (plan.ca,), None, None, now)
    else:
        material = read_material(
            plan.ca, secret.data if secret else {}, secret.annotations if secret else {}, now
        )
        step = plan_rotation(
            issuer,
            material,
            issuer.metadata.annotations.get(ROTATE_REQUEST, ""),
            controller.state.longest_duration_for_issuer(key),
            now,
        )
        if not isinstance(step, Hold):
            material = await _rotate(controller, key, issuer, namespace, name, material, step, now)
    view = _rotating_view(material, issuer)
    return await _ready(
        controller,
        key,
        issuer,
        namespace,
        name,
        view,
        material.crl_signers,
        material,
        next_check(material, issuer),
        now,
    )


async def _ready(
    controller: "Controller",
    key: Key,
    issuer: Issuer,
    namespace: str,
    name: str,
    view: IssuerView,
    crl_signers: tuple[CertificateAuthority, ...],
    material: CAMaterial | None,
    next_rotation_check: datetime | None,
    now: datetime,
) -> Outcome:
    """A usable CA: publish its CRLs, then its status."""
    try:
        crls = await _publish_crls(controller, namespace, name, issuer, crl_signers, now)
    except ValueError as error:
        view = IssuerView(exists=True, ready=False, reason="RevocationListInvalid", message=str(error))
        await _write_status(controller, key, issuer, view, name, material, now)
        return Outcome(view)
    ocsp = await _publish_ocsp(controller, key, namespace, name, issuer, crl_signers, crls.pem, now)
    view = replace(
        view,
        policy=issuer.spec.policy,
        revoked_serials=crls.revoked_serials,
        crl_pem=crls.pem,
        crl_der=crl_der_of(crls.pem, view.ca) if view.ca else b"",
        crl_distribution_point=issuer.spec.revocation.distribution_point_url,
        ocsp=ocsp.responder,
        ocsp_url=issuer.spec.revocation.ocsp_url,
    )
    await _write_status(controller, key, issuer, view, name, material, now)
    metrics.record_revocation_data(key.kind, key.namespace, key.name, crls.pem, ocsp.signers)
    checks = [
        moment for moment in (next_rotation_check, crls.refresh_at, ocsp.refresh_at) if moment is not None
    ]
    return Outcome(view, min(checks, default=None))


@dataclass(frozen=True)
class PublishedOCSP:
    responder: OCSPResponder | None = None
    signers: tuple[OCSPSigner, ...] = ()
    refresh_at: datetime | None = None


async def _publish_ocsp(
    controller: "Controller",
    key: Key,
    namespace: str,
    name: str,
    issuer: Issuer,
    cas: tuple[CertificateAuthority, ...],
    crl_pem: bytes,
    now: datetime,
) -> PublishedOCSP:
    """With an OCSP URL: a delegated signer per CA (signed by the CA here, never per request), kept
    in the CA Secret, and a responder answering from the CRLs just published."""
    if issuer.spec.revocation.ocsp_url is None:
        return PublishedOCSP()
    secret = await read_secret(controller.api, namespace, name)
    if secret is None:
        raise LookupError(f"CA Secret {namespace}/{name} disappeared")
    stored = load_signers(secret.data)
    signers = await asyncio.to_thread(refresh_signers, cas, stored, now)
    if not signers_fresh(cas, stored, now):
        await apply_secret_data(
            controller.api,
            namespace,
            name,
            dump_signers(signers),
            resource_version=secret.resource_version,
            field_manager=OCSP_FIELD_MANAGER,
        )
    validity = parse_duration(issuer.spec.revocation.ocsp_response_duration)
    previous = controller.state.issuer_views.get(key)
    responder = reuse_responder(
        previous.ocsp if previous else None, responder_inputs(cas, signers, crl_pem, validity)
    )
    return PublishedOCSP(responder, signers, next_signer_refresh(signers))


def _rotating_view(material: CAMaterial, issuer: Issuer) -> IssuerView:
    window = timedelta(0) if material.requested else rotation_policy(issuer).reissue_window
    return IssuerView(
        exists=True,
        ready=True,
        reason="CAReady",
        message=f"CA is valid; rotation phase {material.phase}",
        ca=material.current,
        trust=material.trust,
        previous=material.previous,
        activated_at=material.activated_at if material.previous is not None else None,
        reissue_window=window,
    )


async def _rotate(
    controller: "Controller",
    key: Key,
    issuer: Issuer,
    namespace: str,
    name: str,
    material: CAMaterial,
    step: Prepare | Activate | Retire,
    now: datetime,
) -> CAMaterial:
    next_ca = (
        await asyncio.to_thread(create_root_ca, step.request, now) if isinstance(step, Prepare) else None
    )
    updated = advance(material, step, now, next_ca)
    await _store(controller, key, namespace, name, updated, create=False)
    if isinstance(step, Prepare) and updated.next is not None:
        reason = "CARotationRequested" if step.requested else "CARotationPrepared"
        message = (
            f"next CA {_subject(updated.next.certificate)} is trusted now and signs from "
            f"{step.activates_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    elif isinstance(step, Activate):
        reason = "CARotationActivated"
        message = (
            f"CA {_subject(updated.current.certificate)} signs now; the previous CA stays trusted until "
            f"{step.retires_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    else:
        reason = "CARetired"
        message = (
            f"previous CA {_subject(material.previous) if material.previous else ''} is no longer trusted"
        )
    await _event(controller, key, issuer, reason, message)
    log.info("%s %s/%s: %s", key.kind, key.namespace, key.name, message)
    return updated


async def _store(
    controller: "Controller", key: Key, namespace: str, name: str, material: CAMaterial, *, create: bool
) -> bool:
    """The one Secret that holds this issuer's CA keys; False when `create` found one already there."""
    content = ca_secret_content(material)
    secret_labels = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA}
    annotations = {**_ca_annotations(key), **content.annotations}
    if create:
        return await create_secret(
            controller.api, namespace, name, data=content.data, labels=secret_labels, annotations=annotations
        )
    await apply_secret(
        controller.api,
        namespace,
        name,
        secret_type=TLS_SECRET_TYPE,
        data=content.data,
        labels=secret_labels,
        annotations=annotations,
    )
    return True


async def _write_status(
    controller: "Controller",
    key: Key,
    issuer: Issuer,
    view: IssuerView,
    secret_name: str,
    material: CAMaterial | None,
    now: datetime,
) -> None:
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
        return
    await objects.patch_status(
        controller.api, PLURALS[key.kind], key.namespace or None, key.name, new.to_api()
    )
    controller.state.issuers[key] = {**controller.state.issuers.get(key, {}), "status": new.to_api()}
    if condition(old.conditions, READY) != condition(conditions, READY) and not view.ready:
        await post_event(controller.api, _reference(key, issuer), "Warning", view.reason, view.message)


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
        next_rotation_at=rotation_time(
            material.current.certificate, rotation_policy(issuer).rotate_before_percentage
        ),
    )


async def _event(controller: "Controller", key: Key, issuer: Issuer, reason: str, message: str) -> None:
    await post_event(controller.api, _reference(key, issuer), "Normal", reason, message)


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _ca_annotations(key: Key) -> dict[str, str]:
    return {
        labels.ISSUER_KIND: key.kind,
        labels.ISSUER_NAME: key.name,
        labels.ISSUER_NAMESPACE: key.namespace,
    }


def _reference(key: Key, issuer: Issuer) -> ObjectReference:
    return ObjectReference(
        kind=key.kind,
        name=key.name,
        namespace=None if key.kind == CLUSTER_ISSUER else key.namespace,
        uid=issuer.metadata.uid,
    )
