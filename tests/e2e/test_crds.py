"""The generated CRDs on a real API server: accepted, documented, and enforcing their rules."""

from typing import Any

import pytest
import yaml

from certmint.api.kinds import API_VERSION, CERTIFICATES
from tests.e2e.support import Cluster


def certificate(namespace: str, **spec: Any) -> dict[str, Any]:
    """A raw dict, not tests.e2e.manifests: these tests send what the models refuse or drop, for the
    CRD schema to refuse or prune."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "secretName": "web-tls",
            "issuerRef": {"name": "ca"},
            "dnsNames": ["web.example.com"],
            **spec,
        },
    }


def test_kubectl_lists_and_explains_certificates(cluster: Cluster, namespace: str) -> None:
    cluster.apply(certificate(namespace))
    listing = cluster.plane.kubectl("get", "certificates.certmint.dev", "-n", namespace)
    assert listing.split()[:6] == ["NAME", "READY", "SECRET", "ISSUER", "EXPIRES", "AGE"]
    assert "web-tls" in listing
    assert "web" in cluster.plane.kubectl("get", "mcert", "-n", namespace)
    explained = cluster.plane.kubectl("explain", "certificates.certmint.dev.spec.privateKey.rotationPolicy")
    assert "Always: a new key on every issuance" in explained
    categories = cluster.plane.kubectl("get", "certmint", "-A")
    assert "certificate.certmint.dev/web" in categories


def test_defaults_are_applied_by_the_api_server(cluster: Cluster, namespace: str) -> None:
    cluster.apply(certificate(namespace, privateKey={}))
    stored = cluster.get(CERTIFICATES.plural, namespace, "web")
    assert stored is not None
    assert stored["spec"]["duration"] == "24h"
    assert stored["spec"]["privateKey"] == {
        "algorithm": "ECDSA",
        "rotationPolicy": "Always",
        "encoding": "PKCS1",
    }
    assert stored["spec"]["issuerRef"]["kind"] == "Issuer"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"privateKey": {"algorithm": "DSA"}}, 'Unsupported value: "DSA"'),
        ({"duration": "-1h"}, "spec.duration: Invalid value"),
        ({"duration": "30s"}, "duration must be at least 1m"),
        ({"duration": "1h", "renewBefore": "1h"}, "renewBefore must be shorter than duration"),
        ({"duration": "1h", "renewBefore": "2h"}, "renewBefore must be shorter than duration"),
        ({"renewBefore": "1h", "renewBeforePercentage": 30}, "mutually exclusive"),
        ({"renewBeforePercentage": 100}, "should be less than or equal to 99"),
        ({"privateKey": {"algorithm": "ECDSA", "size": 521}}, "ECDSA size must be 256 or 384"),
        ({"privateKey": {"algorithm": "RSA", "size": 1024}}, "RSA size must be 2048, 3072 or 4096"),
        ({"privateKey": {"algorithm": "Ed25519", "size": 256}}, "Ed25519 keys have no size"),
        ({"usages": ["server auth", "root access"]}, 'Unsupported value: "root access"'),
        ({"secretName": "Not_A_Name"}, "spec.secretName: Invalid value"),
        ({"issuerRef": {"name": "ca", "kind": "Other"}}, 'Unsupported value: "Other"'),
        ({"dnsNames": []}, "at least one of commonName, dnsNames"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_certificates_are_rejected(
    cluster: Cluster, namespace: str, spec: dict[str, Any], message: str
) -> None:
    error = cluster.apply_rejected(certificate(namespace, **spec))
    assert message in error


def test_issuer_needs_exactly_one_type(cluster: Cluster, namespace: str) -> None:
    issuer: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Issuer",
        "metadata": {"name": "both", "namespace": namespace},
        "spec": {"selfSigned": {}, "ca": {"secretName": "ca"}},
    }
    assert "exactly one issuer type must be set" in cluster.apply_rejected(issuer)
    issuer["spec"] = {}
    assert "exactly one issuer type must be set" in cluster.apply_rejected(issuer)


def test_issuer_ref_has_no_namespace(cluster: Cluster, namespace: str) -> None:
    """A Certificate cannot point at another namespace's Issuer: the field does not exist."""
    manifest = certificate(namespace, issuerRef={"name": "ca", "namespace": "other"})
    output = cluster.plane.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "-f",
        "-",
        input_text=yaml.safe_dump(manifest),
        check=False,
    )
    assert ".spec.issuerRef.namespace: field not declared in schema" in output
