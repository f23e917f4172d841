"""The models say which fields are beta (api.common.beta_field), and the README's "API versions and
stability" section lists exactly those."""

import re
from pathlib import Path

from pydantic import BaseModel

from certmint.api import Certificate, ClusterIssuer, Issuer, TrustBundle
from certmint.api.common import BETA

README = Path(__file__).resolve().parents[2] / "README.md"
KINDS: tuple[type[BaseModel], ...] = (Certificate, Issuer, ClusterIssuer, TrustBundle)


def beta_paths(model: type[BaseModel], prefix: str) -> set[str]:
    """Dotted wire paths (camelCase) of the beta fields of `model` and of the models inside it."""
    found = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.alias or name}"
        if (info.description or "").startswith(BETA):
            found.add(path)
        for inner in _models_in(info.annotation):
            found |= beta_paths(inner, path)
    return found


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in getattr(annotation, "__args__", ()) for model in _models_in(argument)]


def readme_beta_paths() -> set[str]:
    text = README.read_text()
    section = text.split("## API versions and stability", 1)[1].split("\n## ", 1)[0]
    listed = [line for line in section.splitlines() if line.startswith("- `")]
    return {
        path for line in listed for path in re.findall(r"`([A-Za-z]+\.(?:spec|status)\.[A-Za-z.]+)`", line)
    }


def test_the_readme_lists_exactly_the_beta_fields_of_the_models() -> None:
    models = {path for model in KINDS for path in beta_paths(model, model.__name__)}
    assert models, "no field is marked beta"
    assert readme_beta_paths() == models


def test_pod_certificates_are_beta() -> None:
    """It rides certificates.k8s.io/v1beta1."""
    assert "Issuer.spec.podCertificates" in beta_paths(Issuer, "Issuer")
