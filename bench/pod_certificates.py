"""Pod certificates on the real node: pods per second reaching Ready when each one's identity is a
podCertificate projected volume (the kubelet makes the key, certmint signs the
PodCertificateRequest), beside the same pods without it; and the operator pod's CPU per signed
request, beside its CPU per Certificate issued (key made and Secret written by certmint). Appends a
section to bench/results/<date>.md.

    python bench/pod_certificates.py [--pods 50] [--certificates 50]     (make bench-node)

The chart is installed on a fresh node (tools/devcluster/node) with podCertificates.enabled, as
tests/e2e_node do. CPU is the operator container's process (PID 1: utime + stime of every thread,
the crypto pool included) read before and after each phase, less its idle rate over the phase's
length (measured first, with nothing to do).
"""

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devcluster.node import LocalNode, RunningNode
from devcluster.node.workloads import apply, issuer_signer_name, pod_certificate_issuer, pod_identity
from scale import append_section

REPO = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "certmint"
NAMESPACE = "bench"
IDLE_WINDOW = 30.0


def install(node: RunningNode) -> None:
    image = node.images.certmint
    values = [
        f"image.repository={image.repository}",
        f"image.tag={image.tag}",
        "image.pullPolicy=Never",
        "podCertificates.enabled=true",
    ]
    node.install_chart(REPO / "charts" / "certmint", OPERATOR_NAMESPACE, values, timeout="300s")


def operator_cpu(node: RunningNode) -> float:
    """CPU seconds of the operator process so far (PID 1 of its container)."""
    stat = node.kubectl("exec", "-n", OPERATOR_NAMESPACE, "deployment/certmint", "--", "cat", "/proc/1/stat")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deployment(node: RunningNode, name: str, replicas: int, identity: bool) -> dict[str, Any]:
    volumes = [{"name": "id", **pod_identity(issuer_signer_name(NAMESPACE, "ca"))}] if identity else []
    mounts = [{"name": "id", "mountPath": "/id", "readOnly": True}] if identity else []
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "app",
                            "image": node.images.peer.reference,
                            "imagePullPolicy": "Never",
                            "command": ["/bin/sh", "-c", "exec sleep infinity"],
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def ready_replicas(node: RunningNode, name: str) -> int:
    found = node.kubectl(
        "get", "deployment", name, "-n", NAMESPACE, "-o", "jsonpath={.status.readyReplicas}"
    ).strip()
    return int(found or 0)


