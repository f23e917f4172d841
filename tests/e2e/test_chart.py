"""The Helm chart on the real API server: installs, and its RBAC is exactly enough for the operator."""

import base64
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client

from certmint.api.kinds import (
    CERTIFICATES,
    GROUP,
    ISSUERS,
    NAMESPACED_TRUST_BUNDLES,
    RESOURCES,
    TRUST_BUNDLES,
    VERSION,
)
from certmint.kube import podcerts
from certmint.pki import load_certificates_pem
from devcluster.binaries import locate_binaries
from tests.csr_material import spiffe_csr
from tests.e2e import test_pod_certificates as pcr
from tests.e2e.manifests import certificate, issuer, issuer_bundle, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess, json_object, metadata_of, wait_for
from tests.podcert_material import stub_request

REPO = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "certmint-chart"
SERVICE_ACCOUNT = f"system:serviceaccount:{RELEASE_NAMESPACE}:certmint"

PLURALS = [resource.plural for resource in RESOURCES]
NEEDED = [
    ("get", "certificates.certmint.dev"),
    ("list", "certificates.certmint.dev"),
    ("watch", "certificates.certmint.dev"),
    ("patch", "certificates.certmint.dev/status"),
    ("watch", "issuers.certmint.dev"),
    ("patch", "issuers.certmint.dev/status"),
    ("watch", "clusterissuers.certmint.dev"),
    ("patch", "trustbundles.certmint.dev/status"),
    ("watch", "namespacedtrustbundles.certmint.dev"),
    ("patch", "namespacedtrustbundles.certmint.dev/status"),
    ("get", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("patch", "secrets"),
    ("delete", "secrets"),  # a TrustBundle's Secret target withdrawn (its own copies only)
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("watch", "namespaces"),
    ("create", "events"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
    ("watch", "certificatesigningrequests.certificates.k8s.io"),
    ("patch", "certificatesigningrequests.certificates.k8s.io/status"),
]
FORBIDDEN = [
    ("update", "secrets"),
    ("delete", "certificates.certmint.dev"),
    ("patch", "certificates.certmint.dev"),
    ("create", "pods"),
    ("create", "clusterrolebindings"),
    ("patch", "namespaces"),
    ("patch", "certificatesigningrequests.certificates.k8s.io"),
    ("patch", "certificatesigningrequests.certificates.k8s.io/approval"),
    ("delete", "certificatesigningrequests.certificates.k8s.io"),
    # The CRDs are the installer's (Helm's, or the admin's with crds.enabled=false), never the operator's.
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
    # podCertificates.enabled is off by default: none of its rights exist.
    ("get", "podcertificaterequests.certificates.k8s.io"),
    ("watch", "podcertificaterequests.certificates.k8s.io"),
    ("update", "podcertificaterequests.certificates.k8s.io/status"),
    # (every ServiceAccount may read ClusterTrustBundles: Kubernetes' system:cluster-trust-bundle-discovery)
    ("create", "clustertrustbundles.certificates.k8s.io"),
    ("update", "clustertrustbundles.certificates.k8s.io"),
    ("delete", "clustertrustbundles.certificates.k8s.io"),
    ("get", "pods"),
    # The storage migration's right is on certmint's four CRDs by name, not on CRDs in general.
    ("patch", "customresourcedefinitions.apiextensions.k8s.io/status"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
]
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
NEEDED_BY_NAME = [
    *((verb, CRDS, f"{plural}.{GROUP}") for verb in ("get",) for plural in PLURALS),
    *(("patch", f"{CRDS}/status", f"{plural}.{GROUP}") for plural in PLURALS),
]
FORBIDDEN_BY_NAME = [
    ("patch", f"{CRDS}/status", "clusterkopfpeerings.kopf.dev"),
    ("patch", f"{CRDS}/status", "podcertificaterequests.certificates.k8s.io"),
    ("patch", f"{CRDS}/status", "widgets.example.com"),
    ("update", f"{CRDS}/status", f"certificates.{GROUP}"),
    ("patch", CRDS, f"certificates.{GROUP}"),
    ("update", CRDS, f"certificates.{GROUP}"),
    ("delete", CRDS, f"certificates.{GROUP}"),
]


def helm_install(cluster: Cluster, name: str, namespace: str, *values: str) -> str:
    """The chart into the session's API server, whose CRDs kubectl applied from crds/ (conftest): the
    user-managed CRDs of crds.enabled=false. tests/e2e/test_upgrade.py has the chart manage them."""
    helm = cluster.plane.binaries.helm
    assert helm.exists(), "helm is built by tools/controlplane/build.sh"
    cluster.plane.kubectl("create", "namespace", namespace)
    result = subprocess.run(
        [
            str(helm),
            "install",
            name,
            str(REPO / "charts" / "certmint"),
            "--namespace",
            namespace,
            "--kubeconfig",
            str(cluster.plane.kubeconfig),
            "--wait=false",
            *(argument for value in ("crds.enabled=false", *values) for argument in ("--set", value)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def release(cluster: Cluster) -> str:
    return helm_install(cluster, "certmint", RELEASE_NAMESPACE)


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig holding only a token of the chart's ServiceAccount."""
    token = cluster.plane.kubectl("create", "token", account, "-n", namespace, "--duration=1h").strip()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": cluster.plane.server,
                            "certificate-authority-data": base64.b64encode(
                                cluster.plane.credentials.ca_cert.read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
                "current-context": "c",
            }
        )
    )
    return path


def test_helm_install_is_accepted_by_the_api_server(cluster: Cluster, release: str) -> None:
    assert "STATUS: deployed" in release
    assert "kubectl get mcert" in release, "NOTES.txt is shown"
    deployment = yaml.safe_load(
        cluster.plane.kubectl("get", "deployment", "certmint", "-n", RELEASE_NAMESPACE, "-o", "yaml")
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "certmint"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["CERTMINT_PEERING"] == "certmint"
    assert "CERTMINT_POD_CERTIFICATES" not in env, "podCertificates.enabled is off by default"
    assert env["CERTMINT_MIGRATE_STORAGE"] == "true", "migrateStorage is on by default"
    service = cluster.core.read_namespaced_service("certmint", RELEASE_NAMESPACE)
    assert service.spec is not None
    assert [(port.name, port.port) for port in service.spec.ports or []] == [("http-metrics", 9402)]
    assert cluster.custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", "certmint")


def can_i(cluster: Cluster, verb: str, resource: str, name: str = "") -> str:
    """`resource/status` means the status subresource, which kubectl takes as a flag; `name`, one
    object of it (for rights restricted with resourceNames)."""
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    target = f"{kind}/{name}" if name else kind
    return cluster.plane.kubectl(
        "auth", "can-i", verb, target, *extra, "-A", f"--as={SERVICE_ACCOUNT}", check=False
    ).strip()


@pytest.mark.parametrize(("verb", "resource"), NEEDED)
def test_the_service_account_can_do_what_the_operator_needs(
    cluster: Cluster, release: str, verb: str, resource: str
) -> None:
    assert can_i(cluster, verb, resource) == "yes"


@pytest.mark.parametrize(("verb", "resource"), FORBIDDEN)
def test_the_service_account_cannot_do_more(cluster: Cluster, release: str, verb: str, resource: str) -> None:
    assert can_i(cluster, verb, resource).startswith("no")


@pytest.mark.parametrize(("verb", "resource", "name"), NEEDED_BY_NAME)
def test_the_service_account_may_set_stored_versions_of_certmints_crds(
    cluster: Cluster, release: str, verb: str, resource: str, name: str
) -> None:
    """The storage migration at start (migrateStorage, default on): read the CRD, patch its status."""
    assert can_i(cluster, verb, resource, name) == "yes"


@pytest.mark.parametrize(("verb", "resource", "name"), FORBIDDEN_BY_NAME)
def test_the_service_account_may_not_touch_other_crds_or_change_its_own(
    cluster: Cluster, release: str, verb: str, resource: str, name: str
) -> None:
    assert can_i(cluster, verb, resource, name).startswith("no")


def can_i_signer(cluster: Cluster, verb: str, signer_name: str, release_namespace: str, account: str) -> str:
    """Asks as the CSR admission plugin does: a signer name, or its domain's wildcard
    (`issuers.certmint.dev/*`), which is what the chart grants."""
    review = client.AuthorizationV1Api(cluster.api).create_subject_access_review(
        client.V1SubjectAccessReview.model_validate(
            {
                "spec": {
                    "user": f"system:serviceaccount:{release_namespace}:{account}",
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{release_namespace}"],
                    "resourceAttributes": {
                        "group": "certificates.k8s.io",
                        "resource": "signers",
                        "verb": verb,
                        "name": signer_name,
                    },
                }
            }
        )
    )
    assert review.status is not None, "the API server always answers a review with its status"
    return "yes" if review.status.allowed else f"no: {review.status.reason}"


@pytest.mark.parametrize(
    ("verb", "signer_name", "allowed"),
    [
        ("sign", "issuers.certmint.dev/*", True),
        ("sign", "clusterissuers.certmint.dev/*", True),
        ("sign", "kubernetes.io/*", False),
        ("sign", "kubernetes.io/kube-apiserver-client", False),
        ("sign", "example.com/*", False),
        ("approve", "issuers.certmint.dev/*", False),
        ("approve", "clusterissuers.certmint.dev/*", False),
        ("attest", "issuers.certmint.dev/*", False),
        ("attest", "clusterissuers.certmint.dev/*", False),
    ],
)
def test_the_service_account_signs_only_for_certmints_signer_names(
    cluster: Cluster, release: str, verb: str, signer_name: str, allowed: bool
) -> None:
    """Without csrSigner.autoApprove the operator may sign, never approve."""
    answer = can_i_signer(cluster, verb, signer_name, RELEASE_NAMESPACE, "certmint")
    assert answer == "yes" if allowed else answer.startswith("no"), answer


def test_the_operator_works_with_only_the_charts_permissions(
    cluster: Cluster, release: str, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    """The operator runs with a token of the chart's ServiceAccount: every request it makes is
    authorized by the chart's RBAC alone."""
    kubeconfig = service_account_kubeconfig(
        cluster, RELEASE_NAMESPACE, "certmint", tmp_path / "service-account.kubeconfig"
    )
    operator_process.stop()  # one operator at a time, as in a cluster
    restricted = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {
            "KUBECONFIG": str(kubeconfig),
            "CERTMINT_NAMESPACE": RELEASE_NAMESPACE,
            "CERTMINT_METRICS_PORT": "0",
            "CERTMINT_PEERING": "certmint",  # the chart's ClusterKopfPeering, as the Deployment sets it
        },
    )
    try:
        restricted.start()
        cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"chart-test": namespace}}})
        cluster.apply(self_signed_issuer(namespace))
        cluster.apply(certificate(namespace, cleanupSecretOnDelete=True))
        cluster.apply(issuer_bundle(f"chart-{namespace}", namespace, {"chart-test": namespace}))
        cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
        cluster.wait_condition(TRUST_BUNDLES.plural, None, f"chart-{namespace}", "True")
        signed = sign_a_csr(cluster, namespace)
        assert signed.startswith(b"-----BEGIN CERTIFICATE-----")
        assert "Forbidden" not in restricted.log(), restricted.log()[-2000:]
        assert "API 403" not in restricted.log()
    finally:
        restricted.stop()
        cluster.custom.delete_cluster_custom_object(
            GROUP, VERSION, TRUST_BUNDLES.plural, f"chart-{namespace}"
        )
        operator_process.start()


def sign_a_csr(cluster: Cluster, namespace: str) -> bytes:
    """A CSR for the namespace's Issuer, approved by the admin: signed with the chart's `sign`."""
    name = f"chart-{namespace}"
    submit_approved_csr(cluster, name, f"issuers.certmint.dev/{namespace}.ca", namespace)
    try:
        return wait_csr_signed(cluster, name)
    finally:
        client.CertificatesV1Api(cluster.api).delete_certificate_signing_request(name)


def submit_approved_csr(cluster: Cluster, name: str, signer_name: str, namespace: str) -> None:
    """A CSR for a SPIFFE identity in `namespace`, submitted and approved by the admin."""
    _, request = spiffe_csr("cluster.local", namespace, "web")
    certificates = client.CertificatesV1Api(cluster.api)
    certificates.create_certificate_signing_request(
        client.V1CertificateSigningRequest.model_validate(
            {
                "metadata": {"name": name},
                "spec": {
                    "signerName": signer_name,
                    "request": base64.b64encode(request).decode(),
                    "usages": ["digital signature", "client auth"],
                },
            }
        )
    )
    found = certificates.read_certificate_signing_request(name)
    assert found.status is not None, "a CSR read back carries a status, empty until approved"
    found.status.conditions = [
        client.V1CertificateSigningRequestCondition(type="Approved", status="True", reason="ChartTest")
    ]
    certificates.replace_certificate_signing_request_approval(name, found)


def wait_csr_signed(cluster: Cluster, name: str) -> bytes:
    """The PEM certificate of the CSR, once the operator has signed it."""
    certificates = client.CertificatesV1Api(cluster.api)

    def certificate() -> bytes | None:
        status = certificates.read_certificate_signing_request(name).status
        return base64.b64decode(status.certificate) if status and status.certificate else None

    return wait_for(certificate, 60, what=f"CSR {name} signed")


SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}
RESTRICTED = "certmint-restricted"


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Iterator[str]:
    """The one namespace a restricted release serves."""
    name = f"served-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(
        client.V1Namespace.model_validate({"metadata": {"name": name, "labels": {"restricted-test": "yes"}}})
    )
    yield name
    cluster.core.delete_namespace(name)


