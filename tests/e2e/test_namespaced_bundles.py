"""Issue 28, namespaced bundles as a hostile tenant: a real non-admin user (a ServiceAccount token
whose only rights are in its own namespace: the chart's aggregated NamespacedTrustBundle role, and
Issuers, ConfigMaps and Secrets there) publishes a NamespacedTrustBundle from its own Issuer, a
ClusterIssuer and its own ConfigMap and Secret. Naming another namespace's ConfigMap, Secret or
Issuer is refused with a reason on Synced; the API server's audit log of the operator's requests
shows that nothing of that namespace was read and nothing written outside the tenant's; a cluster
TrustBundle publishing into the other namespace is unaffected.

The control plane is this module's own, with an audit log of every request of the operator's
identity (a cluster-admin ServiceAccount: RBAC would not stop it, only certmint can)."""

import base64
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import (
    CLUSTER_ISSUERS,
    GROUP,
    ISSUERS,
    NAMESPACED_TRUST_BUNDLES,
    TRUST_BUNDLES,
    VERSION,
)
from certmint.api.namespacedtrustbundle import MAX_INLINE_PEM_BYTES
from certmint.pki import CARequest, certificates_to_pem, create_root_ca, load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.issuer_view import fingerprint
from devcluster.binaries import locate_binaries
from tests.e2e.audit import OPERATOR_NAMESPACE, OPERATOR_USER, Audited, audited_operator
from tests.e2e.manifests import cluster_issuer, namespaced_trust_bundle, self_signed_issuer, trust_bundle
from tests.e2e.support import (
    Cluster,
    grant_role,
    metadata_of,
    token_client,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
RELEASE = "nsbundle"
BUNDLE = "team-trust"
TENANT_VERBS = ["create", "get", "list", "watch", "update", "patch", "delete"]


AUDIT_RULES: list[dict[str, Any]] = [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}]
"""Every request of the operator's identity, without bodies (a CA Secret holds a key)."""


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    with audited_operator(tmp_path_factory.mktemp("namespaced-bundles"), AUDIT_RULES) as audited:
        yield audited


def chart_aggregated_roles() -> list[dict[str, Any]]:
    """The chart's ClusterRoles that Kubernetes aggregates into admin, edit and view."""
    rendered = subprocess.run(
        [
            str(locate_binaries().helm),
            "template",
            RELEASE,
            str(REPO / "charts" / "certmint"),
            "--show-only",
            "templates/aggregate-roles.yaml",
            "--kube-version=v1.36.3",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


@dataclass
class Tenant:
    namespace: str
    api: client.ApiClient

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def bundle(self, name: str, sources: list[dict[str, Any]], **target: Any) -> None:
        body = namespaced_trust_bundle(self.namespace, name, sources, **target)
        self.create(NAMESPACED_TRUST_BUNDLES.plural, body)


def make_namespace(cluster: Cluster, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    return name


def can_create_bundles(tenant: Tenant) -> bool:
    review = client.V1SelfSubjectAccessReview.model_validate(
        {
            "spec": {
                "resourceAttributes": {
                    "namespace": tenant.namespace,
                    "group": GROUP,
                    "resource": NAMESPACED_TRUST_BUNDLES.plural,
                    "verb": "create",
                }
            }
        }
    )
    answer = client.AuthorizationV1Api(tenant.api).create_self_subject_access_review(review)
    return bool(answer.status and answer.status.allowed)


@pytest.fixture(scope="module")
def tenant(audited: Audited) -> Iterator[Tenant]:
    """A ServiceAccount of its own namespace, bound there to the chart's aggregated edit role for
    NamespacedTrustBundles and to a Role for Issuers, ConfigMaps and Secrets: nothing else."""
    cluster = audited.cluster
    namespace = make_namespace(cluster, "tenant")
    roles = chart_aggregated_roles()
    for role in roles:
        cluster.apply(role)
    (edit,) = (
        role
        for role in roles
        if role["metadata"]["labels"].get("rbac.authorization.k8s.io/aggregate-to-edit")
    )
    grant_role(
        cluster,
        namespace,
        "tenant",
        [
            {"apiGroups": [GROUP], "resources": [ISSUERS.plural], "verbs": TENANT_VERBS},
            {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": TENANT_VERBS},
        ],
    )
    client.RbacAuthorizationV1Api(cluster.api).create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": "tenant-bundles"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": edit["metadata"]["name"],
                },
                "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
            }
        ),
    )
    api = token_client(cluster, namespace, "tenant")
    found = Tenant(namespace, api)
    wait_for(lambda: can_create_bundles(found), 30, what="the tenant's RBAC in effect")
    yield found
    api.close()


