"""The chart's replica values rendered by helm itself: replicaCount active slots plus spares, the
Lease RBAC and the PodDisruptionBudget of a sharded install, and exactly today's single-replica
install (kopf peering, no Lease) when replicaCount is 1."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.test_alert_rules import helm

CHART = Path(__file__).resolve().parents[2] / "charts" / "certmint"
NAMESPACE = "certmint-system"


def render(*values: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            helm(),
            "template",
            "certmint",
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            "1.36.0",
            *(argument for value in values for argument in ("--set", value)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def rejected(*values: str) -> str:
    result = subprocess.run(
        [helm(), "template", "certmint", str(CHART), "--kube-version", "1.36.0"]
        + [argument for value in values for argument in ("--set", value)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0, f"{values} rendered"
    return result.stderr


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
    documents = render()
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
    documents = render("replicaCount=3", "spares=2", "leaseSeconds=20")
    assert deployment(documents)["spec"]["replicas"] == 5, "replicaCount + spares pods"
    env = environment(documents)
    assert (env["CERTMINT_REPLICAS"], env["CERTMINT_LEASE_SECONDS"]) == ("3", "20")
    assert "CERTMINT_PEERING" not in env, "kopf peering only with one active replica"
    assert of_kind(documents, "ClusterKopfPeering") == []
    assert rules_on(documents, "kopf.dev", "clusterkopfpeerings") == []
    (lease_role,) = [r for r in of_kind(documents, "Role") if r["metadata"]["name"] == "certmint-leases"]
    assert lease_role["metadata"]["namespace"] == NAMESPACE, "Leases in the release namespace only"
    assert rules_on(documents, "coordination.k8s.io", "leases") == [
        {"get", "list", "watch", "create", "update", "patch", "delete"}
    ]
    (binding,) = [b for b in of_kind(documents, "RoleBinding") if b["metadata"]["name"] == "certmint-leases"]
    assert binding["roleRef"]["name"] == "certmint-leases"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "certmint", "namespace": NAMESPACE}]
    # The bucket label on Certificates created without it (or with one that lies).
    assert {"patch"} in rules_on(documents, "certmint.dev", "certificates")
    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 2, "evictions leave replicaCount pods to hold the slots"
    assert "minAvailable" not in budget["spec"]


def test_restricted_namespaces_grant_the_label_patch_in_their_roles_only() -> None:
    documents = render("replicaCount=2", "watchNamespaces={team-a}")
    (cluster_role,) = [r for r in of_kind(documents, "ClusterRole") if r["metadata"]["name"] == "certmint"]
    assert not any("certificates" in rule.get("resources", []) for rule in cluster_role["rules"])
    team_role = next(r for r in of_kind(documents, "Role") if r["metadata"].get("namespace") == "team-a")
    assert any(
        rule["resources"] == ["certificates"] and rule["verbs"] == ["patch"] for rule in team_role["rules"]
    )


def test_one_replica_with_a_spare_keeps_the_standby_and_its_budget() -> None:
    documents = render("spares=1")
    assert deployment(documents)["spec"]["replicas"] == 2
    assert environment(documents)["CERTMINT_PEERING"] == "certmint"
    assert rules_on(documents, "coordination.k8s.io", "leases") == []
    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1


def test_an_explicit_min_available_replaces_the_default_budget() -> None:
    (budget,) = of_kind(render("podDisruptionBudget.minAvailable=2"), "PodDisruptionBudget")
    assert budget["spec"] == {
        "minAvailable": 2,
        "selector": {
            "matchLabels": {"app.kubernetes.io/name": "certmint", "app.kubernetes.io/instance": "certmint"}
        },
    }
    assert of_kind(render("spares=2", "podDisruptionBudget.enabled=false"), "PodDisruptionBudget") == []


@pytest.mark.parametrize(
    "value", ["replicaCount=0", "replicaCount=65", "spares=-1", "leaseSeconds=2", "spare=1"]
)
def test_the_schema_rejects_impossible_replica_values(value: str) -> None:
    assert "values don't meet the specifications of the schema" in rejected(value)
