"""Certificate reconciliation: read the Secret, ask planning what to do, do it, report it."""

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from pydantic import ValidationError

from certmint.api import Certificate, CertificateStatus
from certmint.api.certificate import RotationPolicy
from certmint.kube import objects
from certmint.kube.apply import Rejected
from certmint.kube.events import ObjectReference, post_event
from certmint.kube.secrets import OwnerReference, SecretObject, apply_secret, mark_secret, read_secret
from certmint.operator import issuers, metrics
from certmint.operator.state import SECRET, Body, Key, issuer_key
from certmint.pki import (
    CertificateAuthority,
    PKIError,
    PrivateKey,
    generate_private_key,
    key_spec_of,
    serial_hex,
    sign_leaf,
)
from certmint.planning import labels
from certmint.planning.plan import (
    CurrentCertificate,
    Fail,
    Issue,
    IssuerView,
    Revoke,
    SecretView,
    parse_secret,
    plan_certificate,
)
from certmint.planning.renewal import renewal_time
from certmint.planning.request import IssuanceSpec, issuance_spec
from certmint.planning.secret import metadata_drift, secret_data, secret_metadata
from certmint.planning.status import READY, certificate_failed, certificate_ready, condition

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

log = logging.getLogger("certmint.certificates")

PLURAL = "certificates"
TLS_SECRET_TYPE = "kubernetes.io/tls"
RENEWAL_REASONS = frozenset({"Renewing", "Expired"})
REVOKED = "Revoked"


async def reconcile(controller: "Controller", key: Key) -> None:
    body = controller.state.certificates.get(key)
    if body is None or key.namespace in controller.state.terminating:
        return
    now = datetime.now(UTC)
    try:
        certificate = Certificate.model_validate(body)
        spec = issuance_spec(certificate, controller.config.trust_domain)
    except (ValidationError, ValueError) as error:
        await _report_failure(
            controller, key, body, Fail("InvalidSpec", _summary(error), retryable=False), now
        )
        return
    if certificate.metadata.deletion_timestamp is not None:
        return
    ref = certificate.spec.issuer_ref
    signer = issuer_key(ref.kind, key.namespace, ref.name)
    issuer = await issuers.issuer_view(controller, signer)
    secret = await read_secret(controller.api, key.namespace, certificate.spec.secret_name)
    plan = plan_certificate(
        spec,
        issuer,
        _secret_view(secret),
        _owner_conflict(controller, key, certificate, secret),
        now,
        seed=certificate.metadata.uid,
        namespace_labels=await _namespace_labels(controller, key.namespace, issuer),
    )
    if isinstance(plan, Fail):
        await _report_failure(controller, key, body, plan, now)
        return
    if isinstance(plan, Revoke):
        if secret is None:  # only a certificate read from the Secret is revoked
            raise AssertionError("revoking without a Secret")
        await _revoke(controller, key, certificate, signer, secret, plan)
        return
    if isinstance(plan, Issue):
        current = await _issue(controller, key, body, certificate, spec, issuer, secret, plan, now)
        if current is None:
            return
        leaf = current.certificate
        revision = (certificate.status.revision or 0) + 1
        renew_at = renewal_time(
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
            spec.renew_before,
            spec.renew_before_percentage,
            certificate.metadata.uid,
        )
    else:
        leaf = plan.current.certificate
        revision = certificate.status.revision or 1
        renew_at = plan.renewal_time
        if secret is not None:
            await _heal_metadata(controller, certificate, spec, secret, leaf)
    await _report_ready(controller, key, certificate, leaf, renew_at, revision, now)


