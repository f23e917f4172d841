"""The local control plane fixture itself: real, and leaves nothing running behind."""

import dataclasses
from pathlib import Path

import pytest

from devcluster import ControlPlane, LocalControlPlane
from devcluster.controlplane import API_ONLY, process_alive


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


def certificates_api_resources(plane: ControlPlane) -> set[str]:
    listed = plane.kubectl("api-resources", "--api-group=certificates.k8s.io", "-o", "name")
    return {line.split(".", 1)[0] for line in listed.split()}


def test_pod_certificate_apis_are_served_by_default_and_absent_when_turned_off(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The session's control plane (every e2e test's) serves PodCertificateRequests and
    ClusterTrustBundles; one argument away is a cluster as 1.36 ships, without them."""
    assert {"podcertificaterequests", "clustertrustbundles"} <= certificates_api_resources(control_plane)
    without = dataclasses.replace(API_ONLY, pod_certificates=False)
    with LocalControlPlane(tmp_path, controller_manager=False, profile=without) as plane:
        resources = certificates_api_resources(plane)
        assert "certificatesigningrequests" in resources, "the rest of the group is still served"
        assert not {"podcertificaterequests", "clustertrustbundles"} & resources, resources
