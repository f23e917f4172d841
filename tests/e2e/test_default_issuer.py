"""Issue 26 end to end, the default issuer: a Certificate without issuerRef uses the default
ClusterIssuer, or its namespace's default Issuer, which wins there only; two defaults stall the
Certificates that need one; a new default re-issues only those, each at its point in the new
default's reissueWindow; a real non-admin tenant cannot make its Issuer the cluster's default.

The session operator serves every test: each default ClusterIssuer made here is deleted when its
test ends, so that no other test's Certificate without issuerRef would resolve to it.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, DEFAULT, GROUP, ISSUERS, VERSION
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.certificates.renewal import spread
from tests.e2e.manifests import certificate, cluster_issuer, issuer
from tests.e2e.support import (
    Cluster,
    OperatorProcess,
    certmint,
    grant_role,
    metadata_of,
    token_client,
    wait_for,
)

REISSUE_WINDOW = timedelta(seconds=30)
FOLLOWERS = ("alpha", "bravo", "charlie")

MakeClusterIssuer = Callable[..., str]


@pytest.fixture
def make_cluster_issuer(cluster: Cluster, operator_process: OperatorProcess) -> Iterator[MakeClusterIssuer]:
    """Makes selfSigned ClusterIssuers (a short reissueWindow), and deletes every one when the test ends."""
    made: list[str] = []

    def make(prefix: str, default: bool) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        made.append(name)
        rotation = {"reissueWindow": f"{int(REISSUE_WINDOW.total_seconds())}s"}
        cluster.apply(cluster_issuer(name, selfSigned={"rotation": rotation}, default=default))
        cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "True")
        return name

    yield make
    for name in made:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)


def set_default(cluster: Cluster, name: str, default: bool) -> None:
    patch = {"spec": {"default": default}}
    cluster.custom.patch_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name, patch)


def follower(namespace: str, name: str) -> dict[str, Any]:
    """A Certificate without issuerRef."""
    return certificate(namespace, name, issuer=None, duration="24h")


def default_condition(
    cluster: Cluster, plural: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    return cluster.condition(plural, namespace, name, DEFAULT)


def wait_default(
    cluster: Cluster, plural: str, namespace: str | None, name: str, status: str
) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        found = default_condition(cluster, plural, namespace, name)
        return found if found and found["status"] == status else None

    return wait_for(matches, 60, what=f"{plural} {name} Default={status}")


def resolved(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    status = (cluster.get(CERTIFICATES.plural, namespace, name) or {}).get("status") or {}
    found: dict[str, Any] = status.get("issuerRef") or {}
    return found


def leaf(cluster: Cluster, namespace: str, name: str) -> x509.Certificate:
    data = cluster.secret_data(namespace, f"{name}-tls") or {}
    return load_certificates_pem(data["tls.crt"])[0]


def issued_by(cluster: Cluster, namespace: str, name: str, issuer_name: str) -> bool:
    data = cluster.secret_data(namespace, f"{name}-tls")
    if not data:
        return False
    common_name = f"certmint {issuer_name}"
    return load_certificates_pem(data["tls.crt"])[0].issuer.rfc4514_string() == f"CN={common_name}"


def recorded_issuer(cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    annotations = metadata_of(cluster.core.read_namespaced_secret(f"{name}-tls", namespace)).annotations or {}
    return annotations[labels.ISSUER_KIND], annotations[labels.ISSUER_NAME]


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.timeout(300)
def test_a_default_cluster_issuer_issues_a_certificate_without_issuer_ref(
    cluster: Cluster, namespace: str, make_cluster_issuer: MakeClusterIssuer
) -> None:
    root = make_cluster_issuer("root", default=True)
    assert (
        wait_default(cluster, CLUSTER_ISSUERS.plural, None, root, "True")["reason"] == reasons.DEFAULT_ISSUER
    )
    cluster.apply(follower(namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=60)
    assert resolved(cluster, namespace, "web") == {"name": root, "kind": "ClusterIssuer"}
    assert issued_by(cluster, namespace, "web", root)
    assert recorded_issuer(cluster, namespace, "web") == ("ClusterIssuer", root)
    stored = cluster.get(CERTIFICATES.plural, namespace, "web") or {}
    assert "issuerRef" not in stored["spec"], "the spec stays as written"
    listed = cluster.plane.kubectl("get", "certificates.certmint.dev", "-n", namespace)
    assert root in listed, f"the Issuer column shows the issuer it resolved to: {listed}"
    shown = certmint(cluster, "status", f"{namespace}/web", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["issuer"] == root


@pytest.mark.timeout(300)
def test_a_namespace_default_issuer_wins_in_its_namespace_only(
    cluster: Cluster, namespace: str, other_namespace: str, make_cluster_issuer: MakeClusterIssuer
) -> None:
    root = make_cluster_issuer("root", default=True)
    cluster.apply(issuer(namespace, "local", selfSigned={}, default=True))
    cluster.wait_condition(ISSUERS.plural, namespace, "local", "True")
    wait_default(cluster, ISSUERS.plural, namespace, "local", "True")
    cluster.apply(follower(namespace, "web"))
    cluster.apply(follower(other_namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=60)
    cluster.wait_condition(CERTIFICATES.plural, other_namespace, "web", "True", timeout=60)
    assert resolved(cluster, namespace, "web") == {"name": "local", "kind": "Issuer"}
    assert issued_by(cluster, namespace, "web", "local")
    assert resolved(cluster, other_namespace, "web") == {"name": root, "kind": "ClusterIssuer"}
    assert issued_by(cluster, other_namespace, "web", root)


@pytest.mark.timeout(300)
def test_two_default_cluster_issuers_issue_nothing_until_one_is_unmarked(
    cluster: Cluster,
    namespace: str,
    make_cluster_issuer: MakeClusterIssuer,
    operator_process: OperatorProcess,
) -> None:
    first = make_cluster_issuer("first", default=True)
    second = make_cluster_issuer("second", default=True)
    cluster.apply(follower(namespace, "web"))
    stalled = cluster.wait_condition(
        CERTIFICATES.plural, namespace, "web", "False", reasons.AMBIGUOUS_DEFAULT_ISSUER, timeout=60
    )
    for name in (first, second):
        assert f"ClusterIssuer {name}" in stalled["message"]
        standing = wait_default(cluster, CLUSTER_ISSUERS.plural, None, name, "False")
        assert standing["reason"] == reasons.AMBIGUOUS_DEFAULT_ISSUER
    operator_process.wait_reconciled(1)
    assert cluster.secret_data(namespace, "web-tls") is None, "nothing is issued from either"

    set_default(cluster, second, False)
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=60)
    assert resolved(cluster, namespace, "web") == {"name": first, "kind": "ClusterIssuer"}
    assert issued_by(cluster, namespace, "web", first)
    wait_default(cluster, CLUSTER_ISSUERS.plural, None, first, "True")
    wait_for(
        lambda: default_condition(cluster, CLUSTER_ISSUERS.plural, None, second) is None,
        30,
        what="the unmarked ClusterIssuer's Default condition removed",
    )


@pytest.mark.timeout(300)
def test_a_new_default_re_issues_only_its_followers_each_at_its_point(
    cluster: Cluster,
    namespace: str,
    make_cluster_issuer: MakeClusterIssuer,
    operator_process: OperatorProcess,
) -> None:
    former = make_cluster_issuer("former", default=True)
    for name in FOLLOWERS:
        cluster.apply(follower(namespace, name))
    cluster.apply(
        certificate(namespace, "pinned", duration="24h", issuerRef={"name": former, "kind": "ClusterIssuer"})
    )
    for name in (*FOLLOWERS, "pinned"):
        cluster.wait_condition(CERTIFICATES.plural, namespace, name, "True", timeout=60)
    pinned_before = cluster.core.read_namespaced_secret("pinned-tls", namespace)

    successor = make_cluster_issuer("successor", default=False)
    set_default(cluster, former, False)
    set_default(cluster, successor, True)
    became = timestamp(
        wait_default(cluster, CLUSTER_ISSUERS.plural, None, successor, "True")["lastTransitionTime"]
    )

    uids = {name: metadata_of_certificate(cluster, namespace, name) for name in FOLLOWERS}
    points = {name: became + REISSUE_WINDOW * spread(uids[name]) for name in FOLLOWERS}
    for name in FOLLOWERS:
        # Each follower resolves to the new default at once, and (unless its point has passed) waits
        # for its point Ready, with its next look there.
        wait_for(
            partial(waits_for_point, cluster, namespace, name, successor, points[name]),
            60,
            what=f"{name} resolved to the new default, its next look at its point {points[name]}",
        )
    for name in FOLLOWERS:
        wait_for(
            partial(issued_by, cluster, namespace, name, successor),
            120,
            what=f"{name} re-issued by the new default",
        )
        signed_at = leaf(cluster, namespace, name).not_valid_after_utc - timedelta(hours=24)
        # Whole seconds: the certificate was signed no earlier than the second of its point.
        assert signed_at >= points[name].replace(microsecond=0), f"{name} re-issued before its point"
        assert recorded_issuer(cluster, namespace, name) == ("ClusterIssuer", successor)
        reissue = [e for e in cluster.events(namespace, name) if e.reason == reasons.REISSUED]
        assert reissue, f"{name} has a Reissued event"
        assert (reissue[-1].message or "").startswith(reasons.DEFAULT_ISSUER_CHANGED)

    operator_process.wait_reconciled(1)
    pinned_after = cluster.core.read_namespaced_secret("pinned-tls", namespace)
    assert metadata_of(pinned_after).resource_version == metadata_of(pinned_before).resource_version
    assert pinned_after.data == pinned_before.data, "an explicit issuerRef keeps its Secret byte for byte"
    assert resolved(cluster, namespace, "pinned") == {"name": former, "kind": "ClusterIssuer"}


def waits_for_point(cluster: Cluster, namespace: str, name: str, successor: str, point: datetime) -> bool:
    """Resolved to the new default and Ready, with its next look at its point; or already re-issued
    (its point passed)."""
    if issued_by(cluster, namespace, name, successor):
        return True
    stored = cluster.get(CERTIFICATES.plural, namespace, name) or {}
    status = stored.get("status") or {}
    ready = cluster.condition(CERTIFICATES.plural, namespace, name) or {}
    return (
        status.get("issuerRef") == {"name": successor, "kind": "ClusterIssuer"}
        and ready.get("status") == "True"
        and abs(timestamp(status.get("renewalTime") or "1970-01-01T00:00:00Z") - point)
        < timedelta(milliseconds=1)
    )


def metadata_of_certificate(cluster: Cluster, namespace: str, name: str) -> str:
    stored = cluster.get(CERTIFICATES.plural, namespace, name) or {}
    return str(stored["metadata"]["uid"])


def _tenant_role(cluster: Cluster, namespace: str) -> client.ApiClient:
    """A ServiceAccount that may manage Issuers and Certificates in its namespace, and nothing else."""
    verbs = ["create", "get", "list", "watch", "update", "patch", "delete"]
    grant_role(
        cluster,
        namespace,
        "tenant",
        [{"apiGroups": [GROUP], "resources": [ISSUERS.plural, CERTIFICATES.plural], "verbs": verbs}],
    )
    return token_client(cluster, namespace, "tenant")


def _created(custom: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> bool:
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, ISSUERS.plural, body)
    except ApiException as error:
        if error.status == 403:
            return False  # RBAC not in effect yet
        raise
    return True


@pytest.mark.timeout(300)
def test_a_tenant_cannot_make_its_issuer_the_cluster_default(
    cluster: Cluster, namespace: str, other_namespace: str, make_cluster_issuer: MakeClusterIssuer
) -> None:
    root = make_cluster_issuer("root", default=True)
    api = _tenant_role(cluster, namespace)
    custom = client.CustomObjectsApi(api)
    try:
        # Marking its own Issuer default is allowed: it serves the tenant's own namespace only.
        wait_for(
            lambda: _created(custom, namespace, issuer(namespace, "mine", selfSigned={}, default=True)),
            20,
            what="the tenant creates its Issuer",
        )
        cluster.wait_condition(ISSUERS.plural, namespace, "mine", "True")
        wait_default(cluster, ISSUERS.plural, namespace, "mine", "True")
        cluster.apply(follower(other_namespace, "victim"))
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, CERTIFICATES.plural, follower(namespace, "own")
        )
        cluster.wait_condition(CERTIFICATES.plural, other_namespace, "victim", "True", timeout=60)
        cluster.wait_condition(CERTIFICATES.plural, namespace, "own", "True", timeout=60)
        assert resolved(cluster, other_namespace, "victim") == {"name": root, "kind": "ClusterIssuer"}
        assert issued_by(cluster, other_namespace, "victim", root)
        assert resolved(cluster, namespace, "own") == {"name": "mine", "kind": "Issuer"}

        # A ClusterIssuer of its own, or the existing default taken over: the real API server refuses.
        takeover = f"tenant-{uuid.uuid4().hex[:6]}"
        with pytest.raises(ApiException) as created:
            custom.create_cluster_custom_object(
                GROUP, VERSION, CLUSTER_ISSUERS.plural, cluster_issuer(takeover, selfSigned={}, default=True)
            )
        assert created.value.status == 403
        for patch in ({"spec": {"default": False}}, {"spec": {"selfSigned": {"commonName": "tenant"}}}):
            with pytest.raises(ApiException) as patched:
                custom.patch_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, root, patch)
            assert patched.value.status == 403
        assert cluster.get(CLUSTER_ISSUERS.plural, None, takeover) is None
        stored = cluster.get(CLUSTER_ISSUERS.plural, None, root) or {}
        assert stored["spec"]["default"] is True
    finally:
        api.close()
