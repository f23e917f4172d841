"""The chart's Grafana dashboard and alert expressions name only metrics certmint exports; the list of
those comes from the metrics module itself, not from a copy."""

import json
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from certmint.operator import metrics

CHART = Path(__file__).resolve().parents[2] / "charts" / "certmint"
METRIC_NAME = re.compile(r"\bcertmint_[a-z0-9_]+")
SERIES_NAME = re.compile(r"\bcertmint_[a-z0-9_]+(?::[a-z0-9_]+)*")


def exported_series() -> set[str]:
    """Every series name /metrics can carry, from the collectors the metrics module defines."""
    names: set[str] = set()
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        (family,) = collector.describe()
        if isinstance(collector, Counter):
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif isinstance(collector, Histogram):
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum", "created")}
        elif isinstance(collector, Gauge):
            names.add(family.name)
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads((CHART / "dashboards" / "certmint.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_exported_series_are_derived_from_the_code() -> None:
    series = exported_series()
    assert "certmint_issuances_total" in series
    assert "certmint_issuance_duration_seconds_bucket" in series
    assert "certmint_ocsp_responses_total" in series
    assert "certmint_trustbundle_ca_changes_total" in series
    assert "certmint_issuances" not in series


def test_the_dashboard_loads_and_every_query_names_an_exported_metric() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    exported = exported_series()
    for query in queries:
        named = set(METRIC_NAME.findall(query))
        assert named, f"query names no certmint metric: {query}"
        assert named <= exported, f"{query} names {named - exported}, which certmint does not export"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    queries = " ".join(dashboard_queries())
    for metric in (
        "certmint_certificate_expiration_timestamp_seconds",
        "certmint_issuances_total",
        "certmint_issuance_duration_seconds_bucket",
        "certmint_certificate_failures_total",
        "certmint_ca_rotation_phase",
    ):
        assert metric in queries, metric


def test_every_alert_expression_names_an_exported_metric() -> None:
    template = (CHART / "templates" / "prometheusrule.yaml").read_text()
    expressions = re.findall(r"^\s+expr: (.+)$", template, re.M)
    recorded = set(re.findall(r"^\s+- record: (\S+)$", template, re.M))
    assert len(expressions) == 16, "10 alerts and 6 recording rules (the certmint_shard:* view)"
    assert len(recorded) == 6
    exported = exported_series()
    for expression in expressions:
        named = set(SERIES_NAME.findall(expression))
        assert named, expression
        # level:metric:operation names are the chart's own recording rules, the rest /metrics'.
        assert {name for name in named if ":" in name} <= recorded, expression
        plain = {name for name in named if ":" not in name}
        assert plain <= exported, f"{expression} names {plain - exported}"