async def _issue(
    controller: "Controller",
    key: Key,
    body: Body,
    certificate: Certificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretObject | None,
    plan: Issue,
    now: datetime,
) -> CurrentCertificate | None:
    if issuer.ca is None:  # plan_certificate fails first when the issuer has no CA
        raise AssertionError("issuing without a CA")
    if issuer.crl_distribution_point:
        spec = replace(
            spec, leaf=replace(spec.leaf, crl_distribution_points=(issuer.crl_distribution_point,))
        )
    if issuer.ocsp_url:
        spec = replace(spec, leaf=replace(spec.leaf, ocsp_urls=(issuer.ocsp_url,)))
    password = None
    if spec.pkcs12 is not None:
        ref = spec.pkcs12.password_secret_ref
        password_secret = await read_secret(controller.api, key.namespace, ref.name)
        password = password_secret.data.get(ref.key) if password_secret else None
        if password is None:
            message = f"PKCS#12 password Secret {ref.name} with key {ref.key} not found"
            await _report_failure(controller, key, body, Fail("PasswordSecretNotFound", message, True), now)
            return None
    # A revoked certificate's key may be what was compromised: never reuse it.
    reused = None if plan.reason == REVOKED else _reusable_key(spec, secret)
    issuer_label = _issuer_label(body)
    started = time.perf_counter()
    try:
        private_key, leaf, data = await asyncio.to_thread(_sign, spec, issuer.ca, reused, password, now)
    except (PKIError, ValueError) as error:
        # Passed the schema but not the PKI rules (a bad SAN, an empty keystore password), or not
        # cryptography's own: report it; the backoff retries pick up a fixed password Secret,
        # which no watch reports.
        reason, message = (
            (error.reason, error.message) if isinstance(error, PKIError) else ("InvalidRequest", str(error))
        )
        failure = Fail(reason, message, retryable=True)
        await _report_failure(controller, key, body, failure, now)
        return None
    metadata = secret_metadata(certificate, leaf, spec)
    try:
        version = await apply_secret(
            controller.api,
            key.namespace,
            certificate.spec.secret_name,
            secret_type=TLS_SECRET_TYPE,
            data=data,
            labels=metadata.labels,
            annotations=metadata.annotations,
            owner=_owner(certificate),
        )
    except Rejected as error:
        # e.g. secretTemplate labels the API server refuses: only a change of the spec helps.
        message = f"the API server refused Secret {certificate.spec.secret_name}: {error}"
        await _report_failure(controller, key, body, Fail("SecretRejected", message, False), now)
        return None
    controller.expect_echo(Key(SECRET, key.namespace, certificate.spec.secret_name), version)
    metrics.issuance_seconds.labels(issuer_label).observe(time.perf_counter() - started)
    if not certificate.status.serial_number:
        reason = "Issued"
    else:
        reason = "Renewed" if plan.reason in RENEWAL_REASONS else "Reissued"
    metrics.issuances.labels(issuer_label, reason.lower()).inc()
    serial = serial_hex(leaf.serial_number)
    await post_event(
        controller.api,
        _reference(certificate),
        "Normal",
        reason,
        f"{plan.reason}: {plan.message}; issued serial {serial}, valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
    )
    log.info("%s %s/%s serial %s (%s)", reason.lower(), key.namespace, key.name, serial, plan.reason)
    return CurrentCertificate(certificate=leaf, private_key=private_key)


async def _revoke(
    controller: "Controller",
    key: Key,
    certificate: Certificate,
    signer: Key,
    secret: SecretObject,
    plan: Revoke,
) -> None:
    """Durably on the issuer's list first, then the request marked served: a crash in between
    revokes again, which changes nothing. The next reconcile re-issues, or reports Revoked."""
    await issuers.revoke(controller, signer, plan.certificate, plan.request.reason)
    await mark_secret(
        controller.api, secret.namespace, secret.name, {}, {labels.REVOKE_REQUEST: plan.request.token}
    )
    serial = serial_hex(plan.certificate.serial_number)
    await post_event(
        controller.api,
        _reference(certificate),
        "Normal",
        REVOKED,
        f"revoked serial {serial} ({plan.request.reason}); it is on the issuer's CRL until it expires",
    )
    log.info("revoked %s/%s serial %s (%s)", key.namespace, key.name, serial, plan.request.reason)
    controller.queue.add(key)


async def _namespace_labels(controller: "Controller", namespace: str, issuer: IssuerView) -> dict[str, str]:
    """From the namespace watch; read directly only when a selector needs them before it reported."""
    cached = controller.state.namespaces.get(namespace)
    if cached is not None or issuer.policy is None or issuer.policy.namespace_selector is None:
        return cached or {}
    return await objects.read_namespace_labels(controller.api, namespace) or {}


def _sign(
    spec: IssuanceSpec,
    ca: CertificateAuthority,
    reused: PrivateKey | None,
    password: bytes | None,
    now: datetime,
) -> tuple[PrivateKey, x509.Certificate, dict[str, bytes]]:
    """CPU-bound (RSA key generation takes tens of milliseconds), so it runs off the event loop."""
    private_key = reused or generate_private_key(spec.key)
    leaf = sign_leaf(spec.leaf, private_key.public_key(), ca, now)
    return private_key, leaf, secret_data(spec, private_key, leaf, ca, password)


def _reusable_key(spec: IssuanceSpec, secret: SecretObject | None) -> PrivateKey | None:
    view = _secret_view(secret)
    if spec.rotation_policy != RotationPolicy.NEVER or view is None:
        return None
    current = parse_secret(view)
    if isinstance(current, CurrentCertificate) and key_spec_of(current.private_key) == spec.key:
        return current.private_key
    return None


