"""Issue 9: hostile input against the real API server and the running operator. Whatever the schema
admits ends in a Ready condition with a reason; the operator never logs an unhandled error."""

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes.client import V1Secret
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import API_VERSION, CERTIFICATES, GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from tests.e2e.manifests import ca_issuer, certificate, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for
from tests.unit.hostile import certificate_bodies

UNHANDLED = "Traceback"
_names = itertools.count()


def settled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The Ready condition once it describes the object's current generation."""
    found = cluster.get(CERTIFICATES.plural, namespace, name) or {}
    for condition in (found.get("status") or {}).get("conditions", []):
        if (
            condition["type"] == "Ready"
            and condition.get("observedGeneration") == found["metadata"]["generation"]
        ):
            result: dict[str, Any] = condition
            return result
    return None


def unhandled_since(operator: OperatorProcess, offset: int) -> str:
    tail = operator.log()[offset:]
    return tail if UNHANDLED in tail else ""


@pytest.mark.timeout(600)
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=certificate_bodies())
def test_generated_certificates_end_in_a_condition(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, body: dict[str, Any]
) -> None:
    offset = len(operator_process.log())
    if cluster.get(ISSUERS.plural, namespace, "ca") is None:
        cluster.apply(self_signed_issuer(namespace))
    name = f"fuzz-{next(_names)}"
    # A raw dict: the fuzzed spec is meant to reach the schema as drawn, refused or not.
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace, "annotations": body["metadata"]["annotations"]},
        "spec": {**copy.deepcopy(body["spec"]), "secretName": f"{name}-tls"},
    }
    try:
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, CERTIFICATES.plural, manifest
        )
    except ApiException as error:
        refused: ApiException | None = error
    else:
        refused = None
    if refused is not None:
        assert refused.status == 422, refused.body  # the schema refused it: nothing reaches the operator
        return
    condition = wait_for(lambda: settled(cluster, namespace, name), 30, what=f"a Ready condition on {name}")
    assert condition["reason"], condition
    if condition["status"] == "False":
        assert condition["message"], condition
        assert cluster.secret_data(namespace, f"{name}-tls") is None or condition["reason"] == "Revoked"
    assert not unhandled_since(operator_process, offset)
    assert operator_process.alive()


def test_hand_made_hostility_ends_in_reasons(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    offset = len(operator_process.log())
    # A CA Secret of garbage, and one holding a leaf where the CA should be.
    cluster.core.create_namespaced_secret(
        namespace,
        V1Secret.model_validate(
            {
                "metadata": {"name": "junk"},
                "stringData": {"tls.crt": "-----BEGIN CERTIFICATE-----\nxx\n", "tls.key": "?"},
            }
        ),
    )
    junk = ca_issuer(namespace, "junk", name="junk")
    cluster.apply(junk)
    condition = cluster.wait_condition(ISSUERS.plural, namespace, "junk", "False", "CASecretInvalid")
    assert "junk" in condition["message"]

    # A selfSigned CA whose name cannot be encoded (64 characters, 128 bytes) and an impossible key.
    cluster.apply(self_signed_issuer(namespace, name="wide", commonName="ü" * 64))
    cluster.wait_condition(ISSUERS.plural, namespace, "wide", "False", "InvalidRequest")
    cluster.apply(self_signed_issuer(namespace, name="odd", privateKey={"algorithm": "ECDSA", "size": 521}))
    assert (
        "521"
        in cluster.wait_condition(ISSUERS.plural, namespace, "odd", "False", "InvalidRequest")["message"]
    )

    # 256 DNS names (the schema's maximum), unicode, and an inline bundle source of garbage.
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(
        certificate(namespace, "many", dnsNames=[f"n{index}.{namespace}.svc" for index in range(256)])
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "many", "True")
    cluster.apply(certificate(namespace, "unicode", dnsNames=["bücher.example"], commonName="ü" * 30))
    assert (
        "bücher"
        in cluster.wait_condition(CERTIFICATES.plural, namespace, "unicode", "False", "InvalidRequest")[
            "message"
        ]
    )
    # Characters beyond the BMP in names and annotations (control characters are refused); a label
    # the API server refuses on the Secret.
    emoji = certificate(namespace, "emoji", commonName="🔐 vault")
    emoji["metadata"]["annotations"] = {"certmint.dev/renew": "🔁"}
    cluster.apply(emoji)
    cluster.wait_condition(CERTIFICATES.plural, namespace, "emoji", "True")
    assert (metadata_of(cluster.core.read_namespaced_secret("emoji-tls", namespace)).annotations or {})[
        "certmint.dev/renew"
    ] == "🔁"
    cluster.apply(certificate(namespace, "bell", commonName="vault\x07"))
    bell = cluster.wait_condition(CERTIFICATES.plural, namespace, "bell", "False", "InvalidSpec")
    assert "U+0007" in bell["message"]
    cluster.apply(
        certificate(namespace, "badlabel", secretTemplate={"labels": {"tier": "not a label value!"}})
    )
    refused = cluster.wait_condition(CERTIFICATES.plural, namespace, "badlabel", "False", "SecretRejected")
    assert "not a label value" in refused["message"]
    bundle = f"junk-{namespace}"
    cluster.apply(
        trust_bundle(bundle, [{"inlinePEM": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}])
    )
    cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "False", "InvalidSource")
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, bundle)

    # Zero-length durations never reach the operator: the API server refuses them.
    assert "at least 1m" in cluster.apply_rejected(certificate(namespace, "zero", duration="0s"))

    # A status written by someone else is put right, not believed.
    cluster.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        CERTIFICATES.plural,
        "many",
        {"status": {"serialNumber": "forged", "notAfter": "1999-01-01T00:00:00Z", "conditions": []}},
    )
    cluster.apply(
        certificate(namespace, "many", dnsNames=[f"m{index}.{namespace}.svc" for index in range(256)])
    )
    wait_for(
        lambda: (
            (cluster.get(CERTIFICATES.plural, namespace, "many") or {})["status"].get("serialNumber")
            != "forged"
        ),
        30,
        what="the forged status to be replaced",
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "many", "True")
    assert not unhandled_since(operator_process, offset)
    assert operator_process.alive()
