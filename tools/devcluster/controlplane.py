"""Start and stop etcd, kube-apiserver and kube-controller-manager as child processes on loopback."""

import base64
import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from devcluster.binaries import Binaries, locate_binaries
from devcluster.credentials import ClusterCredentials, write_credentials

_PR_SET_PDEATHSIG = 1
_READY_TIMEOUT_SECONDS = 90.0
POD_CERTIFICATE_GATES = ("PodCertificateRequest", "ClusterTrustBundle", "ClusterTrustBundleProjection")
"""Off by default in Kubernetes 1.36: PodCertificateRequests, ClusterTrustBundles and their projection
into pods. The API server, the controller manager and the kubelet all need them."""
POD_CERTIFICATE_API = "certificates.k8s.io/v1beta1"
PCR_CLEANER = "podcertificaterequest-cleaner-controller"
"""Deletes every PodCertificateRequest 15 minutes after its creation, as in a real cluster."""
_STOP_GRACE_SECONDS = 10.0


def _die_with_parent() -> None:
    # A test runner killed with SIGKILL cannot clean up; the kernel then stops its children for it.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Profile:
    """What differs between the API-only control plane and one that serves a node and its pods."""

    bind_address: str = "127.0.0.1"
    advertise_address: str = "127.0.0.1"
    port: int | None = None
    """None: any free port."""
    serving_ips: tuple[str, ...] = ("127.0.0.1",)
    pods: bool = False
    """ServiceAccount admission (pods get tokens) and the `kubernetes` Service's endpoints."""
    controllers: tuple[str, ...] = ("garbagecollector", "namespace", "serviceaccount", "serviceaccount-token")
    pod_certificates: bool = True
    """The feature gates and the beta API of PodCertificateRequests and ClusterTrustBundles. False: a
    cluster without them (as every 1.36 cluster is by default), where certmint must keep working."""
    node_name: str | None = None
    """A node's kubelet runs as `system:node:<node_name>` (group system:nodes) with a client certificate
    of the cluster CA, and the API server authorizes it as a real cluster does: Node authorizer before
    RBAC, NodeRestriction admission. None: no node, RBAC alone."""

    @property
    def feature_gates(self) -> dict[str, bool]:
        """The gates this profile turns on, for every component's `--feature-gates`/`featureGates`."""
        return dict.fromkeys(POD_CERTIFICATE_GATES, True) if self.pod_certificates else {}

    @property
    def controller_names(self) -> tuple[str, ...]:
        # The cleaner needs the PodCertificateRequest gate; without it there is nothing to clean.
        if self.pod_certificates:
            return self.controllers
        return tuple(name for name in self.controllers if name != PCR_CLEANER)


API_ONLY = Profile()


def feature_gates_flag(gates: dict[str, bool]) -> tuple[str, ...]:
    if not gates:
        return ()
    return ("--feature-gates=" + ",".join(f"{name}={str(on).lower()}" for name, on in gates.items()),)


