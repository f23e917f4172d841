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
    NAMESPACED_TRUST_BUNDLES,
    READY,
    SYNCED,
    TRUST_BUNDLES,
    VERSION,
    Resource,
)
from certmint.api.namespacedtrustbundle import NamespacedTrustBundle
from certmint.api.trustbundle import TrustBundle

JsonSchema = dict[str, Any]

_READY = {"name": READY, "type": "string", "jsonPath": f'.status.conditions[?(@.type=="{READY}")].status'}
_REASON = {
    "name": "Reason",
    "type": "string",
    "priority": 1,
    "jsonPath": f'.status.conditions[?(@.type=="{READY}")].reason',
}
_SYNCED = {"name": SYNCED, "type": "string", "jsonPath": f'.status.conditions[?(@.type=="{SYNCED}")].status'}
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
            _SYNCED,
            {"name": "Namespaces", "type": "integer", "jsonPath": ".status.namespaceCount"},
            _AGE,
        ),
    ),
    ResourceDefinition(
        model=NamespacedTrustBundle,
        resource=NAMESPACED_TRUST_BUNDLES,
        short_names=("mnsbundle",),
        printer_columns=(
            _SYNCED,
            {
                "name": "Reason",
                "type": "string",
                "jsonPath": f'.status.conditions[?(@.type=="{SYNCED}")].reason',
            },
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


HEADER = "# Generated from certmint.api models by `make crds`. Do not edit.\n"
PEERING_CRD_FILE = "kopf.dev_clusterkopfpeerings.yaml"


def _yaml(document: dict[str, Any]) -> str:
    # Through JSON first: the versions share one schema object, which YAML would write as anchors.
    plain = json.loads(json.dumps(document))
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)


def render_crds() -> dict[str, str]:
    """File name → YAML text of every CRD, exactly as committed in crds/ (for kubectl users)."""
    rendered = {
        f"{GROUP}_{definition.resource.plural}.yaml": HEADER + _yaml(custom_resource_definition(definition))
        for definition in RESOURCES
    }
    rendered[PEERING_CRD_FILE] = HEADER + _yaml(PEERING_CRD)
    return rendered


_CHART_METADATA = """\
metadata:
  name: {name}
  labels:
    {{{{- include "certmint.labels" . | nindent 4 }}}}
  {{{{- if .Values.crds.keep }}}}
  annotations:
    # Deleting a CRD deletes every object of it: helm uninstall and rollback leave it.
    helm.sh/resource-policy: keep
  {{{{- end }}}}
"""


def render_chart_crd_templates() -> dict[str, str]:
    """File name → Helm template of each certmint CRD, as committed in the chart's templates/crds/:
    the CRD of crds/ with the chart's labels, installed and upgraded by Helm unless crds.enabled is
    false, annotated to be kept (crds.keep)."""
    rendered = {}
    for definition in RESOURCES:
        crd = custom_resource_definition(definition)
        head = _yaml({"apiVersion": crd["apiVersion"], "kind": crd["kind"]})
        metadata = _CHART_METADATA.format(name=crd["metadata"]["name"])
        rendered[f"{GROUP}_{definition.resource.plural}.yaml"] = (
            HEADER
            + "{{- if .Values.crds.enabled }}\n"
            + head
            + metadata
            + _yaml({"spec": crd["spec"]})
            + "{{- end }}\n"
        )
    return rendered


def render_chart_crds() -> dict[str, str]:
    """File name → YAML of the CRDs in the chart's crds/, which Helm installs once, before it renders
    any template, and never upgrades or deletes: only kopf's peering CRD, since the chart creates its
    ClusterKopfPeering object and Helm cannot map a template's kind whose CRD is another template of
    the same release. kopf defines that CRD, and it does not change between certmint releases."""
    return {PEERING_CRD_FILE: HEADER + _yaml(PEERING_CRD)}


def write_files(directory: Path, files: dict[str, str]) -> list[Path]:
    """Writes exactly these files into `directory`, removing the YAML files it held that are not among
    them (a CRD that moved or was renamed must not linger)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_all(crds: Path, chart: Path) -> list[Path]:
    """crds/ for kubectl users and the chart's CRDs (templates/crds/ and crds/)."""
    if not (chart / "Chart.yaml").is_file():
        raise SystemExit(
            f"{chart} is not a Helm chart (no Chart.yaml): give the chart's directory, e.g. charts/certmint"
        )
    return [
        *write_files(crds, render_crds()),
        *write_files(chart / "templates" / "crds", render_chart_crd_templates()),
        *write_files(chart / "crds", render_chart_crds()),
    ]


if __name__ == "__main__":
    import sys

    arguments = sys.argv[1:]
    if len(arguments) > 2:
        raise SystemExit("usage: python -m certmint.api.crd [CRDS_DIRECTORY [CHART_DIRECTORY]]")
    defaults = ["crds", "charts/certmint"]
    crds_directory, chart_directory = [*arguments, *defaults[len(arguments) :]]
    for path in write_all(Path(crds_directory), Path(chart_directory)):
        print(path)
