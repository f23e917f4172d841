"""CustomResourceDefinitions generated from the pydantic models.

Kubernetes wants a structural OpenAPI v3 schema: everything inlined (no $ref), no nullable
anyOf, no titles. This module turns pydantic's JSON schema into that, then wraps it with the
names, printer columns and subresources of each resource.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from certmint.api.certificate import Certificate
from certmint.api.issuer import ClusterIssuer, Issuer
from certmint.api.kinds import (
    CERTIFICATES,
    CLUSTER_ISSUERS,
    DEPRECATED_VERSIONS,
    GROUP,
    ISSUERS,
    READY,
    SYNCED,
    TRUST_BUNDLES,
    VERSION,
    Resource,
)
from certmint.api.trustbundle import TrustBundle

JsonSchema = dict[str, Any]

_READY = {"name": READY, "type": "string", "jsonPath": f'.status.conditions[?(@.type=="{READY}")].status'}
_REASON = {
    "name": "Reason",
    "type": "string",
    "priority": 1,
    "jsonPath": f'.status.conditions[?(@.type=="{READY}")].reason',
}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_ISSUER_COLUMNS = (
    _READY,
    {"name": "CA Expires", "type": "string", "jsonPath": ".status.ca.notAfter"},
    {"name": "Rotation", "type": "string", "priority": 1, "jsonPath": ".status.rotation.phase"},
    _REASON,
    _AGE,
)


@dataclass(frozen=True)
class ResourceDefinition:
    model: type[BaseModel]
    resource: Resource
    short_names: tuple[str, ...]
    printer_columns: tuple[dict[str, Any], ...] = field(default=())


RESOURCES = (
    ResourceDefinition(
        model=Certificate,
        resource=CERTIFICATES,
        short_names=("mcert", "mcerts"),
        printer_columns=(
            _READY,
            {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
            {"name": "Issuer", "type": "string", "jsonPath": ".status.issuerRef.name"},
            {"name": "Expires", "type": "string", "jsonPath": ".status.notAfter"},
            {"name": "Renews", "type": "string", "priority": 1, "jsonPath": ".status.renewalTime"},
            _REASON,
            _AGE,
        ),
    ),
    ResourceDefinition(
        model=Issuer,
        resource=ISSUERS,
        short_names=("missuer",),
        printer_columns=_ISSUER_COLUMNS,
    ),
    ResourceDefinition(
        model=ClusterIssuer,
        resource=CLUSTER_ISSUERS,
        short_names=("mclusterissuer",),
        printer_columns=_ISSUER_COLUMNS,
    ),
    ResourceDefinition(
        model=TrustBundle,
        resource=TRUST_BUNDLES,
        short_names=("mbundle",),
        printer_columns=(
            {
                "name": SYNCED,
                "type": "string",
                "jsonPath": f'.status.conditions[?(@.type=="{SYNCED}")].status',
            },
            {"name": "Namespaces", "type": "integer", "jsonPath": ".status.namespaceCount"},
            _AGE,
        ),
    ),
)


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The spec/status schema of a model as Kubernetes accepts it."""
    raw = model.model_json_schema(by_alias=True)
    definitions = raw.pop("$defs", {})
    return _to_structural(raw, definitions)


def _to_structural(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _to_structural(merged, definitions)
    variants = node.get("anyOf")
    if variants is not None:
        # Optional[X] arrives as anyOf[X, null]; an absent field already means "none" in Kubernetes.
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            raise ValueError(f"unsupported union in CRD schema: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _to_structural({**concrete[0], **rest}, definitions)

    result: JsonSchema = {}
    for key, value in node.items():
        if key in {"title", "$defs"}:
            continue
        if key == "default" and (value is None or isinstance(value, (dict, list))):
            # Object and list defaults stay in the model: server-side defaulting of them would
            # surprise users reading back what they applied.
            continue
        if key == "properties":
            result[key] = {name: _to_structural(prop, definitions) for name, prop in value.items()}
        elif key in {"items", "additionalProperties"} and isinstance(value, dict):
            result[key] = _to_structural(value, definitions)
        else:
            result[key] = value
    if "properties" in result and "type" not in result:
        result["type"] = "object"
    return result


def custom_resource_definition(definition: ResourceDefinition) -> dict[str, Any]:
    resource = definition.resource
    model_schema = structural_schema(definition.model)
    properties = model_schema["properties"]
    schema: JsonSchema = {
        "type": "object",
        "description": model_schema.get("description", ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": properties["spec"],
            "status": properties["status"],
        },
    }
    if "x-kubernetes-validations" in model_schema:
        # Rules on the whole object, e.g. on metadata.name.
        schema["x-kubernetes-validations"] = model_schema["x-kubernetes-validations"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{resource.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "certmint", "app.kubernetes.io/part-of": "certmint"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "shortNames": list(definition.short_names),
                "categories": ["certmint"],
            },
            # The versions share one schema: the API server converts by rewriting apiVersion.
            "conversion": {"strategy": "None"},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(definition.printer_columns),
                },
                *(
                    {
                        "name": deprecated,
                        "served": True,
                        "storage": False,
                        "deprecated": True,
                        "deprecationWarning": f"{GROUP}/{deprecated} {resource.kind} is deprecated; "
                        f"use {GROUP}/{VERSION}",
                        "schema": {"openAPIV3Schema": schema},
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": list(definition.printer_columns),
                    }
                    for deprecated in DEPRECATED_VERSIONS
                ),
            ],
        },
    }


PEERING_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": "clusterkopfpeerings.kopf.dev",
        "labels": {"app.kubernetes.io/name": "certmint", "app.kubernetes.io/part-of": "certmint"},
    },
    "spec": {
        "group": "kopf.dev",
        "scope": "Cluster",
        "names": {
            "kind": "ClusterKopfPeering",
            "plural": "clusterkopfpeerings",
            "singular": "clusterkopfpeering",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}
"""kopf's peering resource: with replicas > 1, the operators announce themselves in one object of it
and only the one with the highest priority works (see certmint.operator.peering)."""


def render_crds() -> dict[str, str]:
    """File name → YAML text of every CRD, exactly as committed in crds/."""
    header = "# Generated from certmint.api models by `make crds`. Do not edit.\n"

    def dump(crd: dict[str, Any]) -> str:
        # Through JSON first: the versions share one schema object, which YAML would write as anchors.
        plain = json.loads(json.dumps(crd))
        return header + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)

    rendered = {
        f"{GROUP}_{definition.resource.plural}.yaml": dump(custom_resource_definition(definition))
        for definition in RESOURCES
    }
    rendered["kopf.dev_clusterkopfpeerings.yaml"] = dump(PEERING_CRD)
    return rendered


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for target in sys.argv[1:] or ["crds"]:
        for path in write_crds(Path(target)):
            print(path)
