"""One shard's share of 100,000 workloads on a real local control plane: its restart time, RSS, and
renewal and re-issue lateness at its share of 42 renewals/s and 110 re-issues/s; prints a table and
appends it to bench/results/<date>-shard-restart.md.

    python bench/shard_restart.py [--size 12500] [--window 120] [--label "after"]

1. Load: `size` Ready Certificates (1h) with their Secrets, as certmint leaves them: created in bulk
   through the API and issued by the operator itself (the one way to get exactly certmint's Secrets,
   statuses and managedFields), with its Issuer's CA fixed before the first of them.
2. Restart: the operator stopped (SIGTERM) and started again; wall time from the new process's spawn
   (imports included) to every Certificate reconciled with the queue empty (its own metrics), the
   part after its "started" line, its CPU, peak RSS and RSS when settled, and its API requests.
3. Load at the shard's share (size / 100,000 of the whole): renewals of short Certificates (2m,
   renewBefore 1m) created at the renewal rate so that they keep coming due at that rate, each
   renewal's lateness against the renewalTime its status announced; and re-issues: that many of the
   loaded Certificates a second get a changed spec (a DNS name added), each re-issue's lateness
   against the moment its change was accepted. Both for `window` seconds, on top of the loaded shard.

How many replicas 100,000 need here: the shard count that meets the restart and RSS targets, and the
cores the whole load takes (CPU seconds per renewal and re-issue measured in step 3).
"""

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.aio import client

from certmint.api.kinds import CERTIFICATES, GROUP, VERSION
from scale import (
    REPO,
    WRITE_VERBS,
    Run,
    apply_issuer,
    audit_requests,
    bench_run,
    create_certificates,
    lateness_stats,
    line_count,
    until,
    wait_settled,
    watch_ready,
)

FAST_PATH = "certmint_certificates_scheduled_from_status_total"
WHOLE = 100_000
RENEWALS_PER_S = 42.0
REISSUES_PER_S = 110.0
RESTART_TARGET_S = 10.0
RSS_TARGET_MB = 200.0


@dataclass
class ShardResult:
    size: int
    label: str
    load_seconds: float
    restart_seconds: float
    after_started_seconds: float
    restart_cpu_s: float
    restart_peak_rss_mb: float
    settled_rss_mb: float
    restart_requests: dict[str, int]
    scheduled_from_status: float = 0.0
    renewals: dict[str, float] = field(default_factory=dict)
    reissues: dict[str, float] = field(default_factory=dict)
    load_cpu_s: float = 0.0
    load_peak_rss_mb: float = 0.0


async def paced(count: int, per_second: float, job: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """`job(n)` for n in range(count), started at `per_second`, none waiting for another."""
    started = time.monotonic()
    tasks = []
    for n in range(count):
        delay = started + n / per_second - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(n)))
    await asyncio.gather(*tasks)


async def measure(size: int, window: float, workdir: Path, label: str) -> ShardResult:
    share = size / WHOLE
    async with bench_run(workdir) as run:
        plane, audit, operator, api = run.plane, run.audit, run.operator, run.api
        operator.start()
        await apply_issuer(plane, "shard")
        names = [f"s{n:05d}" for n in range(size)]
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(api, "shard", size, ready_at))
        run.tasks.append(watcher)
        await asyncio.sleep(0.5)
        _, cpu_before_load = operator.usage()
        started = time.perf_counter()
        await create_certificates(api, "shard", names)
        await asyncio.wait_for(watcher, timeout=3600)
        while len(ready_at) < size:  # the server ended the watch early: watch (and list) again
            await asyncio.wait_for(watch_ready(api, "shard", size, ready_at), timeout=3600)
        load_seconds = time.perf_counter() - started
        load_peak, cpu_after_load = operator.usage()
        await asyncio.sleep(2)  # the echoes of the last writes

        operator.stop()
        mark = line_count(audit)
        spawned = time.perf_counter()
        operator.start()
        started_line = time.perf_counter()
        settled = await wait_settled(operator, size)
        restart_peak, restart_cpu = operator.usage()
        settled_rss = operator.rss_now()
        fast = operator.samples(FAST_PATH).get((FAST_PATH, ()), 0.0)
        requests = audit_requests(audit, mark)
        result = ShardResult(
            size=size,
            label=label,
            load_seconds=load_seconds,
            restart_seconds=settled - spawned,
            after_started_seconds=settled - started_line,
            restart_cpu_s=restart_cpu,
            restart_peak_rss_mb=restart_peak,
            settled_rss_mb=settled_rss,
            restart_requests=dict(requests),
            scheduled_from_status=fast,
            load_cpu_s=cpu_after_load - cpu_before_load,
            load_peak_rss_mb=load_peak,
        )
        if window > 0:
            await shard_load(run, names, share, window, result)
        return result