@dataclass(frozen=True)
class Victim:
    """Another namespace's objects, and a cluster TrustBundle publishing into it."""

    namespace: str
    configmap: str
    secret: str
    issuer: str
    cluster_bundle: str


def ca_pem(common_name: str) -> str:
    authority = create_root_ca(CARequest(common_name, timedelta(days=30)), datetime.now(UTC))
    return certificates_to_pem([authority.certificate]).decode()


def configmap(name: str, pem: str) -> client.V1ConfigMap:
    return client.V1ConfigMap.model_validate({"metadata": {"name": name}, "data": {"ca.crt": pem}})


def secret(name: str, pem: str) -> client.V1Secret:
    encoded = base64.b64encode(pem.encode()).decode()
    return client.V1Secret.model_validate({"metadata": {"name": name}, "data": {"ca.crt": encoded}})


@pytest.fixture(scope="module")
def victim(audited: Audited) -> Victim:
    cluster = audited.cluster
    namespace = make_namespace(cluster, "victim")
    cluster.core.create_namespaced_config_map(namespace, configmap("their-ca", ca_pem("their configmap CA")))
    cluster.core.create_namespaced_secret(namespace, secret("their-secret", ca_pem("their secret CA")))
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)
    # The admin's cluster bundle of the same name as the tenant's, into the victim's namespace.
    cluster.apply(
        trust_bundle(
            BUNDLE,
            [{"issuer": {"name": "ca", "namespace": namespace}}],
            namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        )
    )
    cluster.wait_condition(TRUST_BUNDLES.plural, None, BUNDLE, "True", timeout=60)
    return Victim(namespace, "their-ca", "their-secret", "ca", BUNDLE)


@pytest.fixture(scope="module")
def root(audited: Audited) -> str:
    audited.cluster.apply(cluster_issuer("root", selfSigned={}))
    audited.cluster.wait_condition(CLUSTER_ISSUERS.plural, None, "root", "True", timeout=60)
    return "root"


def fingerprints(pem: str | bytes) -> set[str]:
    data = pem.encode() if isinstance(pem, str) else pem
    return {fingerprint(certificate) for certificate in load_certificates_pem(data)}


def ca_of(cluster: Cluster, namespace: str, issuer: str) -> set[str]:
    """The fingerprints of the issuer's current CA, from its CA Secret."""
    data = cluster.secret_data(namespace, f"{issuer}-ca") or {}
    return fingerprints(data["tls.crt"])


def version_of_configmap(cluster: Cluster, namespace: str, name: str) -> str | None:
    return metadata_of(cluster.core.read_namespaced_config_map(name, namespace)).resource_version


def version_of_secret(cluster: Cluster, namespace: str, name: str) -> str | None:
    return metadata_of(cluster.core.read_namespaced_secret(name, namespace)).resource_version


def copies_of(cluster: Cluster, name: str) -> set[str | None]:
    """The namespaces holding a ConfigMap of that name."""
    found = cluster.core.list_config_map_for_all_namespaces(field_selector=f"metadata.name={name}")
    return {metadata_of(item).namespace for item in found.items}


