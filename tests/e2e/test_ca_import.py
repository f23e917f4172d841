"""Issue 28, "keep the CA, gain rotation", against the real API server and the running operator: a
root CA made the way cert-manager makes it, imported by a selfSigned Issuer (spec.selfSigned.importFrom);
the leaves it signed before the import verify against the TrustBundle after the import and after the
first automatic rotation; new leaves are signed by it until then. Hostile: a real non-admin tenant
allowed only to manage Issuers in its namespace points importFrom at Secrets that do not invite its
Issuer, at another namespace, at a leaf, an intermediate, a mismatched key, an oversized Secret:
each refused with its reason, nothing written, and the CA key never in a status, event or log; nor
can it name such a Secret as its Issuer's own CA Secret (secretName) to sign with it."""

import base64
import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, IMPORTED, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.pki import Purpose, load_certificates_pem, verify_certificate
from certmint.planning import labels, reasons
from tests.e2e.canary import certmint_rules, tenant_client
from tests.e2e.cert_manager import (
    Issued,
    ca_secret,
    ca_secret_data,
    intermediate_ca,
    leaf,
    root_ca,
)
from tests.e2e.manifests import certificate, cluster_issuer, issuer_bundle, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, json_object, metadata_of, wait_for

OPERATOR_NAMESPACE = "certmint"


def allow(issuer: str) -> dict[str, str]:
    return {labels.ALLOW_IMPORT_BY: f"Issuer/{issuer}"}


def rotation_phase(cluster: Cluster, namespace: str) -> object:
    status = (cluster.get(ISSUERS.plural, namespace, "ca") or {}).get("status") or {}
    return (status.get("rotation") or {}).get("phase")


def bundle(cluster: Cluster, namespace: str, name: str) -> list[x509.Certificate]:
    data = cluster.core.read_namespaced_config_map(name, namespace).data or {}
    return load_certificates_pem(data["ca.crt"].encode())


def leaf_of(cluster: Cluster, namespace: str, secret: str) -> x509.Certificate:
    return load_certificates_pem((cluster.secret_data(namespace, secret) or {})["tls.crt"])[0]


def verifies(
    leaf_certificate: x509.Certificate, trusted: list[x509.Certificate], server_name: str = ""
) -> None:
    """As a TLS peer verifies it: a server with its name, a client without."""
    purpose = Purpose.SERVER if server_name else Purpose.CLIENT
    verify_certificate(leaf_certificate, [], trusted, datetime.now(UTC), purpose, server_name or None)


def key_fragments(foreign: Issued) -> list[str]:
    """40 characters of the key's base64 body as cert-manager wrote it and as certmint re-encodes
    it (PKCS#8): never found anywhere by chance."""
    pkcs8 = foreign.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [pem.decode().splitlines()[3][:40] for pem in (foreign.key_pem, pkcs8)]


def secrets_holding(cluster: Cluster, namespace: str, foreign: Issued) -> set[str]:
    """Names of the namespace's Secrets with a private key block that is the CA's key."""
    wanted = foreign.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    holding = set()
    for secret in cluster.core.list_namespaced_secret(namespace).items:
        for value in (secret.data or {}).values():
            text = base64.b64decode(value)
            if b"PRIVATE KEY" not in text:
                continue
            key = serialization.load_pem_private_key(text, password=None)
            found = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if found == wanted:
                holding.add(str(metadata_of(secret).name))
    return holding


def published_text(cluster: Cluster, namespace: str, operator: OperatorProcess) -> str:
    """Every Issuer status and event of the namespace, and the operator's log."""
    issuers = json_object(
        cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, ISSUERS.plural)
    )
    events = cluster.core.list_namespaced_event(namespace).items
    return "\n".join(
        [
            str([item.get("status") for item in issuers["items"]]),
            *(str(event.message) for event in events),
            operator.log(),
        ]
    )


