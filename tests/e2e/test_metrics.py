"""Prometheus metrics scraped from the running operator."""

from datetime import datetime

from certmint.api.kinds import CERTIFICATES, GROUP, VERSION
from devcluster.operator import scrape
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, wait_for


def test_certificate_issuer_and_issuance_metrics(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    status = (cluster.get(CERTIFICATES.plural, namespace, "web") or {})["status"]
    labels = (("issuer", "Issuer/ca"), ("name", "web"), ("namespace", namespace))

    def current() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = scrape(operator_process.metrics_url)
        return samples if ("certmint_certificate_ready_status", labels) in samples else None

    samples = wait_for(current, 10, what="certificate series")
    assert samples[("certmint_certificate_ready_status", labels)] == 1
    not_after = datetime.fromisoformat(status["notAfter"]).timestamp()
    assert samples[("certmint_certificate_expiration_timestamp_seconds", labels)] == not_after
    renewal = datetime.fromisoformat(status["renewalTime"]).timestamp()
    assert abs(samples[("certmint_certificate_renewal_timestamp_seconds", labels)] - renewal) < 1
    issued = (("issuer", "Issuer/ca"), ("result", "issued"))
    assert samples[("certmint_issuances_total", issued)] >= 1
    assert samples[("certmint_issuance_duration_seconds_count", (("issuer", "Issuer/ca"),))] >= 1
    ca_labels = (("kind", "Issuer"), ("name", "ca"), ("namespace", namespace))
    assert samples[("certmint_ca_expiration_timestamp_seconds", ca_labels)] > not_after

    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural, "web")
    wait_for(
        lambda: ("certmint_certificate_ready_status", labels) not in scrape(operator_process.metrics_url),
        10,
        what="series of a deleted Certificate removed",
    )
