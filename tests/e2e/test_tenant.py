"""Issue 17 end to end: a real non-admin tenant (a ServiceAccount token, RBAC allowing only
create/get/list/delete of Certificates in its namespace) tries to use certmint as a confused deputy.

Every "nothing happened" assertion first waits for the positive signal (the condition that says why
certmint refused), then compares bytes and resourceVersions.
"""

import base64
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.pki import (
    CARequest,
    KeySpec,
    LeafRequest,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    issue_leaf,
    load_certificates_pem,
)
from certmint.planning.certificates.renewal import MIN_RENEWAL_INTERVAL
from tests.e2e.manifests import certificate, cluster_issuer, issuer_bundle, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, token_client, wait_for

OPERATOR_NAMESPACE = "certmint"


@dataclass
class Tenant:
    namespace: str
    api: client.ApiClient

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def create_certificate(self, manifest: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, CERTIFICATES.plural, manifest
        )

    def delete_certificate(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, CERTIFICATES.plural, name)


@pytest.fixture
def tenant(cluster: Cluster, namespace: str) -> Iterator[Tenant]:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": "tenant"}})
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role.model_validate(
            {
                "metadata": {"name": "certificates-only"},
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "resources": [CERTIFICATES.plural],
                        "verbs": ["create", "get", "list", "delete"],
                    }
                ],
            }
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": "tenant"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "certificates-only",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
            }
        ),
    )
    api = token_client(cluster, namespace, "tenant")
    found = Tenant(namespace, api)
    # The premise: the tenant can create Certificates (RBAC may take a moment) but not read Secrets.
    wait_for(lambda: _can_list_certificates(found), 20, what="tenant RBAC in effect")
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).list_namespaced_secret(namespace)
    assert refused.value.status == 403
    yield found
    api.close()


def _can_list_certificates(tenant: Tenant) -> bool:
    try:
        tenant.custom.list_namespaced_custom_object(GROUP, VERSION, tenant.namespace, CERTIFICATES.plural)
    except ApiException:
        return False
    return True


def _snapshot(
    cluster: Cluster, namespace: str, name: str
) -> tuple[str | None, dict[str, bytes | str], list[client.V1OwnerReference]]:
    secret = cluster.core.read_namespaced_secret(name, namespace)
    return (
        metadata_of(secret).resource_version,
        dict(secret.data or {}),
        list(metadata_of(secret).owner_references or []),
    )


def _tls_secret(cluster: Cluster, namespace: str, name: str, secret_type: str = "kubernetes.io/tls") -> None:
    ca = create_root_ca(
        CARequest(common_name="corp ingress CA", duration=timedelta(days=30)), datetime.now(UTC)
    )
    key, leaf = issue_leaf(LeafRequest(dns_names=("shop.example.com",)), KeySpec(), ca, datetime.now(UTC))
    data = {"tls.crt": certificates_to_pem([leaf]), "tls.key": encode_private_key_pem(key)}
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {
                "metadata": {"name": name},
                "type": secret_type,
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
        ),
    )


def _ready_issuer(cluster: Cluster, namespace: str, **spec: Any) -> None:
    manifest = self_signed_issuer(namespace)
    manifest["spec"].update(spec)
    cluster.apply(manifest)
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")


# 1. The CA key cannot be destroyed


