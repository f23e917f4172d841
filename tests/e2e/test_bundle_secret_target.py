"""Issue 28 end to end: a TrustBundle's `secret` target. nginx verifies client certificates against the
Secret's ca.crt (the file a mounted Secret gives a pod); the Secret follows the namespace selector,
is put back when deleted or edited and withdrawn with the target; and a namespace owner cannot make
certmint overwrite, take over or delete a Secret of the bundle's name that is theirs."""

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.pki import load_certificates_pem
from certmint.planning import labels
from tests.e2e.manifests import certificate, client_certificate, issuer_bundle, self_signed_issuer
from tests.e2e.nginx import IdentityBackend, Nginx, body_if_ok, curl
from tests.e2e.support import Cluster, OperatorProcess, grant_role, metadata_of, token_client, wait_for
from tests.e2e.test_revocation import loopback_constraints, unrelated_client, write_client

TIMEOUT = 60


@pytest.fixture
def make_namespace(cluster: Cluster) -> Iterator[Callable[[dict[str, str]], str]]:
    created: list[str] = []

    def make(namespace_labels: dict[str, str]) -> str:
        name = f"s-{uuid.uuid4().hex[:8]}"
        cluster.core.create_namespace(
            client.V1Namespace.model_validate({"metadata": {"name": name, "labels": namespace_labels}})
        )
        created.append(name)
        return name

    yield make
    for name in created:
        cluster.core.delete_namespace(name)


def read_secret(cluster: Cluster, namespace: str, name: str) -> client.V1Secret | None:
    try:
        return cluster.core.read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def secret_holders(cluster: Cluster, name: str, namespaces: list[str]) -> set[str]:
    return {namespace for namespace in namespaces if read_secret(cluster, namespace, name) is not None}


def bundle_pem(secret: client.V1Secret, key: str = "ca.crt") -> bytes:
    return base64.b64decode((secret.data or {})[key])


def synced_generation(cluster: Cluster, name: str) -> tuple[int, dict[str, Any]] | None:
    """(generation observed, Synced condition) once the status reports on the current generation."""
    found = cluster.get(TRUST_BUNDLES.plural, None, name) or {}
    status = found.get("status") or {}
    generation = (found.get("metadata") or {}).get("generation")
    condition = next((c for c in status.get("conditions") or [] if c["type"] == "Synced"), None)
    if condition is None or generation is None or status.get("observedGeneration") != generation:
        return None
    return int(generation), condition


def reported_on(cluster: Cluster, name: str, generation: int) -> dict[str, Any] | None:
    """The Synced condition once the status reports on `generation` or a later one."""
    found = synced_generation(cluster, name)
    return found[1] if found is not None and found[0] >= generation else None


@pytest.mark.timeout(300)
def test_nginx_verifies_clients_against_the_bundle_secret(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    cluster.apply(self_signed_issuer(namespace, nameConstraints=loopback_constraints(namespace)))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    name = f"trust-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        issuer_bundle(name, namespace, {"kubernetes.io/metadata.name": namespace}, secret={"key": "ca.crt"})
    )
    cluster.apply(certificate(namespace, "server", dnsNames=["localhost"], ipAddresses=["127.0.0.1"]))
    cluster.apply(client_certificate(namespace))
    for certificate_name in ("server", "client"):
        cluster.wait_condition(CERTIFICATES.plural, namespace, certificate_name, "True", timeout=TIMEOUT)
    condition = cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", "Synced", timeout=TIMEOUT)
    assert condition["message"].endswith("to 1 namespaces, as a Secret in 1")

    secret = read_secret(cluster, namespace, name)
    assert secret is not None
    assert secret.type == "Opaque"
    assert set(secret.data or {}) == {"ca.crt"}, "the bundle only: never a key"
    assert b"PRIVATE KEY" not in bundle_pem(secret)
    assert (metadata_of(secret).labels or {})[labels.TRUST_BUNDLE_LABEL] == (
        (cluster.get(TRUST_BUNDLES.plural, None, name) or {})["metadata"]["uid"]
    )
    owners = metadata_of(secret).owner_references or []
    assert [(owner.kind, owner.name) for owner in owners] == [("TrustBundle", name)]
    ca_secret = cluster.secret_data(namespace, "ca-ca") or {}
    assert load_certificates_pem(bundle_pem(secret)) == load_certificates_pem(ca_secret["tls.crt"])

    # As the kubelet mounts a Secret: one file per key, named after it.
    (tmp_path / "ca.crt").write_bytes(bundle_pem(secret))
    server_cert, server_key = write_client(cluster, namespace, "server", tmp_path)
    server_cert.rename(tmp_path / "server.crt")
    server_key.rename(tmp_path / "server.key")
    client_cert, client_key = write_client(cluster, namespace, "client", tmp_path)
    ca_file = tmp_path / "ca.crt"
    presented = ("--cert", str(client_cert), "--key", str(client_key))
    with IdentityBackend() as backend, Nginx(tmp_path, backend.port, crl=False) as nginx:
        accepted = wait_for(
            lambda: body_if_ok(curl(nginx.url, ca_file, *presented)), 15, what="nginx to accept the client"
        )
        identity = json.loads(accepted)
        assert identity["verify"] == "SUCCESS"
        assert identity["dn"] == "CN=client"
        assert curl(nginx.url, ca_file)[0] == 400, "no client certificate"
        stranger_cert, stranger_key = unrelated_client(tmp_path)
        assert curl(nginx.url, ca_file, "--cert", str(stranger_cert), "--key", str(stranger_key))[0] == 400


