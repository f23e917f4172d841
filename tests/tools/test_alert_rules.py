"""The chart's alerting rules, proven with Prometheus's own tooling: `promtool test rules` feeds input
series that make every alert fire and then clear (tests/tools/certmint_alerts_test.yaml)."""

import os
import shutil
import subprocess
from pathlib import Path

import yaml
from tools.promtool.rules import render_rules

from certmint.planning.shards import BUCKETS

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).with_name("certmint_alerts_test.yaml")


def promtool() -> str:
    """Built from Go modules on first use, then cached (tools/promtool/build.sh)."""
    built = subprocess.run(
        [str(REPO / "tools" / "promtool" / "build.sh")], capture_output=True, text=True, check=True
    )
    return built.stdout.strip().splitlines()[-1]


def helm() -> str:
    cache = Path(os.environ.get("CERTMINT_CACHE", Path.home() / ".cache" / "certmint"))
    return str(cache / "controlplane" / "v1.36.3" / "helm")


def test_every_alert_fires_and_clears(tmp_path: Path) -> None:
    (tmp_path / "certmint.rules.yaml").write_text(render_rules(helm()))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    result = subprocess.run(
        [promtool(), "test", "rules", TESTS.name], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_tests_cover_every_alert_both_ways() -> None:
    rules = yaml.safe_load(render_rules(helm()))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    cases = yaml.safe_load(TESTS.read_text())["tests"][0]["alert_rule_test"]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    cleared = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts == fired == cleared
    assert len(alerts) == 10


def test_the_shard_view_covers_every_bucket() -> None:
    """The unserved-buckets alert compares with the ring's bucket count, which is planning's."""
    rules = yaml.safe_load(render_rules(helm()))
    (unserved,) = [
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "CertmintShardBucketsUnserved"
    ]
    assert unserved["expr"] == f"certmint_shard:buckets:sum < {BUCKETS}"
    records = {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}
    tested = {
        case["expr"]
        for test in yaml.safe_load(TESTS.read_text())["tests"]
        for case in test.get("promql_expr_test", [])
    }
    assert records == tested, "every recording rule has a promtool test"