async def _heal_metadata(
    controller: "Controller",
    certificate: Certificate,
    spec: IssuanceSpec,
    secret: SecretObject,
    leaf: x509.Certificate,
) -> None:
    """Someone removed or changed our labels or annotations: put them back without re-issuing."""
    metadata = secret_metadata(certificate, leaf, spec)
    if not metadata_drift(metadata, secret.labels, secret.annotations) and secret.type == TLS_SECRET_TYPE:
        return
    version = await apply_secret(
        controller.api,
        secret.namespace,
        secret.name,
        secret_type=TLS_SECRET_TYPE,
        data=secret.data,
        labels=metadata.labels,
        annotations=metadata.annotations,
        owner=_owner(certificate),
    )
    controller.expect_echo(Key(SECRET, secret.namespace, secret.name), version)


async def _report_ready(
    controller: "Controller",
    key: Key,
    certificate: Certificate,
    leaf: x509.Certificate,
    renew_at: datetime,
    revision: int,
    now: datetime,
) -> None:
    """`renew_at`: when to look again, which is the status' renewalTime."""
    status = certificate_ready(
        certificate.status, leaf, renew_at, revision, certificate.metadata.generation, now
    )
    await _write_status(controller, key, certificate.status, status)
    metrics.record_certificate(
        key.namespace,
        key.name,
        metrics.issuer_label(certificate.spec.issuer_ref.kind, certificate.spec.issuer_ref.name),
        True,
        leaf.not_valid_after_utc,
        renew_at,
    )
    controller.queue.forget(key)
    controller.queue.add_after(key, max((renew_at - datetime.now(UTC)).total_seconds(), 0.0))


async def _report_failure(
    controller: "Controller", key: Key, body: Body, failure: Fail, now: datetime
) -> None:
    old = _status_of(body)
    generation = int(body.get("metadata", {}).get("generation", 0))
    status = certificate_failed(old, failure.reason, failure.message, failure.retryable, generation, now)
    if condition(old.conditions, READY) != condition(status.conditions, READY):
        metadata = body.get("metadata", {})
        about = ObjectReference(
            "Certificate", metadata.get("name", ""), key.namespace, metadata.get("uid", "")
        )
        await post_event(controller.api, about, "Warning", failure.reason, failure.message)
    await _write_status(controller, key, old, status)
    issuer = _issuer_label(body)
    metrics.issuances.labels(issuer, "failed").inc()
    metrics.certificate_failures.labels(issuer, failure.reason).inc()
    metrics.record_certificate(key.namespace, key.name, issuer, False, old.not_after, None)
    if failure.retryable:
        controller.queue.add_rate_limited(key)


async def _write_status(
    controller: "Controller", key: Key, old: CertificateStatus, new: CertificateStatus
) -> None:
    if new == old:
        return
    wire = new.to_api()
    version = await objects.patch_status(controller.api, PLURAL, key.namespace, key.name, wire)
    controller.expect_echo(key, version)
    cached = controller.state.certificates.get(key)
    if cached is not None:
        # Our own patch comes back as an event; until then the cache must not offer the old status.
        controller.state.certificates[key] = {**cached, "status": wire}


def _issuer_label(body: Body) -> str:
    ref = body.get("spec", {}).get("issuerRef", {})
    return metrics.issuer_label(ref.get("kind", "Issuer"), ref.get("name", ""))


def _status_of(body: Body) -> CertificateStatus:
    try:
        return CertificateStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return CertificateStatus()


def _secret_view(secret: SecretObject | None) -> SecretView | None:
    if secret is None:
        return None
    return SecretView(
        name=secret.name, data=secret.data, labels=secret.labels, annotations=secret.annotations
    )


def _owner_conflict(
    controller: "Controller", key: Key, certificate: Certificate, secret: SecretObject | None
) -> str | None:
    """Two Certificates naming one Secret must not take turns re-issuing it (cert-manager #8380).

    The Secret's recorded owner keeps it while that Certificate still names it; with no recorded
    owner, the oldest claimant wins. Everyone else gets a Conflict and writes nothing.
    """
    claimants = controller.state.certificates_for_secret(key.namespace, certificate.spec.secret_name)
    claimants.discard(key)
    if not claimants:
        return None
    recorded = secret.annotations.get(labels.CERTIFICATE_NAME) if secret else None
    if recorded is not None and any(other.name == recorded for other in claimants):
        return recorded
    if recorded == key.name:
        return None

    def age(other: Key) -> tuple[str, str]:
        metadata = controller.state.certificates[other].get("metadata", {})
        return (metadata.get("creationTimestamp", ""), other.name)

    oldest = min([*claimants, key], key=age)
    return None if oldest == key else oldest.name


def _owner(certificate: Certificate) -> OwnerReference | None:
    if not certificate.spec.cleanup_secret_on_delete:
        return None
    return OwnerReference(
        api_version=certificate.api_version,
        kind="Certificate",
        name=certificate.metadata.name,
        uid=certificate.metadata.uid,
    )


def _reference(certificate: Certificate) -> ObjectReference:
    metadata = certificate.metadata
    return ObjectReference("Certificate", metadata.name, metadata.namespace, metadata.uid)


def _summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
    return str(error)