@pytest.mark.timeout(300)
def test_the_bundle_secret_follows_the_selector_is_repaired_and_withdrawn_with_the_target(
    cluster: Cluster,
    namespace: str,
    operator_process: OperatorProcess,
    make_namespace: Callable[[dict[str, str]], str],
) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    first, second = make_namespace({"team": team}), make_namespace({"team": team})
    everywhere = [first, second]
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    name = f"trust-{team}"
    cluster.apply(issuer_bundle(name, namespace, {"team": team}, secret={"key": "bundle.pem"}))
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", "Synced", timeout=TIMEOUT)
    assert secret_holders(cluster, name, everywhere) == {first, second}
    published = bundle_pem(read_secret(cluster, first, name) or client.V1Secret(), "bundle.pem")

    cluster.core.delete_namespaced_secret(name, first)
    wait_for(lambda: read_secret(cluster, first, name), TIMEOUT, what="the deleted Secret put back")
    cluster.core.patch_namespaced_secret(
        name, second, {"data": {"bundle.pem": base64.b64encode(b"tampered").decode()}}
    )
    wait_for(
        lambda: (
            bundle_pem(read_secret(cluster, second, name) or client.V1Secret(), "bundle.pem") == published
        ),
        TIMEOUT,
        what="the edited Secret put right",
    )

    cluster.core.patch_namespace(second, {"metadata": {"labels": {"team": "moved"}}})
    wait_for(
        lambda: secret_holders(cluster, name, everywhere) == {first},
        TIMEOUT,
        what="withdrawn from the namespace",
    )

    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, TRUST_BUNDLES.plural, name, {"spec": {"target": {"secret": None}}}
    )
    wait_for(lambda: not secret_holders(cluster, name, everywhere), TIMEOUT, what="withdrawn with the target")
    assert cluster.core.read_namespaced_config_map(name, first).data, "the ConfigMap target stays"
    synced = wait_for(lambda: reported_on(cluster, name, 2), TIMEOUT, what="the new spec reported on")
    assert synced["status"] == "True"
    assert "Secret" not in synced["message"]


@pytest.mark.timeout(300)
def test_a_namespace_owner_cannot_make_certmint_overwrite_adopt_or_delete_their_secret(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    operator_process: OperatorProcess,
    make_namespace: Callable[[dict[str, str]], str],
) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    tenant_namespace = other_namespace
    cluster.core.patch_namespace(tenant_namespace, {"metadata": {"labels": {"team": team}}})
    ours = make_namespace({"team": team})
    grant_role(
        cluster,
        tenant_namespace,
        "owner",
        [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "verbs": ["create", "get", "list", "watch", "update", "patch", "delete"],
            }
        ],
    )
    tenant = client.CoreV1Api(token_client(cluster, tenant_namespace, "owner"))
    name = f"trust-{team}"
    mine = {"ca.crt": base64.b64encode(b"the tenant's own bundle").decode()}
    tenant.create_namespaced_secret(
        tenant_namespace, client.V1Secret.model_validate({"metadata": {"name": name}, "data": mine})
    )
    with pytest.raises(ApiException) as refused:
        tenant.list_namespaced_secret(ours)
    assert refused.value.status == 403, "a tenant of its own namespace only"

    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.apply(issuer_bundle(name, namespace, {"team": team}, secret={"key": "ca.crt"}))
    conflict = cluster.wait_condition(
        TRUST_BUNDLES.plural, None, name, "False", "SecretConflict", timeout=TIMEOUT
    )
    assert (
        f"a Secret named {name} that certmint did not create for this bundle exists in: {tenant_namespace}"
        in (conflict["message"])
    )
    theirs = tenant.read_namespaced_secret(name, tenant_namespace)
    assert theirs.data == mine
    assert not metadata_of(theirs).owner_references
    assert read_secret(cluster, ours, name) is not None, "published where nothing is in the way"

    # The tenant forges certmint's markings on its Secret: it is still not the bundle's copy.
    uid = (cluster.get(TRUST_BUNDLES.plural, None, name) or {})["metadata"]["uid"]
    forged = tenant.patch_namespaced_secret(
        name,
        tenant_namespace,
        {
            "metadata": {
                "labels": {
                    labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE,
                    labels.TRUST_BUNDLE_LABEL: uid,
                },
                "annotations": {labels.TRUST_BUNDLE_NAME: name},
            }
        },
    )
    forged_version = metadata_of(forged).resource_version
    # A new generation makes the bundle publish again; its status on that generation is the signal.
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, TRUST_BUNDLES.plural, name, {"spec": {"target": {"combinedKey": "bundle.crt"}}}
    )
    condition = wait_for(lambda: reported_on(cluster, name, 2), TIMEOUT, what="generation 2 reported on")
    assert condition["reason"] == "SecretConflict"
    after = tenant.read_namespaced_secret(name, tenant_namespace)
    assert metadata_of(after).resource_version == forged_version, "never written"
    assert after.data == mine

    # Out of the selector: a copy of the bundle would be withdrawn, the tenant's Secret is not one.
    cluster.core.patch_namespace(tenant_namespace, {"metadata": {"labels": {"team": "gone"}}})
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", "Synced", timeout=TIMEOUT)
    kept = tenant.read_namespaced_secret(name, tenant_namespace)
    assert metadata_of(kept).resource_version == forged_version, "never deleted nor written"
    assert kept.data == mine
