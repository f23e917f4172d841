"""Renders the chart's PrometheusRule, with its default values, into a plain Prometheus rules file,
so promtool checks and tests exactly what the chart ships.

Usage: python tools/promtool/rules.py HELM OUTPUT
"""

import subprocess
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "certmint"


def render_rules(helm: str) -> str:
    manifest = subprocess.run(
        [
            helm,
            "template",
            "certmint",
            str(CHART),
            "--kube-version",
            "1.36.0",
            "--set",
            "prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_dump(yaml.safe_load(manifest)["spec"], sort_keys=False)


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(render_rules(sys.argv[1]))
