"""crds/ and the chart's CRDs (templates/crds/, kopf's in crds/) are exactly what the pydantic models
generate; tests/e2e/test_chart.py renders the templates with helm and compares them with crds/."""

from collections.abc import Callable
from pathlib import Path

import pytest

from certmint.api.crd import (
    RESOURCES,
    render_chart_crd_templates,
    render_chart_crds,
    render_crds,
    structural_schema,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("directory", "render"),
    [
        ("crds", render_crds),
        ("charts/certmint/templates/crds", render_chart_crd_templates),
        ("charts/certmint/crds", render_chart_crds),
    ],
)
def test_committed_crds_match_the_models(directory: str, render: Callable[[], dict[str, str]]) -> None:
    committed = {path.name: path.read_text() for path in (REPO / directory).glob("*.yaml")}
    assert committed == render(), f"{directory}/ is stale: run `make crds`"


def test_the_chart_templates_every_certmint_crd_and_installs_only_kopfs_once() -> None:
    """Helm upgrades templates, never crds/: every certmint CRD must be a template."""
    assert set(render_chart_crd_templates()) == set(render_crds()) - set(render_chart_crds())
    assert set(render_chart_crds()) == {"kopf.dev_clusterkopfpeerings.yaml"}


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.resource.kind)
def test_schemas_are_structural(resource: object) -> None:
    """Kubernetes rejects $ref, anyOf-with-null and titles; none may survive generation."""
    text = repr(structural_schema(resource.model))  # type: ignore[attr-defined]
    for forbidden in ("$ref", "'anyOf'", "'title'", "'null'"):
        assert forbidden not in text
