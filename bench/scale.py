"""Issuance at scale on a real local control plane; prints a table and writes bench/results/<date>.md.

    python bench/scale.py [--sizes 100 1000 5000] [--ten-thousand] [--rotation 5000]
                          [--renewals 2000] [--renewal-minutes 10]

For every size, on a fresh control plane: the raw Secret create rate of one client (the ceiling),
then N Certificates from one Issuer with the operator as a process: time until all are Ready,
throughput and its ratio to the ceiling, latency percentiles (create → Ready, seen by a watch), API
requests of the operator per issuance by verb (from the API server's audit log), operator peak RSS
and CPU seconds, and a restart (time to steady state, requests, writes, CPU). Then a CA rotation
at scale (every Certificate re-issued within the issuer's reissueWindow, each against its own
point in it), and sustained renewals of short-lived certificates, each against the renewalTime its
status announced. 0 skips a run.
"""

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes.aio import client, config, watch
from tests.e2e.manifests import certificate, self_signed_issuer

from certmint.api.kinds import CERTIFICATES, GROUP, ISSUERS, VERSION
from certmint.kube.client import USER_AGENT
from certmint.planning.certificates.renewal import spread
from devcluster import ControlPlane, LocalControlPlane
from devcluster.controlplane import free_port
from devcluster.operator import OperatorProcess

REPO = Path(__file__).resolve().parents[1]

BENCH_AGENT = "certmint-bench"
CONCURRENCY = 32
WRITE_VERBS = {"create", "patch", "update", "delete"}
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


@dataclass
class SizeResult:
    size: int
    raw_secret_rate: float
    all_ready_seconds: float
    latencies: list[float]
    requests_by_verb: dict[str, int]
    writes_per_issuance: float
    peak_rss_mb: float
    idle_rss_mb: float
    cpu_seconds: float
    restart_steady_seconds: float
    restart_requests: dict[str, int]
    restart_cpu_seconds: float
    restart_peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.size / self.all_ready_seconds

    @property
    def restart_writes(self) -> int:
        return sum(n for key, n in self.restart_requests.items() if key.split()[0] in WRITE_VERBS)


def audit_requests(log: Path, since_line: int) -> collections.Counter[str]:
    """The operator's requests (its client's and kopf's, by user agent), as verb/resource: not the
    bench's, kubectl's, nor the API server's own (it reads /openapi/v3 every 5 s)."""
    counts: collections.Counter[str] = collections.Counter()
    with log.open() as lines:
        for number, line in enumerate(lines):
            if number < since_line or not line.endswith("\n"):
                continue  # before the mark, or the line the API server is still writing
            event = json.loads(line)
            agent = event.get("userAgent", "")
            operators = agent == USER_AGENT or agent.startswith("kopf/")
            if not operators or event.get("stage") != "ResponseComplete":
                continue
            resource = event.get("objectRef", {}).get("resource", "") or "(discovery)"
            if resource in {"leases", "events"} and event["verb"] != "create":
                continue
            counts[f"{event['verb']} {resource}"] += 1
    return counts


def line_count(path: Path) -> int:
    with path.open() as lines:
        return sum(1 for _ in lines)


async def api_for(plane: ControlPlane) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = CONCURRENCY
    api = client.ApiClient(configuration)
    api.user_agent = BENCH_AGENT
    return api


async def bounded(jobs: list[Any]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def run(job: Any) -> None:
        async with limit:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


async def raw_secret_rate(api: client.ApiClient, count: int) -> float:
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": "bench-raw"}}))
    payload = base64.b64encode(os.urandom(1200)).decode()  # about the size of a leaf Secret
    started = time.perf_counter()
    await bounded(
        [
            core.create_namespaced_secret(
                "bench-raw",
                client.V1Secret.model_validate(
                    {"metadata": {"name": f"raw-{n}"}, "data": {"tls.crt": payload}}
                ),
            )
            for n in range(count)
        ]
    )
    return count / (time.perf_counter() - started)


async def create_certificates(
    api: client.ApiClient, namespace: str, names: list[str], **spec: Any
) -> dict[str, float]:
    objects = client.CustomObjectsApi(api)
    created: dict[str, float] = {}

    async def create(name: str) -> None:
        created[name] = time.perf_counter()
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, CERTIFICATES.plural, certificate(namespace, name, **spec)
        )

    await bounded([create(name) for name in names])
    return created