@pytest.mark.timeout(300)
def test_a_tenant_publishes_its_own_issuer_a_cluster_issuer_and_its_own_configmap_and_secret(
    audited: Audited, tenant: Tenant, victim: Victim, root: str
) -> None:
    cluster = audited.cluster
    published_before = version_of_configmap(cluster, victim.namespace, victim.cluster_bundle)
    tenant.create(ISSUERS.plural, self_signed_issuer(tenant.namespace))
    cluster.wait_condition(ISSUERS.plural, tenant.namespace, "ca", "True", timeout=60)
    local_configmap, local_secret = ca_pem("tenant configmap CA"), ca_pem("tenant secret CA")
    tenant.core.create_namespaced_config_map(tenant.namespace, configmap("local-ca", local_configmap))
    tenant.core.create_namespaced_secret(tenant.namespace, secret("local-secret", local_secret))

    tenant.bundle(
        BUNDLE,
        [
            {"issuer": {"name": "ca"}},
            {"issuer": {"name": root, "kind": "ClusterIssuer"}},
            {"configMap": {"name": "local-ca"}},
            {"secret": {"name": "local-secret", "namespace": tenant.namespace}},
        ],
    )
    synced = cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural, tenant.namespace, BUNDLE, "True", timeout=60
    )
    assert synced["reason"] == reasons.SYNCED

    published = tenant.core.read_namespaced_config_map(BUNDLE, tenant.namespace)
    expected = (
        ca_of(cluster, tenant.namespace, "ca")
        | ca_of(cluster, OPERATOR_NAMESPACE, root)
        | fingerprints(local_configmap)
        | fingerprints(local_secret)
    )
    assert fingerprints((published.data or {})["ca.crt"]) == expected
    meta = metadata_of(published)
    assert (meta.labels or {})[labels.TRUST_BUNDLE_LABEL] == (
        cluster.get(NAMESPACED_TRUST_BUNDLES.plural, tenant.namespace, BUNDLE) or {}
    )["metadata"]["uid"]
    assert [(owner.kind, owner.name) for owner in meta.owner_references or []] == [
        ("NamespacedTrustBundle", BUNDLE)
    ]
    # The cluster bundle of the same name publishes into the victim's namespace, untouched.
    assert copies_of(cluster, BUNDLE) == {tenant.namespace, victim.namespace}
    assert version_of_configmap(cluster, victim.namespace, victim.cluster_bundle) == published_before
    assert (cluster.condition(TRUST_BUNDLES.plural, None, BUNDLE, "Synced") or {})["status"] == "True"


@pytest.mark.timeout(300)
def test_naming_another_namespaces_configmap_secret_or_issuer_is_refused_and_nothing_is_read(
    audited: Audited, tenant: Tenant, victim: Victim
) -> None:
    cluster = audited.cluster
    with pytest.raises(ApiException) as forbidden:  # the premise: the tenant cannot read them itself
        tenant.core.read_namespaced_config_map(victim.configmap, victim.namespace)
    assert forbidden.value.status == 403
    before = (
        version_of_configmap(cluster, victim.namespace, victim.configmap),
        version_of_secret(cluster, victim.namespace, victim.secret),
        version_of_configmap(cluster, victim.namespace, victim.cluster_bundle),
    )
    offset = audited.offset()
    attempts = {
        "steal-configmap": (
            {"configMap": {"name": victim.configmap, "namespace": victim.namespace}},
            f"ConfigMap {victim.namespace}/{victim.configmap}",
        ),
        "steal-secret": (
            {"secret": {"name": victim.secret, "namespace": victim.namespace, "key": "ca.crt"}},
            f"Secret {victim.namespace}/{victim.secret}",
        ),
        "steal-issuer": (
            {"issuer": {"name": victim.issuer, "namespace": victim.namespace}},
            f"Issuer {victim.namespace}/{victim.issuer}",
        ),
    }
    for name, (source, _) in attempts.items():
        tenant.bundle(name, [{"inlinePEM": ca_pem("tenant inline CA")}, source])
    for name, (_, named) in attempts.items():
        refused = cluster.wait_condition(
            NAMESPACED_TRUST_BUNDLES.plural,
            tenant.namespace,
            name,
            "False",
            reasons.SOURCE_OUTSIDE_NAMESPACE,
            timeout=60,
        )
        assert named in refused["message"]
        assert "nothing was read" in refused["message"]
        status = (cluster.get(NAMESPACED_TRUST_BUNDLES.plural, tenant.namespace, name) or {})["status"]
        assert status.get("sources", []) == [], "no source was read, so none is recorded"
        assert "digest" not in status, "nothing was published"
        assert copies_of(cluster, name) == set(), "no ConfigMap anywhere, not even the inline CA's"
    audited.operator.wait_reconciled(len(attempts), NAMESPACED_TRUST_BUNDLES.kind)

    requests = audited.requests_since(offset)
    assert requests, "the audit log records the operator's requests"
    touched = [
        (e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("name"))
        for e in requests
        if e.get("objectRef", {}).get("namespace") == victim.namespace
    ]
    assert touched == [], "the operator read and wrote nothing in the other namespace"
    written_elsewhere = [
        e["requestURI"]
        for e in requests
        if e["verb"] in WRITES and e.get("objectRef", {}).get("namespace") != tenant.namespace
    ]
    assert written_elsewhere == [], "every write is the tenant's bundles' status and events"
    after = (
        version_of_configmap(cluster, victim.namespace, victim.configmap),
        version_of_secret(cluster, victim.namespace, victim.secret),
        version_of_configmap(cluster, victim.namespace, victim.cluster_bundle),
    )
    assert after == before
    assert (cluster.condition(TRUST_BUNDLES.plural, None, BUNDLE, "Synced") or {})["status"] == "True"