def test_the_issuer_ca_secret_is_never_a_leaf_target(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    before = _snapshot(cluster, namespace, "ca-ca")
    tenant.create_certificate(
        certificate(
            namespace,
            "steal",
            secretName="ca-ca",
            cleanupSecretOnDelete=True,
            additionalOutputFormats=[{"type": "DER"}],
        )
    )
    cond = cluster.wait_condition(CERTIFICATES.plural, namespace, "steal", "False", "SecretIsIssuerCA")
    assert "never written" in cond["message"]
    assert _snapshot(cluster, namespace, "ca-ca") == before
    assert (cluster.condition(ISSUERS.plural, namespace, "ca") or {})["status"] == "True"

    tenant.delete_certificate("steal")
    wait_for(
        lambda: cluster.get(CERTIFICATES.plural, namespace, "steal") is None, 20, what="Certificate gone"
    )
    # No ownerReference was ever added, so the garbage collector has nothing to follow.
    assert _snapshot(cluster, namespace, "ca-ca") == before
    assert (cluster.condition(ISSUERS.plural, namespace, "ca") or {})["status"] == "True"


# 2. No TLS (or other) Secret is taken over


@pytest.mark.parametrize("secret_type", ["kubernetes.io/tls", "Opaque"])
def test_a_foreign_secret_is_not_taken_over_and_survives_the_certificate(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess, secret_type: str
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    _tls_secret(cluster, namespace, "ingress-tls", secret_type)
    before = _snapshot(cluster, namespace, "ingress-tls")
    tenant.create_certificate(
        certificate(namespace, "grab", secretName="ingress-tls", cleanupSecretOnDelete=True)
    )
    cond = cluster.wait_condition(CERTIFICATES.plural, namespace, "grab", "False", "SecretNotOwned")
    assert "certmint.dev/allow-adoption-by=grab" in cond["message"]
    events = [(e.type, e.reason) for e in cluster.events(namespace, "grab")]
    assert events == [("Warning", "SecretNotOwned")]
    assert _snapshot(cluster, namespace, "ingress-tls") == before

    tenant.delete_certificate("grab")
    wait_for(lambda: cluster.get(CERTIFICATES.plural, namespace, "grab") is None, 20, what="Certificate gone")
    assert _snapshot(cluster, namespace, "ingress-tls") == before


def test_a_secret_that_invites_the_certificate_is_adopted_without_an_owner_reference(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    _tls_secret(cluster, namespace, "web-tls")
    cluster.core.patch_namespaced_secret(
        "web-tls", namespace, {"metadata": {"annotations": {"certmint.dev/allow-adoption-by": "web"}}}
    )
    tenant.create_certificate(certificate(namespace, "web", cleanupSecretOnDelete=True))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    secret = cluster.core.read_namespaced_secret("web-tls", namespace)
    assert not metadata_of(secret).owner_references, "an adopted Secret must outlive the Certificate"
    assert "certmint.dev/created-for" not in (metadata_of(secret).annotations or {})


# 3 and 4. Nothing escalating is signed


@pytest.fixture
def open_cluster_issuer(cluster: Cluster) -> Iterator[str]:
    """A `ca` ClusterIssuer whose CA has no pathLen constraint, with no policy at all."""
    name = f"open-{uuid.uuid4().hex[:6]}"
    ca = create_root_ca(CARequest(common_name=name, duration=timedelta(days=30)), datetime.now(UTC))
    data = {
        "tls.crt": certificates_to_pem([ca.certificate]),
        "tls.key": encode_private_key_pem(ca.private_key),
    }
    cluster.core.create_namespaced_secret(
        OPERATOR_NAMESPACE,
        client.V1Secret.model_validate(
            {"metadata": {"name": name}, "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
        ),
    )
    cluster.apply(cluster_issuer(name, ca={"secretName": name}))
    cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "True")
    yield name
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)
    cluster.core.delete_namespaced_secret(name, OPERATOR_NAMESPACE)


def _cluster_certificate(namespace: str, name: str, issuer: str, **spec: Any) -> dict[str, Any]:
    return certificate(namespace, name, issuerRef={"kind": CLUSTER_ISSUERS.kind, "name": issuer}, **spec)


ESCALATIONS: dict[str, tuple[dict[str, Any], str, str]] = {
    "sub-ca": ({"isCA": True}, "PolicyDenied", "allowCA:"),
    "cert-sign": ({"usages": ["digital signature", "cert sign"]}, "PolicyDenied", "allowCA:"),
    "other-namespace": ({"uris": ["spiffe://cluster.local/ns/b/sa/default"]}, "PolicyDenied", "identity:"),
    "foreign-trust-domain": ({"uris": ["spiffe://evil.example/ns/{ns}/sa/x"]}, "PolicyDenied", "identity:"),
    "case-variant": ({"uris": ["spiffe://cluster.local/NS/b/sa/default"]}, "PolicyDenied", "identity:"),
    "nul-newline-cn": ({"commonName": "api\u0000.b.svc\nx"}, "InvalidSpec", "commonName:"),
    "javascript-uri": ({"uris": ["javascript:alert(document.domain)"]}, "PolicyDenied", "uris:"),
}


def test_escalations_are_denied_without_a_policy(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess, open_cluster_issuer: str
) -> None:
    namespace = tenant.namespace
    for name, (template, _, _) in ESCALATIONS.items():
        spec = {
            key: [uri.replace("{ns}", namespace) for uri in value] if key == "uris" else value
            for key, value in template.items()
        }
        tenant.create_certificate(_cluster_certificate(namespace, name, open_cluster_issuer, **spec))
    tenant.create_certificate(
        _cluster_certificate(namespace, "fine", open_cluster_issuer, identity={"serviceAccount": "web"})
    )
    cluster.wait_condition(CERTIFICATES.plural, namespace, "fine", "True")
    for name, (_, reason, rule) in ESCALATIONS.items():
        cond = cluster.wait_condition(CERTIFICATES.plural, namespace, name, "False", reason)
        assert cond["message"].startswith(rule), (name, cond["message"])
        assert cluster.secret_data(namespace, f"{name}-tls") is None
    _assert_no_escalation_anywhere(cluster, namespace)


def test_a_policy_governs_common_names_ip_and_email_addresses(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess
) -> None:
    namespace = tenant.namespace
    _ready_issuer(
        cluster,
        namespace,
        policy={
            "allowedDNSNames": ["*.${namespace}.svc.cluster.local"],
            "allowedURIs": ["spiffe://cluster.local/ns/${namespace}/sa/*"],
        },
    )
    attempts: dict[str, tuple[dict[str, Any], str]] = {
        "cn-only": ({"dnsNames": [], "commonName": "api.b.svc.cluster.local"}, "policy.allowedCommonNames"),
        "ip": (
            {"dnsNames": [f"web.{namespace}.svc.cluster.local"], "ipAddresses": ["10.96.0.1"]},
            "policy.allowedIPAddresses",
        ),
        "email": (
            {"dnsNames": [f"web.{namespace}.svc.cluster.local"], "emailAddresses": ["root@b.example"]},
            "policy.allowedEmailAddresses",
        ),
        "org": (
            {"dnsNames": [f"web.{namespace}.svc.cluster.local"], "organizations": ["system:masters"]},
            "policy.allowedOrganizations",
        ),
    }
    for name, (spec, _) in attempts.items():
        tenant.create_certificate(certificate(namespace, name, **spec))
    tenant.create_certificate(certificate(namespace, "fine", dnsNames=[f"web.{namespace}.svc.cluster.local"]))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "fine", "True")
    for name, (_, rule) in attempts.items():
        cond = cluster.wait_condition(CERTIFICATES.plural, namespace, name, "False", "PolicyDenied")
        assert cond["message"].startswith(rule), cond["message"]
        assert cluster.secret_data(namespace, f"{name}-tls") is None
    _assert_no_escalation_anywhere(cluster, namespace)


def _assert_no_escalation_anywhere(cluster: Cluster, namespace: str) -> None:
    """No Secret of the tenant's namespace holds a CA:TRUE certificate or another namespace's identity."""
    for secret in cluster.core.list_namespaced_secret(namespace).items:
        if (metadata_of(secret).labels or {}).get("certmint.dev/secret-role") == "ca":
            continue  # the issuer's own CA, created by the admin
        pem = base64.b64decode((secret.data or {}).get("tls.crt", "")) if secret.data else b""
        if b"CERTIFICATE" not in pem:
            continue
        leaf = load_certificates_pem(pem)[0]
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, metadata_of(
            secret
        ).name
        try:
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            continue
        for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
            assert uri.startswith(f"spiffe://cluster.local/ns/{namespace}/") or not uri.startswith(
                "spiffe"
            ), uri


# 5. No storms


@dataclass
class SecretWatch:
    """Records every version of the Secrets (or, with `lister`, other objects with data) of a namespace
    from a watch; if the thread dies, `check` fails the test."""

    cluster: Cluster
    namespace: str
    lister: str = "list_namespaced_secret"
    versions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                stream = watch.Watch().stream(
                    getattr(self.cluster.core, self.lister), self.namespace, timeout_seconds=5
                )
                for event in stream:
                    secret = event["object"]
                    history = self.versions.setdefault(secret.metadata.name, [])
                    data = dict(secret.data or {})
                    if not history or history[-1] != data:
                        history.append(data)
                    if self.stop.is_set():
                        break
        except BaseException as error:
            self.error = error

    def check(self) -> None:
        assert self.error is None, f"the watch thread died: {self.error!r}"

    def serials(self, name: str) -> list[int]:
        found: list[int] = []
        for data in self.versions.get(name, []):
            pem = base64.b64decode(data.get("tls.crt", ""))
            if b"CERTIFICATE" in pem:
                serial = load_certificates_pem(pem)[0].serial_number
                if not found or found[-1] != serial:
                    found.append(serial)
        return found


def _watching(cluster: Cluster, namespace: str, lister: str) -> Iterator[SecretWatch]:
    recorder = SecretWatch(cluster, namespace, lister)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    yield recorder
    recorder.stop.set()
    thread.join(timeout=15)
    recorder.check()


@pytest.fixture
def secret_watch(cluster: Cluster, namespace: str) -> Iterator[SecretWatch]:
    yield from _watching(cluster, namespace, "list_namespaced_secret")


@pytest.fixture
def configmap_watch(cluster: Cluster, namespace: str) -> Iterator[SecretWatch]:
    yield from _watching(cluster, namespace, "list_namespaced_config_map")


STORMS: dict[str, dict[str, Any]] = {
    "pct50": {"duration": "1m", "renewBeforePercentage": 50},
    "pct99": {"duration": "1m", "renewBeforePercentage": 99},
    "rb59s": {"duration": "1m", "renewBefore": "59s"},
}


@pytest.mark.timeout(400)
def test_storm_specs_renew_no_sooner_than_the_floor(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess, secret_watch: SecretWatch
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    started = time.monotonic()
    for name, spec in STORMS.items():
        tenant.create_certificate(certificate(namespace, name, **spec))
    # Positive signal: every Certificate was renewed at least twice on schedule (three serials).
    for name in STORMS:
        wait_for(
            # mypy cannot infer a lambda with a default argument (here, the loop's capture).
            lambda n=name: len(secret_watch.serials(f"{n}-tls")) >= 3 or secret_watch.error,  # type: ignore[misc]
            240,
            1,
            what=f"{name} renewed twice",
        )
        secret_watch.check()
    elapsed = time.monotonic() - started
    floor = MIN_RENEWAL_INTERVAL.total_seconds()  # a 1m lifetime: max(20 s, 30 s)
    bound = 1 + math.ceil(elapsed / floor) + 1
    for name in STORMS:
        issued = secret_watch.serials(f"{name}-tls")
        assert len(issued) <= bound, (
            f"{name}: {len(issued)} issuances in {elapsed:.0f} s, floor allows {bound}"
        )


# 5. A duel with another writer decays


@dataclass
class RogueWriter:
    """Another controller that writes one key every second under its own field manager."""

    patch: Any
    attempts: list[float] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.patch()
                self.attempts.append(time.monotonic())
                self.stop.wait(1)
        except BaseException as error:
            self.failures.append(error)


def _duel(rogue: RogueWriter, recorder: SecretWatch, name: str, key: str, value: str, signal: Any) -> None:
    """Runs the rogue writer until certmint repaired five times; asserts the repairs decayed."""
    thread = threading.Thread(target=rogue.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        signal()
        wait_for(
            lambda: len(_repairs(recorder, name, key, value)) >= 5 or recorder.error,
            120,
            1,
            what="five repairs",
        )
    finally:
        rogue.stop.set()
        thread.join(timeout=10)
    elapsed = time.monotonic() - started
    assert not rogue.failures, rogue.failures
    recorder.check()
    repairs = _repairs(recorder, name, key, value)
    # Delays 0, 1, 2, 4, ... s after each repair: in `elapsed` seconds at most 2 + log2(elapsed + 1).
    bound = 2 + math.ceil(math.log2(elapsed + 1))
    assert len(repairs) <= bound, (
        f"{len(repairs)} repairs in {elapsed:.0f} s against {len(rogue.attempts)} writes"
    )
    assert len(rogue.attempts) > len(repairs) * 2, "certmint must not answer every write of the other writer"


def _repairs(recorder: SecretWatch, name: str, key: str, value: str) -> list[int]:
    """certmint's writes that replaced the rogue value."""
    history = recorder.versions.get(name, [])
    return [
        i for i in range(1, len(history)) if history[i - 1].get(key) == value and history[i].get(key) != value
    ]


@pytest.mark.timeout(300)
def test_another_writer_meets_exponential_backoff_and_is_named(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess, secret_watch: SecretWatch
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    tenant.create_certificate(certificate(namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    value = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nrogue\n-----END CERTIFICATE-----\n").decode()

    def named() -> None:
        cond = cluster.wait_condition(
            CERTIFICATES.plural, namespace, "web", "False", "SecretContested", timeout=30
        )
        assert "rogue-controller" in cond["message"]

    rogue = RogueWriter(
        lambda: cluster.core.patch_namespaced_secret(
            "web-tls", namespace, {"data": {"tls.crt": value}}, field_manager="rogue-controller"
        )
    )
    _duel(rogue, secret_watch, "web-tls", "tls.crt", value, named)
    # Once the writer stops, the due repair puts a valid certificate back.
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=120)


@pytest.mark.timeout(300)
def test_another_writer_of_a_bundle_configmap_meets_exponential_backoff(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, configmap_watch: SecretWatch
) -> None:
    _ready_issuer(cluster, namespace)
    name = f"duel-{uuid.uuid4().hex[:6]}"
    cluster.apply(issuer_bundle(name, namespace, {"kubernetes.io/metadata.name": namespace}))
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True")

    def named() -> None:
        cond = cluster.wait_condition(
            TRUST_BUNDLES.plural, None, name, "False", "ConfigMapContested", timeout=30
        )
        assert "rogue-bundler" in cond["message"]

    rogue = RogueWriter(
        lambda: cluster.core.patch_namespaced_config_map(
            name, namespace, {"data": {"ca.crt": "rogue"}}, field_manager="rogue-bundler"
        )
    )
    try:
        _duel(rogue, configmap_watch, name, "ca.crt", "rogue", named)
        cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", timeout=120)
    finally:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)


# 6 and 7. Trust bundles and PKCS#12 passwords


@pytest.fixture
def bundle_tenant(cluster: Cluster, namespace: str) -> Iterator[client.ApiClient]:
    """A user who may create TrustBundles (cluster-scoped) and nothing else."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    suffix = uuid.uuid4().hex[:6]
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": "bundler"}})
    )
    rbac.create_cluster_role(
        client.V1ClusterRole.model_validate(
            {
                "metadata": {"name": f"bundler-{suffix}"},
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "resources": [TRUST_BUNDLES.plural],
                        "verbs": ["create", "get", "delete"],
                    }
                ],
            }
        )
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding.model_validate(
            {
                "metadata": {"name": f"bundler-{suffix}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"bundler-{suffix}",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "bundler", "namespace": namespace}],
            }
        )
    )
    api = token_client(cluster, namespace, "bundler")
    yield api
    api.close()
    rbac.delete_cluster_role_binding(f"bundler-{suffix}")
    rbac.delete_cluster_role(f"bundler-{suffix}")


def _create_bundle(api: client.ApiClient, manifest: dict[str, Any]) -> None:
    def attempt() -> bool:
        try:
            client.CustomObjectsApi(api).create_cluster_custom_object(
                GROUP, VERSION, TRUST_BUNDLES.plural, manifest
            )
        except ApiException as error:
            if error.status == 403:
                return False  # RBAC not in effect yet
            raise
        return True

    wait_for(attempt, 20, what="TrustBundle created by the tenant")


def test_a_trust_bundle_cannot_take_reserved_names_foreign_configmaps_or_leaves(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, bundle_tenant: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(bundle_tenant)

    # The API server refuses the reserved name at admission.
    def attempt() -> ApiException | str | None:
        try:
            custom.create_cluster_custom_object(
                GROUP, VERSION, TRUST_BUNDLES.plural, trust_bundle("kube-root-ca.crt", [{"inlinePEM": "x"}])
            )
        except ApiException as error:
            return None if error.status == 403 else error  # 403: RBAC not in effect yet
        return "admitted"

    refused = wait_for(attempt, 20, what="admission answer")
    assert isinstance(refused, ApiException), refused
    assert refused.status == 422
    assert "published by Kubernetes itself" in str(refused.body)

    # A same-named ConfigMap someone else owns is never written, nor deleted with the bundle.
    name = f"corp-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap.model_validate({"metadata": {"name": name}, "data": {"ca.crt": "theirs"}}),
    )
    before = metadata_of(cluster.core.read_namespaced_config_map(name, namespace)).resource_version
    _ready_issuer(cluster, namespace)
    _create_bundle(
        bundle_tenant,
        issuer_bundle(name, namespace, {"kubernetes.io/metadata.name": namespace}),
    )
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "False", "ConfigMapConflict")
    assert metadata_of(cluster.core.read_namespaced_config_map(name, namespace)).resource_version == before
    custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)
    wait_for(lambda: cluster.get(TRUST_BUNDLES.plural, None, name) is None, 20, what="bundle gone")
    kept = cluster.core.read_namespaced_config_map(name, namespace)
    assert (metadata_of(kept).resource_version, kept.data) == (before, {"ca.crt": "theirs"})

    # A leaf certificate is no trust anchor.
    ca = create_root_ca(CARequest(common_name="x", duration=timedelta(days=1)), datetime.now(UTC))
    _, leaf = issue_leaf(LeafRequest(dns_names=("evil.example",)), KeySpec(), ca, datetime.now(UTC))
    leafy = f"leaf-{uuid.uuid4().hex[:6]}"
    _create_bundle(bundle_tenant, trust_bundle(leafy, [{"inlinePEM": certificates_to_pem([leaf]).decode()}]))
    cond = cluster.wait_condition(TRUST_BUNDLES.plural, None, leafy, "False", "InvalidSource")
    assert "not a CA certificate" in cond["message"]
    custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, leafy)


def test_a_pkcs12_password_is_read_only_from_a_secret_that_opted_in(
    cluster: Cluster, tenant: Tenant, operator_process: OperatorProcess
) -> None:
    namespace = tenant.namespace
    _ready_issuer(cluster, namespace)
    cluster.core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {"metadata": {"name": "db-password"}, "stringData": {"password": "hunter2"}}
        ),
    )
    keystore = {"pkcs12": {"passwordSecretRef": {"name": "db-password", "key": "password"}}}
    tenant.create_certificate(certificate(namespace, "java", keystores=keystore))
    cond = cluster.wait_condition(CERTIFICATES.plural, namespace, "java", "False", "PasswordSecretNotAllowed")
    assert "certmint.dev/pkcs12-password=true" in cond["message"]
    assert cluster.secret_data(namespace, "java-tls") is None
