"""The node's own namespaces: `python -m devcluster.node.inside`, started by the host side
under `unshare --net --mount --pid`, runs the whole local cluster there.

It is PID 1 of its PID namespace: when it exits, for whatever reason, the kernel kills every process
the node started (shims and containers included), and its network and mount namespaces go with them.
Before anything starts, the host is shielded: /run is a private tmpfs, /var an overlay whose writes
land in the work directory, and the kubelet finds the machine-wide sysctls it wants already set
(files bound over them in this mount namespace), so it never writes the real ones.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from devcluster.binaries import locate_binaries
from devcluster.controlplane import (
    PCR_CLEANER,
    ControlPlane,
    LocalControlPlane,
    Profile,
    free_port,
    spawn,
    write_kubeconfig,
)
from devcluster.node import configs
from devcluster.node.configs import NodeLayout
from devcluster.node.relay import serve_relay

NODE_PROFILE = Profile(
    bind_address="0.0.0.0",
    advertise_address=configs.NODE_IP,
    port=configs.API_PORT,
    serving_ips=("127.0.0.1", configs.NODE_IP, configs.KUBERNETES_SERVICE_IP),
    pods=True,
    controllers=(
        "garbagecollector",
        "namespace",
        "serviceaccount",
        "serviceaccount-token",
        "root-ca-cert-publisher",
        "deployment",
        "replicaset",
        "endpointslice",
        "nodelifecycle",
        "taint-eviction-controller",
        "podgc",
        "disruption",
        PCR_CLEANER,
    ),
    node_name=configs.NODE_NAME,
)
_READY_TIMEOUT = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--cgroup-root", required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--sync-frequency", default="10s")
    parser.add_argument("--image", action="append", default=[], help="docker archive to import")
    parser.add_argument("--sandbox-image", required=True)
    args = parser.parse_args()
    layout = NodeLayout(args.workdir, args.cgroup_root, args.sync_frequency)
    sys.exit(_reap_while(lambda: _supervise(layout, args.listen_fd, args.image, args.sandbox_image)))


def _reap_while(work: Callable[[], None]) -> int:
    """As PID 1, adopt and reap orphans (exited shims, container processes) while a child does the work."""
    child = os.fork()
    if child == 0:
        try:
            work()
        except SystemExit:
            os._exit(0)
        except BaseException as error:
            print(f"node: {error!r}", file=sys.stderr, flush=True)
            os._exit(1)
        os._exit(0)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, _frame: os.kill(child, number))
    while True:
        pid, status = os.wait()
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def _stop(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)


def _supervise(layout: NodeLayout, listen_fd: int, images: list[str], sandbox_image: str) -> None:
    # Not a blocked signal mask: the components started here would inherit it.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _shield_host(layout)
    _network()
    local = LocalControlPlane(
        layout.cluster_dir,
        binaries=locate_binaries(),
        profile=NODE_PROFILE,
        extra_apiserver_args=(
            # Otherwise the API server resolves the node's hostname through the machine's resolver.
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={layout.cluster_dir / 'admin.crt'}",
            f"--kubelet-client-key={layout.cluster_dir / 'admin.key'}",
        ),
    )
    try:
        plane = local.start()
        listener = socket.socket(fileno=listen_fd)
        serve_relay(listener, ("127.0.0.1", configs.API_PORT))
        _write_host_kubeconfig(plane, layout, listener.getsockname()[1])
        _start_scheduler(plane)
        _start_containerd(plane, layout, images, sandbox_image)
        _start_kubelet(plane, layout, NODE_PROFILE)
        _start_kube_proxy(plane, layout)
        _wait_node_ready(plane)
        layout.ready_file.write_text(str(layout.host_kubeconfig))
        print(f"node {configs.NODE_NAME} ready", flush=True)
        while True:
            signal.pause()
    finally:
        print("node stopping", flush=True)
        local.stop()


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def _shield_host(layout: NodeLayout) -> None:
    # containerd and the CNI plugins write to fixed places under /run and /var (shim sockets, pod
    # network namespaces, CNI result caches): give them private ones.
    _run("mount", "-t", "tmpfs", "-o", "mode=755", "certmint-node-run", "/run")
    upper, work = layout.workdir / "var" / "upper", layout.workdir / "var" / "work"
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    _run(
        "mount",
        "-t",
        "overlay",
        "-o",
        f"lowerdir=/var,upperdir={upper},workdir={work}",
        "certmint-node-var",
        "/var",
    )
    sysctls = layout.workdir / "sysctl"
    sysctls.mkdir(exist_ok=True)
    for name, wanted in configs.KUBELET_SYSCTLS.items():
        real = Path("/proc/sys") / name
        if real.read_text().strip() == wanted:
            continue
        stand_in = sysctls / name.replace("/", ".")
        stand_in.write_text(f"{wanted}\n")
        _run("mount", "--bind", "-o", "ro", str(stand_in), str(real))


def _network() -> None:
    _run("ip", "link", "set", "lo", "up")
    _run("ip", "link", "add", configs.BRIDGE, "type", "bridge")
    prefix = configs.POD_CIDR.split("/")[1]
    _run("ip", "addr", "add", f"{configs.NODE_IP}/{prefix}", "dev", configs.BRIDGE)
    _run("ip", "link", "set", configs.BRIDGE, "up")
    # The pods' gateway routes their packets to Service addresses and the API server.
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def _write_host_kubeconfig(plane: ControlPlane, layout: NodeLayout, relay_port: int) -> None:
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{relay_port}"
    layout.host_kubeconfig.write_text(yaml.safe_dump(config))


def _start_scheduler(plane: ControlPlane) -> None:
    kubeconfig = str(plane.kubeconfig)
    spawn(
        plane,
        "kube-scheduler",
        [
            str(plane.binaries.kube_scheduler),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
        ],
    )


def _start_containerd(plane: ControlPlane, layout: NodeLayout, images: list[str], sandbox_image: str) -> None:
    layout.containerd_config.write_text(configs.containerd_config(layout, sandbox_image))
    layout.cni_config_dir.mkdir(exist_ok=True)
    (layout.cni_config_dir / "10-certmint-node.conflist").write_text(configs.cni_config(layout))
    layout.containerd_socket.parent.mkdir(parents=True, exist_ok=True)
    spawn(plane, "containerd", ["containerd", "--config", str(layout.containerd_config)])
    ctr = ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io"]
    deadline = time.monotonic() + 60
    while subprocess.run([*ctr, "version"], capture_output=True, check=False).returncode != 0:
        if plane.processes["containerd"].poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"containerd did not start:\n{plane.log_tail('containerd')}")
        time.sleep(0.3)
    for archive in images:
        subprocess.run([*ctr, "images", "import", archive], check=True, capture_output=True, timeout=300)


def _start_kubelet(plane: ControlPlane, layout: NodeLayout, profile: Profile) -> None:
    """The kubelet runs as its node, system:node:<name>, never as the admin: what it may read and
    write is what the Node authorizer and NodeRestriction allow a node."""
    node_cert, node_key = plane.credentials.node_cert, plane.credentials.node_key
    if node_cert is None or node_key is None:
        raise RuntimeError("the node profile names a node: the control plane made its credentials")
    identity = f"system:node:{configs.NODE_NAME}"
    write_kubeconfig(layout.kubelet_kubeconfig, plane, node_cert, node_key, identity)
    layout.kubelet_config.write_text(
        configs.kubelet_config(layout, plane.credentials.ca_cert, profile.feature_gates)
    )
    spawn(
        plane,
        "kubelet",
        [
            str(plane.binaries.kubelet),
            f"--config={layout.kubelet_config}",
            f"--kubeconfig={layout.kubelet_kubeconfig}",
            f"--root-dir={layout.kubelet_root}",
            f"--hostname-override={configs.NODE_NAME}",
            f"--node-ip={configs.NODE_IP}",
            "--v=1",
        ],
    )


def _start_kube_proxy(plane: ControlPlane, layout: NodeLayout) -> None:
    layout.kube_proxy_config.write_text(configs.kube_proxy_config(layout, plane.kubeconfig))
    spawn(plane, "kube-proxy", [str(plane.binaries.kube_proxy), f"--config={layout.kube_proxy_config}"])


def _wait_node_ready(plane: ControlPlane) -> None:
    """Ready, with the not-ready taint lifted and the `default` ServiceAccount there: pods can be made."""
    deadline = time.monotonic() + _READY_TIMEOUT
    jsonpath = "{.status.conditions[?(@.type=='Ready')].status} {.spec.taints[*].key}"
    state = ""
    while time.monotonic() < deadline:
        for name, process in plane.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{plane.log_tail(name)}")
        state = plane.kubectl("get", "node", configs.NODE_NAME, "-o", f"jsonpath={jsonpath}", check=False)
        account = plane.kubectl("get", "serviceaccount", "default", "-o", "name", check=False)
        if state.strip() == "True" and account.startswith("serviceaccount/"):
            return
        time.sleep(1)
    raise TimeoutError(f"node not ready after {_READY_TIMEOUT} s ({state!r}):\n{plane.log_tail('kubelet')}")


if __name__ == "__main__":
    main()