async def watch_ready(
    api: client.ApiClient, namespace: str, expected: int, ready_at: dict[str, float]
) -> None:
    objects = client.CustomObjectsApi(api)
    stream = watch.Watch()
    certificates = (GROUP, VERSION, namespace, CERTIFICATES.plural)
    async for event in stream.stream(
        objects.list_namespaced_custom_object, *certificates, timeout_seconds=3600
    ):
        body = event["raw_object"]
        name = body["metadata"]["name"]
        conditions = (body.get("status") or {}).get("conditions", [])
        if name not in ready_at and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            ready_at[name] = time.perf_counter()
            if len(ready_at) >= expected:
                stream.stop()


async def apply_issuer(
    plane: ControlPlane, namespace: str, self_signed: dict[str, Any] | None = None
) -> None:
    plane.kubectl("create", "namespace", namespace)
    manifest = self_signed_issuer(namespace, **(self_signed or {}))
    plane.kubectl("apply", "-f", "-", input_text=json.dumps(manifest))
    plane.kubectl(
        "wait", "--for=condition=Ready", "--timeout=60s", "issuers.certmint.dev/ca", "-n", namespace
    )


def start_plane(workdir: Path) -> tuple[LocalControlPlane, ControlPlane, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    audit = workdir / "audit.log"
    local = LocalControlPlane(
        workdir,
        controller_manager=False,
        extra_apiserver_args=(
            f"--audit-policy-file={policy}",
            f"--audit-log-path={audit}",
            "--audit-log-maxsize=0",
        ),
    )
    plane = local.start()
    plane.install_certmint(REPO / "crds")
    return local, plane, audit


@dataclass
class Run:
    plane: ControlPlane
    audit: Path
    operator: OperatorProcess
    api: client.ApiClient
    tasks: list["asyncio.Task[None]"] = field(default_factory=list)

    def follow(self, namespace: str) -> tuple["Follower", "asyncio.Task[None]"]:
        follower = Follower()
        task = asyncio.create_task(follower.run(self.api, namespace))
        self.tasks.append(task)
        return follower, task


@contextlib.asynccontextmanager
async def bench_run(workdir: Path) -> AsyncIterator[Run]:
    """A fresh control plane and the operator's process; whatever fails, no watch, operator (which
    would hold its port) or control plane is left running."""
    local, plane, audit = start_plane(workdir)
    # Never the default metrics port 9402, which another operator may hold.
    operator = OperatorProcess(plane, workdir / "operator.log", {"CERTMINT_METRICS_PORT": str(free_port())})
    run: Run | None = None
    try:
        run = Run(plane, audit, operator, await api_for(plane))
        yield run
    finally:
        if run is not None:
            for task in run.tasks:
                task.cancel()
            await run.api.close()
        operator.stop()
        local.stop()


async def measure_size(size: int, workdir: Path) -> SizeResult:
    async with bench_run(workdir) as run:
        plane, audit, operator, api = run.plane, run.audit, run.operator, run.api
        raw_rate = await raw_secret_rate(api, size)
        operator.start()
        namespace = "bench"
        await apply_issuer(plane, namespace)
        mark, (_, cpu_at_start) = line_count(audit), operator.usage()  # imports and start excluded
        names = [f"c{n:05d}" for n in range(size)]
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(api, namespace, size, ready_at))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        created = await create_certificates(api, namespace, names)
        await asyncio.wait_for(watcher, timeout=1800)
        all_ready = max(ready_at.values()) - started
        await asyncio.sleep(2)  # let the echo reconciles of our own writes land in the audit log
        requests = audit_requests(audit, mark)
        peak_rss, cpu_at_end = operator.usage()
        idle_rss = operator.rss_now()
        cpu = cpu_at_end - cpu_at_start
        writes = sum(count for key, count in requests.items() if key.split()[0] in WRITE_VERBS)

        operator.stop()
        mark = line_count(audit)
        restarted = time.perf_counter()
        operator.start()
        steady = await wait_settled(operator, size)
        restart_rss, restart_cpu = operator.usage()
        after = audit_requests(audit, mark)
        return SizeResult(
            size=size,
            raw_secret_rate=raw_rate,
            all_ready_seconds=all_ready,
            latencies=[ready_at[name] - created[name] for name in names],
            requests_by_verb=dict(requests),
            writes_per_issuance=writes / size,
            peak_rss_mb=peak_rss,
            idle_rss_mb=idle_rss,
            cpu_seconds=cpu,
            restart_steady_seconds=steady - restarted,
            restart_requests=dict(after),
            restart_cpu_seconds=restart_cpu,
            restart_peak_rss_mb=restart_rss,
        )