@pytest.mark.timeout(300)
def test_a_configmap_of_the_bundles_name_that_certmint_did_not_make_is_never_written(
    audited: Audited, tenant: Tenant
) -> None:
    cluster = audited.cluster
    tenant.core.create_namespaced_config_map(tenant.namespace, configmap("app-config", "not a bundle"))
    before = tenant.core.read_namespaced_config_map("app-config", tenant.namespace)
    tenant.bundle("app-config", [{"inlinePEM": ca_pem("tenant inline CA")}])
    conflict = cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural,
        tenant.namespace,
        "app-config",
        "False",
        reasons.CONFIGMAP_CONFLICT,
        timeout=60,
    )
    assert tenant.namespace in conflict["message"]
    after = tenant.core.read_namespaced_config_map("app-config", tenant.namespace)
    assert (metadata_of(after).resource_version, after.data) == (
        metadata_of(before).resource_version,
        before.data,
    )


def secrets_named(cluster: Cluster, name: str) -> set[str | None]:
    """The namespaces holding a Secret of that name."""
    found = cluster.core.list_secret_for_all_namespaces(field_selector=f"metadata.name={name}")
    return {metadata_of(item).namespace for item in found.items}


@pytest.mark.timeout(300)
def test_its_secret_target_publishes_into_its_namespace_only_and_never_over_the_tenants_secret(
    audited: Audited, tenant: Tenant
) -> None:
    cluster = audited.cluster
    pem = ca_pem("tenant secret-target CA")
    tenant.bundle("secret-trust", [{"inlinePEM": pem}], secret={"key": "ca.crt"})
    synced = cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural, tenant.namespace, "secret-trust", "True", timeout=60
    )
    assert "as a Secret in 1" in synced["message"]
    published = tenant.core.read_namespaced_secret("secret-trust", tenant.namespace)
    assert published.type == "Opaque"
    assert set(published.data or {}) == {"ca.crt"}, "certificates only: a bundle is public"
    assert fingerprints(base64.b64decode((published.data or {})["ca.crt"])) == fingerprints(pem)
    assert [(owner.kind, owner.name) for owner in metadata_of(published).owner_references or []] == [
        ("NamespacedTrustBundle", "secret-trust")
    ]
    assert secrets_named(cluster, "secret-trust") == {tenant.namespace}, "in no other namespace"

    # The tenant's own Secret of a bundle's name: reported, never written.
    tenant.core.create_namespaced_secret(tenant.namespace, secret("app-tls-trust", "not a bundle"))
    before = tenant.core.read_namespaced_secret("app-tls-trust", tenant.namespace)
    tenant.bundle("app-tls-trust", [{"inlinePEM": pem}], secret={"key": "ca.crt"})
    conflict = cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural,
        tenant.namespace,
        "app-tls-trust",
        "False",
        reasons.SECRET_CONFLICT,
        timeout=60,
    )
    assert (
        "a Secret named app-tls-trust that certmint did not create for this bundle exists in: "
        in (conflict["message"])
    )
    assert tenant.namespace in conflict["message"]
    after = tenant.core.read_namespaced_secret("app-tls-trust", tenant.namespace)
    assert cluster.api.sanitize_for_serialization(after) == cluster.api.sanitize_for_serialization(before)
    assert secrets_named(cluster, "app-tls-trust") == {tenant.namespace}