def until(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def published(node: RunningNode, ctb: str) -> bool:
    found = node.kubectl("get", "clustertrustbundles.certificates.k8s.io", ctb, "-o", "name", check=False)
    return found.strip() == f"clustertrustbundle.certificates.k8s.io/{ctb}"


def issued_requests(node: RunningNode) -> int:
    listing = json.loads(
        node.kubectl("get", "podcertificaterequests.certificates.k8s.io", "-n", NAMESPACE, "-o", "json")
    )
    return sum(
        1
        for item in listing["items"]
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition["type"] == "Issued" and condition["status"] == "True"
    )


def pods_phase(node: RunningNode, name: str, replicas: int, identity: bool) -> tuple[float, float, int]:
    """Seconds until every pod of a new Deployment is Ready, operator CPU seconds meanwhile, and
    PodCertificateRequests Issued; then the Deployment is deleted and its pods are gone."""
    cpu_before = operator_cpu(node)
    started = time.monotonic()
    apply(node, [deployment(node, name, replicas, identity)])
    until(lambda: ready_replicas(node, name) >= replicas, 900, f"{replicas} Ready pods of {name}")
    elapsed = time.monotonic() - started
    cpu = operator_cpu(node) - cpu_before
    issued = issued_requests(node) if identity else 0
    node.kubectl("delete", "deployment", name, "-n", NAMESPACE, "--wait=true", timeout=600)
    until(
        lambda: not node.kubectl("get", "pods", "-n", NAMESPACE, "-l", f"app={name}", "-o", "name").strip(),
        600,
        f"the pods of {name} to be gone",
        interval=2,
    )
    return elapsed, cpu, issued


def certificates_phase(node: RunningNode, count: int) -> tuple[float, float]:
    """Seconds until `count` new Certificates of the same issuer are Ready, and operator CPU meanwhile."""
    manifests = [
        {
            "apiVersion": "certmint.dev/v1",
            "kind": "Certificate",
            "metadata": {"name": f"c{number:03d}", "namespace": NAMESPACE},
            "spec": {
                "secretName": f"c{number:03d}-tls",
                "issuerRef": {"name": "ca"},
                "dnsNames": [f"c{number:03d}.{NAMESPACE}.svc"],
                "privateKey": {"algorithm": "ECDSA", "size": 256},
            },
        }
        for number in range(count)
    ]
    cpu_before = operator_cpu(node)
    started = time.monotonic()
    apply(node, manifests)
    node.kubectl(
        "wait",
        "certificates.certmint.dev",
        "--all",
        "-n",
        NAMESPACE,
        "--for=condition=Ready",
        "--timeout=600s",
    )
    return time.monotonic() - started, operator_cpu(node) - cpu_before


@dataclass(frozen=True)
class Result:
    idle_rate: float
    """Operator CPU seconds per second with nothing to do."""
    plain: tuple[float, float, int]
    identity: tuple[float, float, int]
    certificates: tuple[float, float]


def measure(pods: int, certificates: int, workdir: Path) -> Result:
    with LocalNode(workdir) as node:
        install(node)
        node.kubectl("create", "namespace", NAMESPACE)
        apply(node, [pod_certificate_issuer(NAMESPACE, "ca")])
        node.kubectl(
            "wait", "issuers.certmint.dev/ca", "-n", NAMESPACE, "--for=condition=Ready", "--timeout=120s"
        )
        ctb = issuer_signer_name(NAMESPACE, "ca").replace("/", ":") + ":primary"
        until(lambda: published(node, ctb), 120, f"ClusterTrustBundle {ctb}")
        # Warm-up: the first pod with an identity (kubelet informers, the operator's first PCR).
        pods_phase(node, "warmup", 1, identity=True)
        idle_before = operator_cpu(node)
        time.sleep(IDLE_WINDOW)  # the operator's idle CPU rate, subtracted from each phase below
        idle_rate = (operator_cpu(node) - idle_before) / IDLE_WINDOW
        plain = pods_phase(node, "plain", pods, identity=False)
        with_identity = pods_phase(node, "identity", pods, identity=True)
        issued = certificates_phase(node, certificates)
        return Result(idle_rate, plain, with_identity, issued)


def section(result: Result, pods: int, certificates: int) -> str:
    idle = result.idle_rate
    plain_s, plain_cpu, _ = result.plain
    identity_s, identity_cpu, issued = result.identity
    cert_s, cert_cpu = result.certificates

    def net(cpu: float, seconds: float) -> float:
        return max(cpu - idle * seconds, 0.0)

    per_request = net(identity_cpu, identity_s) / max(issued, 1) * 1000
    per_certificate = net(cert_cpu, cert_s) / certificates * 1000
    lines = [
        f"## Pod certificates on the real node, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`python bench/pod_certificates.py --pods {pods} --certificates {certificates}`: a fresh node "
        "(kubelet as system:node, PodCertificateRequest and ClusterTrustBundle gates), the chart with "
        "podCertificates.enabled; a Deployment of pods (peer image, `sleep infinity`) from create to "
        "every pod Ready, without and then with a podCertificate + clusterTrustBundle projected volume "
        "(ECDSA P-256, Issuer with podCertificates: {}); then Certificates (ECDSA P-256) of the same "
        "issuer from create to Ready. Operator CPU: its process's utime + stime before and after, "
        f"less its idle rate ({idle * 1000:.1f} ms/s) over the phase.",
        "",
        "| path | N | all Ready (s) | per second | operator CPU s (net) | CPU ms each |",
        "|---|---:|---:|---:|---:|---:|",
        f"| pods without identity | {pods} | {plain_s:.1f} | {pods / plain_s:.2f} "
        f"| {net(plain_cpu, plain_s):.2f} | n/a |",
        f"| pods with a pod certificate ({issued} PCRs Issued) | {pods} | {identity_s:.1f} "
        f"| {pods / identity_s:.2f} | {net(identity_cpu, identity_s):.2f} | {per_request:.1f} per request |",
        f"| Certificates (Secret path) | {certificates} | {cert_s:.1f} | {certificates / cert_s:.2f} "
        f"| {net(cert_cpu, cert_s):.2f} | {per_certificate:.1f} per issuance |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--certificates", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="certmint-podcerts-"))
    result = measure(args.pods, args.certificates, workdir)
    text = section(result, args.pods, args.certificates)
    print(text)
    print(f"appended to {append_section(text)}")


if __name__ == "__main__":
    main()
