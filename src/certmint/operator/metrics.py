"""Prometheus metrics, served on /metrics by the operator process (see endpoints)."""

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

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
reconcile_errors = Counter(
    "certmint_reconcile_errors_total", "Reconciles that failed with an unexpected error.", ("kind",)
)


def issuer_label(kind: str, name: str) -> str:
    return f"{kind}/{name}"


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
    """A deleted Certificate leaves no series behind: at thousands of objects they would pile up."""
    for gauge in (certificate_ready, certificate_expiration, certificate_renewal):
        try:
            gauge.remove(namespace, name, issuer)
        except KeyError:
            continue
