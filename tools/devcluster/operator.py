"""`certmint operator` as a child process beside a local control plane, as `kopf run` would be during
development: the one wrapper of the e2e tests, the bench and `make run-process`."""

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devcluster.controlplane import ControlPlane

# Generous: on a loaded 2-core machine the imports alone can take tens of seconds.
_START_TIMEOUT = 180.0
_STOP_TIMEOUT = 30.0
_STARTED = "certmint operator started"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """The samples of a Prometheus text exposition, by name and sorted labels."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class OperatorProcess:
    """The operator against `plane`, its output appended to `log_path` (restarts included).
    `extra_env` adds CERTMINT_* settings; CERTMINT_METRICS_PORT there is where its HTTP server listens."""

    def __init__(
        self, plane: ControlPlane, log_path: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.plane = plane
        self.log_path = log_path
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> None:
        """Returns once the new process has logged its start; a process that never does is killed.
        wait=False returns at once: a spare replica waits for a slot before it starts serving."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "CERTMINT_NAMESPACE": "certmint",
            "CERTMINT_HTTP_ADDRESS": "127.0.0.1",
            **self.extra_env,
        }
        offset = len(self.log())  # a restart appends to the same log
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "certmint.cli.main", "operator"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while wait and _STARTED not in self.log()[offset:]:
            if not self.alive():
                raise RuntimeError(f"operator exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()  # a process that never reported its start must not outlive its caller
                raise RuntimeError(f"operator did not start in {_START_TIMEOUT:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pause(self) -> None:
        """SIGSTOP: the process is frozen as a stalled node or a long GC would freeze it."""
        assert self.process is not None, "the operator was never started"
        assert self.process.poll() is None, "only a running process pauses"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause(); harmless on a process that is not stopped."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in a crash or an evicted pod."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL if it has not exited in time."""
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a stopped process would not act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.extra_env['CERTMINT_METRICS_PORT']}{path}"

    @property
    def metrics_url(self) -> str:
        return self.url("/metrics")

    def crl_url(self, namespace: str, issuer: str) -> str:
        return self.url(f"/crl/{namespace}/{issuer}.crl")

    def ocsp_url(self, namespace: str, issuer: str) -> str:
        return self.url(f"/ocsp/issuer/{namespace}/{issuer}")

    def samples(self, *names: str) -> Samples:
        """The metric samples, by name and sorted labels; only those of `names` when given (the whole
        exposition at 10,000 Certificates costs CPU that the bench measures)."""
        query = urllib.parse.urlencode([("name[]", name) for name in names])
        return scrape(self.metrics_url + (f"?{query}" if query else ""))

    def reconciles(self, kind: str = "Certificate") -> float:
        """Reconciles of that kind this process finished without error."""
        reconciles = self.samples("certmint_reconciles_total")
        return reconciles.get(("certmint_reconciles_total", (("kind", kind), ("result", "ok"))), 0.0)

    def settled(self, at_least: float, kind: str = "Certificate") -> bool:
        """At least that many reconciles of that kind finished, and nothing queued or in work."""
        samples = self.samples("certmint_reconciles_total", "certmint_workqueue_depth")
        finished = samples.get(("certmint_reconciles_total", (("kind", kind), ("result", "ok"))), 0.0)
        return finished >= at_least and samples.get(("certmint_workqueue_depth", ()), 1.0) == 0.0

    def rss_now(self) -> float:
        """Resident MB now (after a burst: what stays, against the peak, which counts the burst)."""
        return self._status_mb("VmRSS")

    def usage(self) -> tuple[float, float]:
        """Peak RSS in MB and CPU seconds so far."""
        assert self.process is not None, "the operator was never started"
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return self._status_mb("VmHWM"), (int(fields[11]) + int(fields[12])) / ticks

    def _status_mb(self, field: str) -> float:
        assert self.process is not None, "the operator was never started"
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field))) / 1024
