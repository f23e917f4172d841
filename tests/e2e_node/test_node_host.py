"""Issue 14: the host is left as it was found, also when the process that started the node is killed."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

import pytest

from devcluster.environment import child_environment
from devcluster.node.configs import BRIDGE, KUBELET_SYSCTLS
from devcluster.node.host import CGROUP_BASE, CGROUP_PREFIX
from devcluster.node.workloads import wait_for

STARTER = """
import sys, time
from pathlib import Path
from devcluster.node import LocalNode
node = LocalNode(Path(sys.argv[1])).start()
print(node.kubectl("get", "node", "-o", "name").strip(), flush=True)
time.sleep(3600)
"""

# What of the host the node may touch; the keys name it in assertion messages, hence the spaces.
HostState = TypedDict(
    "HostState",
    {
        "sysctls": dict[str, str],
        "cgroup roots": list[str],
        "links": list[str],
        "mounts": list[str],
        "runtime paths": list[str],
    },
)


def host_state() -> HostState:
    return {
        "sysctls": {
            name: (Path("/proc/sys") / name).read_text() for name in [*KUBELET_SYSCTLS, "net/ipv4/ip_forward"]
        },
        "cgroup roots": sorted(str(path) for path in CGROUP_BASE.glob(f"*/{CGROUP_PREFIX}*")),
        "links": sorted(path.name for path in Path("/sys/class/net").iterdir()),
        "mounts": [line for line in Path("/proc/mounts").read_text().splitlines() if "certmint" in line],
        # containerd and the CNI plugins write to fixed paths there unless kept private
        "runtime paths": [
            path for path in ("/run/containerd", "/run/netns", "/var/lib/cni") if Path(path).exists()
        ],
    }


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in command:
                found.append(f"{entry.name}: {command[:120]}")
    return found


@pytest.mark.timeout(240)
def test_a_node_whose_starter_is_killed_leaves_the_host_as_it_was(tmp_path: Path) -> None:
    before = host_state()
    workdir = tmp_path / "killed-node"
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(workdir)],
        env=child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert starter.stdout is not None
    first_line = starter.stdout.readline()
    assert first_line.strip() == "node/certmint-node", first_line + starter.stdout.read()
    running = host_state()
    assert running["cgroup roots"], "the node made its cgroup root"
    assert BRIDGE not in running["links"], "the pod bridge is not in the host's network namespace"
    assert running["sysctls"] == before["sysctls"], "the kubelet changed no machine-wide sysctl"
    assert running["runtime paths"] == before["runtime paths"]
    assert running["mounts"] == before["mounts"], "the node's mounts are private"
    assert processes_mentioning(str(workdir)), "the node's processes run"

    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    wait_for(lambda: not processes_mentioning(str(workdir)), 60, "every process of the node to end")
    wait_for(lambda: host_state()["cgroup roots"] == before["cgroup roots"], 60, "the cgroup root to go")
    after = host_state()
    assert after == before
    assert str(workdir) not in Path("/proc/mounts").read_text()
