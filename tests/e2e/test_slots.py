"""Slot Leases on the real API server, with real `certmint operator --replicas N` processes: one slot
per process and spares; a spare takes a killed replica's slot once its Lease expired; a replica
stopped past its Lease writes nothing when it resumes (the API server's audit log says); a ring
change 2 → 3 takes no new slot while an old one lives (a watch of the Leases says).

Each test has an operator namespace of its own (CERTMINT_NAMESPACE), so its ring is its own; each
process its own ServiceAccount, so the audit log tells their requests apart."""

import json
import signal
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch

from devcluster import LocalControlPlane
from devcluster.controlplane import free_port
from tests.e2e.support import Cluster, OperatorProcess, cluster_admin_kubeconfig, wait_for

REPO = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 6
WRITES = ("create", "update", "patch", "delete", "deletecollection")


@dataclass
class Plane:
    cluster: Cluster
    workdir: Path
    audit_log: Path
    processes: list[OperatorProcess] = field(default_factory=list)

    def user(self, namespace: str, identity: str) -> str:
        return f"system:serviceaccount:{namespace}:{identity}"

    def replica(self, namespace: str, identity: str, replicas: int) -> OperatorProcess:
        """A started `certmint operator` of `replicas` slots, as ServiceAccount `identity` (also its
        peer identity, the Leases' holderIdentity)."""
        kubeconfig = self.workdir / f"{namespace}-{identity}.kubeconfig"
        cluster_admin_kubeconfig(self.cluster, namespace, identity, kubeconfig)
        process = OperatorProcess(
            self.cluster.plane,
            self.workdir / f"{namespace}-{identity}.log",
            {
                "KUBECONFIG": str(kubeconfig),
                "CERTMINT_NAMESPACE": namespace,
                "CERTMINT_METRICS_PORT": str(free_port()),
                "CERTMINT_REPLICAS": str(replicas),
                "CERTMINT_LEASE_SECONDS": str(LEASE_SECONDS),
                "CERTMINT_PEER_IDENTITY": identity,
                "CERTMINT_LIVENESS": f"http://127.0.0.1:{free_port()}/healthz",
            },
        )
        self.processes.append(process)
        process.start()
        return process

    def writes_since(self, offset: int, user: str) -> list[dict[str, Any]]:
        text = self.audit_log.read_bytes()[offset:].decode()
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [e for e in events if e["user"]["username"] == user and e["verb"] in WRITES]

    def offset(self) -> int:
        return len(self.audit_log.read_bytes()) if self.audit_log.exists() else 0


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    """A control plane of its own, auditing every write of a ServiceAccount (the operators)."""
    workdir = tmp_path_factory.mktemp("slots")
    policy, audit_log = workdir / "audit-policy.yaml", workdir / "audit.log"
    rules = [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"], "verbs": list(WRITES)},
        {"level": "None"},
    ]
    document = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"]}
    policy.write_text(yaml.safe_dump({**document, "rules": rules}))
    arguments = (f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}")
    with LocalControlPlane(workdir / "plane", extra_apiserver_args=arguments) as local:
        local.install_certmint(REPO / "crds", "certmint")
        cluster = Cluster(plane=local, api=config.new_client_from_config(str(local.kubeconfig)))
        made = Plane(cluster, workdir, audit_log)
        try:
            yield made
        finally:
            for process in made.processes:
                process.kill()


@pytest.fixture
def operator_namespace(plane: Plane, request: pytest.FixtureRequest) -> Iterator[str]:
    """The namespace of a ring of its own; the test's processes are killed after it."""
    name = f"slots-{request.node.name.removeprefix('test_')[:20].strip('_').replace('_', '-')}"
    plane.cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    started = len(plane.processes)
    yield name
    for process in plane.processes[started:]:
        process.kill()


def leases(plane: Plane, namespace: str) -> dict[str, dict[str, Any]]:
    """The specs of the slot Leases of the namespace's ring, by name, as served."""
    listed = client.CoordinationV1Api(plane.cluster.api).list_namespaced_lease(
        namespace, label_selector="certmint.dev/slot-lease"
    )
    plain: dict[str, Any] = plane.cluster.api.sanitize_for_serialization(listed)
    return {item["metadata"]["name"]: item["spec"] for item in plain["items"]}


def holders(plane: Plane, namespace: str) -> dict[str, str]:
    """Lease name → holder, of the Leases held."""
    return {
        name: spec["holderIdentity"]
        for name, spec in leases(plane, namespace).items()
        if spec.get("holderIdentity")
    }


