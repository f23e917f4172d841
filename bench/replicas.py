"""Issuance with 1, 2 and 4 active replicas (issue 25), each operator process limited to a fraction
of a core by a cgroup of its own, so that scaling out is visible on a small machine. Prints a table
and writes bench/results/<date>-replicas.md.

    python bench/replicas.py [--replicas 1 2 4] [--size 600] [--cpu 0.25]

For every replica count, on a fresh control plane: N `certmint operator --replicas N` processes,
each in its own cgroup (cgroup v2 cpu.max where the cpu controller is on the unified hierarchy,
else cgroup v1 cpu.cfs_quota_us), then --size Certificates of one Issuer spread over every slot:
time until all are Ready, throughput, the operators' CPU per issuance (their own utime + stime),
and double issuances (a watch records every Secret write: a Secret holding a second serial). The
cgroups are always removed, their processes moved out first; cgroups a killed run left behind are
removed at start. Needs root (it writes under /sys/fs/cgroup).
"""

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from kubernetes import config as sync_config
from tests.e2e.replicas import Replicas, secret_writes
from tests.e2e.support import Cluster

from devcluster import ControlPlane
from scale import REPO, api_for, apply_issuer, create_certificates, start_plane, watch_ready

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_V1_CPU = CGROUP_ROOT / "cpu"
PREFIX = "certmint-bench-"
PERIOD_US = 100_000
LEASE_SECONDS = 15


@dataclass
class ReplicaResult:
    replicas: int
    cpu_share: float
    size: int
    all_ready_seconds: float
    cpu_seconds: float
    double_issuances: int

    @property
    def throughput(self) -> float:
        return self.size / self.all_ready_seconds


def cgroup_parent() -> tuple[Path, bool]:
    """Where the bench's cgroups go, and whether that is cgroup v2 (cpu.max) or v1 (cfs quota)."""
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return CGROUP_ROOT, True
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        return CGROUP_V1_CPU, False
    raise SystemExit("no cgroup cpu controller: neither cgroup v2's cpu nor v1's cpu hierarchy is mounted")


def remove_cgroup(group: Path) -> None:
    """Its processes back to the parent first: a cgroup with processes cannot be removed."""
    parent_procs = group.parent / "cgroup.procs"
    for pid in (group / "cgroup.procs").read_text().split():
        with contextlib.suppress(ProcessLookupError, OSError):
            parent_procs.write_text(pid)
    group.rmdir()


def remove_stale_cgroups(parent: Path) -> None:
    """What a run killed with SIGKILL left behind."""
    for group in parent.glob(f"{PREFIX}*"):
        remove_cgroup(group)


@contextlib.contextmanager
def cpu_limited(count: int, share: float) -> Iterator[list[Path]]:
    """`count` cgroups of `share` of a core each; always removed."""
    parent, v2 = cgroup_parent()
    remove_stale_cgroups(parent)
    groups: list[Path] = []
    try:
        for index in range(count):
            group = parent / f"{PREFIX}{os.getpid()}-{index}"
            group.mkdir()
            groups.append(group)
            quota = int(share * PERIOD_US)
            if v2:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
        yield groups
    finally:
        for group in groups:
            remove_cgroup(group)


def place(group: Path, pid: int) -> None:
    """The whole process (every thread, and what it starts later) into the cgroup."""
    (group / "cgroup.procs").write_text(str(pid))


def measure(count: int, size: int, share: float, workdir: Path) -> ReplicaResult:
    local, plane, _ = start_plane(workdir)
    try:
        cluster = Cluster(plane=plane, api=sync_config.new_client_from_config(str(plane.kubeconfig)))
        group = Replicas(cluster, workdir, LEASE_SECONDS)
        with cpu_limited(count, share) as cgroups:
            try:
                for index in range(count):
                    replica = group.add(count)
                    assert replica.process.process is not None, "add() started it"
                    place(cgroups[index], replica.process.process.pid)
                if count > 1:
                    group.wait_serving(count, timeout=600)
                else:
                    group.wait_started(group.all[0], timeout=600)
                namespace = "bench"
                asyncio.run(apply_issuer(plane, namespace))
                names = [f"c{n:05d}" for n in range(size)]
                with secret_writes(cluster, namespace) as writes:
                    cpu_before = sum(replica.process.usage()[1] for replica in group.all)
                    seconds = asyncio.run(issue_all(plane, namespace, names))
                    cpu = sum(replica.process.usage()[1] for replica in group.all) - cpu_before
                    doubles = sum(
                        1
                        for name in names
                        if sum(len(serials) for serials in writes.serials(f"{name}-tls").values()) > 1
                    )
                return ReplicaResult(count, share, size, seconds, cpu, doubles)
            finally:
                group.close()
    finally:
        local.stop()


async def issue_all(plane: ControlPlane, namespace: str, names: list[str]) -> float:
    """Seconds from the first create until the last Certificate is Ready (seen by a watch)."""
    api = await api_for(plane)
    try:
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(api, namespace, len(names), ready_at))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        await create_certificates(api, namespace, names)
        await asyncio.wait_for(watcher, timeout=1800)
        while len(ready_at) < len(names):
            # The API server ended the watch early: watch again (it lists the Ready ones first, so
            # their times are late, never early: the throughput is a lower bound then).
            print(f"watch ended at {len(ready_at)} Ready; watching again", flush=True)
            await asyncio.wait_for(watch_ready(api, namespace, len(names), ready_at), timeout=1800)
        return max(ready_at.values()) - started
    finally:
        await api.close()


def report(results: list[ReplicaResult]) -> str:
    base = results[0].throughput if results and results[0].replicas == 1 else None
    lines = [
        f"# certmint replicas benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores; control plane: etcd + kube-apiserver v1.36.3 on loopback, not "
        "limited; every operator process in a cgroup of its own limited to the share below. One "
        "Issuer; Certificates created by one client (concurrency 32); a watch records every Secret "
        "write (double issuance: a Secret that held a second serial).",
        "",
        "| replicas | CPU per replica | Certificates | all Ready (s) | certs/s | vs 1 replica "
        "| operators' CPU s | CPU ms/issuance | double issuances |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.throughput / base:.2f}x" if base else "-"
        lines.append(
            f"| {r.replicas} | {r.cpu_share:.2f} core | {r.size} | {r.all_ready_seconds:.1f} "
            f"| {r.throughput:.1f} | {ratio} | {r.cpu_seconds:.1f} "
            f"| {1000 * r.cpu_seconds / r.size:.1f} | {r.double_issuances} |"
        )
    return "\n".join(lines) + "\n"


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so that the cgroups and processes are cleaned up."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--size", type=int, default=600, help="Certificates per run")
    parser.add_argument("--cpu", type=float, default=0.25, help="cores per operator process")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    results = []
    with tempfile.TemporaryDirectory(prefix="certmint-replicas-") as directory:
        for count in arguments.replicas:
            result = measure(count, arguments.size, arguments.cpu, Path(directory) / f"r{count}")
            print(
                f"{count} replicas: {result.throughput:.1f} certs/s, {result.double_issuances} double",
                flush=True,
            )
            results.append(result)
    text = report(results)
    print(text)
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-replicas.md"
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