@pytest.mark.timeout(600)
def test_an_imported_ca_keeps_its_leaves_trusted_through_the_import_and_its_first_rotation(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    # The CA lives 10 min, made 3 min ago; with 50% left it rotates at its 5th minute, 2 min from now
    # (its own notBefore and notAfter, not the Issuer's caDuration, which makes the next CA).
    foreign = root_ca(lifetime=timedelta(minutes=10), age=timedelta(minutes=3))
    old_server = leaf(
        foreign,
        common_name=f"old.{namespace}.svc",
        dns_names=(f"old.{namespace}.svc",),
        lifetime=timedelta(minutes=6),
    ).certificate
    old_client = leaf(
        foreign, common_name="old-client", dns_names=("old-client",), lifetime=timedelta(minutes=6)
    ).certificate
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(ca_secret(namespace, "root-ca", ca_secret_data(foreign), allow("ca"))),
    )
    team = f"imp-{uuid.uuid4().hex[:6]}"
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"import-test": team}}})
    rotation = {"rotateBeforePercentage": 50, "propagationDelay": "15s", "reissueWindow": "20s"}
    cluster.apply(
        self_signed_issuer(namespace, importFrom={"name": "root-ca"}, caDuration="1h", rotation=rotation)
    )
    cluster.apply(issuer_bundle(team, namespace, {"import-test": team}))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)

    # The issuer's CA Secret holds the imported CA, which signs; the status says where it came from.
    ca_data = cluster.secret_data(namespace, "ca-ca") or {}
    assert load_certificates_pem(ca_data["tls.crt"]) == [foreign.certificate]
    imported = cluster.condition(ISSUERS.plural, namespace, "ca", IMPORTED)
    assert imported is not None
    assert imported["reason"] == reasons.CA_IMPORTED
    assert f"delete Secret {namespace}/root-ca" in imported["message"]
    events = [(e.reason, e.message) for e in cluster.events(namespace, "ca")]
    assert (reasons.CA_IMPORTED, f"imported CA CN=corp root from Secret {namespace}/root-ca") in events

    # After the import: the old leaves verify against the published bundle, and a new leaf is
    # signed by the imported CA.
    cluster.wait_condition(TRUST_BUNDLES.plural, None, team, "True", timeout=60)
    assert wait_for(lambda: foreign.certificate in bundle(cluster, namespace, team), 60, what="CA published")
    verifies(old_server, bundle(cluster, namespace, team), f"old.{namespace}.svc")
    verifies(old_client, bundle(cluster, namespace, team))
    # Within the imported CA's remaining life (certmint signs nothing that outlives its CA).
    cluster.apply(certificate(namespace, "new", duration="3m"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "new", "True", timeout=60)
    new_leaf = leaf_of(cluster, namespace, "new-tls")
    assert rotation_phase(cluster, namespace) != "Overlap", "the imported CA still signs"
    new_leaf.verify_directly_issued_by(foreign.certificate)

    # The first automatic rotation: a next CA from the spec, signing once the bundle carries it.
    wait_for(lambda: rotation_phase(cluster, namespace) == "Overlap", 300, 1, what="rotation activated")
    next_ca = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["tls.crt"])[0]
    assert next_ca != foreign.certificate
    assert next_ca.subject.rfc4514_string() == "CN=certmint ca"

    def published_with_next() -> list[x509.Certificate] | None:
        found = bundle(cluster, namespace, team)
        return found if next_ca in found else None

    trusted = wait_for(published_with_next, 60, what="next CA published")
    assert foreign.certificate in trusted, "the imported CA stays trusted through the overlap"
    verifies(old_server, trusted, f"old.{namespace}.svc")
    verifies(old_client, trusted)
    # The Certificate certmint issued is re-issued by the next CA, and verifies against the same bundle.
    wait_for(lambda: leaf_of(cluster, namespace, "new-tls").issuer == next_ca.subject, 120, what="re-issued")
    verifies(leaf_of(cluster, namespace, "new-tls"), trusted, f"new.{namespace}.svc")
    assert cluster.condition(ISSUERS.plural, namespace, "ca", IMPORTED) is None
    status = (cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"]
    retires_at = datetime.fromisoformat(status["rotation"]["retiresAt"])
    assert retires_at == foreign.certificate.not_valid_after_utc, "trusted until its own end"
    reasons_seen = [e.reason for e in cluster.events(namespace, "ca")]
    assert reasons_seen[:3] == [
        reasons.CA_IMPORTED,
        reasons.CA_ROTATION_PREPARED,
        reasons.CA_ROTATION_ACTIVATED,
    ]

    # The key is in the issuer's CA Secret and the source the user is told to delete, nowhere else.
    assert not [
        f for f in key_fragments(foreign) if f in published_text(cluster, namespace, operator_process)
    ]
    assert secrets_holding(cluster, namespace, foreign) == {"root-ca", "ca-ca"}
    cluster.core.delete_namespaced_secret("root-ca", namespace)
    assert secrets_holding(cluster, namespace, foreign) == {"ca-ca"}
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")


def warned_with(cluster: Cluster, namespace: str, name: str, reason: str) -> bool:
    return reason in [e.reason for e in cluster.events(namespace, name) if e.type == "Warning"]


def _tenant_secret(cluster: Cluster, namespace: str, name: str, data: dict[str, bytes], issuer: str) -> str:
    """Written by someone other than the tenant (the namespace's admin); returns its resourceVersion."""
    created = cluster.core.create_namespaced_secret(
        namespace, client.V1Secret.model_validate(ca_secret(namespace, name, data, allow(issuer)))
    )
    version = metadata_of(created).resource_version
    assert version is not None
    return version


def test_a_tenant_cannot_import_a_ca_that_does_not_invite_its_issuer_or_is_no_root(
    cluster: Cluster, namespace: str, other_namespace: str, operator_process: OperatorProcess
) -> None:
    tenant = client.CustomObjectsApi(tenant_client(cluster, namespace, certmint_rules(ISSUERS.plural)))
    foreign = root_ca()
    other = root_ca("other root", algorithm="EC")
    not_ca = root_ca("a leaf", ca=False)
    oversized = {**ca_secret_data(foreign), "tls.crt": foreign.certificate_pem + b"\n" * 600_000}
    # (issuer name, Secret name, its data, the issuer its annotation invites, the reason expected)
    cases: list[tuple[str, str, dict[str, bytes], str, str]] = [
        ("uninvited", "src-plain", ca_secret_data(foreign), "", reasons.CA_IMPORT_NOT_ALLOWED),
        ("not-named", "src-named", ca_secret_data(foreign), "someone-else", reasons.CA_IMPORT_NOT_ALLOWED),
        ("leaf", "src-leaf", ca_secret_data(not_ca), "leaf", reasons.NOT_A_CA),
        ("inter", "src-inter", ca_secret_data(intermediate_ca(foreign)), "inter", reasons.CA_NOT_SELF_SIGNED),
        (
            "mismatch",
            "src-mismatch",
            {**ca_secret_data(foreign), "tls.key": other.key_pem},
            "mismatch",
            reasons.CA_KEY_MISMATCH,
        ),
        ("big", "src-big", oversized, "big", reasons.CA_IMPORT_INVALID),
    ]
    versions: dict[str, str] = {}
    for _, secret_name, data, invited, _ in cases:
        if invited:
            versions[secret_name] = _tenant_secret(cluster, namespace, secret_name, data, invited)
        else:
            created = cluster.core.create_namespaced_secret(
                namespace, client.V1Secret.model_validate(ca_secret(namespace, secret_name, data))
            )
            versions[secret_name] = str(metadata_of(created).resource_version)
    # A Secret of another namespace, even inviting the tenant's Issuer by name.
    versions["elsewhere"] = _tenant_secret(
        cluster, other_namespace, "elsewhere", ca_secret_data(foreign), "away"
    )
    cases.append(("away", "elsewhere", {}, "away", reasons.CA_IMPORT_NOT_ALLOWED))
    # Without importFrom: the admin's CA Secret named as the issuer's own CA Secret.
    cases.append(("borrow", "src-plain", {}, "", reasons.CA_SECRET_NOT_OWNED))

    for issuer_name, secret_name, _, _, _ in cases:
        source: dict[str, Any] = {"name": secret_name}
        if issuer_name == "away":
            source["namespace"] = other_namespace
        spec = {"secretName": secret_name} if issuer_name == "borrow" else {"importFrom": source}
        tenant.create_namespaced_custom_object(
            GROUP, VERSION, namespace, ISSUERS.plural, self_signed_issuer(namespace, issuer_name, **spec)
        )
    for issuer_name, secret_name, _, _, reason in cases:
        refused = cluster.wait_condition(ISSUERS.plural, namespace, issuer_name, "False", timeout=120)
        assert refused["reason"] == reason, refused
        assert secret_name in refused["message"] or issuer_name == "away", refused
        warned = functools.partial(warned_with, cluster, namespace, issuer_name, reason)
        wait_for(warned, 30, what=f"Warning event {reason} on Issuer {issuer_name}")
    away = cluster.condition(ISSUERS.plural, namespace, "away")
    assert away is not None
    assert f"names namespace {other_namespace}" in away["message"]

    # Nothing was generated in place of a refused import, and no source was written.
    names = {metadata_of(s).name for s in cluster.core.list_namespaced_secret(namespace).items}
    assert not {f"{issuer_name}-ca" for issuer_name, *_ in cases} & names
    for secret_name, version in versions.items():
        where = other_namespace if secret_name == "elsewhere" else namespace
        secret = cluster.core.read_namespaced_secret(secret_name, where)
        assert metadata_of(secret).resource_version == version, secret_name
    published = published_text(cluster, namespace, operator_process)
    assert not [f for ca in (foreign, other) for f in key_fragments(ca) if f in published]


def test_a_cluster_issuer_imports_from_the_namespace_it_names_into_the_operators(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    # cert-manager keeps a ClusterIssuer's CA in its own namespace; certmint's ClusterIssuer copies
    # it into its CA Secret in the operator's namespace. An Issuer's invitation does not do.
    name = f"corp-{uuid.uuid4().hex[:6]}"
    foreign = root_ca("corp cluster root", algorithm="EC")
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            ca_secret(
                namespace, "root-ca", ca_secret_data(foreign), {labels.ALLOW_IMPORT_BY: f"Issuer/{name}"}
            )
        ),
    )
    cluster.apply(
        cluster_issuer(name, selfSigned={"importFrom": {"name": "root-ca", "namespace": namespace}})
    )
    try:
        refused = cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "False", timeout=60)
        assert refused["reason"] == reasons.CA_IMPORT_NOT_ALLOWED, refused
        assert f"ClusterIssuer/{name}" in refused["message"]
        cluster.core.patch_namespaced_secret(
            "root-ca",
            namespace,
            {"metadata": {"annotations": {labels.ALLOW_IMPORT_BY: f"ClusterIssuer/{name}"}}},
        )
        # Read again with the issuer's backoff: no watch on the source brings the annotation.
        cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "True", timeout=120)
        ca_data = cluster.secret_data(OPERATOR_NAMESPACE, f"{name}-ca") or {}
        assert load_certificates_pem(ca_data["tls.crt"]) == [foreign.certificate]
        imported = cluster.condition(CLUSTER_ISSUERS.plural, None, name, IMPORTED)
        assert imported is not None
        assert f"{namespace}/root-ca" in imported["message"]
        cluster.apply(
            certificate(
                namespace, "web", issuerRef={"kind": CLUSTER_ISSUERS.kind, "name": name}, duration="1h"
            )
        )
        cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=60)
        leaf_of(cluster, namespace, "web-tls").verify_directly_issued_by(foreign.certificate)
    finally:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)
        cluster.core.delete_namespaced_secret(f"{name}-ca", OPERATOR_NAMESPACE)
