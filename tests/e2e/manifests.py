"""Manifests of certmint objects for the end-to-end tests."""

from typing import Any

API_VERSION = "certmint.dev/v1alpha1"


def self_signed_issuer(namespace: str, name: str = "ca", **self_signed: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selfSigned": self_signed},
    }


def ca_issuer(namespace: str, secret_name: str, name: str = "ca") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ca": {"secretName": secret_name}},
    }


def certificate(namespace: str, name: str = "web", issuer: str = "ca", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "secretName": f"{name}-tls",
            "issuerRef": {"name": issuer},
            "dnsNames": [f"{name}.{namespace}.svc"],
            **spec,
        },
    }


def trust_bundle(name: str, sources: list[dict[str, Any]], **target: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrustBundle",
        "metadata": {"name": name},
        "spec": {"sources": sources, "target": target},
    }


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
