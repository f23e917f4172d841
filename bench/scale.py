"""Issuance at scale on a real local control plane; prints a table and writes bench/results/<date>.md.

    python bench/scale.py [--sizes 100 1000 5000] [--ten-thousand] [--renewals 100]

For every size, on a fresh control plane: the raw Secret create rate of one client (the ceiling),
then N Certificates from one Issuer with the operator as a process: time until all are Ready,
throughput and its ratio to the ceiling, latency percentiles (create → Ready, seen by a watch), API
requests of the operator per issuance by verb (from the API server's audit log), operator peak RSS
and CPU seconds, and a restart (time to steady state, re-issues). Then renewal accuracy: actual
renewal against status.renewalTime for short-lived certificates.
"""

import argparse
import asyncio
import base64
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.aio import client, config, watch
from prometheus_client.parser import text_string_to_metric_families

from certmint.devcluster import ControlPlane, LocalControlPlane
from certmint.devcluster.controlplane import free_port

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "certmint.dev", "v1alpha1"
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
    cpu_seconds: float
    restart_steady_seconds: float
    restart_requests: dict[str, int]
    restart_cpu_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.size / self.all_ready_seconds

    @property
    def restart_writes(self) -> int:
        return sum(n for key, n in self.restart_requests.items() if key.split()[0] in WRITE_VERBS)


