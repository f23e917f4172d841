"""`make run`: a real node, the Helm chart's operator as a pod of the locally built image, an nginx pod
serving mutual TLS with its mounted certificate, and the proof: curl from a client pod."""

import argparse
import shutil
import signal
import time
from pathlib import Path

from devcluster.node.cluster import LocalNode, RunningNode
from devcluster.node.workloads import (
    CLIENT_CERTIFICATE,
    MutualTLS,
    apply,
    curl_from_client,
    loaded_serials,
    manifests,
    wait_pods_ready,
)

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exit", action="store_true", help="stop everything once the proof is printed")
    args = parser.parse_args()
    workdir = REPO / ".node"
    shutil.rmtree(workdir, ignore_errors=True)
    started = time.monotonic()
    with LocalNode(workdir) as node:
        print(
            f"node ready after {time.monotonic() - started:.0f} s (logs: {workdir / 'cluster'})", flush=True
        )
        _install_chart(node)
        setup = MutualTLS(NAMESPACE, bundle="demo-bundle")
        node.kubectl("create", "namespace", NAMESPACE)
        apply(node, manifests(node, setup))
        wait_pods_ready(node, NAMESPACE, setup.server_pod, setup.client_pod)
        _prove(node, setup)
        print(f"\nexport KUBECONFIG={node.kubeconfig}")
        print(f"try: kubectl get pods -A -o wide; kubectl logs -n {NAMESPACE} {setup.server_pod}")
        if not args.exit:
            print("the node keeps running; Ctrl-C stops it and restores the host", flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            print("stopping the node")


def _install_chart(node: RunningNode) -> None:
    image = node.images.certmint
    node.install_chart(
        REPO / "charts" / "certmint",
        "certmint",
        [f"image.repository={image.repository}", f"image.tag={image.tag}", "image.pullPolicy=Never"],
    )


def _prove(node: RunningNode, setup: MutualTLS) -> None:
    print(node.kubectl("get", "pods", "-A", "-o", "wide"))
    print(node.kubectl("get", "issuers.certmint.dev,certificates.certmint.dev", "-n", NAMESPACE))
    answer = curl_from_client(node, setup, *CLIENT_CERTIFICATE)
    refused = curl_from_client(node, setup)
    (_, serial), *_ = loaded_serials(node, setup)
    print(f"nginx pod {setup.server_pod} serves its mounted certificate, serial {serial}")
    print(f"curl from pod {setup.client_pod} with its mounted client certificate: HTTP {answer.status}")
    print(f"  {answer.text.strip()}")
    print(f"curl from pod {setup.client_pod} without a client certificate: HTTP {refused.status} (refused)")
    if answer.status != 200 or refused.status != 400:
        raise SystemExit("the mutual TLS proof failed")


if __name__ == "__main__":
    main()
