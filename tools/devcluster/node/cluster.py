"""A local cluster with a real node, for tests and `make run`: `with LocalNode(workdir) as node:`."""

import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from devcluster.binaries import Binaries, locate_binaries
from devcluster.environment import child_environment
from devcluster.node.configs import NodeLayout
from devcluster.node.images import Images, locate_images

_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 300.0
_STOP_TIMEOUT = 90.0


@dataclass(frozen=True)
class RunningNode:
    workdir: Path
    kubeconfig: Path
    binaries: Binaries
    images: Images

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True, timeout: float = 120
    ) -> str:
        return _run(
            [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            input_text,
            check,
            timeout,
        )

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return _run(
            [str(self.binaries.helm), "--kubeconfig", str(self.kubeconfig), *args], None, check, timeout
        )

    def install_chart(
        self, chart: Path, namespace: str, values: Sequence[str], timeout: str = "180s"
    ) -> None:
        """`helm install certmint` as a user runs it, the chart installing the CRDs; returns once they
        are established and the operator's Deployment is rolled out."""
        self.kubectl("create", "namespace", namespace)
        self.helm(
            "install",
            "certmint",
            str(chart),
            "--namespace",
            namespace,
            *(argument for value in values for argument in ("--set", value)),
        )
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=certmint",
        )
        self.kubectl("rollout", "status", "-n", namespace, "deployment/certmint", f"--timeout={timeout}")

    def log(self, component: str) -> Path:
        """The log of a component: kubelet, containerd, kube-proxy, kube-apiserver, ..."""
        return self.workdir / "cluster" / f"{component}.log"


class LocalNode:
    """Starts the node's host side as a child process that stops the node when this process dies."""

    def __init__(self, workdir: Path, sync_frequency: str = "10s") -> None:
        self._workdir = workdir.resolve()
        self._sync_frequency = sync_frequency
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def host_log(self) -> Path:
        return self._workdir / "node.log"

    def start(self) -> RunningNode:
        binaries, images = locate_binaries(), locate_images()
        self._workdir.mkdir(parents=True, exist_ok=True)
        layout = NodeLayout(self._workdir, "")
        layout.ready_file.unlink(missing_ok=True)
        with self.host_log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "devcluster.node.host",
                    f"--workdir={self._workdir}",
                    f"--sync-frequency={self._sync_frequency}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment(),
                preexec_fn=_stop_with_parent,  # noqa: PLW1509 - only async-signal-safe work happens in it
            )
        deadline = time.monotonic() + _START_TIMEOUT
        try:
            while not layout.ready_file.exists():
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"the node exited with {self._process.returncode}:\n{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the node was not ready after {_START_TIMEOUT} s:\n{self._log_tail()}"
                    )
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return RunningNode(self._workdir, layout.host_kubeconfig, binaries, images)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.host_log.read_text(errors="replace").splitlines()[-lines:])


def _stop_with_parent() -> None:
    # SIGTERM, not SIGKILL: the host side then stops the node and removes its cgroups.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _run(args: list[str], input_text: str | None, check: bool, timeout: float) -> str:
    result = subprocess.run(
        args, input=input_text, capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout, result.stderr)
    return result.stdout if result.returncode == 0 else result.stdout + result.stderr
