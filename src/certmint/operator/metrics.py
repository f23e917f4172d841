"""Prometheus metrics, served on /metrics by the operator process (see endpoints)."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from certmint.api.issuer import RotationPhase
from certmint.pki import PKIError, load_crls_pem
from certmint.pki.ocsp import OCSPSigner

CERTIFICATE_LABELS = ("namespace", "name", "issuer")

certificate_expiration = Gauge(
    "certmint_certificate_expiration_timestamp_seconds",
    "notAfter of the certificate in the Certificate's Secret, as a Unix timestamp.",
    CERTIFICATE_LABELS,
)
certificate_renewal = Gauge(
    "certmint_certificate_renewal_timestamp_seconds",
    "When certmint renews the certificate, as a Unix timestamp.",
    CERTIFICATE_LABELS,
)
certificate_ready = Gauge(
    "certmint_certificate_ready_status",
    "1 when the Certificate's Ready condition is True, else 0.",
    CERTIFICATE_LABELS,
)
issuances = Counter(
    "certmint_issuances_total", "Certificate issuances, by issuer and result.", ("issuer", "result")
)
issuance_seconds = Histogram(
    "certmint_issuance_duration_seconds",
    "Time to issue one certificate: key, signature and the Secret write.",
    ("issuer",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ca_expiration = Gauge(
    "certmint_ca_expiration_timestamp_seconds",
    "notAfter of the CA currently signing for an issuer, as a Unix timestamp.",
    ("kind", "namespace", "name"),
)
reconciles = Counter(
    "certmint_reconciles_total",
    "Reconciles finished, by kind and result: ok, waiting (for an issuer) or error.",
    ("kind", "result"),
)
queue_depth = Gauge(
    "certmint_workqueue_depth", "Keys waiting for a worker or being reconciled; 0 when the operator is idle."
)
scheduled_from_status = Counter(
    "certmint_certificates_scheduled_from_status_total",
    "Certificates scheduled at a start from their status and Secret, without verifying their "
    "signature again (the restart fast path).",
)
certificate_failures = Counter(
    "certmint_certificate_failures_total",
    "Certificates that could not be issued, by issuer and condition reason (PolicyDenied, ...).",
    ("issuer", "reason"),
)
ISSUER_LABELS = ("kind", "namespace", "name")
ca_rotation_phase = Gauge(
    "certmint_ca_rotation_phase",
    "1 for the CA rotation phase a selfSigned issuer is in (Stable, Prepared, Overlap), else 0.",
    (*ISSUER_LABELS, "phase"),
)
crl_next_update = Gauge(
    "certmint_crl_next_update_timestamp_seconds",
    "The earliest nextUpdate of the CRLs an issuer publishes, as a Unix timestamp.",
    ISSUER_LABELS,
)
ocsp_signer_expiration = Gauge(
    "certmint_ocsp_signer_expiration_timestamp_seconds",
    "The earliest notAfter of an issuer's delegated OCSP signers, as a Unix timestamp.",
    ISSUER_LABELS,
)
ocsp_responses = Counter(
    "certmint_ocsp_responses_total",
    "OCSP answers by issuer and status: good, revoked, unknown, or the refusal "
    "(malformedRequest, unauthorized, tryLater).",
    (*ISSUER_LABELS, "status"),
)
ocsp_signatures = Counter(
    "certmint_ocsp_signatures_total",
    "OCSP responses signed (cache misses); every other answer came from the cache.",
    ISSUER_LABELS,
)
trust_bundle_synced = Gauge(
    "certmint_trustbundle_synced_status",
    "1 when the TrustBundle's Synced condition is True, else 0.",
    ("name",),
)
trust_bundle_certificates = Gauge(
    "certmint_trustbundle_certificates", "CA certificates a TrustBundle publishes.", ("name",)
)
trust_bundle_changes = Counter(
    "certmint_trustbundle_ca_changes_total",
    "CA certificates that entered (added) or left (removed) a TrustBundle's published content.",
    ("name", "change"),
)
reconcile_errors = Counter(
    "certmint_reconcile_errors_total", "Reconciles that failed with an unexpected error.", ("kind",)
)


event_loop_lag = Gauge(
    "certmint_event_loop_lag_seconds",
    "The longest the event loop was late to run a timer over the last minute: how long every watch, "
    "reconcile and HTTP request waited behind work that held the loop.",
)
cached_objects = Gauge(
    "certmint_cached_objects",
    "Objects the operator keeps in memory, by kind: Certificate, Secret (views), "
    "CertificateSigningRequest and PodCertificateRequest (pending, of known issuers), Issuer, TrustBundle, "
    "OCSPResponse.",
    ("kind",),
)


def issuer_label(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def certificate_issuer_label(body: Mapping[str, Any]) -> str:
    """The issuer label of a Certificate's series: its issuerRef, else the default it last resolved to."""
    spec, status = body.get("spec"), body.get("status")
    ref = spec.get("issuerRef") if isinstance(spec, dict) else None
    if not isinstance(ref, dict) and isinstance(status, dict):
        ref = status.get("issuerRef")
    ref = ref if isinstance(ref, dict) else {}
    return issuer_label(str(ref.get("kind", "Issuer")), str(ref.get("name", "")))