async def wait_settled(operator: OperatorProcess, certificates: int) -> float:
    """Steady state after a restart: every Certificate reconciled once and the queue empty, as the
    operator's own metrics report it."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if operator.settled(certificates):
            return time.perf_counter()
        await asyncio.sleep(0.1)
    raise TimeoutError("operator did not reach steady state after restart")


@dataclass
class Reissue:
    name: str
    seen: datetime
    announced: datetime | None
    """The status.renewalTime the Certificate showed before this new certificate."""


class Follower:
    """Follows the Certificates of a namespace with one watch: which are Ready with which serial,
    the renewalTime each announces, and every change of serial, timed when the bench saw it."""

    def __init__(self) -> None:
        self.uids: dict[str, str] = {}
        self.serials: dict[str, str] = {}
        self.renewal_times: dict[str, datetime] = {}
        self.changes: list[Reissue] = []
        self.version = ""

    async def run(self, api: client.ApiClient, namespace: str) -> None:
        objects = client.CustomObjectsApi(api)
        while True:  # the server ends a watch after a while: resume from the last version seen
            with contextlib.suppress(asyncio.TimeoutError):  # so does aiohttp, after 5 minutes
                await self._follow(objects, namespace)

    async def _follow(self, objects: Any, namespace: str) -> None:
        version = self.version
        async for event in watch.Watch().stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            CERTIFICATES.plural,
            timeout_seconds=3600,
            **({"resource_version": version} if version else {}),
        ):
            body = event["raw_object"]
            if event["type"] == "ERROR":
                raise RuntimeError(f"watch failed: {body}")
            self.version = body["metadata"]["resourceVersion"]
            self.observe(body, datetime.now(UTC))

    def observe(self, body: dict[str, Any], now: datetime) -> None:
        name = body["metadata"]["name"]
        self.uids[name] = body["metadata"]["uid"]
        status = body.get("status") or {}
        serial = status.get("serialNumber")
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        if not serial or not ready:
            return
        previous = self.serials.get(name)
        if previous is not None and previous != serial:
            self.changes.append(Reissue(name, now, self.renewal_times.get(name)))
        self.serials[name] = serial
        if status.get("renewalTime"):
            self.renewal_times[name] = datetime.fromisoformat(status["renewalTime"])


async def until(
    check: Any, follower: "asyncio.Task[None]", timeout: float, what: str, interval: float = 0.2
) -> None:
    """Polls `check` every `interval` seconds (a bench may poll); a follower that died fails the bench
    at once."""
    deadline = time.monotonic() + timeout
    while not check():
        if follower.done():
            follower.result()
            raise RuntimeError("the watch ended")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def measure_renewals(count: int, minutes: float, workdir: Path) -> dict[str, float]:
    """`count` Certificates of 2 minutes, renewed 1 minute before they end, for `minutes`: each
    renewal's lateness against the renewalTime its status announced before it."""
    async with bench_run(workdir) as run:
        plane, audit, operator, api = run.plane, run.audit, run.operator, run.api
        operator.start()
        await apply_issuer(plane, "renew")
        follower, follower_task = run.follow("renew")
        names = [f"r{n:05d}" for n in range(count)]
        await create_certificates(api, "renew", names, duration="2m", renewBefore="1m")
        await until(lambda: len(follower.serials) >= count, follower_task, 900, "all Ready")
        mark, (_, cpu_before) = line_count(audit), operator.usage()
        follower.changes.clear()
        started = datetime.now(UTC)
        # The measured period, not a proof of anything; a follower that dies ends it at once.
        await until(
            lambda: datetime.now(UTC) - started >= timedelta(minutes=minutes), follower_task, 1e9, "the end"
        )
        ended = datetime.now(UTC)
        peak_rss, cpu_after = operator.usage()
        requests = audit_requests(audit, mark)
        changes = [c for c in follower.changes if c.announced is not None]
        lateness = [(c.seen - c.announced).total_seconds() for c in changes if c.announced]
        # Due before the end (with a second to be seen) and not renewed: late by the time left.
        overdue = [
            (ended - due).total_seconds()
            for due in follower.renewal_times.values()
            if due < ended - timedelta(seconds=1)
        ]
        writes = sum(n for key, n in requests.items() if key.split()[0] in WRITE_VERBS)
        return {
            "count": count,
            "minutes": minutes,
            "renewals": len(lateness),
            "per_second": len(lateness) / (ended - started).total_seconds(),
            **lateness_stats(lateness),
            "overdue_at_end": len(overdue),
            "overdue_max": max(overdue, default=0.0),
            "writes_per_renewal": writes / max(1, len(lateness)),
            "cpu_ms_per_renewal": 1000 * (cpu_after - cpu_before) / max(1, len(lateness)),
            "peak_rss_mb": peak_rss,
        }


