"""Issuer and ClusterIssuer reconciliation: load or bootstrap the CA, publish readiness."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from certmint.api import CAStatus, Issuer, IssuerStatus
from certmint.api.common import ConditionStatus
from certmint.kube import objects
from certmint.kube.events import ObjectReference, post_event
from certmint.kube.secrets import apply_secret, create_secret, mark_secret, read_secret
from certmint.operator.state import CLUSTER_ISSUER, Key
from certmint.pki import (
    CertificateAuthority,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    summarize_certificate,
)
from certmint.planning import labels
from certmint.planning.issuer import GenerateCA, UseCA, ca_secret_name, plan_ca
from certmint.planning.plan import IssuerView
from certmint.planning.status import READY, condition, set_condition

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

log = logging.getLogger("certmint.issuers")

PLURALS = {"Issuer": "issuers", "ClusterIssuer": "clusterissuers"}


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
        view = await _reconcile_locked(controller, key)
    previous = controller.state.issuer_views.get(key)
    if view is None:
        controller.state.issuer_views.pop(key, None)
    else:
        controller.state.issuer_views[key] = view
    if _identity(previous) != _identity(view):
        for dependent in (
            *controller.state.certificates_for_issuer(key),
            *controller.state.bundles_for_issuer(key),
        ):
            controller.queue.add(dependent)
    if view is not None and view.ready:
        controller.queue.forget(key)
        controller.queue.add_after(key, controller.config.issuer_resync_seconds)
    elif view is not None:
        controller.queue.add_rate_limited(key)


def _identity(view: IssuerView | None) -> tuple[object, ...] | None:
    """What Certificates depend on; a freshly loaded but identical CA is no change."""
    if view is None:
        return None
    return (
        view.exists,
        view.ready,
        view.reason,
        view.message,
        view.ca.certificate if view.ca else None,
        view.trust,
    )


async def _reconcile_locked(controller: "Controller", key: Key) -> IssuerView | None:
    body = controller.state.issuers.get(key)
    if body is None:
        body = await objects.read_object(controller.api, PLURALS[key.kind], key.namespace or None, key.name)
        if body is None:
            return None
        controller.state.issuers[key] = body
    try:
        issuer = Issuer.model_validate(body)
    except ValidationError as error:
        return IssuerView(exists=True, ready=False, reason="InvalidSpec", message=str(error))
    secret_namespace = key.namespace or controller.config.namespace
    secret_name = ca_secret_name(issuer)
    now = datetime.now(UTC)
    secret = await read_secret(controller.api, secret_namespace, secret_name)
    plan = plan_ca(
        issuer,
        secret.data if secret else None,
        secret is not None and secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA,
        now,
    )
    if isinstance(plan, GenerateCA):
        ca = await asyncio.to_thread(create_root_ca, plan.request, now)
        if not await _store_ca(
            controller, key, secret_namespace, secret_name, ca, replace=secret is not None
        ):
            # Another replica created it first: use theirs on the next pass.
            controller.queue.add(key)
            return controller.state.issuer_views.get(key)
        await post_event(
            controller.api,
            _reference(key, issuer),
            "Normal",
            plan.reason,
            f"generated CA {ca.certificate.subject.rfc4514_string()} "
            f"in Secret {secret_namespace}/{secret_name}",
        )
        plan = UseCA(ca)
    elif (
        isinstance(plan, UseCA)
        and secret is not None
        and secret.labels.get(labels.SECRET_ROLE_LABEL) != labels.ROLE_CA
    ):
        # A user's CA Secret: labelled, it joins the label-selected Secret watch, so its deletion or
        # replacement reaches this Issuer at once instead of at the next resync.
        await mark_secret(
            controller.api,
            secret_namespace,
            secret_name,
            {labels.SECRET_ROLE_LABEL: labels.ROLE_CA},
            _ca_annotations(key),
        )
    view = (
        IssuerView(
            exists=True,
            ready=True,
            reason="CAReady",
            message="CA is valid",
            ca=plan.ca,
            trust=(plan.ca.root,),
        )
        if isinstance(plan, UseCA)
        else IssuerView(exists=True, ready=False, reason=plan.reason, message=plan.message)
    )
    await _write_status(controller, key, issuer, view, secret_name, now)
    return view


async def _store_ca(
    controller: "Controller", key: Key, namespace: str, name: str, ca: CertificateAuthority, *, replace: bool
) -> bool:
    data = {
        "tls.crt": certificates_to_pem([ca.certificate]),
        "tls.key": encode_private_key_pem(ca.private_key),
    }
    secret_labels = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA}
    annotations = _ca_annotations(key)
    if replace:
        await apply_secret(
            controller.api,
            namespace,
            name,
            secret_type="kubernetes.io/tls",
            data=data,
            labels=secret_labels,
            annotations=annotations,
        )
        return True
    return await create_secret(
        controller.api, namespace, name, data=data, labels=secret_labels, annotations=annotations
    )


async def _write_status(
    controller: "Controller", key: Key, issuer: Issuer, view: IssuerView, secret_name: str, now: datetime
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
    ca_status = None
    if view.ca is not None:
        summary = summarize_certificate(view.ca.certificate)
        ca_status = CAStatus(
            subject=summary.subject,
            not_after=summary.not_after,
            fingerprint=summary.sha256_fingerprint,
            serial_number=summary.serial_number,
        )
    new = IssuerStatus(
        conditions=conditions, observed_generation=generation, secret_name=secret_name, ca=ca_status
    )
    if new == old:
        return
    await objects.patch_status(
        controller.api, PLURALS[key.kind], key.namespace or None, key.name, new.to_api()
    )
    controller.state.issuers[key] = {**controller.state.issuers.get(key, {}), "status": new.to_api()}
    if condition(old.conditions, READY) != condition(conditions, READY) and not view.ready:
        await post_event(controller.api, _reference(key, issuer), "Warning", view.reason, view.message)


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