async def shard_load(run: Run, names: list[str], share: float, window: float, result: ShardResult) -> None:
    api, operator, audit = run.api, run.operator, run.audit
    renew_rate, reissue_rate = RENEWALS_PER_S * share, REISSUES_PER_S * share
    follower, follower_task = run.follow("shard")
    await until(lambda: len(follower.serials) >= len(names), follower_task, 600, "the shard seen")
    # 2-minute Certificates renewed 1 minute before their end: created at the renewal rate for a
    # minute, they then come due at about that rate, each once a minute.
    renewing = [f"r{n:05d}" for n in range(max(1, round(renew_rate * 60)))]

    async def create_renewing(n: int) -> None:
        await create_certificates(api, "shard", [renewing[n]], duration="2m", renewBefore="1m")

    await paced(len(renewing), renew_rate, create_renewing)
    await until(
        lambda: all(name in follower.serials for name in renewing), follower_task, 600, "renewing Ready"
    )
    mark, (_, cpu_before) = line_count(audit), operator.usage()
    follower.changes.clear()
    began = datetime.now(UTC)
    objects = client.CustomObjectsApi(api)
    changed_at: dict[str, datetime] = {}
    count = max(1, round(reissue_rate * window))

    async def change(n: int) -> None:
        name = names[n % len(names)]
        patch = {"spec": {"dnsNames": [f"{name}.shard.svc", f"changed-{n}.shard.svc"]}}
        plural = CERTIFICATES.plural
        await objects.patch_namespaced_custom_object(GROUP, VERSION, "shard", plural, name, patch)
        changed_at[name] = datetime.now(UTC)

    await paced(count, reissue_rate, change)
    remaining = window - (datetime.now(UTC) - began).total_seconds()
    if remaining > 0:
        await asyncio.sleep(remaining)  # the measured period; renewals go on meanwhile
    await until(
        lambda: set(changed_at) <= {c.name for c in follower.changes}, follower_task, 300, "re-issues"
    )
    ended = datetime.now(UTC)
    _, cpu_after = operator.usage()
    requests = audit_requests(audit, mark)
    renewing_names = set(renewing)
    renewal_lateness = [
        (c.seen - c.announced).total_seconds()
        for c in follower.changes
        if c.name in renewing_names and c.announced is not None
    ]
    first: dict[str, datetime] = {}
    for c in follower.changes:
        first.setdefault(c.name, c.seen)
    reissue_lateness = [(first[name] - at).total_seconds() for name, at in changed_at.items()]
    seconds = (ended - began).total_seconds()
    work = len(renewal_lateness) + len(reissue_lateness)
    writes = sum(n for key, n in requests.items() if key.split()[0] in WRITE_VERBS)
    result.renewals = {
        "target_per_s": renew_rate,
        "count": len(renewal_lateness),
        "per_s": len(renewal_lateness) / seconds,
        **lateness_stats(renewal_lateness),
    }
    result.reissues = {
        "target_per_s": reissue_rate,
        "count": len(reissue_lateness),
        "per_s": len(reissue_lateness) / seconds,
        **lateness_stats(reissue_lateness),
        "cpu_ms_per_issuance": 1000 * (cpu_after - cpu_before) / max(1, work),
        "cpu_share_of_core": (cpu_after - cpu_before) / seconds,
        "writes_per_issuance": writes / max(1, work),
    }