ROTATION_WINDOW = timedelta(minutes=2)


async def measure_rotation(count: int, workdir: Path) -> dict[str, float]:
    """`count` Certificates from a self-signed Issuer whose rotation is then brought forward: the
    next CA is prepared, activates after 20 s, and every Certificate is re-issued within the
    2-minute reissueWindow, each at its own point: activatedAt + window * spread(its UID)."""
    namespace = "rotate"
    async with bench_run(workdir) as run:
        plane, audit, operator, api = run.plane, run.audit, run.operator, run.api
        operator.start()
        window = f"{int(ROTATION_WINDOW.total_seconds())}s"
        # A 40-minute CA whose rotation would start only 25 s before its end, until patched below.
        # 40 minutes, not less: at 90% the API server (and planning) require the new CA to sign
        # for 2 x propagationDelay + reissueWindow (2 min 40 s) before its rotation is due.
        rotation = {"rotateBeforePercentage": 1, "propagationDelay": "20s", "reissueWindow": window}
        await apply_issuer(plane, namespace, {"caDuration": "40m", "rotation": rotation})
        follower, follower_task = run.follow(namespace)
        names = [f"k{n:05d}" for n in range(count)]
        await create_certificates(api, namespace, names, duration="10m")
        await until(lambda: len(follower.serials) >= count, follower_task, 900, "all Ready")
        follower.changes.clear()
        mark, (_, cpu_before) = line_count(audit), operator.usage()
        # 90% of the CA's life left: the rotation starts now (or 3.1 minutes after the CA was made).
        patch = {"spec": {"selfSigned": {"rotation": {"rotateBeforePercentage": 90}}}}
        plane.kubectl(
            "patch", "issuers.certmint.dev/ca", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
        )
        objects = client.CustomObjectsApi(api)

        async def overlapping() -> bool:
            issuer = await objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, ISSUERS.plural, "ca"
            )
            assert isinstance(issuer, dict), "the custom objects API answers with the object's JSON"
            return ((issuer.get("status") or {}).get("rotation") or {}).get("phase") == "Overlap"

        deadline = time.monotonic() + 300
        while not await overlapping():
            if time.monotonic() > deadline:
                raise TimeoutError("the rotation never activated")
            await asyncio.sleep(0.2)
        core = client.CoreV1Api(api)
        secret = await core.read_namespaced_secret("ca-ca", namespace)
        assert secret.metadata is not None, "a Secret read from the API server has metadata"
        annotations = secret.metadata.annotations or {}
        activated_at = datetime.fromisoformat(annotations["certmint.dev/activated-at"])
        window_end = activated_at + ROTATION_WINDOW
        wait = (window_end - datetime.now(UTC)).total_seconds() + 60
        await until(
            lambda: len({c.name for c in follower.changes}) >= count, follower_task, wait, "re-issues"
        )
        peak_rss, cpu_after = operator.usage()
        requests = audit_requests(audit, mark)
        first: dict[str, datetime] = {}
        for change in follower.changes:
            first.setdefault(change.name, change.seen)
        lateness = [
            (seen - (activated_at + ROTATION_WINDOW * spread(follower.uids[name]))).total_seconds()
            for name, seen in first.items()
        ]
        writes = sum(n for key, n in requests.items() if key.split()[0] in WRITE_VERBS)
        return {
            "count": count,
            "window_s": ROTATION_WINDOW.total_seconds(),
            "reissued": len(first),
            "within_window": sum(1 for seen in first.values() if seen <= window_end),
            "last_after_activation_s": (max(first.values()) - activated_at).total_seconds(),
            **lateness_stats(lateness),
            "writes_per_reissue": writes / max(1, len(first)),
            "cpu_s": cpu_after - cpu_before,
            "peak_rss_mb": peak_rss,
        }