def record_certificate(
    namespace: str, name: str, issuer: str, ready: bool, not_after: datetime | None, renewal: datetime | None
) -> None:
    labels = (namespace, name, issuer)
    certificate_ready.labels(*labels).set(1 if ready else 0)
    if not_after is not None:
        certificate_expiration.labels(*labels).set(not_after.timestamp())
    if renewal is not None:
        certificate_renewal.labels(*labels).set(renewal.timestamp())


def forget_certificate(namespace: str, name: str, issuer: str) -> None:
    """A deleted Certificate, or its series under an issuer it no longer names, leaves nothing
    behind: at thousands of objects they would pile up."""
    _remove((certificate_ready, certificate_expiration, certificate_renewal), (namespace, name, issuer))


def forget_issuer(kind: str, namespace: str, name: str) -> None:
    """A deleted issuer's series go with it."""
    labels = (kind, namespace, name)
    _remove((ca_expiration, crl_next_update, ocsp_signer_expiration, ocsp_signatures), labels)
    _remove((ca_rotation_phase,), *((*labels, phase.value) for phase in RotationPhase))
    for status in _label_values(ocsp_responses, labels):
        _remove((ocsp_responses,), (*labels, status))


def forget_trust_bundle(name: str) -> None:
    _remove((trust_bundle_synced, trust_bundle_certificates), (name,))
    for change in _label_values(trust_bundle_changes, (name,)):
        _remove((trust_bundle_changes,), (name, change))


def _label_values(metric: Counter | Gauge, prefix: tuple[str, ...]) -> list[str]:
    """The last label's values of the series under `prefix`."""
    return [
        labels[-1]
        for labels in list(metric._metrics)  # prometheus_client keeps no public index of them
        if labels[: len(prefix)] == prefix
    ]


def _remove(metrics: tuple[Counter | Gauge, ...], *series: tuple[str, ...]) -> None:
    for metric in metrics:
        for labels in series:
            try:
                metric.remove(*labels)
            except KeyError:
                continue


def record_rotation_phase(kind: str, namespace: str, name: str, phase: str) -> None:
    for each in RotationPhase:
        ca_rotation_phase.labels(kind, namespace, name, each.value).set(1 if each == phase else 0)


def record_revocation_data(
    kind: str, namespace: str, name: str, crl_pem: bytes, signers: Sequence[OCSPSigner]
) -> None:
    """How fresh an issuer's CRLs and OCSP signers are, for the staleness alerts."""
    try:
        updates = [crl.next_update_utc for crl in load_crls_pem(crl_pem)]
    except PKIError:
        updates = []
    soonest = min((update for update in updates if update is not None), default=None)
    if soonest is not None:
        crl_next_update.labels(kind, namespace, name).set(soonest.timestamp())
    if signers:
        expiry = min(signer.certificate.not_valid_after_utc for signer in signers)
        ocsp_signer_expiration.labels(kind, namespace, name).set(expiry.timestamp())


shard_slot = Gauge(
    "certmint_shard_slot",
    "1 while this replica holds the slot of the ring (of that generation and size) it serves, else 0.",
    ("slot", "generation", "replicas"),
)
shard_buckets = Gauge("certmint_shard_buckets", "Buckets this replica serves (0 while it holds no slot).")
shard_renewals = Counter(
    "certmint_shard_lease_renewals_total",
    "Renewals of this replica's slot Lease, by result: ok, error (tried again), lost (another "
    "replica holds it), late (not renewed in time).",
    ("result",),
)
shard_takeovers = Counter(
    "certmint_shard_takeovers_total", "Slot Leases this replica took over from another replica."
)