def moment(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def both_held(plane: Plane, namespace: str) -> dict[str, str] | None:
    found = holders(plane, namespace)
    return found if len(found) == 2 else None


def alive(process: OperatorProcess) -> bool:
    """Its liveness probe answers 200: kopf's while it serves a slot, the slot loop's while it waits."""
    try:
        with urllib.request.urlopen(process.extra_env["CERTMINT_LIVENESS"], timeout=10) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def exited_on_sigterm(process: OperatorProcess) -> bool:
    """Ended by itself after SIGTERM (OperatorProcess.stop kills only one that did not)."""
    return process.process is not None and process.process.returncode == 0


def serving(process: OperatorProcess, slot: int, generation: int, slots: int) -> bool:
    """Its kopf runs (metrics are served only then) with that slot held."""
    try:
        samples = process.samples("certmint_shard_slot")
    except OSError:
        return False
    labels = (("generation", str(generation)), ("replicas", str(slots)), ("slot", str(slot)))
    return samples.get(("certmint_shard_slot", labels)) == 1.0


def test_each_replica_holds_one_slot_and_a_spare_takes_a_killed_ones(
    plane: Plane, operator_namespace: str
) -> None:
    names = ("replica-a", "replica-b", "replica-c")
    processes = {name: plane.replica(operator_namespace, name, replicas=2) for name in names}
    held = wait_for(lambda: both_held(plane, operator_namespace), timeout=180, what="both slots held")
    assert sorted(held) == ["certmint-g1-slot-0", "certmint-g1-slot-1"]
    assert len(set(held.values())) == 2  # one slot per process
    (spare,) = set(names) - set(held.values())
    wait_for(partial(alive, processes[spare]), timeout=60, what="the spare's liveness probe")
    for slot in (0, 1):
        holder = processes[held[f"certmint-g1-slot-{slot}"]]
        wait_for(partial(serving, holder, slot, 1, 2), timeout=180, what=f"slot {slot}'s holder serving")

    processes[held["certmint-g1-slot-0"]].kill()
    before = leases(plane, operator_namespace)["certmint-g1-slot-0"]  # as the killed replica left it
    assert before["holderIdentity"] == held["certmint-g1-slot-0"]

    def taken_by_the_spare() -> dict[str, Any] | None:
        spec = leases(plane, operator_namespace)["certmint-g1-slot-0"]
        return spec if spec["holderIdentity"] == spare else None

    after = wait_for(taken_by_the_spare, timeout=120, what="the spare holding the killed replica's slot")
    # Never before the Lease expired (the killed replica might have been only slow) ...
    expired = moment(before["renewTime"]) + LEASE_SECONDS
    assert moment(after["acquireTime"]) >= expired
    # ... and within one Lease duration of it, plus the spare's reading period (the bound;
    # generous on a loaded machine: the spare reads the Leases every LEASE_SECONDS / 3).
    assert moment(after["acquireTime"]) <= expired + LEASE_SECONDS
    assert after["leaseTransitions"] == before.get("leaseTransitions", 0) + 1
    wait_for(lambda: serving(processes[spare], 0, 1, 2), timeout=180, what="the spare serving slot 0")
    wait_for(partial(alive, processes[spare]), timeout=60, what="kopf's liveness probe, once it serves")
    assert holders(plane, operator_namespace)["certmint-g1-slot-1"] == held["certmint-g1-slot-1"]


def test_a_replica_stopped_past_its_lease_writes_nothing_when_it_resumes(
    plane: Plane, operator_namespace: str
) -> None:
    names = ("stop-a", "stop-b", "stop-c")
    processes = {name: plane.replica(operator_namespace, name, replicas=2) for name in names}
    held = wait_for(lambda: both_held(plane, operator_namespace), timeout=180, what="both slots held")
    (spare,) = set(names) - set(held.values())
    stopped_name = held["certmint-g1-slot-0"]
    stopped = processes[stopped_name]
    wait_for(lambda: serving(stopped, 0, 1, 2), timeout=180, what="slot 0's holder serving")
    assert stopped.process is not None
    log_at_resume = len(stopped.log())
    stopped.process.send_signal(signal.SIGSTOP)
    try:
        wait_for(
            lambda: holders(plane, operator_namespace)["certmint-g1-slot-0"] == spare,
            timeout=120,
            what="the spare holding the stopped replica's slot",
        )
        offset = plane.offset()
    finally:
        stopped.process.send_signal(signal.SIGCONT)
    # The positive signal: the resumed replica noticed, stopped kopf and is a spare now.
    wait_for(
        lambda: (
            "slot 0 lost" in stopped.log()[log_at_resume:] and "standing by" in stopped.log()[log_at_resume:]
        ),
        timeout=120,
        what="the resumed replica standing by",
    )
    other = held["certmint-g1-slot-1"]
    # The audit log records this kind of write: the replica still holding slot 1 renewed meanwhile.
    wait_for(
        lambda: any(
            e["objectRef"]["resource"] == "leases"
            for e in plane.writes_since(offset, plane.user(operator_namespace, other))
        ),
        timeout=60,
        what="a renewal by the other holder in the audit log",
    )
    assert plane.writes_since(offset, plane.user(operator_namespace, stopped_name)) == []
    assert stopped.alive()

    # Stopped as Kubernetes stops a pod, the new holder hands the slot on at once (it deletes its
    # Lease); the resumed replica takes it and serves again: a second run of kopf in one process.
    processes[spare].stop()
    assert exited_on_sigterm(processes[spare])
    wait_for(
        lambda: holders(plane, operator_namespace).get("certmint-g1-slot-0") == stopped_name,
        timeout=120,
        what="the resumed replica holding slot 0 again",
    )
    wait_for(partial(serving, stopped, 0, 1, 2), timeout=180, what="the resumed replica serving again")
    released = [
        e
        for e in plane.writes_since(offset, plane.user(operator_namespace, spare))
        if e["verb"] == "delete" and e["objectRef"].get("name") == "certmint-g1-slot-0"
    ]
    assert [e["responseStatus"]["code"] for e in released] == [200]


@dataclass
class LeaseHistory:
    """Every watch event of the namespace's slot Leases, in the API server's order. A watch that
    fails fails the test (`check`)."""

    api: client.ApiClient
    namespace: str
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(event type, Lease name, holder)."""
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        api = client.CoordinationV1Api(self.api)
        listed: dict[str, Any] = self.api.sanitize_for_serialization(
            api.list_namespaced_lease(self.namespace)
        )
        self._version = str(listed["metadata"]["resourceVersion"])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        api = client.CoordinationV1Api(self.api)
        try:
            while not self._stop.is_set():
                watcher = watch.Watch()
                for event in watcher.stream(
                    api.list_namespaced_lease,
                    self.namespace,
                    label_selector="certmint.dev/slot-lease",
                    resource_version=self._version,
                    timeout_seconds=30,
                ):
                    lease = event["raw_object"]
                    self._version = lease["metadata"]["resourceVersion"]
                    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
                    self.events.append((event["type"], lease["metadata"]["name"], holder))
        except BaseException as error:  # reported by check()
            self.error = error

    def check(self) -> None:
        assert self.error is None, f"the Lease watch failed: {self.error!r}"
        assert self._thread.is_alive(), "the Lease watch ended"

    def stop(self) -> None:
        self._stop.set()


def test_a_ring_change_takes_no_new_slot_while_an_old_holder_lives(
    plane: Plane, operator_namespace: str
) -> None:
    history = LeaseHistory(plane.cluster.api, operator_namespace)
    try:
        old = {name: plane.replica(operator_namespace, name, replicas=2) for name in ("ring-a", "ring-b")}
        wait_for(lambda: len(holders(plane, operator_namespace)) == 2, timeout=180, what="the 2-slot ring")
        new = {
            name: plane.replica(operator_namespace, name, replicas=3)
            for name in ("ring-c", "ring-d", "ring-e")
        }
        wanted = {f"certmint-g2-slot-{slot}" for slot in range(3)}

        def new_ring_held() -> bool:
            history.check()
            found = holders(plane, operator_namespace)
            return set(found) == wanted and set(found.values()) == set(new)

        wait_for(new_ring_held, timeout=240, what="the 3-slot ring held by the processes started for it")
        for slot in range(3):
            name = holders(plane, operator_namespace)[f"certmint-g2-slot-{slot}"]
            wait_for(partial(serving, new[name], slot, 2, 3), timeout=180, what=f"{name} serving")
        history.check()
    finally:
        history.stop()
    # In the API server's order: every Lease of the old ring was deleted (released by its holder,
    # which stopped writing first) before any slot of the new ring was taken.
    first_new = next(i for i, (_, name, holder) in enumerate(history.events) if "-g2-" in name and holder)
    old_live: set[str] = set()
    for kind, name, holder in history.events[:first_new]:
        if "-g1-" in name:
            if kind == "DELETED" or not holder:
                old_live.discard(name)
            else:
                old_live.add(name)
    assert old_live == set(), history.events
    assert {name for _, name, _ in history.events if "-g1-" in name} == {
        "certmint-g1-slot-0",
        "certmint-g1-slot-1",
    }
    # The processes of the old size stand by: they never turn the newer ring back.
    assert all(process.alive() for process in old.values())
    ring: dict[str, Any] = plane.cluster.api.sanitize_for_serialization(
        client.CoordinationV1Api(plane.cluster.api).read_namespaced_lease("certmint-ring", operator_namespace)
    )
    annotations = ring["metadata"]["annotations"]
    assert (annotations["certmint.dev/ring-slots"], annotations["certmint.dev/ring-generation"]) == ("3", "2")
    # A spare waiting for a slot ends on SIGTERM, as a pod is stopped (not killed after the timeout).
    for process in old.values():
        process.stop()
        assert exited_on_sigterm(process)