def replicas_needed(result: ShardResult) -> list[str]:
    """The shard count 100,000 needs on this machine: by the restart and RSS targets (both grow with
    the shard), and the cores the whole issuance load takes at the CPU per issuance measured."""
    per_certificate_s = result.restart_seconds / result.size
    per_certificate_mb = result.settled_rss_mb / result.size
    by_restart = math.ceil(WHOLE * per_certificate_s / RESTART_TARGET_S)
    by_rss = math.ceil(WHOLE * per_certificate_mb / RSS_TARGET_MB)
    lines = [
        f"- restart {result.restart_seconds:.1f} s for {result.size:,} (≤ {RESTART_TARGET_S:.0f} s needs "
        "shards of "
        f"≤ {RESTART_TARGET_S / per_certificate_s:,.0f}: {by_restart} replicas for {WHOLE:,}, at today's "
        "cost per Certificate, which includes the fixed start);",
        f"- RSS {result.settled_rss_mb:.0f} MB settled, {result.restart_peak_rss_mb:.0f} MB peak "
        f"(≤ {RSS_TARGET_MB:.0f} MB: {by_rss} replicas by the settled RSS);",
    ]
    if result.reissues:
        ms = result.reissues["cpu_ms_per_issuance"]
        cores = (RENEWALS_PER_S + REISSUES_PER_S) * ms / 1000
        lines.append(
            f"- issuance CPU {ms:.1f} ms each: 42 renewals/s + 110 re-issues/s of the whole take {cores:.1f} "
            f"cores; this machine has {os.cpu_count()}, so a rotation of all 100,000 while renewals go on "
            f"{'fits' if cores <= (os.cpu_count() or 1) else 'does not fit'} on it (one process uses at "
            f"most one core: ≥ {math.ceil(cores)} replicas for the CPU alone)."
        )
    return lines


def report(result: ShardResult) -> str:
    r = result
    head = (
        f"## Shard restart, {r.size:,} Certificates ({r.label}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"`python bench/shard_restart.py --size {r.size}`; {os.cpu_count()} cores shared with other work. "
        f"Load (the operator issuing all {r.size:,}): {r.load_seconds:.0f} s, {r.load_cpu_s:.0f} s CPU, "
        f"peak RSS {r.load_peak_rss_mb:.0f} MB. Restart: from the new process's spawn (imports included) "
        "to every Certificate reconciled and the queue empty.\n\n"
        "| Certificates | restart s | after 'started' s | restart CPU s | peak RSS MB | settled RSS MB "
        "| restart requests | restart writes | scheduled from status |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {r.size:,} | {r.restart_seconds:.1f} | {r.after_started_seconds:.1f} | {r.restart_cpu_s:.1f} "
        f"| {r.restart_peak_rss_mb:.0f} | {r.settled_rss_mb:.0f} | {sum(r.restart_requests.values())} "
        f"| {sum(n for k, n in r.restart_requests.items() if k.split()[0] in WRITE_VERBS)} "
        f"| {r.scheduled_from_status:,.0f} |\n\n"
        f"Restart requests: {json.dumps(dict(sorted(r.restart_requests.items())))}\n"
    )
    rows = ""
    if r.renewals:
        rows = (
            "\n| work | target /s | done | /s | late p50 s | late p99 s | late max s | late > 2 s |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        )
        for what, found in (
            ("renewals (vs announced renewalTime)", r.renewals),
            ("re-issues (vs spec change)", r.reissues),
        ):
            rows += (
                f"| {what} | {found['target_per_s']:.2f} | {found['count']:.0f} | {found['per_s']:.2f} "
                f"| {found['late_p50']:.2f} | {found['late_p99']:.2f} | {found['late_max']:.2f} "
                f"| {found['late_over_2s']:.0f} |\n"
            )
        rows += (
            f"\nOperator CPU during that load: {r.reissues['cpu_share_of_core']:.0%} of a core, "
            f"{r.reissues['cpu_ms_per_issuance']:.1f} ms per renewal or re-issue, "
            f"{r.reissues['writes_per_issuance']:.2f} writes each.\n"
        )
    return head + rows + "\nReplicas for 100,000 on this machine:\n\n" + "\n".join(replicas_needed(r)) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=12_500)
    parser.add_argument(
        "--window", type=float, default=120, help="seconds of renewals and re-issues (0: skip)"
    )
    parser.add_argument("--label", default=os.environ.get("CERTMINT_BENCH_LABEL", "this tree"))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="certmint-shard-"))
    result = await measure(args.size, args.window, root, args.label)
    section = report(result)
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-shard-restart.md"
    with out.open("a") as results:
        results.write(section + "\n")
    print(section)
    print(f"appended to {out}; work files in {root}")


if __name__ == "__main__":
    asyncio.run(main())
