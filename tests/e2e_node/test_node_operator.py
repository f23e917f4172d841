"""Issue 14: the chart's operator runs as a pod of our own image on a real node, Ready through the
kubelet's probes, non-root on a read-only root filesystem; it issues; `kubectl logs` and `exec` work;
with two replicas, deleting the leading pod hands the work to the other."""

import json
import re
from typing import Any

import pytest

from devcluster.node import RunningNode
from devcluster.node.workloads import apply, certificate, issuer, wait_for
from tests.e2e_node.conftest import RELEASE_NAMESPACE, REPO, chart_values

ISSUED = re.compile(r"\] (?:issued|renewed|reissued) (\S+) serial")


def operator_pods(node: RunningNode) -> list[dict[str, Any]]:
    output = node.kubectl(
        "get", "pods", "-n", RELEASE_NAMESPACE, "-l", "app.kubernetes.io/name=certmint", "-o", "json"
    )
    return [pod for pod in json.loads(output)["items"] if not pod["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def certificate_ready(node: RunningNode, namespace: str, name: str) -> bool:
    output = node.kubectl(
        "get",
        "certificates.certmint.dev",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        check=False,
    )
    return output.strip() == "True"


def test_the_chart_runs_the_operator_as_a_ready_pod_that_issues(
    node: RunningNode, release: str, namespace: str
) -> None:
    (pod,) = operator_pods(node)
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["image"] == node.images.certmint.reference
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    wait_for(lambda: all(ready(p) for p in operator_pods(node)), 120, "the kubelet's probes to pass")
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

    apply(node, [issuer(namespace), certificate(namespace, "web", dnsNames=[f"web.{namespace}.svc"])])
    wait_for(lambda: certificate_ready(node, namespace, "web"), 90, "the operator pod to issue")
    secret = node.kubectl("get", "secret", "web-tls", "-n", namespace, "-o", "jsonpath={.data.tls\\.crt}")
    assert secret, "the Certificate is Ready and its Secret holds the certificate"


def test_the_operator_runs_non_root_on_a_read_only_root_filesystem(node: RunningNode, release: str) -> None:
    (pod,) = operator_pods(node)
    name = pod["metadata"]["name"]
    ids = node.kubectl("exec", "-n", RELEASE_NAMESPACE, name, "--", "id", "-u")
    assert ids.strip() == "65532"
    written = node.kubectl("exec", "-n", RELEASE_NAMESPACE, name, "--", "touch", "/opt/probe", check=False)
    assert "Read-only file system" in written


def test_kubectl_logs_and_exec_reach_the_operator_pod(
    node: RunningNode, release: str, namespace: str
) -> None:
    apply(node, [issuer(namespace), certificate(namespace, "logged", dnsNames=[f"logged.{namespace}.svc"])])
    wait_for(lambda: certificate_ready(node, namespace, "logged"), 90, "issuance")
    log = node.kubectl("logs", "-n", RELEASE_NAMESPACE, "deployment/certmint")
    assert f"{namespace}/logged" in ISSUED.findall(log)
    assert "PRIVATE KEY" not in log
    version = node.kubectl("exec", "-n", RELEASE_NAMESPACE, "deployment/certmint", "--", "certmint", "--help")
    assert "operator" in version


@pytest.mark.timeout(420)
def test_a_standby_spare_takes_over_when_the_leader_is_deleted(
    node: RunningNode, release: str, namespace: str
) -> None:
    node.helm(
        "upgrade",
        release,
        str(REPO / "charts" / "certmint"),
        "--namespace",
        RELEASE_NAMESPACE,
        *(argument for value in [*chart_values(node), "spares=1"] for argument in ("--set", value)),
    )
    wait_for(
        lambda: len(pods := operator_pods(node)) == 2 and all(ready(p) for p in pods),
        180,
        "two ready replicas",
    )

    def leaders() -> list[str]:
        names = [str(p["metadata"]["name"]) for p in operator_pods(node)]
        return [
            name
            for name in names
            if ": leading" in node.kubectl("logs", "-n", RELEASE_NAMESPACE, name, check=False)
        ]

    wait_for(lambda: len(leaders()) == 1, 120, "one replica to lead")
    (leader,) = leaders()
    apply(node, [issuer(namespace), certificate(namespace, "before", dnsNames=[f"before.{namespace}.svc"])])
    wait_for(lambda: certificate_ready(node, namespace, "before"), 90, "the leader to issue")

    node.kubectl("delete", "pod", "-n", RELEASE_NAMESPACE, leader, "--grace-period=0", "--force")
    apply(node, [certificate(namespace, "after", dnsNames=[f"after.{namespace}.svc"])])
    wait_for(
        lambda: certificate_ready(node, namespace, "after"), 240, "the other replica to take over and issue"
    )
    new_leaders = leaders()
    assert new_leaders, "a replica leads after the takeover"
    assert leader not in new_leaders
    issued_after = [
        name
        for pod in new_leaders
        for name in ISSUED.findall(node.kubectl("logs", "-n", RELEASE_NAMESPACE, pod))
        if name == f"{namespace}/after"
    ]
    assert issued_after == [f"{namespace}/after"], "issued once, by a surviving replica"