def lateness_stats(lateness: list[float]) -> dict[str, float]:
    """Seconds after the due time; more than half a second before it counts as early."""
    return {
        "late_p50": percentile(lateness, 50),
        "late_p99": percentile(lateness, 99),
        "late_max": max(lateness, default=float("nan")),
        "late_over_2s": sum(1 for value in lateness if value > 2),
        "early": sum(1 for value in lateness if value < -0.5),
    }


def append_section(section: str) -> Path:
    """A bench of its own (bench/ocsp_bench.py, bench/latency.py) adds its "## " section to the
    day's results; scale.py keeps those sections when it rewrites its own part."""
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}.md"
    with out.open("a") as results:
        results.write("\n" + section)
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def issuance_tables(results: list[SizeResult]) -> list[str]:
    lines = [
        "",
        "| N | raw Secret creates/s | all Ready (s) | certs/s | ratio to raw | p50 ms | p95 ms | p99 ms "
        "| operator writes/issuance | peak RSS MB | RSS MB after | CPU s | CPU ms/issuance "
        "| restart to steady (s) | restart requests | restart writes | restart CPU s | restart peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ms = [1000 * value for value in r.latencies]
        lines.append(
            f"| {r.size} | {r.raw_secret_rate:.0f} | {r.all_ready_seconds:.2f} | {r.throughput:.0f} "
            f"| {r.throughput / r.raw_secret_rate:.0%} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} "
            f"| {percentile(ms, 99):.0f} | {r.writes_per_issuance:.2f} | {r.peak_rss_mb:.0f} "
            f"| {r.idle_rss_mb:.0f} | {r.cpu_seconds:.1f} "
            f"| {1000 * r.cpu_seconds / r.size:.1f} | {r.restart_steady_seconds:.1f} "
            f"| {sum(r.restart_requests.values())} | {r.restart_writes} | {r.restart_cpu_seconds:.1f} "
            f"| {r.restart_peak_rss_mb:.0f} |"
        )
    lines += ["", "Operator API requests per issuance, by verb and resource:", ""]
    lines += ["| N | " + " | ".join(sorted({k for r in results for k in r.requests_by_verb})) + " |"]
    keys = sorted({k for r in results for k in r.requests_by_verb})
    lines += ["|---:|" + "---:|" * len(keys)]
    for r in results:
        lines.append(
            f"| {r.size} | " + " | ".join(f"{r.requests_by_verb.get(k, 0) / r.size:.2f}" for k in keys) + " |"
        )
    lines += ["", "Operator API requests of the restart (whole, not per issuance):", ""]
    restart_keys = sorted({k for r in results for k in r.restart_requests})
    lines += ["| N | " + " | ".join(restart_keys) + " |", "|---:|" + "---:|" * len(restart_keys)]
    for r in results:
        lines.append(
            f"| {r.size} | " + " | ".join(str(r.restart_requests.get(k, 0)) for k in restart_keys) + " |"
        )
    return lines


def report(
    results: list[SizeResult], rotation: dict[str, float] | None, renewals: dict[str, float] | None
) -> str:
    lines = [
        f"# certmint scale benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores; control plane: etcd + kube-apiserver v1.36.3 on loopback; "
        f"operator: one process, default settings. Client concurrency {CONCURRENCY}.",
    ]
    if results:
        lines += issuance_tables(results)
    if rotation:
        lines += [
            "",
            f"CA rotation at scale: {rotation['count']:.0f} Certificates (10m) from one self-signed Issuer "
            f"(caDuration 40m, propagationDelay 20s, reissueWindow {rotation['window_s']:.0f}s); lateness of "
            "each re-issue (seen by the bench's watch) against its own point, activatedAt + window * "
            "spread(UID):",
            "",
            "| re-issued | within the window | last, s after activation | late p50 s | late p99 s "
            "| late max s | late > 2 s | early | operator writes/re-issue | operator CPU s | peak RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {rotation['reissued']:.0f} | {rotation['within_window']:.0f} "
            f"| {rotation['last_after_activation_s']:.1f} | {rotation['late_p50']:.2f} "
            f"| {rotation['late_p99']:.2f} | {rotation['late_max']:.2f} | {rotation['late_over_2s']:.0f} "
            f"| {rotation['early']:.0f} | {rotation['writes_per_reissue']:.2f} | {rotation['cpu_s']:.1f} "
            f"| {rotation['peak_rss_mb']:.0f} |",
        ]
    if renewals:
        lines += [
            "",
            f"Sustained renewals: {renewals['count']:.0f} Certificates (duration 2m, renewBefore 1m) for "
            f"{renewals['minutes']:.0f} minutes; lateness of each renewal (seen by the bench's watch) "
            "against the status.renewalTime announced before it:",
            "",
            "| renewals | per s | late p50 s | late p99 s | late max s | late > 2 s | early | overdue at end "
            "| operator writes/renewal | operator CPU ms/renewal | peak RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {renewals['renewals']:.0f} | {renewals['per_second']:.1f} | {renewals['late_p50']:.2f} "
            f"| {renewals['late_p99']:.2f} | {renewals['late_max']:.2f} | {renewals['late_over_2s']:.0f} "
            f"| {renewals['early']:.0f} | {renewals['overdue_at_end']:.0f} "
            f"| {renewals['writes_per_renewal']:.2f} | {renewals['cpu_ms_per_renewal']:.1f} "
            f"| {renewals['peak_rss_mb']:.0f} |",
        ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 5000])
    parser.add_argument("--ten-thousand", action="store_true", help="also N = 10,000")
    parser.add_argument(
        "--rotation", type=int, default=5000, help="certificates in the CA rotation run (0: skip)"
    )
    parser.add_argument(
        "--renewals", type=int, default=2000, help="certificates in the renewal run (0: skip)"
    )
    parser.add_argument("--renewal-minutes", type=float, default=10, help="length of the renewal run")
    args = parser.parse_args()
    sizes = [*args.sizes, *([10_000] if args.ten_thousand else [])]
    root = Path(tempfile.mkdtemp(prefix="certmint-bench-"))
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}.md"
    # Other benches (bench/ocsp_bench.py) append their own "## " sections to the day's file: kept.
    before = out.read_text() if out.exists() else ""
    others = before[before.index("\n## ") :] if "\n## " in before else ""
    results: list[SizeResult] = []
    rotation = renewals = None

    def publish() -> None:
        """After every run, so that a later run's failure loses nothing measured before it."""
        out.write_text(report(results, rotation, renewals) + others)

    for size in sizes:
        print(f"N={size}...", flush=True)
        results.append(await measure_size(size, root / f"n{size}"))
        publish()
    if args.rotation:
        print(f"CA rotation of {args.rotation}...", flush=True)
        rotation = await measure_rotation(args.rotation, root / "rotation")
        publish()
    if args.renewals:
        print(f"{args.renewals} renewing for {args.renewal_minutes} minutes...", flush=True)
        renewals = await measure_renewals(args.renewals, args.renewal_minutes, root / "renewals")
        publish()
    print(report(results, rotation, renewals))
    print(f"written to {out}; work files in {root}")


if __name__ == "__main__":
    asyncio.run(main())
