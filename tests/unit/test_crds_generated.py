"""crds/ and the chart's copy are exactly what the pydantic models generate."""

from pathlib import Path

import pytest

from certmint.api.crd import RESOURCES, render_crds, structural_schema

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("directory", ["crds", "charts/certmint/crds"])
def test_committed_crds_match_the_models(directory: str) -> None:
    rendered = render_crds()
    committed = {path.name: path.read_text() for path in (REPO / directory).glob("*.yaml")}
    assert committed == rendered, f"{directory}/ is stale: run `make crds`"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.resource.kind)
def test_schemas_are_structural(resource: object) -> None:
    """Kubernetes rejects $ref, anyOf-with-null and titles; none may survive generation."""
    text = repr(structural_schema(resource.model))  # type: ignore[attr-defined]
    for forbidden in ("$ref", "'anyOf'", "'title'", "'null'"):
        assert forbidden not in text
