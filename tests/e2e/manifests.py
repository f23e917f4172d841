"""Manifests of certmint objects for the unit and end-to-end tests and the bench, made from the api
models: each is read by its model and dumped as the API server takes it, with its kind's apiVersion
and kind. Only what a test sets is sent (the model's defaults stay the API server's and the
operator's to apply), and a field the model would drop or change fails here, not silently.

Hostile tests that must send what the models refuse build raw dicts, and say so."""

from typing import Any

from certmint.api import Certificate, ClusterIssuer, Issuer, NamespacedTrustBundle, TrustBundle
from certmint.api.common import ApiModel
from certmint.api.kinds import (
    API_VERSION,
    CERTIFICATES,
    CLUSTER_ISSUERS,
    ISSUERS,
    NAMESPACED_TRUST_BUNDLES,
    TRUST_BUNDLES,
    Resource,
)


def manifest(model: type[ApiModel], resource: Resource, body: dict[str, Any]) -> dict[str, Any]:
    """`body` (metadata, spec) as `model` reads it, as an object of `resource`."""
    read = model.model_validate(body)
    dumped = read.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    if dumped != body:
        raise ValueError(f"the {resource.kind} model reads {body} as {dumped}: build a raw dict instead")
    return {"apiVersion": API_VERSION, "kind": resource.kind, **dumped}


def _metadata(name: str, namespace: str | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name, **({"namespace": namespace} if namespace else {}), **(meta or {})}


def issuer(
    namespace: str, name: str = "ca", meta: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """`meta`: more metadata (uid, generation, resourceVersion, labels...)."""
    return manifest(Issuer, ISSUERS, {"metadata": _metadata(name, namespace, meta), "spec": spec})


def cluster_issuer(name: str, meta: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return manifest(ClusterIssuer, CLUSTER_ISSUERS, {"metadata": _metadata(name, None, meta), "spec": spec})


def self_signed_issuer(namespace: str, name: str = "ca", **self_signed: Any) -> dict[str, Any]:
    return issuer(namespace, name, selfSigned=self_signed)


def ca_issuer(namespace: str, secret_name: str, name: str = "ca") -> dict[str, Any]:
    return issuer(namespace, name, ca={"secretName": secret_name})


def certificate(
    namespace: str,
    name: str = "web",
    issuer: str | None = "ca",
    meta: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Certificate of `issuer` (an Issuer unless `issuerRef` says otherwise) for one DNS name;
    `issuer` None: without issuerRef, it follows its namespace's default issuer."""
    return manifest(
        Certificate,
        CERTIFICATES,
        {
            "metadata": _metadata(name, namespace, meta),
            "spec": {
                "secretName": f"{name}-tls",
                **({"issuerRef": {"name": issuer}} if issuer is not None else {}),
                "dnsNames": [f"{name}.{namespace}.svc"],
                **spec,
            },
        },
    )


def trust_bundle(
    name: str, sources: list[dict[str, Any]], meta: dict[str, Any] | None = None, **target: Any
) -> dict[str, Any]:
    return manifest(
        TrustBundle,
        TRUST_BUNDLES,
        {"metadata": _metadata(name, None, meta), "spec": {"sources": sources, "target": target}},
    )


def namespaced_trust_bundle(
    namespace: str,
    name: str,
    sources: list[dict[str, Any]],
    meta: dict[str, Any] | None = None,
    **target: Any,
) -> dict[str, Any]:
    return manifest(
        NamespacedTrustBundle,
        NAMESPACED_TRUST_BUNDLES,
        {"metadata": _metadata(name, namespace, meta), "spec": {"sources": sources, "target": target}},
    )


def issuer_bundle(name: str, namespace: str, match_labels: dict[str, str], **target: Any) -> dict[str, Any]:
    """A TrustBundle of the Issuer `ca` in `namespace`, published into the namespaces carrying
    `match_labels`."""
    return trust_bundle(
        name,
        [{"issuer": {"name": "ca", "namespace": namespace}}],
        namespaceSelector={"matchLabels": match_labels},
        **target,
    )


def client_certificate(namespace: str, name: str = "client", **spec: Any) -> dict[str, Any]:
    """A client identity for mTLS: CN and SPIFFE ID, client auth only, no DNS names."""
    return certificate(
        namespace,
        name,
        dnsNames=[],
        commonName=name,
        identity={"serviceAccount": name},
        usages=["digital signature", "client auth"],
        **spec,
    )
