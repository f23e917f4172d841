"""An operator whose every request the API server audits: for tests that prove what certmint did
NOT touch on a hostile tenant's behalf from the API server's own record, not the operator's word.

The operator runs as a ServiceAccount with cluster-admin, so only certmint's own checks keep it from
reading or writing anywhere."""

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config

from devcluster import LocalControlPlane
from devcluster.controlplane import free_port
from tests.e2e.support import Cluster, OperatorProcess, cluster_admin_kubeconfig

REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "certmint"
OPERATOR_ACCOUNT = "certmint-audited"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"


@dataclass
class Audited:
    cluster: Cluster
    operator: OperatorProcess
    audit_log: Path

    def offset(self) -> int:
        return len(self.audit_log.read_bytes()) if self.audit_log.exists() else 0

    def requests_since(self, offset: int) -> list[dict[str, Any]]:
        """The operator's requests the API server answered since `offset`, as audit events."""
        return requests_by(self.audit_log, offset, OPERATOR_USER)


def requests_by(audit_log: Path, offset: int, username: str) -> list[dict[str, Any]]:
    """The requests of `username` the API server answered since `offset` of its audit log."""
    text = audit_log.read_bytes()[offset:].decode()
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [e for e in events if e["user"]["username"] == username and e["stage"] != "RequestReceived"]


@contextmanager
def audited_cluster(workdir: Path, rules: list[dict[str, Any]]) -> Iterator[tuple[Cluster, Path]]:
    """A control plane auditing by `rules` (an audit Policy's) into the returned log, with
    certmint's CRDs and the operator's namespace."""
    policy, audit_log = workdir / "audit-policy.yaml", workdir / "audit.log"
    policy_document = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": rules,
    }
    policy.write_text(yaml.safe_dump(policy_document))
    plane_args = (f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}")
    with LocalControlPlane(workdir / "plane", extra_apiserver_args=plane_args) as plane:
        plane.install_certmint(REPO / "crds", OPERATOR_NAMESPACE)
        yield Cluster(plane=plane, api=config.new_client_from_config(str(plane.kubeconfig))), audit_log


@contextmanager
def audited_operator(
    workdir: Path, rules: list[dict[str, Any]], environment: Mapping[str, str] = {}
) -> Iterator[Audited]:
    """A control plane auditing by `rules` (an audit Policy's), certmint's CRDs, and the operator
    running with `environment` added to its own."""
    with audited_cluster(workdir, rules) as (cluster, audit_log):
        plane = cluster.plane
        kubeconfig = workdir / "operator.kubeconfig"
        cluster_admin_kubeconfig(cluster, OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, kubeconfig)
        operator = OperatorProcess(
            plane,
            workdir / "operator.log",
            {"CERTMINT_METRICS_PORT": str(free_port()), "KUBECONFIG": str(kubeconfig), **environment},
        )
        operator.start()
        try:
            yield Audited(cluster, operator, audit_log)
        finally:
            operator.stop()
