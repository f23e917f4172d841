"""Two operator replicas with kopf peering: one works, the other takes over when it dies, and no
certificate is issued twice."""

import re
import uuid
from pathlib import Path

import pytest

from certmint.api.kinds import CERTIFICATES
from devcluster.controlplane import free_port
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, wait_for

LIFETIME = 15
ISSUED = re.compile(r"\] (issued|renewed|reissued) (\S+) serial")


def replica(cluster: Cluster, directory: Path, peering: str, priority: int) -> OperatorProcess:
    return OperatorProcess(
        cluster.plane,
        directory / f"replica-{priority}.log",
        {
            "CERTMINT_METRICS_PORT": str(free_port()),
            "CERTMINT_PEERING": peering,
            "CERTMINT_PRIORITY": str(priority),
            "CERTMINT_PEERING_LIFETIME": str(LIFETIME),
        },
    )


def issued(process: OperatorProcess) -> list[str]:
    return [match.group(2) for match in ISSUED.finditer(process.log())]


def all_ready(cluster: Cluster, namespace: str, names: list[str]) -> bool:
    for name in names:
        condition = cluster.condition(CERTIFICATES.plural, namespace, name)
        if not condition or condition["status"] != "True":
            return False
    return True


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("without_session_operator")
def test_one_replica_works_and_the_other_takes_over_without_double_issuance(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    peering = f"certmint-{uuid.uuid4().hex[:6]}"
    cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}})
    leader, standby = replica(cluster, tmp_path, peering, 200), replica(cluster, tmp_path, peering, 100)
    leader.start()
    standby.start()
    try:
        wait_for(lambda: ": leading" in leader.log(), 30, what="the higher priority to lead")
        cluster.apply(self_signed_issuer(namespace))
        first = [f"first-{index}" for index in range(10)]
        for name in first:
            cluster.apply(certificate(namespace, name))
        wait_for(lambda: all_ready(cluster, namespace, first), 60, what="the leader to issue")
        assert sorted(issued(leader)) == sorted(f"{namespace}/{name}" for name in first)
        assert issued(standby) == [], "the standby issued while the leader was alive"
        assert ": leading" not in standby.log()

        leader.kill()
        second = [f"second-{index}" for index in range(5)]
        for name in second:
            cluster.apply(certificate(namespace, name))
        wait_for(lambda: ": leading" in standby.log(), LIFETIME + 20, what="the standby to take over")
        wait_for(lambda: all_ready(cluster, namespace, second), 60, what="the new leader to issue")
        assert sorted(issued(standby)) == sorted(f"{namespace}/{name}" for name in second)
        for name in first + second:
            status = (cluster.get(CERTIFICATES.plural, namespace, name) or {})["status"]
            assert status["revision"] == 1, f"{name} was issued {status['revision']} times"
    finally:
        standby.stop()
        leader.stop()
        cluster.custom.delete_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
