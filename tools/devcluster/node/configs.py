"""The node's addresses and the configuration files of containerd, the CNI plugins, kubelet and kube-proxy.

Every address here exists only inside the network namespace the node creates for itself.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_NAME = "certmint-node"
BRIDGE = "cmbr0"
NODE_IP = "10.213.0.1"
"""The bridge's address: the pods' gateway, the kubelet's node IP and where the API server is advertised."""
POD_CIDR = "10.213.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
API_PORT = 6443
CNI_BIN_DIR = Path("/usr/lib/cni")

KUBELET_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
"""What the kubelet insists on finding in these machine-wide sysctls; it writes them when they differ."""


@dataclass(frozen=True)
class NodeLayout:
    """Where one node run keeps its state: everything under one work directory."""

    workdir: Path
    cgroup_root: str
    sync_frequency: str = "10s"

    @property
    def containerd_socket(self) -> Path:
        # In the node's private /run: a socket path under a deep work directory can exceed the
        # 108 bytes a Unix socket address holds.
        return Path("/run/certmint-node/containerd.sock")

    @property
    def containerd_config(self) -> Path:
        return self.workdir / "containerd.toml"

    @property
    def cni_config_dir(self) -> Path:
        return self.workdir / "net.d"

    @property
    def kubelet_config(self) -> Path:
        return self.workdir / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        """The kubelet's own credentials: the node's client certificate, not the admin's."""
        return self.workdir / "kubelet.kubeconfig"

    @property
    def kube_proxy_config(self) -> Path:
        return self.workdir / "kube-proxy.yaml"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "cluster"

    @property
    def host_kubeconfig(self) -> Path:
        """The kubeconfig for the host: its server is the relay on the host's loopback."""
        return self.workdir / "kubeconfig"

    @property
    def ready_file(self) -> Path:
        return self.workdir / "ready"


def containerd_config(layout: NodeLayout, sandbox_image: str) -> str:
    state = layout.workdir / "containerd"
    cri = {
        "sandbox_image": sandbox_image,
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "disable_tcp_service": True,
        "enable_selinux": False,
        # runc cannot lower a sandbox's oom_score_adj without CAP_SYS_RESOURCE, which some machines
        # withhold ("can't get final child's PID from pipe: EOF"): keep adjustments above containerd's own.
        "restrict_oom_score_adj": True,
        "cni": {"bin_dir": str(CNI_BIN_DIR), "conf_dir": str(layout.cni_config_dir), "max_conf_num": 1},
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    "options": {"Root": str(state / "runc"), "SystemdCgroup": False},
                }
            },
        },
    }
    return _toml(
        {
            "version": 2,
            "root": str(state / "root"),
            "state": str(state / "state"),
            "disabled_plugins": [
                "io.containerd.snapshotter.v1.btrfs",
                "io.containerd.snapshotter.v1.zfs",
                "io.containerd.snapshotter.v1.devmapper",
                "io.containerd.snapshotter.v1.aufs",
            ],
            "grpc": {"address": str(layout.containerd_socket)},
            "ttrpc": {"address": f"{layout.containerd_socket}.ttrpc"},
            "metrics": {"address": ""},
            "plugins": {
                "io.containerd.internal.v1.opt": {"path": str(state / "opt")},
                "io.containerd.grpc.v1.cri": cri,
            },
        }
    )


def cni_config(layout: NodeLayout) -> str:
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "certmint-node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "isDefaultGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                        "dataDir": str(layout.workdir / "cni-ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": False},
            ],
        },
        indent=2,
    )


def kubelet_config(layout: NodeLayout, client_ca: Path, feature_gates: dict[str, bool] | None = None) -> str:
    socket = f"unix://{layout.containerd_socket}"
    return yaml.safe_dump(
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # Those of the control plane: podCertificate and clusterTrustBundle projected volumes.
            "featureGates": dict(feature_gates or {}),
            # Machines with cgroup v1 hierarchies only are still served, with the cgroupfs driver.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{layout.cgroup_root}",
            "containerRuntimeEndpoint": socket,
            "imageServiceEndpoint": socket,
            "address": NODE_IP,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            # Only the API server, with the cluster's admin client certificate, talks to the kubelet.
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(client_ca)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            # How late a changed Secret reaches the files of the pods that mount it (1m by default).
            "syncFrequency": layout.sync_frequency,
            "podLogsDir": str(layout.workdir / "pod-logs"),
            "failSwapOn": False,
            # Pods reach addresses by IP; no resolver of the machine is handed to them.
            "resolvConf": "",
            "registerNode": True,
            "serializeImagePulls": False,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "2%",
                "imagefs.available": "2%",
            },
            "imageGCHighThresholdPercent": 99,
            "imageGCLowThresholdPercent": 98,
            "makeIPTablesUtilChains": False,
        }
    )


def kube_proxy_config(layout: NodeLayout, kubeconfig: Path) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "bindAddress": NODE_IP,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Zero: leave the machine-wide conntrack table size and timeouts alone.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            # No route_localnet sysctl: node ports are not served on loopback.
            "iptables": {"localhostNodePorts": False},
        }
    )


def _toml(table: dict[str, object], prefix: str = "") -> str:
    """The small TOML subset containerd's configuration needs: scalars, lists of strings, nested tables."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, object]]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append((f"{prefix}{_toml_key(key)}", value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for name, sub in tables:
        text += f"\n[{name}]\n" + _toml(sub, f"{name}.")
    return text


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))
