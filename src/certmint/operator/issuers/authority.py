"""The issuer's CA: load a provided one, bootstrap a self-signed one, rotate it with overlapping trust."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509

from certmint.api import Issuer, parse_duration
from certmint.api.issuer import DEFAULT_REISSUE_WINDOW, RotationPhase
from certmint.kube.secrets import SecretObject
from certmint.operator.context import Context
from certmint.operator.issuers.status import event, reference
from certmint.operator.issuers.trust import published_for_rotation
from certmint.operator.offload import off_loop
from certmint.operator.state import Key, published_by_bundles
from certmint.pki import CertificateAuthority, create_root_ca
from certmint.planning import labels, reasons
from certmint.planning.constraints import ClusterNames
from certmint.planning.issuer_view import IssuerView, Signing, Trust
from certmint.planning.issuers import longest_signed
from certmint.planning.issuers.ca import CAUnusable, GenerateCA, foreign_ca_secret, plan_ca
from certmint.planning.issuers.ca_import import ImportCA, ImportSource, import_source, plan_import
from certmint.planning.issuers.ca_secret import ca_secret_content, read_material
from certmint.planning.issuers.rotation import (
    ROTATE_REQUEST,
    Activate,
    CAMaterial,
    Hold,
    Prepare,
    Retire,
    StepTaken,
    advance,
    lagging_bundles,
    longest_issued,
    longest_pod_certificate,
    next_check,
    plan_rotation,
    rotation_policy,
    stable_material,
    step_taken,
)
from certmint.planning.shards import shared_labels

log = logging.getLogger("certmint.issuers")

TLS_SECRET_TYPE = "kubernetes.io/tls"
LAGGING_POLL_SECONDS = 30.0
"""While a prepared CA waits for TrustBundles: how often to look again without being woken."""


@dataclass(frozen=True)
class Usable:
    """A ready view, the rotation state of a self-signed CA (None for a provided one), when the
    rotation needs attention next, and the CA Secret as this reconcile read or wrote it last: the
    CRL and OCSP steps start from it instead of reading it again."""

    view: IssuerView
    material: CAMaterial | None
    next_rotation_check: datetime | None
    secret: SecretObject | None
    step: StepTaken | None = None
    """The rotation step this reconcile took, if any."""
    lagging: tuple[str, ...] = ()
    """TrustBundles the prepared next CA waits for (they publish the current CA, not the next)."""


async def load_or_bootstrap(
    ctx: Context, key: Key, issuer: Issuer, namespace: str, name: str, now: datetime
) -> Usable | IssuerView:
    """An unusable CA comes back as a not-ready view."""
    secret = await ctx.kube.read_secret(namespace, name)
    ours = secret is not None and secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
    names = ClusterNames(ctx.config.cluster_domain)
    if secret is not None and issuer.spec.self_signed is not None:
        foreign = foreign_ca_secret(key.kind, key.namespace, key.name, name, secret.annotations)
        if foreign is not None:
            return IssuerView(exists=True, ready=False, reason=foreign.reason, message=foreign.message)
    plan = plan_ca(issuer, secret.data if secret else None, ours, now, names)
    if isinstance(plan, CAUnusable):
        return IssuerView(exists=True, ready=False, reason=plan.reason, message=plan.message)
    # Imported once: only while the issuer has no CA Secret at all (not when its own CA expired).
    source = import_source(issuer, key.kind, key.namespace, ctx.config.namespace) if secret is None else None
    if isinstance(source, CAUnusable):
        return IssuerView(exists=True, ready=False, reason=source.reason, message=source.message)
    if isinstance(plan, GenerateCA) and source is not None:
        imported = await _import(ctx, key, source, now)
        if isinstance(imported, CAUnusable):
            return IssuerView(exists=True, ready=False, reason=imported.reason, message=imported.message)
        material = stable_material(imported.ca)
        if await _store(ctx, key, namespace, name, material, create=True) is None:
            # Someone created the Secret between our read and our create: use theirs.
            return await load_or_bootstrap(ctx, key, issuer, namespace, name, now)
        # The marking is applied, not created: what certmint's apply declares, the apply that
        # activates the next CA removes (a create's fields would stay).
        material = replace(material, imported_from=str(source))
        secret = await _store(ctx, key, namespace, name, material, create=False)
        message = f"imported CA {_subject(material.current.certificate)} from Secret {source}"
        await event(ctx, key, issuer, reasons.CA_IMPORTED, message)
        log.info("%s %s/%s: %s", key.kind, key.namespace, key.name, message)
    elif isinstance(plan, GenerateCA):
        material = stable_material(await off_loop(create_root_ca, plan.request, now))
        stored = await _store(ctx, key, namespace, name, material, create=secret is None)
        if stored is None:
            # Someone created the Secret between our read and our create: use theirs.
            return await load_or_bootstrap(ctx, key, issuer, namespace, name, now)
        secret = stored
        await event(ctx, key, issuer, plan.reason, f"generated CA {_subject(material.current.certificate)}")
    elif issuer.spec.self_signed is None:
        if not ours:
            # A user's CA Secret: labelled, it joins the label-selected Secret watch, so its deletion
            # or replacement reaches this Issuer at once instead of at the next resync.
            role = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA, **shared_labels(ctx.shard)}
            secret = await ctx.kube.mark_secret(namespace, name, role, ca_annotations(key))
        return Usable(given_ca_view(plan.ca), None, None, secret)
    else:
        material = read_material(
            plan.ca, secret.data if secret else {}, secret.annotations if secret else {}, now
        )
        last = ctx.state.rotation_steps.get(key)
        published = {
            **published_by_bundles(ctx.state.bundles, key),
            **published_for_rotation(ctx, key, issuer),
        }
        step = plan_rotation(
            issuer,
            material,
            issuer.metadata.annotations.get(ROTATE_REQUEST, ""),
            await _longest_issued(ctx, key, issuer, material, secret.annotations if secret else {}),
            now,
            last,
            names,
            published,
        )
        if isinstance(step, Hold) and step.lagging:
            # The bundles wake this issuer when what they publish changes; the poll is a fallback.
            check = min(step.until, now + timedelta(seconds=LAGGING_POLL_SECONDS))
            return Usable(rotating_view(material, issuer), material, check, secret, lagging=step.lagging)
        if isinstance(step, Hold):
            # Its own time, or a repeated step's backoff (later than the state alone would say).
            lagging = lagging_bundles(material, published)
            return Usable(rotating_view(material, issuer), material, step.until, secret, lagging=lagging)
        # With several replicas, an activation is written only to the CA Secret read: a longest-leaf
        # record another replica wrote meanwhile makes it read again (operator.longest_signed).
        read_version = secret.resource_version if secret is not None and not ctx.shard.whole else ""
        material, secret = await _rotate(ctx, key, issuer, namespace, name, material, step, now, read_version)
        taken = step_taken(last, step, issuer.metadata.generation or 0, now)
        # For the CAPublished condition during the propagation delay too.
        return Usable(
            rotating_view(material, issuer),
            material,
            next_check(material, issuer),
            secret,
            step=taken,
            lagging=lagging_bundles(material, published),
        )
    return Usable(rotating_view(material, issuer), material, next_check(material, issuer), secret)


async def _import(ctx: Context, key: Key, source: ImportSource, now: datetime) -> ImportCA | CAUnusable:
    """One read of the source Secret (never watched: a refusal is retried with the issuer's backoff),
    judged off the event loop: its key is loaded and validated there."""
    found = await ctx.kube.read_secret(source.namespace, source.name)
    annotations, data = (found.annotations, found.data) if found is not None else (None, {})
    return await off_loop(plan_import, key.kind, key.name, source, annotations, data, now)


async def _longest_issued(
    ctx: Context, key: Key, issuer: Issuer, material: CAMaterial, annotations: Mapping[str, str]
) -> timedelta:
    """Only an activation needs it (the overlap of the CA that stops signing): signatures are
    checked off the event loop, and only then. At least the longest pod certificate the issuer may
    sign (longest_pod_certificate): those are never counted one by one. With several replicas, at
    least the longest leaf any of them recorded for this CA in its Secret (`annotations`): they sign
    Certificates and CSRs this replica never sees."""
    if material.phase != RotationPhase.PREPARED:
        return timedelta(0)
    issued = ctx.state.issued_certificates_for_issuer(key)
    longest = await off_loop(longest_issued, issued, material.current.certificate)
    if ctx.shard.whole:
        # Alone, its own count covers everything signed: a record could only be someone's forgery.
        return max(longest, longest_pod_certificate(issuer))
    recorded = longest_signed.recorded_longest(annotations, material.current.certificate)
    return max(longest, recorded, longest_pod_certificate(issuer))


def given_ca_view(ca: CertificateAuthority) -> IssuerView:
    """The view of an issuer signing with a CA it was given (never rotated by certmint)."""
    return IssuerView(
        exists=True,
        ready=True,
        reason=reasons.CA_READY,
        message="CA is valid",
        signing=Signing(ca=ca),
        trust=Trust(certificates=(ca.root,)),
    )


def signing_policy(signing: Signing, issuer: Issuer) -> Signing:
    """What the issuer's spec says about signing, beside the CA that signs."""
    return replace(
        signing,
        policy=issuer.spec.policy,
        allow_ca=issuer.spec.allow_ca,
        auto_approval=issuer.spec.signing_requests.auto_approve,
        pod_certificates=issuer.spec.pod_certificates,
        default_change_window=_reissue_window(issuer),
    )


def _reissue_window(issuer: Issuer) -> timedelta:
    """Its rotation's reissueWindow; an issuer of a given CA has no rotation: the default window."""
    if issuer.spec.self_signed is None:
        return parse_duration(DEFAULT_REISSUE_WINDOW)
    return rotation_policy(issuer).reissue_window


def rotating_view(material: CAMaterial, issuer: Issuer) -> IssuerView:
    window = timedelta(0) if material.requested else rotation_policy(issuer).reissue_window
    return IssuerView(
        exists=True,
        ready=True,
        reason=reasons.CA_READY,
        message=f"CA is valid; rotation phase {material.phase}",
        signing=Signing(
            ca=material.current,
            previous=material.previous,
            activated_at=material.activated_at if material.previous is not None else None,
            reissue_window=window,
        ),
        trust=Trust(certificates=material.trust),
    )


async def _rotate(
    ctx: Context,
    key: Key,
    issuer: Issuer,
    namespace: str,
    name: str,
    material: CAMaterial,
    step: Prepare | Activate | Retire,
    now: datetime,
    read_version: str,
) -> tuple[CAMaterial, SecretObject | None]:
    next_ca = await off_loop(create_root_ca, step.request, now) if isinstance(step, Prepare) else None
    updated = advance(material, step, now, next_ca)
    precondition = read_version if isinstance(step, Activate) else ""
    stored = await _store(ctx, key, namespace, name, updated, create=False, resource_version=precondition)
    if isinstance(step, Prepare) and updated.next is not None:
        reason = reasons.CA_ROTATION_REQUESTED if step.requested else reasons.CA_ROTATION_PREPARED
        message = (
            f"next CA {_subject(updated.next.certificate)} is trusted now and signs from "
            f"{step.activates_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    elif isinstance(step, Activate):
        reason = reasons.CA_ROTATION_ACTIVATED
        message = (
            f"CA {_subject(updated.current.certificate)} signs now; the previous CA stays trusted until "
            f"{step.retires_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    else:
        reason = reasons.CA_RETIRED
        message = (
            f"previous CA {_subject(material.previous) if material.previous else ''} is no longer trusted"
        )
    await event(ctx, key, issuer, reason, message)
    if isinstance(step, Activate) and step.lagging:
        warning = (
            f"CA {_subject(updated.current.certificate)} signs although TrustBundle(s) "
            f"{', '.join(step.lagging)} still do not publish it: the wait for them ended at its bound"
        )
        await ctx.kube.post_event(
            reference(key, issuer), "Warning", reasons.CA_ACTIVATED_UNPUBLISHED, warning
        )
        log.warning("%s %s/%s: %s", key.kind, key.namespace, key.name, warning)
    log.info("%s %s/%s: %s", key.kind, key.namespace, key.name, message)
    return updated, stored


async def _store(
    ctx: Context,
    key: Key,
    namespace: str,
    name: str,
    material: CAMaterial,
    *,
    create: bool,
    resource_version: str = "",
) -> SecretObject | None:
    """The one Secret that holds this issuer's CA keys, as written; None when `create` found one
    already there."""
    content = ca_secret_content(material)
    secret_labels = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA, **shared_labels(ctx.shard)}
    annotations = {**ca_annotations(key), **content.annotations}
    if create:
        return await ctx.kube.create_secret(
            namespace, name, data=content.data, labels=secret_labels, annotations=annotations
        )
    return await ctx.kube.apply_secret(
        namespace,
        name,
        secret_type=TLS_SECRET_TYPE,
        data=content.data,
        labels=secret_labels,
        annotations=annotations,
        resource_version=resource_version,
    )


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def ca_annotations(key: Key) -> dict[str, str]:
    return {
        labels.ISSUER_KIND: key.kind,
        labels.ISSUER_NAME: key.name,
        labels.ISSUER_NAMESPACE: key.namespace,
    }