@pytest.fixture(scope="module")
def restricted_release(cluster: Cluster, served: str) -> str:
    cluster.apply(SERVICE_MONITOR_CRD)
    cluster.plane.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")
    return helm_install(
        cluster,
        RESTRICTED,
        RESTRICTED,
        f"watchNamespaces={{{served}}}",
        "metrics.serviceMonitor.enabled=true",
        "csrSigner.autoApprove=true",
    )


def can_i_in(cluster: Cluster, verb: str, resource: str, namespace: str | None) -> str:
    where = ["-n", namespace] if namespace else ["-A"]
    account = f"system:serviceaccount:{RESTRICTED}:{RESTRICTED}"
    return cluster.plane.kubectl(
        "auth", "can-i", verb, resource, *where, f"--as={account}", check=False
    ).strip()


def test_a_restricted_release_has_no_access_outside_its_namespaces(
    cluster: Cluster, restricted_release: str, served: str
) -> None:
    monitor = json_object(
        cluster.custom.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", RESTRICTED, "servicemonitors", RESTRICTED
        )
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    namespace: str | None
    for namespace in (served, RESTRICTED):
        for verb, resource in (("get", "secrets"), ("patch", "secrets"), ("create", "configmaps")):
            assert can_i_in(cluster, verb, resource, namespace) == "yes", (verb, resource, namespace)
    for namespace in ("kube-system", "default", None):
        for verb, resource in (("get", "secrets"), ("list", "secrets"), ("create", "configmaps")):
            assert can_i_in(cluster, verb, resource, namespace).startswith("no"), (verb, resource, namespace)
    assert can_i_in(cluster, "list", "certificates.certmint.dev", "kube-system").startswith("no")
    assert can_i_in(cluster, "watch", "clusterissuers.certmint.dev", None) == "yes"
    for verb in ("sign", "approve"):  # csrSigner.autoApprove grants approve too, on our signers only
        assert can_i_signer(cluster, verb, "clusterissuers.certmint.dev/*", RESTRICTED, RESTRICTED) == "yes"
        assert can_i_signer(
            cluster, verb, "kubernetes.io/kubelet-serving", RESTRICTED, RESTRICTED
        ).startswith("no")
    approval = cluster.plane.kubectl(
        "auth",
        "can-i",
        "patch",
        "certificatesigningrequests.certificates.k8s.io",
        "--subresource=approval",
        f"--as=system:serviceaccount:{RESTRICTED}:{RESTRICTED}",
        check=False,
    )
    assert approval.strip() == "yes"
    # It cannot list every namespace's objects, so it must not migrate (nor hold the right to).
    stored_versions = cluster.plane.kubectl(
        "auth",
        "can-i",
        "patch",
        f"customresourcedefinitions.apiextensions.k8s.io/certificates.{GROUP}",
        "--subresource=status",
        f"--as=system:serviceaccount:{RESTRICTED}:{RESTRICTED}",
        check=False,
    )
    assert stored_versions.strip().startswith("no")
    deployment = yaml.safe_load(
        cluster.plane.kubectl("get", "deployment", RESTRICTED, "-n", RESTRICTED, "-o", "yaml")
    )
    env = {
        item["name"]: item.get("value")
        for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CERTMINT_MIGRATE_STORAGE"] == "false"


@pytest.mark.usefixtures("without_session_operator")
def test_a_restricted_operator_serves_its_namespaces_with_its_roles_alone(
    cluster: Cluster, restricted_release: str, served: str, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(
        cluster, RESTRICTED, RESTRICTED, tmp_path / "restricted.kubeconfig"
    )
    operator = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {
            "KUBECONFIG": str(kubeconfig),
            "CERTMINT_NAMESPACE": RESTRICTED,
            "CERTMINT_METRICS_PORT": "0",
            "CERTMINT_PEERING": RESTRICTED,
            "CERTMINT_WATCH_NAMESPACES": served,
        },
    )
    bundle = f"restricted-{served}"
    try:
        operator.start()
        cluster.apply(self_signed_issuer(served))
        cluster.apply(certificate(served))
        cluster.apply(self_signed_issuer(namespace))  # a namespace it does not serve
        cluster.apply(certificate(namespace))
        cluster.apply(trust_bundle(bundle, [{"issuer": {"name": "ca", "namespace": served}}]))
        outside = f"outside-{served}"
        cluster.apply(trust_bundle(outside, [{"issuer": {"name": "ca", "namespace": namespace}}]))
        cluster.wait_condition(CERTIFICATES.plural, served, "web", "True")
        cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "True")
        unserved = cluster.wait_condition(TRUST_BUNDLES.plural, None, outside, "False", "SourceUnavailable")
        assert f"namespace {namespace} is not among" in unserved["message"]
        holders = cluster.core.list_config_map_for_all_namespaces(field_selector=f"metadata.name={bundle}")
        assert {metadata_of(item).namespace for item in holders.items} == {served, RESTRICTED}
        assert (cluster.get(CERTIFICATES.plural, namespace, "web") or {}).get("status") is None, (
            "served outside its list"
        )
        assert "Forbidden" not in operator.log(), operator.log()[-2000:]
        assert "API 403" not in operator.log()
    finally:
        operator.stop()
        for name in (bundle, f"outside-{served}"):
            cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)