def test_an_oversized_inline_pem_is_refused_by_the_api_server(tenant: Tenant) -> None:
    # A raw dict: the model refuses it too, and the API server is what a tenant talks to.
    huge = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": NAMESPACED_TRUST_BUNDLES.kind,
        "metadata": {"name": "huge", "namespace": tenant.namespace},
        "spec": {"sources": [{"inlinePEM": "A" * (MAX_INLINE_PEM_BYTES + 1)}]},
    }
    with pytest.raises(ApiException) as refused:
        tenant.create(NAMESPACED_TRUST_BUNDLES.plural, huge)
    assert refused.value.status == 422
    assert "inlinePEM" in str(refused.value.body)


def test_the_tenant_cannot_create_a_bundle_in_another_namespace(tenant: Tenant, victim: Victim) -> None:
    with pytest.raises(ApiException) as forbidden:
        tenant.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            victim.namespace,
            NAMESPACED_TRUST_BUNDLES.plural,
            namespaced_trust_bundle(victim.namespace, "planted", [{"inlinePEM": ca_pem("planted")}]),
        )
    assert forbidden.value.status == 403


@pytest.mark.timeout(300)
def test_a_rotation_of_its_issuer_reaches_the_bundle(audited: Audited, tenant: Tenant) -> None:
    """The watches: the tenant's Issuer prepares a next CA, and the bundle publishes it; once the
    rotation is done the old CA leaves the bundle."""
    cluster = audited.cluster
    rotation = {"caDuration": "24h", "rotation": {"propagationDelay": "5s", "reissueWindow": "1h"}}
    tenant.create(ISSUERS.plural, self_signed_issuer(tenant.namespace, "rotating", **rotation))
    cluster.wait_condition(ISSUERS.plural, tenant.namespace, "rotating", "True", timeout=60)
    tenant.bundle("rotating-trust", [{"issuer": {"name": "rotating"}}])
    cluster.wait_condition(
        NAMESPACED_TRUST_BUNDLES.plural, tenant.namespace, "rotating-trust", "True", timeout=60
    )
    old = ca_of(cluster, tenant.namespace, "rotating")

    def published() -> set[str]:
        found = tenant.core.read_namespaced_config_map("rotating-trust", tenant.namespace)
        return fingerprints((found.data or {})["ca.crt"])

    assert published() == old
    tenant.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        tenant.namespace,
        ISSUERS.plural,
        "rotating",
        {"metadata": {"annotations": {"certmint.dev/rotate-ca": "incident-7"}}},
    )
    both = wait_for(
        lambda: published() if len(published() - old) == 1 else None, 60, what="the next CA published"
    )
    assert old <= both, "the current CA stays trusted while the next one is prepared"
    new = wait_for(
        lambda: (
            ca_of(cluster, tenant.namespace, "rotating")
            if ca_of(cluster, tenant.namespace, "rotating") != old
            else None
        ),
        120,
        what="the next CA signing",
    )
    assert new == both - old
    wait_for(lambda: published() == new, 120, what="the old CA leaving the bundle")
