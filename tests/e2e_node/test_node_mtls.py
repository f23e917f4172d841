"""Issue 14: workloads mount what the operator pod issues and speak mutual TLS pod to pod: nginx with
its server Secret and the TrustBundle ConfigMap, curl with its client Secret; rotation reaches the
pods' files through the kubelet with no failed handshake; revocation reaches them through the CRL."""

import base64
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, config, watch

from certmint.pki import load_certificates_pem
from devcluster.node import RunningNode
from devcluster.node.workloads import (
    CLIENT_CERTIFICATE,
    MutualTLS,
    apply,
    certificate,
    curl_command,
    curl_from_client,
    issuer,
    loaded_serials,
    manifests,
    pod,
    wait_for,
    wait_pods_ready,
)


def start(node: RunningNode, namespace: str, **spec: str) -> MutualTLS:
    setup = MutualTLS(namespace, bundle=f"bundle-{namespace}")
    apply(node, manifests(node, setup, **spec))
    wait_pods_ready(node, namespace, setup.server_pod, setup.client_pod)
    return setup


@pytest.mark.usefixtures("release")
def test_pods_speak_mutual_tls_with_their_mounted_secrets(node: RunningNode, namespace: str) -> None:
    setup = start(node, namespace)
    stranger = {"secret": {"secretName": "stranger-tls"}}
    apply(
        node,
        [
            issuer(namespace, "other"),
            certificate(namespace, "stranger", issuer_name="other", commonName="stranger"),
            pod(
                node,
                "intruder",
                namespace,
                "exec sleep infinity",
                {"tls": stranger, "trust": {"configMap": {"name": setup.bundle}}},
            ),
        ],
    )
    wait_pods_ready(node, namespace, "intruder")

    answer = curl_from_client(node, setup, *CLIENT_CERTIFICATE)
    assert answer.status == 200, answer.text
    assert answer.text.strip() == "client=CN=client verify=SUCCESS"

    without = curl_from_client(node, setup)
    assert without.status == 400
    assert "No required SSL certificate was sent" in without.text

    foreign = curl_from_client(node, setup, *CLIENT_CERTIFICATE, client="intruder")
    assert foreign.status == 400
    assert "The SSL certificate error" in foreign.text
    assert "client=" not in foreign.text


class SecretWatch:
    """Records (time, serial) of every version of a Secret's certificate, as the API server sends them."""

    def __init__(self, node: RunningNode, namespace: str, name: str) -> None:
        self.seen: dict[int, float] = {}
        self.error: BaseException | None = None
        self._api = config.new_client_from_config(str(node.kubeconfig))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, args=(namespace, name), daemon=True)

    def __enter__(self) -> "SecretWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _follow(self, namespace: str, name: str) -> None:
        core = client.CoreV1Api(self._api)
        try:
            while not self._stop.is_set():
                stream = watch.Watch().stream(
                    core.list_namespaced_secret,
                    namespace,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=30,
                )
                for event in stream:
                    data = event["object"].data or {}
                    if "tls.crt" in data:
                        leaf = load_certificates_pem(base64.b64decode(data["tls.crt"]))[0]
                        self.seen.setdefault(leaf.serial_number, time.time())
        except BaseException as error:
            self.error = error
            raise


def sampler_script(command: list[str]) -> str:
    """Every second, one handshake and request with the pod's current files: `sample <time> <status>`."""
    curl = " ".join(f"'{part}'" for part in command)
    probe = f"$({curl} -o /dev/null -w '%{{http_code}}' 2>&1)"
    return f'while true; do echo "sample $(date +%s.%N) {probe}"; sleep 1; done'


def samples(node: RunningNode, namespace: str, name: str) -> list[tuple[float, str]]:
    log = node.kubectl("logs", "-n", namespace, name)
    result = []
    for line in log.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "sample":
            result.append((float(parts[1]), parts[2]))
    return result


@pytest.mark.timeout(480)
@pytest.mark.usefixtures("release")
def test_rotations_reach_the_pods_files_without_a_failed_handshake(
    node: RunningNode, namespace: str, record_property: Callable[[str, Any], None]
) -> None:
    setup = start(node, namespace, duration="1m", renewBefore="40s")
    with SecretWatch(node, namespace, "web-tls") as secret_watch:
        command = curl_command(node, setup, *CLIENT_CERTIFICATE)
        trust = {"configMap": {"name": setup.bundle}}
        apply(
            node,
            [
                pod(
                    node,
                    "sampler",
                    namespace,
                    sampler_script(command),
                    {"tls": {"secret": {"secretName": "client-tls"}}, "trust": trust},
                )
            ],
        )
        wait_pods_ready(node, namespace, "sampler")
        wait_for(
            lambda: len({serial for _, serial in loaded_serials(node, setup)}) >= 4,
            300,
            "the server pod to load three rotated certificates",
            interval=2,
        )
        assert secret_watch.alive(), f"the Secret watch died: {secret_watch.error!r}"
    loaded = loaded_serials(node, setup)
    taken = samples(node, namespace, "sampler")
    first_rotation = loaded[1][0]
    during = [(when, code) for when, code in taken if when >= first_rotation - 1]
    assert len(during) >= 20, taken
    failures = [(when, code) for when, code in during if code != "200"]
    assert not failures, f"{len(failures)} failed of {len(during)} samples: {failures[:5]}"

    delays = []
    for when, serial in loaded[1:]:
        in_secret = secret_watch.seen.get(int(serial, 16))
        assert in_secret is not None, f"serial {serial} was loaded but never seen in the Secret"
        delays.append(round(when - in_secret, 1))
    record_property("propagation_delays_seconds", delays)
    print(
        f"\nSecret -> pod file -> nginx reload: {delays} s over {len(during)} samples, 0 failed",
        file=sys.stderr,
    )


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("release")
def test_a_revoked_client_is_rejected_once_the_crl_reaches_the_pod(node: RunningNode, namespace: str) -> None:
    setup = start(node, namespace)
    assert curl_from_client(node, setup, *CLIENT_CERTIFICATE).status == 200
    revoke = subprocess.run(
        [
            sys.executable,
            "-m",
            "certmint.cli.main",
            "--kubeconfig",
            str(node.kubeconfig),
            "revoke",
            f"{namespace}/client",
            "--no-reissue",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert revoke.returncode == 0, revoke.stderr
    wait_for(
        lambda: curl_from_client(node, setup, *CLIENT_CERTIFICATE).status == 400,
        150,
        "the server pod to reject the revoked client",
        interval=2,
    )
    assert "certificate revoked" in node.kubectl("logs", "-n", namespace, setup.server_pod)
