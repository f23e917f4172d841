"""Where the operator's CPU goes: py-spy samples the operator while it issues N Certificates and
while it restarts over them; appends a section to bench/results/<date>.md.

    python bench/profile.py [--size 10000]

Each sample's stack is put in the first group one of its frames belongs to (certmint's own code
first, then kopf, then the event loop), and each group's share of the samples is turned into
milliseconds of operator CPU per Certificate.
"""

import argparse
import asyncio
import collections
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devcluster.operator import OperatorProcess
from scale import (
    append_section,
    apply_issuer,
    bench_run,
    create_certificates,
    wait_settled,
    watch_ready,
)

PY_SPY = Path(sys.executable).parent / "py-spy"
GROUPS = (
    ("the metrics endpoint", "certmint/operator/endpoints.py"),
    ("signing, keys, X.509 (certmint.pki, cryptography)", "certmint/pki/"),
    ("API requests (certmint.kube, aiohttp, TLS)", "certmint/kube/"),
    ("planning (certmint.planning)", "certmint/planning/"),
    ("reconcilers and controller (spec validation, status, outcomes)", "certmint/operator/"),
    ("kopf: per-event processing", "kopf/_core/"),
    ("kopf: watch streams and lists (JSON)", "kopf/_cogs/clients/"),
)
OTHER = "event loop and the rest"


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PY_SPY), "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "100", "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)


def shares(collapsed: Path) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        group = next((name for name, marker in GROUPS if marker in stack), OTHER)
        counts[group] += int(samples)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name, _ in (*GROUPS, (OTHER, ""))}


async def measure(size: int, workdir: Path) -> tuple[dict[str, float], float, dict[str, float], float]:
    async with bench_run(workdir) as run:
        operator: OperatorProcess = run.operator
        operator.start()
        await apply_issuer(run.plane, "bench")
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(run.api, "bench", size, ready_at))
        run.tasks.append(watcher)
        await asyncio.sleep(0.5)  # as in scale.py: the watch is open before the first create
        assert operator.process is not None
        _, cpu_before = operator.usage()
        profiler = spy(operator.process.pid, workdir / "issue.txt")
        await create_certificates(run.api, "bench", [f"c{n:05d}" for n in range(size)])
        await asyncio.wait_for(watcher, timeout=1800)
        while len(ready_at) < size:  # the server ended the watch early: watch (and list) again
            await asyncio.wait_for(watch_ready(run.api, "bench", size, ready_at), timeout=1800)
        _, cpu_after = operator.usage()
        stop(profiler)
        operator.stop()
        restarted = time.perf_counter()
        operator.start()
        profiler = spy(operator.process.pid, workdir / "restart.txt")
        _, cpu_started = operator.usage()
        await wait_settled(operator, size)
        _, cpu_settled = operator.usage()
        stop(profiler)
        print(f"restart steady after {time.perf_counter() - restarted:.1f} s")
        return (
            shares(workdir / "issue.txt"),
            cpu_after - cpu_before,
            shares(workdir / "restart.txt"),
            cpu_settled - cpu_started,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="certmint-profile-"))
    issue, issue_cpu, restart, restart_cpu = await measure(args.size, root)
    per = 1000 / args.size
    lines = [
        f"## Operator CPU by part, N = {args.size:,}",
        "",
        f"`python bench/profile.py --size {args.size}`: py-spy at 100 Hz on the operator while it "
        f"issues {args.size:,} Certificates ({issue_cpu:.1f} s CPU, {issue_cpu * per:.1f} ms each) "
        f"and while a new process restarts over them, from the moment it reports started (after "
        f"its imports and its own Secret listing) until every Certificate is reconciled "
        f"({restart_cpu:.1f} s CPU, {restart_cpu * per:.1f} ms each). Shares of the samples, and "
        "that share of the CPU per Certificate.",
        "",
        "| part | issuance | ms/issuance | restart | ms/Certificate |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in issue:
        lines.append(
            f"| {name} | {issue[name]:.0%} | {issue[name] * issue_cpu * per:.2f} "
            f"| {restart[name]:.0%} | {restart[name] * restart_cpu * per:.2f} |"
        )
    section = "\n".join([*lines, ""])
    print(section)
    print(f"appended to {append_section(section)}; raw profiles in {root}")


if __name__ == "__main__":
    asyncio.run(main())
