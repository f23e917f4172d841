"""The node's configuration files: what each pitfall of a real node needs, in files the tools parse."""

import json
import tomllib
from pathlib import Path

import yaml

from devcluster.node import configs
from devcluster.node.configs import NodeLayout

LAYOUT = NodeLayout(Path("/work/node"), "certmint-node-42", sync_frequency="7s")


def test_containerd_config_is_toml_with_every_path_in_the_work_directory() -> None:
    config = tomllib.loads(configs.containerd_config(LAYOUT, "localhost/certmint-pause:abc"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/certmint-pause:abc"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["cni"]["conf_dir"] == "/work/node/net.d"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert config["grpc"]["address"] == "/run/certmint-node/containerd.sock", "private /run, short enough"
    for path in (config["root"], config["state"], cri["containerd"]["runtimes"]["runc"]["options"]["Root"]):
        assert path.startswith("/work/node/")


def test_kubelet_config_fits_a_cgroup_v1_machine_and_leaves_host_iptables_alone() -> None:
    config = yaml.safe_load(configs.kubelet_config(LAYOUT, Path("/work/node/cluster/ca.crt")))
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/certmint-node-42"
    assert config["makeIPTablesUtilChains"] is False
    assert config["syncFrequency"] == "7s"
    assert config["address"] == configs.NODE_IP
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["x509"]["clientCAFile"] == "/work/node/cluster/ca.crt"


def test_cni_gives_pods_a_default_route_through_the_node_address() -> None:
    bridge = json.loads(configs.cni_config(LAYOUT))["plugins"][0]
    assert bridge["bridge"] == configs.BRIDGE
    assert bridge["isDefaultGateway"] is True
    assert bridge["ipam"]["ranges"] == [[{"subnet": configs.POD_CIDR, "gateway": configs.NODE_IP}]]
    assert bridge["ipam"]["dataDir"] == "/work/node/cni-ipam"


def test_kube_proxy_leaves_machine_wide_conntrack_and_localnet_alone() -> None:
    config = yaml.safe_load(configs.kube_proxy_config(LAYOUT, Path("/work/node/cluster/kubeconfig")))
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["clusterCIDR"] == configs.POD_CIDR


def test_the_kubelet_gets_the_gates_it_is_given_and_no_others() -> None:
    gates = {"PodCertificateRequest": True, "ClusterTrustBundle": True, "ClusterTrustBundleProjection": True}
    config = yaml.safe_load(configs.kubelet_config(LAYOUT, Path("/work/node/cluster/ca.crt"), gates))
    assert config["featureGates"] == gates
    assert yaml.safe_load(configs.kubelet_config(LAYOUT, Path("/ca.crt")))["featureGates"] == {}
    assert LAYOUT.kubelet_kubeconfig == Path("/work/node/kubelet.kubeconfig")