class Operator:
    def __init__(self, plane: ControlPlane, log: Path) -> None:
        self.plane, self.log = plane, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.metrics_port = free_port()  # never the default 9402, which another operator may hold

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "CERTMINT_NAMESPACE": "certmint",
            "CERTMINT_HTTP_ADDRESS": "127.0.0.1",
            "CERTMINT_METRICS_PORT": str(self.metrics_port),
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "certmint.cli.main", "operator"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while self.log.read_text(errors="replace").count("certmint operator started") < self.starts:
            if time.monotonic() > deadline:
                raise RuntimeError(f"operator did not start; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def settled(self, reconciles: int) -> bool:
        """At least that many Certificate reconciles done, and nothing queued or in work."""
        samples = self.samples()
        done = samples.get(("certmint_reconciles_total", (("kind", "Certificate"), ("result", "ok"))), 0.0)
        return done >= reconciles and samples.get(("certmint_workqueue_depth", ()), 1.0) == 0.0

    def usage(self) -> tuple[float, float]:
        """Peak RSS in MB and CPU seconds so far."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return peak_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def audit_requests(log: Path, since_line: int) -> collections.Counter[str]:
    """Requests of everyone but the bench client and kubectl, as verb/resource."""
    counts: collections.Counter[str] = collections.Counter()
    with log.open() as lines:
        for number, line in enumerate(lines):
            if number < since_line or not line.endswith("\n"):
                continue  # before the mark, or the line the API server is still writing
            event = json.loads(line)
            agent = event.get("userAgent", "")
            if agent.startswith((BENCH_AGENT, "kubectl")) or event.get("stage") != "ResponseComplete":
                continue
            resource = event.get("objectRef", {}).get("resource", "")
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


def certificate(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "secretName": f"{name}-tls",
            "issuerRef": {"name": "ca"},
            "dnsNames": [f"{name}.{namespace}.svc"],
            **spec,
        },
    }


async def create_certificates(
    api: client.ApiClient, namespace: str, names: list[str], **spec: Any
) -> dict[str, float]:
    objects = client.CustomObjectsApi(api)
    created: dict[str, float] = {}

    async def create(name: str) -> None:
        created[name] = time.perf_counter()
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "certificates", certificate(namespace, name, **spec)
        )

    await bounded([create(name) for name in names])
    return created


async def watch_ready(
    api: client.ApiClient, namespace: str, expected: int, ready_at: dict[str, float]
) -> None:
    objects = client.CustomObjectsApi(api)
    stream = watch.Watch()
    async for event in stream.stream(
        objects.list_namespaced_custom_object, GROUP, VERSION, namespace, "certificates", timeout_seconds=3600
    ):
        body = event["raw_object"]
        name = body["metadata"]["name"]
        conditions = (body.get("status") or {}).get("conditions", [])
        if name not in ready_at and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            ready_at[name] = time.perf_counter()
            if len(ready_at) >= expected:
                stream.stop()


async def apply_issuer(plane: ControlPlane, namespace: str) -> None:
    plane.kubectl("create", "namespace", namespace)
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Issuer",
        "metadata": {"name": "ca", "namespace": namespace},
        "spec": {"selfSigned": {}},
    }
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


async def measure_size(size: int, workdir: Path) -> SizeResult:
    local, plane, audit = start_plane(workdir)
    operator = Operator(plane, workdir / "operator.log")
    try:
        api = await api_for(plane)
        raw_rate = await raw_secret_rate(api, size)
        operator.start()
        namespace = "bench"
        await apply_issuer(plane, namespace)
        mark = line_count(audit)
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
        peak_rss, cpu = operator.usage()
        writes = sum(count for key, count in requests.items() if key.split()[0] in WRITE_VERBS)

        operator.stop()
        mark = line_count(audit)
        restarted = time.perf_counter()
        operator.start()
        steady = await wait_settled(operator, size)
        _, restart_cpu = operator.usage()
        after = audit_requests(audit, mark)
        operator.stop()
        await api.close()
        return SizeResult(
            size=size,
            raw_secret_rate=raw_rate,
            all_ready_seconds=all_ready,
            latencies=[ready_at[name] - created[name] for name in names],
            requests_by_verb=dict(requests),
            writes_per_issuance=writes / size,
            peak_rss_mb=peak_rss,
            cpu_seconds=cpu,
            restart_steady_seconds=steady - restarted,
            restart_requests=dict(after),
            restart_cpu_seconds=restart_cpu,
        )
    finally:
        operator.stop()  # whatever failed: no operator is left holding the port
        local.stop()


async def wait_settled(operator: Operator, certificates: int) -> float:
    """Steady state after a restart: every Certificate reconciled once and the queue empty, as the
    operator's own metrics report it."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if operator.settled(certificates):
            return time.perf_counter()
        await asyncio.sleep(0.1)
    raise TimeoutError("operator did not reach steady state after restart")


async def measure_renewals(count: int, workdir: Path) -> dict[str, float]:
    local, plane, _ = start_plane(workdir)
    operator = Operator(plane, workdir / "operator.log")
    try:
        api = await api_for(plane)
        operator.start()
        await apply_issuer(plane, "renew")
        names = [f"r{n:04d}" for n in range(count)]
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(api, "renew", count, ready_at))
        await create_certificates(api, "renew", names, duration="2m", renewBefore="1m")
        await asyncio.wait_for(watcher, timeout=300)
        objects = client.CustomObjectsApi(api)
        listing = await objects.list_namespaced_custom_object(GROUP, VERSION, "renew", "certificates")
        scheduled = {
            item["metadata"]["name"]: datetime.fromisoformat(item["status"]["renewalTime"])
            for item in listing["items"]
        }
        serials = {item["metadata"]["name"]: item["status"]["serialNumber"] for item in listing["items"]}
        renewed: dict[str, datetime] = {}
        deadline = time.monotonic() + 150
        while len(renewed) < count and time.monotonic() < deadline:
            listing = await objects.list_namespaced_custom_object(GROUP, VERSION, "renew", "certificates")
            now = datetime.now(UTC)
            for item in listing["items"]:
                name = item["metadata"]["name"]
                if name not in renewed and item["status"].get("serialNumber") != serials[name]:
                    renewed[name] = now
            await asyncio.sleep(0.1)
        operator.stop()
        await api.close()
        lateness = sorted((renewed[name] - scheduled[name]).total_seconds() for name in renewed)
        spread = max(scheduled.values()) - min(scheduled.values())
        return {
            "renewed": len(renewed),
            "count": count,
            "late_p50": percentile(lateness, 50),
            "late_p99": percentile(lateness, 99),
            "late_max": max(lateness) if lateness else float("nan"),
            "early": sum(1 for value in lateness if value < -0.2),
            "jitter_spread_s": spread.total_seconds(),
        }
    finally:
        operator.stop()
        local.stop()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(results: list[SizeResult], renewals: dict[str, float] | None) -> str:
    lines = [
        f"# certmint scale benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores; control plane: etcd + kube-apiserver v1.36.3 on loopback; "
        f"operator: one process, default settings. Client concurrency {CONCURRENCY}.",
        "",
        "| N | raw Secret creates/s | all Ready (s) | certs/s | ratio to raw | p50 ms | p95 ms | p99 ms "
        "| operator writes/issuance | peak RSS MB | RSS MB/1k | CPU s | CPU ms/issuance "
        "| restart to steady (s) | restart requests | restart writes | restart CPU s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ms = [1000 * value for value in r.latencies]
        lines.append(
            f"| {r.size} | {r.raw_secret_rate:.0f} | {r.all_ready_seconds:.2f} | {r.throughput:.0f} "
            f"| {r.throughput / r.raw_secret_rate:.0%} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} "
            f"| {percentile(ms, 99):.0f} | {r.writes_per_issuance:.2f} | {r.peak_rss_mb:.0f} "
            f"| {r.peak_rss_mb / r.size * 1000:.1f} | {r.cpu_seconds:.1f} "
            f"| {1000 * r.cpu_seconds / r.size:.1f} | {r.restart_steady_seconds:.1f} "
            f"| {sum(r.restart_requests.values())} | {r.restart_writes} | {r.restart_cpu_seconds:.1f} |"
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
    if renewals:
        lines += [
            "",
            f"Renewal accuracy ({renewals['count']:.0f} certificates, duration 2m, renewBefore 1m): "
            f"{renewals['renewed']:.0f} renewed; lateness against status.renewalTime p50 "
            f"{renewals['late_p50']:.2f} s, p99 {renewals['late_p99']:.2f} s, "
            f"max {renewals['late_max']:.2f} s "
            f"(measured by polling every 0.1 s); renewed early: {renewals['early']:.0f}; "
            f"jitter spread of renewal times: {renewals['jitter_spread_s']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--ten-thousand", action="store_true", help="also N = 10,000")
    parser.add_argument("--renewals", type=int, default=100, help="certificates in the renewal run (0: skip)")
    args = parser.parse_args()
    sizes = [*args.sizes, *([10_000] if args.ten_thousand else [])]
    root = Path(tempfile.mkdtemp(prefix="certmint-bench-"))
    results = []
    for size in sizes:
        print(f"N={size}...", flush=True)
        results.append(await measure_size(size, root / f"n{size}"))
    renewals = await measure_renewals(args.renewals, root / "renewals") if args.renewals else None
    table = report(results, renewals)
    print(table)
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}.md"
    # Other benches (bench/ocsp_bench.py) append their own "## " sections to the day's file: kept.
    others = out.read_text() if out.exists() else ""
    out.write_text(table + (others[others.index("\n## ") :] if "\n## " in others else ""))
    print(f"written to {out}; work files in {root}")


if __name__ == "__main__":
    asyncio.run(main())