@dataclass
class ControlPlane:
    """A running control plane: where to reach it and the processes behind it."""

    workdir: Path
    server: str
    kubeconfig: Path
    credentials: ClusterCredentials
    binaries: Binaries
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout, result.stderr)
        return result.stdout if result.returncode == 0 else result.stdout + result.stderr

    def install_certmint(self, crds: Path, operator_namespace: str = "certmint") -> None:
        """What every certmint run needs first: the CRDs, established, and the operator's namespace."""
        self.kubectl("apply", "--server-side", "-f", str(crds))
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/name=certmint",
        )
        self.kubectl("create", "namespace", operator_namespace, check=False)

    def crash_and_restart(self, name: str, down_for: float = 0.0) -> None:
        """SIGKILLs one component (`etcd`, `kube-apiserver`), keeps it down for `down_for` seconds,
        starts it again with the same arguments and waits until it is ready: a fault for tests."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=_STOP_GRACE_SECONDS)
        time.sleep(down_for)
        args = [str(arg) for arg in process.args]  # type: ignore[union-attr]
        spawn(self, name, args, append=True)
        if name == "etcd":
            client_url = next(arg for arg in args if arg.startswith("--listen-client-urls=")).split("=", 1)[1]
            wait_ready(self, name, f"{client_url}/health")
        else:
            wait_ready(self, name, f"{self.server}/readyz")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class LocalControlPlane:
    """Context manager: `with LocalControlPlane() as cp:` gives a ready API server and stops it after."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        controller_manager: bool = True,
        binaries: Binaries | None = None,
        extra_apiserver_args: tuple[str, ...] = (),
        profile: Profile = API_ONLY,
    ) -> None:
        self._workdir = workdir
        self._controller_manager = controller_manager
        self._binaries = binaries
        self._extra_apiserver_args = extra_apiserver_args
        self._profile = profile
        self.plane: ControlPlane | None = None

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        binaries = self._binaries or locate_binaries()
        workdir = self._workdir or Path(tempfile.mkdtemp(prefix="certmint-cp-"))
        workdir.mkdir(parents=True, exist_ok=True)
        credentials = write_credentials(workdir, self._profile.serving_ips, self._profile.node_name)
        port = self._profile.port or free_port()
        server = f"https://127.0.0.1:{port}"
        self.plane = plane = ControlPlane(
            workdir=workdir,
            server=server,
            kubeconfig=workdir / "kubeconfig",
            credentials=credentials,
            binaries=binaries,
        )
        try:
            etcd_url = self._start_etcd(plane)
            self._start_apiserver(plane, port, etcd_url)
            write_kubeconfig(plane.kubeconfig, plane, credentials.admin_cert, credentials.admin_key)
            wait_ready(plane, "kube-apiserver", f"{server}/readyz")
            if self._controller_manager:
                self._start_controller_manager(plane)
        except BaseException:
            self.stop()
            raise
        return plane

    def stop(self) -> None:
        if self.plane is None:
            return
        # Reverse start order: the API server must not outlive etcd's clients, nor etcd its API server.
        for name in reversed(list(self.plane.processes)):
            _terminate(self.plane.processes[name])

    def _start_etcd(self, plane: ControlPlane) -> str:
        client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        spawn(
            plane,
            "etcd",
            [
                str(plane.binaries.etcd),
                f"--data-dir={plane.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        wait_ready(plane, "etcd", f"{client_url}/health")
        return client_url

    def _start_apiserver(self, plane: ControlPlane, port: int, etcd_url: str) -> None:
        c = plane.credentials
        profile = self._profile
        pod_support = (
            ()
            if profile.pods
            else ("--endpoint-reconciler-type=none", "--disable-admission-plugins=ServiceAccount")
        )
        # The Node authorizer answers the kubelet's requests (its own Node, its pods' Secrets, the
        # PodCertificateRequests it creates); NodeRestriction checks what it writes (pods, node, PCRs).
        authorization = (
            ("--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction")
            if profile.node_name is not None
            else ("--authorization-mode=RBAC",)
        )
        pod_certificates = (
            (*feature_gates_flag(profile.feature_gates), f"--runtime-config={POD_CERTIFICATE_API}=true")
            if profile.pod_certificates
            else ()
        )
        spawn(
            plane,
            "kube-apiserver",
            [
                str(plane.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={profile.bind_address}",
                f"--advertise-address={profile.advertise_address}",
                f"--secure-port={port}",
                f"--tls-cert-file={c.serving_cert}",
                f"--tls-private-key-file={c.serving_key}",
                f"--client-ca-file={c.ca_cert}",
                f"--service-account-key-file={c.service_account_public_key}",
                f"--service-account-signing-key-file={c.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                *authorization,
                "--service-cluster-ip-range=10.96.0.0/16",
                *pod_support,
                *pod_certificates,
                *self._extra_apiserver_args,
            ],
        )

    def _start_controller_manager(self, plane: ControlPlane) -> None:
        c = plane.credentials
        spawn(
            plane,
            "kube-controller-manager",
            [
                str(plane.binaries.kube_controller_manager),
                f"--kubeconfig={plane.kubeconfig}",
                f"--authentication-kubeconfig={plane.kubeconfig}",
                f"--authorization-kubeconfig={plane.kubeconfig}",
                f"--controllers={','.join(self._profile.controller_names)}",
                *feature_gates_flag(self._profile.feature_gates),
                f"--service-account-private-key-file={c.service_account_key}",
                f"--root-ca-file={c.ca_cert}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
            ],
        )


def write_kubeconfig(
    path: Path, plane: ControlPlane, client_cert: Path, client_key: Path, user: str = "certmint-admin"
) -> None:
    """A kubeconfig for the plane's server that authenticates with this client certificate."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    c = plane.credentials
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "certmint-dev",
                "cluster": {"server": plane.server, "certificate-authority-data": b64(c.ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(client_cert), "client-key-data": b64(client_key)},
            }
        ],
        "contexts": [{"name": "certmint-dev", "context": {"cluster": "certmint-dev", "user": user}}],
        "current-context": "certmint-dev",
    }
    path.write_text(yaml.safe_dump(config))


def spawn(plane: ControlPlane, name: str, args: list[str], *, append: bool = False) -> None:
    log = (plane.workdir / f"{name}.log").open("ab" if append else "wb")
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=plane.workdir,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe work happens in it
    )
    log.close()
    plane.processes[name] = process


def wait_ready(plane: ControlPlane, name: str, url: str) -> None:
    context = ssl.create_default_context(cafile=str(plane.credentials.ca_cert))
    context.load_cert_chain(str(plane.credentials.admin_cert), str(plane.credentials.admin_key))
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    last_error = ""
    while time.monotonic() < deadline:
        if plane.processes[name].poll() is not None:
            raise RuntimeError(
                f"{name} exited with {plane.processes[name].returncode}:\n{plane.log_tail(name)}"
            )
        try:
            with urllib.request.urlopen(url, context=context if url.startswith("https") else None, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"{name} not ready at {url} after {_READY_TIMEOUT_SECONDS} s ({last_error})")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_GRACE_SECONDS)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
