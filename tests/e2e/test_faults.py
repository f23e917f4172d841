"""Issue 9: faults. The operator SIGKILLed mid-issuance, the API server and etcd crashing under it:
at the end every Certificate is Ready with a matching key, nothing was issued twice, nothing is left
behind, and the CA never changed."""

import base64
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, GROUP, ISSUERS, VERSION
from certmint.pki import key_matches_certificate, load_certificates_pem, load_private_key_pem
from certmint.planning.labels import ROLE_LEAF, SECRET_ROLE_LABEL
from devcluster.controlplane import free_port
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.stall import StallingProxy
from tests.e2e.support import Cluster, OperatorProcess, json_object, metadata_of, name_of, wait_for

COUNT = 500
KILLS = 5


class SerialLog:
    """Every certificate each leaf Secret ever held, from a watch started before the operator.

    The watch must keep up: `caught_up` waits until it has seen every Secret's current version,
    and a watch thread that died, or failed other than by losing its connection, fails the test."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.serials: defaultdict[str, set[int]] = defaultdict(set)
        self.versions: dict[str, str] = {}
        self.events = 0
        self.failures: list[BaseException] = []
        self._core = client.CoreV1Api(api)
        self._namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> "SerialLog":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _follow(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    self._core.list_namespaced_secret,
                    self._namespace,
                    label_selector=f"{SECRET_ROLE_LABEL}={ROLE_LEAF}",
                    resource_version=version,
                    timeout_seconds=10,
                )
                for event in stream:
                    secret = event["object"]
                    version = secret.metadata.resource_version
                    self.events += 1
                    self.versions[secret.metadata.name] = version
                    pem = (secret.data or {}).get("tls.crt")
                    if pem:
                        serial = load_certificates_pem(base64.b64decode(pem))[0].serial_number
                        self.serials[secret.metadata.name].add(serial)
            except Exception as error:  # recorded; judged by check()
                self.failures.append(error)
                if isinstance(error, ApiException) and error.status == 410:
                    version = ""  # history compacted (etcd restarted): list again
                time.sleep(0.5)  # the API server may be down: retry, not spin

    def check(self) -> None:
        assert self._thread.is_alive(), "the Secret watch thread died"
        unexpected = [
            error
            for error in self.failures
            if not isinstance(error, (OSError, urllib3.exceptions.HTTPError, ApiException))
        ]
        assert not unexpected, f"the Secret watch failed: {unexpected!r}"

    def caught_up(self, cluster: Cluster, namespace: str) -> None:
        """Waits until the watch has seen the version every leaf Secret has now."""
        secrets = cluster.core.list_namespaced_secret(
            namespace, label_selector=f"{SECRET_ROLE_LABEL}={ROLE_LEAF}"
        ).items
        current = {name_of(secret): metadata_of(secret).resource_version for secret in secrets}
        wait_for(
            lambda: all(self.versions.get(name) == version for name, version in current.items()),
            60,
            what="the Secret watch caught up",
        )
        self.check()


@pytest.fixture
def serial_log(cluster: Cluster, namespace: str) -> Iterator[SerialLog]:
    with SerialLog(cluster.api, namespace) as log:
        yield log


def ready_count(cluster: Cluster, namespace: str) -> int:
    items = json_object(
        cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural)
    )["items"]
    return sum(
        1
        for item in items
        for condition in (item.get("status") or {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    )


def assert_consistent(cluster: Cluster, namespace: str, names: list[str], serial_log: SerialLog) -> None:
    """Every Secret holds a key matching its certificate, the one its status names; no Secret ever
    held a second certificate; no Secret lacks a Certificate."""
    serial_log.caught_up(cluster, namespace)
    assert serial_log.events >= len(names), "the watch saw fewer writes than there are Secrets"
    secrets = cluster.core.list_namespaced_secret(
        namespace, label_selector=f"{SECRET_ROLE_LABEL}={ROLE_LEAF}"
    )
    assert sorted(name_of(secret) for secret in secrets.items) == sorted(f"{name}-tls" for name in names)
    for name in names:
        data = cluster.secret_data(namespace, f"{name}-tls") or {}
        leaf = load_certificates_pem(data["tls.crt"])[0]
        assert key_matches_certificate(load_private_key_pem(data["tls.key"]), leaf), name
        status = (cluster.get(CERTIFICATES.plural, namespace, name) or {})["status"]
        assert int(status["serialNumber"].replace(":", ""), 16) == leaf.serial_number, name
    issued_twice = {name: serials for name, serials in serial_log.serials.items() if len(serials) > 1}
    assert not issued_twice, f"{len(issued_twice)} Secrets held more than one certificate: {issued_twice}"


def delete_certificates(cluster: Cluster, namespace: str) -> None:
    """Hundreds of Certificates in a namespace being deleted would keep the next test's operator
    busy; they go now, while nothing reconciles them."""
    cluster.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural)
    wait_for(
        lambda: (
            not json_object(
                cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural)
            )["items"]
        ),
        60,
        what="the Certificates to be deleted",
    )


def create_certificates(cluster: Cluster, namespace: str, prefix: str, count: int) -> list[str]:
    names = [f"{prefix}-{index}" for index in range(count)]
    for name in names:
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, CERTIFICATES.plural, certificate(namespace, name)
        )
    return names


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("without_session_operator")
def test_sigkill_during_mass_issuance_loses_nothing_and_issues_nothing_twice(
    cluster: Cluster, namespace: str, tmp_path: Path, serial_log: SerialLog
) -> None:
    operator = OperatorProcess(
        cluster.plane, tmp_path / "operator.log", {"CERTMINT_METRICS_PORT": str(free_port())}
    )
    operator.start()
    try:
        cluster.apply(self_signed_issuer(namespace))
        cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
        ca_before = cluster.secret_data(namespace, "ca-ca") or {}
        operator.kill()
        names = create_certificates(cluster, namespace, "crash", COUNT)

        rng = random.Random(9)
        ready_at_kill = []
        operator.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 2.5))
            ready_at_kill.append(ready_count(cluster, namespace))
            operator.kill()
            operator.start()
        assert any(0 < ready < COUNT for ready in ready_at_kill), (
            f"no kill landed mid-issuance: {ready_at_kill}"
        )
        wait_for(
            lambda: ready_count(cluster, namespace) == COUNT, 300, interval=2, what="every Certificate Ready"
        )
        assert_consistent(cluster, namespace, names, serial_log)
        ca_after = cluster.secret_data(namespace, "ca-ca") or {}
        assert (ca_after["tls.crt"], ca_after["tls.key"]) == (ca_before["tls.crt"], ca_before["tls.key"])
    finally:
        operator.stop()
        delete_certificates(cluster, namespace)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_operator_rides_out_a_crash_of_the_control_plane(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, serial_log: SerialLog, component: str
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    before = create_certificates(cluster, namespace, "before", 50)
    cluster.plane.crash_and_restart(component, down_for=5)
    after = create_certificates(cluster, namespace, "after", 50)
    wait_for(lambda: ready_count(cluster, namespace) == 100, 180, interval=2, what="every Certificate Ready")
    assert operator_process.alive()
    assert_consistent(cluster, namespace, before + after, serial_log)
    delete_certificates(cluster, namespace)


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("without_session_operator")
def test_a_watch_that_goes_silent_is_abandoned_and_restarted(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Every open watch stalls (connected, silent). The client timeout ends them and kopf watches
    again, so a Certificate created into the silence is still issued."""
    with StallingProxy(cluster.plane) as proxy:
        operator = OperatorProcess(
            cluster.plane,
            tmp_path / "operator.log",
            {
                "KUBECONFIG": str(proxy.kubeconfig(tmp_path / "proxied.kubeconfig")),
                "CERTMINT_METRICS_PORT": "0",
                "CERTMINT_WATCH_CLIENT_TIMEOUT": "15",
            },
        )
        operator.start()
        try:
            cluster.apply(self_signed_issuer(namespace))
            cluster.apply(certificate(namespace, "before"))
            cluster.wait_condition(CERTIFICATES.plural, namespace, "before", "True")
            proxy.stall_open_watches()
            cluster.apply(certificate(namespace, "during"))
            cluster.wait_condition(CERTIFICATES.plural, namespace, "during", "True", timeout=60)
            assert proxy.stalled_streams >= 1, "the Certificate's event never met a stalled watch"
            assert proxy.watches_after_stall >= 1, "no watch was started again"
        finally:
            operator.stop()
