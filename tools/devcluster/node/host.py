"""The node's host side: `python -m devcluster.node.host --workdir DIR`.

It owns what the node must change on the host and puts it back: a dedicated cgroup root in every
cgroup v1 hierarchy (created before the node starts, removed after everything in it has gone) and the
relay's listening socket on the host's loopback. Everything else runs under
`unshare --net --mount --pid --fork`, whose kernel namespaces vanish with their last process: the
pod network, the iptables rules of kube-proxy, overlay and tmpfs mounts, every container.

It stops the node on SIGTERM or SIGINT, and also when its own parent dies (the parent sets its death
signal). If it is killed itself, `unshare --kill-child` stops the node, and the next start removes
the cgroup root it left.
"""

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devcluster.node import images

CGROUP_BASE = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "certmint-node-"
_PR_SET_PDEATHSIG = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--sync-frequency", default="10s")
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    remove_stale_cgroup_roots()
    cgroup_root = f"{CGROUP_PREFIX}{os.getpid()}"
    create_cgroup_root(cgroup_root)
    try:
        sys.exit(_run_node(workdir, cgroup_root, args.sync_frequency))
    finally:
        remove_cgroup_root(cgroup_root)
        # Unpacked images and container layers (over a gigabyte); the logs stay for reading.
        shutil.rmtree(workdir / "containerd", ignore_errors=True)


def _run_node(workdir: Path, cgroup_root: str, sync_frequency: str) -> int:
    built = images.locate_images()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        node = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation=private",
                "--kill-child=SIGTERM",
                sys.executable,
                "-m",
                "devcluster.node.inside",
                f"--workdir={workdir}",
                f"--cgroup-root={cgroup_root}",
                f"--listen-fd={listener.fileno()}",
                f"--sync-frequency={sync_frequency}",
                f"--sandbox-image={built.pause.reference}",
                *(f"--image={image.archive}" for image in built.all),
            ],
            pass_fds=(listener.fileno(),),
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe work happens in it
        )

    def stop(_number: int, _frame: object) -> None:
        # unshare does not pass signals on; the node's PID 1 is its only child.
        for pid in _children(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return node.wait()


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _hierarchies() -> list[Path]:
    return sorted(path for path in CGROUP_BASE.iterdir() if path.is_dir() and not path.is_symlink())


def create_cgroup_root(name: str) -> None:
    for hierarchy in _hierarchies():
        (hierarchy / name).mkdir(exist_ok=True)
        if (hierarchy / "cpuset.cpus").exists():
            # A new cpuset has no CPUs and no memory nodes until given some: take the parent's.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (hierarchy / name / knob).write_text((hierarchy / knob).read_text())


def remove_cgroup_root(name: str, timeout: float = 30.0) -> None:
    """Removes the cgroup root, deepest first, once the processes in it have gone."""
    deadline = time.monotonic() + timeout
    for hierarchy in _hierarchies():
        root = hierarchy / name
        while root.exists():
            leftovers = []
            for directory in sorted(root.glob("**/"), key=lambda path: len(path.parts), reverse=True):
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    leftovers.append(directory)
            if not leftovers:
                break
            if time.monotonic() > deadline:
                print(f"cgroups still busy: {', '.join(map(str, leftovers))}", file=sys.stderr)
                break
            time.sleep(0.5)


def remove_stale_cgroup_roots() -> None:
    """Cgroup roots of node runs whose host process is gone (it was killed): nothing runs in them."""
    for hierarchy in _hierarchies():
        for root in hierarchy.glob(f"{CGROUP_PREFIX}*"):
            owner = root.name.removeprefix(CGROUP_PREFIX)
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                remove_cgroup_root(root.name)


if __name__ == "__main__":
    main()
