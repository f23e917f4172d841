"""The local control plane fixture itself: real, and leaves nothing running behind."""

from pathlib import Path

import pytest

from devcluster import LocalControlPlane
from devcluster.controlplane import process_alive


def test_a_failing_test_still_stops_every_process(tmp_path: Path) -> None:
    pids: list[int] = []

    def failing_test() -> None:
        with LocalControlPlane(tmp_path) as plane:
            pids.extend(process.pid for process in plane.processes.values())
            assert set(plane.processes) == {"etcd", "kube-apiserver", "kube-controller-manager"}
            assert f"is running at {plane.server}" in plane.kubectl("cluster-info")
            raise RuntimeError("test failed inside the control plane")

    with pytest.raises(RuntimeError, match="test failed inside"):
        failing_test()
    assert len(pids) == 3
    assert not [pid for pid in pids if process_alive(pid)]


def test_api_server_enforces_rbac(tmp_path: Path) -> None:
    with LocalControlPlane(tmp_path, controller_manager=False) as plane:
        allowed = plane.kubectl(
            "auth", "can-i", "create", "secrets", "--as=system:serviceaccount:default:nobody", check=False
        )
        assert allowed.strip().startswith("no")
        assert plane.kubectl("auth", "can-i", "create", "secrets").strip() == "yes"