def helm_template(*values: str, namespace: str = "certmint") -> list[dict[str, Any]]:
    """The chart rendered by `helm template` with these values: its manifests, parsed."""
    result = run_helm_template(*values, namespace=namespace)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def run_helm_template(*values: str, namespace: str = "certmint") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(locate_binaries().helm),
            "template",
            "certmint",
            str(REPO / "charts" / "certmint"),
            "--namespace",
            namespace,
            "--kube-version=v1.36.3",
            *(argument for value in values for argument in ("--set", value)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def rendered(
    documents: list[dict[str, Any]], kind: str, namespace: str | None = None, name: str | None = None
) -> dict[str, Any]:
    (found,) = (
        document
        for document in documents
        if document["kind"] == kind
        and (namespace is None or document["metadata"].get("namespace") == namespace)
        and (name is None or document["metadata"]["name"] == name)
    )
    return found


OPERATOR_ROLE = "certmint"
"""The operator's ClusterRole in `helm_template`'s release (the others are aggregated roles)."""
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def test_namespace_owners_are_granted_namespaced_trust_bundles_and_nothing_else() -> None:
    """Kubernetes aggregates these into admin and edit (and view): whoever owns a namespace may
    publish its own bundle there (tests/e2e/test_namespaced_bundles.py binds them as a tenant)."""
    aggregated = {
        document["metadata"]["name"]: document
        for document in helm_template()
        if document["kind"] == "ClusterRole"
        and any(label.startswith(AGGREGATE) for label in document["metadata"]["labels"])
    }
    edit = aggregated.pop("certmint-namespaced-trust-bundles-edit")
    view = aggregated.pop("certmint-namespaced-trust-bundles-view")
    assert aggregated == {}
    assert {label for label in edit["metadata"]["labels"] if label.startswith(AGGREGATE)} == {
        f"{AGGREGATE}admin",
        f"{AGGREGATE}edit",
    }
    assert {label for label in view["metadata"]["labels"] if label.startswith(AGGREGATE)} == {
        f"{AGGREGATE}view"
    }
    for role in (edit, view):
        assert [(rule["apiGroups"], rule["resources"]) for rule in role["rules"]] == [
            ([GROUP], [NAMESPACED_TRUST_BUNDLES.plural])
        ]
    assert set(view["rules"][0]["verbs"]) == {"get", "list", "watch"}
    off = helm_template("aggregateRoles=false")
    assert [d["metadata"]["name"] for d in off if d["kind"] == "ClusterRole"] == [OPERATOR_ROLE]


def test_the_chart_templates_the_crds_of_crds_directory_kept_unless_told() -> None:
    """The rendered CRDs are crds/ with the chart's labels and the keep policy; crds.keep=false drops
    the policy, crds.enabled=false leaves them out."""
    committed = {
        crd["metadata"]["name"]: crd
        for path in (REPO / "crds").glob("certmint.dev_*.yaml")
        for crd in [yaml.safe_load(path.read_text())]
    }
    documents = helm_template()
    templated = {d["metadata"]["name"]: d for d in documents if d["kind"] == "CustomResourceDefinition"}
    assert set(templated) == set(committed)
    for name, crd in templated.items():
        assert crd["spec"] == committed[name]["spec"], name
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    not_kept = [d for d in helm_template("crds.keep=false") if d["kind"] == "CustomResourceDefinition"]
    assert len(not_kept) == len(committed)
    assert all("annotations" not in crd["metadata"] for crd in not_kept)
    assert not [d for d in helm_template("crds.enabled=false") if d["kind"] == "CustomResourceDefinition"]


def operator_env(documents: list[dict[str, Any]]) -> dict[str, str | None]:
    container = rendered(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container["env"]}


POD_CERTIFICATE_CLUSTER_RULES = [
    {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["signers"],
        "resourceNames": ["issuers.certmint.dev/*", "clusterissuers.certmint.dev/*"],
        "verbs": ["attest"],
    },
    {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["clustertrustbundles"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
]
POD_CERTIFICATE_RESOURCES = {"podcertificaterequests", "podcertificaterequests/status", "clustertrustbundles"}
POD_CERTIFICATE_NAMESPACED_RULES = [
    {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["podcertificaterequests"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["podcertificaterequests/status"],
        "verbs": ["update", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
]


def added_rules(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert [rule for rule in before if rule not in after] == [], "enabling a feature removes no right"
    return [rule for rule in after if rule not in before]


def test_pod_certificates_enabled_adds_exactly_its_rights_and_the_operator_flag() -> None:
    off = helm_template()
    on = helm_template("podCertificates.enabled=true")
    assert "CERTMINT_POD_CERTIFICATES" not in operator_env(off)
    assert operator_env(on)["CERTMINT_POD_CERTIFICATES"] == "true"
    assert {key: value for key, value in operator_env(on).items() if key != "CERTMINT_POD_CERTIFICATES"} == (
        operator_env(off)
    )
    off_rules = rendered(off, "ClusterRole", name=OPERATOR_ROLE)["rules"]
    on_rules = rendered(on, "ClusterRole", name=OPERATOR_ROLE)["rules"]
    added = added_rules(off_rules, on_rules)
    assert added == POD_CERTIFICATE_NAMESPACED_RULES + POD_CERTIFICATE_CLUSTER_RULES
    for rule in off_rules:
        assert not POD_CERTIFICATE_RESOURCES & set(rule["resources"]), rule
        assert "pods" not in rule["resources"], "no access to Pods without podCertificates.enabled"
        assert "attest" not in rule["verbs"], rule
    assert sorted(document["kind"] for document in on) == sorted(document["kind"] for document in off)


def test_pod_certificates_with_watch_namespaces_reads_pods_and_requests_only_there() -> None:
    """Namespaced rights go to the Roles of the served namespaces; the cluster-scoped ones (attest,
    ClusterTrustBundles) to the ClusterRole."""
    off = helm_template("watchNamespaces={team-a}")
    on = helm_template("watchNamespaces={team-a}", "podCertificates.enabled=true")
    assert added_rules(
        rendered(off, "ClusterRole", name=OPERATOR_ROLE)["rules"],
        rendered(on, "ClusterRole", name=OPERATOR_ROLE)["rules"],
    ) == (POD_CERTIFICATE_CLUSTER_RULES)
    for namespace in ("team-a", "certmint"):
        assert (
            added_rules(rendered(off, "Role", namespace)["rules"], rendered(on, "Role", namespace)["rules"])
            == POD_CERTIFICATE_NAMESPACED_RULES
        )


POD_RELEASE = "certmint-pods"
POD_NEEDED = [
    ("get", "podcertificaterequests.certificates.k8s.io"),
    ("list", "podcertificaterequests.certificates.k8s.io"),
    ("watch", "podcertificaterequests.certificates.k8s.io"),
    ("update", "podcertificaterequests.certificates.k8s.io/status"),
    ("patch", "podcertificaterequests.certificates.k8s.io/status"),
    ("get", "pods"),
    ("get", "clustertrustbundles.certificates.k8s.io"),
    ("watch", "clustertrustbundles.certificates.k8s.io"),
    ("create", "clustertrustbundles.certificates.k8s.io"),
    ("update", "clustertrustbundles.certificates.k8s.io"),
    ("delete", "clustertrustbundles.certificates.k8s.io"),
]
POD_FORBIDDEN = [
    ("create", "podcertificaterequests.certificates.k8s.io"),
    ("update", "podcertificaterequests.certificates.k8s.io"),
    ("patch", "podcertificaterequests.certificates.k8s.io"),
    ("delete", "podcertificaterequests.certificates.k8s.io"),
    ("list", "pods"),
    ("watch", "pods"),
    ("patch", "pods"),
    ("create", "pods"),
]


@pytest.fixture(scope="module")
def pod_release(cluster: Cluster) -> str:
    return helm_install(cluster, POD_RELEASE, POD_RELEASE, "podCertificates.enabled=true")


def can_i_pods_release(cluster: Cluster, verb: str, resource: str) -> str:
    name, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    account = f"system:serviceaccount:{POD_RELEASE}:{POD_RELEASE}"
    return cluster.plane.kubectl(
        "auth", "can-i", verb, name, *extra, "-A", f"--as={account}", check=False
    ).strip()


def test_pod_certificates_enabled_grants_what_the_signer_needs_on_the_api_server(
    cluster: Cluster, pod_release: str
) -> None:
    assert "STATUS: deployed" in pod_release
    for verb, resource in POD_NEEDED:
        assert can_i_pods_release(cluster, verb, resource) == "yes", (verb, resource)
    for verb, resource in POD_FORBIDDEN:
        assert can_i_pods_release(cluster, verb, resource).startswith("no"), (verb, resource)
    for verb in ("sign", "attest"):
        for signer_name in ("issuers.certmint.dev/*", "clusterissuers.certmint.dev/*"):
            assert can_i_signer(cluster, verb, signer_name, POD_RELEASE, POD_RELEASE) == "yes"
        for signer_name in ("kubernetes.io/*", "example.com/*", "kubernetes.io/kube-apiserver-client-pod"):
            assert can_i_signer(cluster, verb, signer_name, POD_RELEASE, POD_RELEASE).startswith("no")
    approve = can_i_signer(cluster, "approve", "issuers.certmint.dev/*", POD_RELEASE, POD_RELEASE)
    assert approve.startswith("no"), "approving stays with csrSigner.autoApprove"


def test_the_charts_account_attests_only_for_certmints_signer_names(
    cluster: Cluster, pod_release: str, tmp_path: Path
) -> None:
    """The API server's ClusterTrustBundle admission checks `attest` itself: the chart's token may
    publish a bundle for certmint's signer name and is refused one for another signer."""
    kubeconfig = service_account_kubeconfig(cluster, POD_RELEASE, POD_RELEASE, tmp_path / "pods.kubeconfig")
    ca = cluster.plane.credentials.ca_cert.read_text()
    suffix = uuid.uuid4().hex[:6]

    def create(signer_name: str) -> subprocess.CompletedProcess[str]:
        bundle = {
            "apiVersion": "certificates.k8s.io/v1beta1",
            "kind": "ClusterTrustBundle",
            "metadata": {"name": f"{signer_name.replace('/', ':')}:{suffix}"},
            "spec": {"signerName": signer_name, "trustBundle": ca},
        }
        return subprocess.run(
            [str(cluster.plane.binaries.kubectl), "--kubeconfig", str(kubeconfig), "create", "-f", "-"],
            input=yaml.safe_dump(bundle),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    ours = f"issuers.certmint.dev/chart-{suffix}.ca"
    created = create(ours)
    try:
        assert created.returncode == 0, created.stderr
        refused = create(f"example.com/chart-{suffix}")
        assert refused.returncode != 0
        assert "not permitted to attest" in refused.stderr, refused.stderr
    finally:
        cluster.plane.kubectl(
            "delete", "clustertrustbundle", f"{ours.replace('/', ':')}:{suffix}", "--ignore-not-found"
        )


@pytest.mark.timeout(300)
def test_an_operator_with_pod_certificates_works_with_only_the_charts_permissions(
    cluster: Cluster, pod_release: str, namespace: str, tmp_path: Path, without_session_operator: None
) -> None:
    """The operator with CERTMINT_POD_CERTIFICATES, as the chart sets it, runs with a token of the
    release's ServiceAccount: it signs a PodCertificateRequest (reading the Pod, writing the status
    under `sign`) and publishes the issuer's ClusterTrustBundle (under `attest`), forbidden nothing."""
    kubeconfig = service_account_kubeconfig(cluster, POD_RELEASE, POD_RELEASE, tmp_path / "pods.kubeconfig")
    operator = OperatorProcess(
        cluster.plane,
        tmp_path / "operator.log",
        {
            "KUBECONFIG": str(kubeconfig),
            "CERTMINT_NAMESPACE": POD_RELEASE,
            "CERTMINT_METRICS_PORT": "0",
            "CERTMINT_PEERING": POD_RELEASE,
            "CERTMINT_POD_CERTIFICATES": "true",
        },
    )
    signer = f"issuers.certmint.dev/{namespace}.ca"
    bundle_name = f"{signer.replace('/', ':')}:primary"
    try:
        operator.start()
        cluster.apply(issuer(namespace, "ca", selfSigned={}, podCertificates={}))
        cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
        node_body = pcr.node(cluster)
        account = pcr.create(
            cluster, f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "web"}}
        )
        pods = f"/api/v1/namespaces/{namespace}/pods"
        pod = pcr.create(cluster, pods, pcr.pod_manifest(namespace, [signer]))
        key = ec.generate_private_key(ec.SECP256R1())
        request = pcr.request_manifest("chart", signer, pod, account, node_body, stub_request(key))
        pcr.create(cluster, podcerts.path(namespace), request)
        issued = wait_for(lambda: pcr.final_condition(cluster, namespace, "chart"), 120, what="an answer")
        assert issued["type"] == "Issued", issued
        (leaf, *_) = load_certificates_pem(issued["status_body"]["certificateChain"].encode())
        assert leaf.public_key() == key.public_key()
        published = wait_for(
            lambda: (
                cluster.plane.kubectl("get", "clustertrustbundle", bundle_name, "-o", "name", check=False)
                .strip()
                .startswith("clustertrustbundle")
            ),
            60,
            what=f"ClusterTrustBundle {bundle_name}",
        )
        assert published
        assert "Forbidden" not in operator.log(), operator.log()[-2000:]
        assert "API 403" not in operator.log()
    finally:
        operator.stop()
        cluster.plane.kubectl("delete", "clustertrustbundle", bundle_name, "--ignore-not-found")


# The replica values (issue 25): replicaCount active slots plus spares, the Lease RBAC and the
# PodDisruptionBudget of a sharded install, and exactly the single-replica install of before
# (kopf peering, no Lease) when replicaCount is 1.
RELEASE_NAMESPACE_OF_TEMPLATE = "certmint"


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def deployment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = of_kind(documents, "Deployment")
    return found


def environment(documents: list[dict[str, Any]]) -> dict[str, str]:
    container = deployment(documents)["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def rules_on(documents: list[dict[str, Any]], group: str, resource: str) -> list[set[str]]:
    """The verb sets of every rule of the chart's Roles and ClusterRoles naming group/resource."""
    return [
        set(rule["verbs"])
        for role in of_kind(documents, "ClusterRole") + of_kind(documents, "Role")
        if not role["metadata"]["name"].endswith(("-edit", "-view"))  # the aggregated user roles
        for rule in role["rules"]
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
    ]


def test_one_replica_is_todays_install() -> None:
    documents = helm_template()
    assert deployment(documents)["spec"]["replicas"] == 1
    env = environment(documents)
    assert env["CERTMINT_REPLICAS"] == "1"
    assert env["CERTMINT_PEERING"] == "certmint"
    assert "CERTMINT_LEASE_SECONDS" not in env
    assert [p["metadata"]["name"] for p in of_kind(documents, "ClusterKopfPeering")] == ["certmint"]
    assert rules_on(documents, "kopf.dev", "clusterkopfpeerings") == [{"get", "list", "watch", "patch"}]
    assert rules_on(documents, "coordination.k8s.io", "leases") == []
    assert rules_on(documents, "certmint.dev", "certificates") == [{"get", "list", "watch"}]
    assert of_kind(documents, "PodDisruptionBudget") == [], "no spare: a budget could only block drains"


def test_sharded_replicas_hold_leases_instead_of_peering() -> None:
    documents = helm_template("replicaCount=3", "spares=2", "leaseSeconds=20")
    assert deployment(documents)["spec"]["replicas"] == 5, "replicaCount + spares pods"
    env = environment(documents)
    assert (env["CERTMINT_REPLICAS"], env["CERTMINT_LEASE_SECONDS"]) == ("3", "20")
    assert "CERTMINT_PEERING" not in env, "kopf peering only with one active replica"
    assert of_kind(documents, "ClusterKopfPeering") == []
    assert rules_on(documents, "kopf.dev", "clusterkopfpeerings") == []
    (lease_role,) = [r for r in of_kind(documents, "Role") if r["metadata"]["name"] == "certmint-leases"]
    assert lease_role["metadata"]["namespace"] == RELEASE_NAMESPACE_OF_TEMPLATE, (
        "Leases in the release namespace only"
    )
    assert rules_on(documents, "coordination.k8s.io", "leases") == [
        {"get", "list", "watch", "create", "update", "patch", "delete"}
    ]
    (binding,) = [b for b in of_kind(documents, "RoleBinding") if b["metadata"]["name"] == "certmint-leases"]
    assert binding["roleRef"]["name"] == "certmint-leases"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "certmint", "namespace": RELEASE_NAMESPACE_OF_TEMPLATE}
    ]
    # The bucket label on Certificates created without it (or with one that lies).
    assert {"patch"} in rules_on(documents, "certmint.dev", "certificates")
    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 2, "evictions leave replicaCount pods to hold the slots"
    assert "minAvailable" not in budget["spec"]


def test_restricted_namespaces_grant_the_label_patch_in_their_roles_only() -> None:
    documents = helm_template("replicaCount=2", "watchNamespaces={team-a}")
    (cluster_role,) = [r for r in of_kind(documents, "ClusterRole") if r["metadata"]["name"] == "certmint"]
    assert not any("certificates" in rule.get("resources", []) for rule in cluster_role["rules"])
    team_role = next(r for r in of_kind(documents, "Role") if r["metadata"].get("namespace") == "team-a")
    assert any(
        rule["resources"] == ["certificates"] and rule["verbs"] == ["patch"] for rule in team_role["rules"]
    )


def test_one_replica_with_a_spare_keeps_the_standby_and_its_budget() -> None:
    documents = helm_template("spares=1")
    assert deployment(documents)["spec"]["replicas"] == 2
    assert environment(documents)["CERTMINT_PEERING"] == "certmint"
    assert rules_on(documents, "coordination.k8s.io", "leases") == []
    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1


def test_an_explicit_min_available_replaces_the_default_budget() -> None:
    (budget,) = of_kind(helm_template("podDisruptionBudget.minAvailable=2"), "PodDisruptionBudget")
    assert budget["spec"] == {
        "minAvailable": 2,
        "selector": {
            "matchLabels": {"app.kubernetes.io/name": "certmint", "app.kubernetes.io/instance": "certmint"}
        },
    }
    assert (
        of_kind(helm_template("spares=2", "podDisruptionBudget.enabled=false"), "PodDisruptionBudget") == []
    )


@pytest.mark.parametrize(
    "value", ["replicaCount=0", "replicaCount=65", "spares=-1", "leaseSeconds=2", "spare=1"]
)
def test_the_schema_rejects_impossible_replica_values(value: str) -> None:
    result = run_helm_template(value)
    assert result.returncode != 0, f"{value} rendered"
    assert "values don't meet the specifications of the schema" in result.stderr


SHARDED = "certmint-sharded"


def test_a_sharded_release_may_hold_leases_in_its_own_namespace_only(cluster: Cluster) -> None:
    """replicaCount 2 and a spare, on the real API server: the Lease rights exist in the release
    namespace and nowhere else, kopf peering's do not, and the budget lets one pod go at a time."""
    helm_install(cluster, SHARDED, SHARDED, "replicaCount=2", "spares=1")
    account = f"--as=system:serviceaccount:{SHARDED}:{SHARDED}"

    def can_i_here(verb: str, resource: str, *where: str) -> str:
        return cluster.plane.kubectl("auth", "can-i", verb, resource, *where, account, check=False).strip()

    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert can_i_here(verb, "leases.coordination.k8s.io", "-n", SHARDED) == "yes", verb
    for namespace in ("default", "kube-system", "kube-node-lease"):
        assert can_i_here("update", "leases.coordination.k8s.io", "-n", namespace).startswith("no"), namespace
    assert can_i_here("patch", "certificates.certmint.dev", "-A") == "yes", "the bucket label"
    assert can_i_here("update", "certificates.certmint.dev", "-A").startswith("no")
    assert can_i_here("patch", "clusterkopfpeerings.kopf.dev", "-A").startswith("no")
    budget = yaml.safe_load(cluster.plane.kubectl("get", "pdb", SHARDED, "-n", SHARDED, "-o", "yaml"))
    assert budget["spec"]["maxUnavailable"] == 1
    deployment = yaml.safe_load(
        cluster.plane.kubectl("get", "deployment", SHARDED, "-n", SHARDED, "-o", "yaml")
    )
    assert deployment["spec"]["replicas"] == 3
