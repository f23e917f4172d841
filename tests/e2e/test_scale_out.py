"""Issue 25 end to end: several real `certmint operator --replicas N` processes on one API server,
each serving the buckets of the slot whose Lease it holds. Every Secret write is recorded by a
watch (tests/e2e/replicas.py SecretWrites): every Certificate is issued exactly once, by the
replica serving its slot, through SIGKILL, SIGSTOP/SIGCONT, ring changes under load and a CA
rotation whose issuer one replica owns."""

import threading
import time
import urllib.error
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from kubernetes import client

from certmint.api.kinds import ISSUERS, TRUST_BUNDLES
from certmint.pki import Purpose, load_certificates_pem, verify_certificate
from certmint.planning.shards import object_bucket
from tests.e2e.audit import OPERATOR_NAMESPACE, audited_cluster, requests_by
from tests.e2e.manifests import certificate, issuer_bundle, self_signed_issuer
from tests.e2e.replicas import (
    Replicas,
    SecretWrites,
    all_ready,
    names_for_every_slot,
    replicas,
    revisions,
    secret_writes,
    slot_of,
)
from tests.e2e.support import Cluster, OperatorProcess, cluster_admin_kubeconfig, wait_for

LEASE_SECONDS = 10
RENEW_PERIOD = LEASE_SECONDS / 3
TAKEOVER_MARGIN = 5
WRITES = ("create", "update", "patch", "delete", "deletecollection")


def issue(cluster: Cluster, namespace: str, names: list[str], **spec: Any) -> None:
    for name in names:
        cluster.apply(certificate(namespace, name, **spec))


def assert_issued_by_their_slots(group: Replicas, namespace: str, slots: int, held: dict[int, str]) -> None:
    """Each Certificate was signed by the process holding its slot, and by no other."""
    for slot, identity in held.items():
        for issued in group.by_identity(identity).issued():
            issued_namespace, name = issued.split("/")
            if issued_namespace == namespace:
                assert slot_of(namespace, name, slots) == slot, f"{identity} (slot {slot}) issued {issued}"


@pytest.mark.timeout(420)
@pytest.mark.usefixtures("without_session_operator")
@pytest.mark.parametrize("slots", [2, 4])
def test_every_certificate_is_issued_once_by_the_replica_serving_its_slot(
    cluster: Cluster, namespace: str, tmp_path: Path, slots: int
) -> None:
    names = names_for_every_slot(namespace, slots, per_slot=5, prefix="spread")
    everything = [name for group in names.values() for name in group]
    with secret_writes(cluster, namespace) as writes, replicas(cluster, tmp_path, LEASE_SECONDS) as group:
        for _ in range(slots):
            group.add(slots)
        held = group.wait_serving(slots)
        cluster.apply(self_signed_issuer(namespace))
        issue(cluster, namespace, everything)
        writes.wait(
            lambda: all_ready(cluster, namespace, everything),
            240,
            what=f"{len(everything)} Certificates Ready",
        )
        for identity in held.values():
            group.by_identity(identity).process.wait_reconciled(0, timeout=120)
        writes.issued_exactly_once(everything)
        assert revisions(cluster, namespace, everything) == dict.fromkeys(everything, 1)
        issued = [name for name in group.issued() if name.startswith(f"{namespace}/")]
        assert sorted(issued) == sorted(f"{namespace}/{name}" for name in everything), "once each, in all"
        assert_issued_by_their_slots(group, namespace, slots, held)
        for slot, identity in held.items():
            assert group.by_identity(identity).issued(), f"slot {slot} ({identity}) issued nothing"


@pytest.mark.timeout(420)
@pytest.mark.usefixtures("without_session_operator")
def test_a_killed_replicas_slot_is_taken_by_a_spare_and_nothing_is_issued_twice(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    names = names_for_every_slot(namespace, 2, per_slot=6, prefix="before")
    later = names_for_every_slot(namespace, 2, per_slot=4, prefix="after")
    with secret_writes(cluster, namespace) as writes, replicas(cluster, tmp_path, LEASE_SECONDS) as group:
        for _ in range(3):  # two slots and a spare
            group.add(2)
        held = group.wait_serving(2)
        (spare,) = [r for r in group.alive() if r.identity not in held.values()]
        cluster.apply(self_signed_issuer(namespace))
        first = names[0] + names[1]
        issue(cluster, namespace, first)
        writes.wait(lambda: all_ready(cluster, namespace, first), 240, what="first Ready")

        victim = group.by_identity(held[1])
        victim.process.kill()
        # Read once it is dead: its last renewal. (No one can take the Lease before it runs out.)
        (victim_lease,) = [lease for lease in group.leases() if lease.holder == victim.identity]
        # Certificates of both slots while slot 1 has no live holder yet.
        second = later[0] + later[1]
        issue(cluster, namespace, second)
        taken = group.wait_serving(2, timeout=LEASE_SECONDS * 6)
        assert taken[1] == spare.identity, "the spare holds the killed replica's slot"
        assert taken[0] == held[0], "the other slot kept its holder"
        (new_lease,) = [lease for lease in group.leases() if lease.holder == spare.identity]
        assert new_lease.acquired is not None
        assert victim_lease.renewed is not None
        # From the Lease objects themselves (the API server's record, not this test's clock): the
        # spare took the slot within one Lease duration after the killed holder's last renewal plus
        # a renew period (the spare reads the Leases every third of it), with a margin for the
        # requests of a loaded machine.
        gap = (new_lease.acquired - victim_lease.renewed).total_seconds()
        assert gap <= LEASE_SECONDS + RENEW_PERIOD + TAKEOVER_MARGIN, (gap, victim_lease, new_lease)

        writes.wait(lambda: all_ready(cluster, namespace, second), 240, what="second Ready")
        spare.process.wait_reconciled(0, timeout=120)
        writes.issued_exactly_once(first + second)
        assert revisions(cluster, namespace, first + second) == dict.fromkeys(first + second, 1)
        for name in later[1]:
            assert f"{namespace}/{name}" in spare.issued(), f"{name} of slot 1 issued by the spare"
        assert not set(spare.issued()) & {f"{namespace}/{name}" for name in first}, "re-issued by the spare"


AUDIT_RULES: list[dict[str, Any]] = [
    {"level": "Metadata", "userGroups": [f"system:serviceaccounts:{OPERATOR_NAMESPACE}"]},
    {"level": "None"},
]


@pytest.mark.timeout(600)
def test_a_replica_stopped_past_its_lease_writes_nothing_after_it_resumes(tmp_path: Path) -> None:
    """On a plane of its own whose API server audits every request of the replicas, each replica
    with a ServiceAccount of its own: the audit log, not the operator, says who wrote what."""
    with audited_cluster(tmp_path, AUDIT_RULES) as (cluster, audit_log):
        namespace = f"stop-{uuid.uuid4().hex[:6]}"
        cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        names = names_for_every_slot(namespace, 2, per_slot=4, prefix="before")
        later = names_for_every_slot(namespace, 2, per_slot=3, prefix="after")
        with secret_writes(cluster, namespace) as writes, replicas(cluster, tmp_path, LEASE_SECONDS) as group:
            users = {}
            for index in range(3):
                account = f"certmint-replica-{index}"
                kubeconfig = tmp_path / f"{account}.kubeconfig"
                cluster_admin_kubeconfig(cluster, OPERATOR_NAMESPACE, account, kubeconfig)
                replica = group.add(2, kubeconfig)
                users[replica.identity] = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{account}"
            held = group.wait_serving(2)
            cluster.apply(self_signed_issuer(namespace))
            first = names[0] + names[1]
            issue(cluster, namespace, first)
            writes.wait(lambda: all_ready(cluster, namespace, first), 240, what="first Ready")

            victim = group.by_identity(held[1])
            victim.process.pause()
            taken = wait_for(
                lambda: taken_from(group, victim.identity),
                LEASE_SECONDS * 6,
                what="another replica to take the stopped one's slot",
            )
            second = later[0] + later[1]
            issue(cluster, namespace, second)
            writes.wait(lambda: all_ready(cluster, namespace, second), 240, what="second Ready")

            resumed_at = audit_log.stat().st_size
            victim.process.resume()
            # The positive signal that the resumed process ran again: its metrics answer (its event
            # loop turned), and it reports no slot held any more.
            wait_for(
                lambda: holds_no_slot(victim.process),
                120,
                what="the resumed replica to know it lost its slot",
            )
            # More work for its former slot, done by the new holder while the resumed one runs.
            third = names_for_every_slot(namespace, 2, per_slot=3, prefix="resumed")[1]
            issue(cluster, namespace, third)
            writes.wait(lambda: all_ready(cluster, namespace, third), 240, what="third Ready")
            group.by_identity(taken[1]).process.wait_reconciled(0, timeout=120)

            requests = requests_by(audit_log, resumed_at, users[victim.identity])
            assert requests, "the resumed replica's reads are audited (the log is the one of its user)"
            writes_after = [
                (
                    e["verb"],
                    e.get("objectRef", {}).get("resource"),
                    e.get("objectRef", {}).get("name"),
                    e.get("responseStatus", {}).get("code"),
                )
                for e in requests
                if e["verb"] in WRITES
            ]
            # A spare may only try to take a slot Lease (and fail: every slot is held); nothing else.
            assert [w for w in writes_after if w[1] != "leases"] == [], writes_after
            assert [w for w in writes_after if (w[3] or 500) < 300] == [], writes_after
            writes.issued_exactly_once(first + second + third)
            assert revisions(cluster, namespace, first + second + third) == dict.fromkeys(
                first + second + third, 1
            )


def taken_from(group: Replicas, victim: str) -> dict[int, str] | None:
    """The holders once slot 1 is held by a live replica other than `victim`."""
    held = group.holders(2)
    return held if held is not None and held[1] != victim else None


def holds_no_slot(process: OperatorProcess) -> bool:
    """certmint_shard_slot is 1 for the slot a replica holds; a replica holding none has no 1. A
    process serves /metrics throughout, as kopf's controller or as a spare; not for the moment in
    between, when this answers False (not yet known)."""
    try:
        samples = process.samples("certmint_shard_slot")
    except urllib.error.URLError:
        return False
    return not any(value == 1 for (name, _), value in samples.items() if name == "certmint_shard_slot")


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("without_session_operator")
def test_changing_the_ring_from_two_to_four_to_three_under_load(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    created: list[str] = []
    stop_load = threading.Event()
    load_error: list[BaseException] = []

    def load() -> None:
        """A Certificate a second, all along the ring changes."""
        try:
            index = 0
            while not stop_load.is_set():
                name = f"load-{index}"
                cluster.apply(certificate(namespace, name))
                created.append(name)
                index += 1
                stop_load.wait(1)
        except BaseException as error:
            load_error.append(error)

    loader = threading.Thread(target=load, name="load", daemon=True)
    with secret_writes(cluster, namespace) as writes, replicas(cluster, tmp_path, LEASE_SECONDS) as group:
        two = [group.add(2) for _ in range(2)]
        group.wait_serving(2)
        cluster.apply(self_signed_issuer(namespace))
        loader.start()
        try:
            four = [group.add(4) for _ in range(4)]
            group.wait_serving(4)
            for replica in two:
                replica.process.stop()
            three = [group.add(3) for _ in range(3)]
            held = group.wait_serving(3)
            assert set(held.values()) <= {r.identity for r in three}, "the newest ring is served by its own"
            for replica in four:
                replica.process.stop()
            group.wait_serving(3)
        finally:
            stop_load.set()
            loader.join(timeout=60)
        assert not load_error, load_error
        assert len(created) >= 5, "the load ran through the ring changes"
        writes.wait(
            lambda: all_ready(cluster, namespace, created),
            300,
            what=f"{len(created)} Ready",
        )
        writes.issued_exactly_once(created)
        assert revisions(cluster, namespace, created) == dict.fromkeys(created, 1)
        issued = sorted(name for name in group.issued() if name.startswith(f"{namespace}/"))
        assert issued == sorted(f"{namespace}/{name}" for name in created), "each issued once in all"


def sample_trust(cluster: Cluster, namespace: str, bundle: str, names: list[str]) -> None:
    """Every leaf verifies against the CAs its namespace's bundle publishes, at this moment."""
    data = cluster.core.read_namespaced_config_map(bundle, namespace).data or {}
    trusted = load_certificates_pem(data["ca.crt"].encode())
    now = datetime.now(UTC)
    for name in names:
        chain = load_certificates_pem((cluster.secret_data(namespace, f"{name}-tls") or {})["tls.crt"])
        verify_certificate(chain[0], chain[1:], trusted, now, Purpose.SERVER, f"{name}.{namespace}.svc")


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("without_session_operator")
def test_a_ca_rotation_owned_by_one_replica_reissues_certificates_on_every_replica(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    names = names_for_every_slot(namespace, 2, per_slot=4, prefix="rot")
    everything = names[0] + names[1]
    team = f"scale-{uuid.uuid4().hex[:6]}"
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"scale-rotation": team}}})
    with secret_writes(cluster, namespace) as writes, replicas(cluster, tmp_path, LEASE_SECONDS) as group:
        for _ in range(2):
            group.add(2)
        held = group.wait_serving(2)
        owner_slot = object_bucket(ISSUERS.kind, namespace, "ca") % 2
        cluster.apply(
            self_signed_issuer(
                namespace, caDuration="24h", rotation={"propagationDelay": "5s", "reissueWindow": "20s"}
            )
        )
        issue(cluster, namespace, everything, duration="1h")  # shorter than the CA's 24h
        cluster.apply(issuer_bundle(team, namespace, {"scale-rotation": team}))
        writes.wait(lambda: all_ready(cluster, namespace, everything), 240, what="Ready")
        cluster.wait_condition(TRUST_BUNDLES.plural, None, team, "True", timeout=120)
        old_ca = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["tls.crt"])[0]

        cluster.plane.kubectl(
            "annotate", "issuers.certmint.dev", "ca", "-n", namespace, "certmint.dev/rotate-ca=scale-out"
        )
        phases: list[object] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            writes.check()
            sample_trust(cluster, namespace, team, everything)
            status = (cluster.get(ISSUERS.plural, namespace, "ca") or {}).get("status") or {}
            phase = (status.get("rotation") or {}).get("phase")
            if not phases or phases[-1] != phase:
                phases.append(phase)
            if phase == "Stable" and "Overlap" in phases:
                break
            time.sleep(0.5)
        assert phases[-3:] == ["Prepared", "Overlap", "Stable"], phases
        new_ca = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["tls.crt"])[0]
        assert new_ca != old_ca

        def all_on_new_ca() -> bool:
            for name in everything:
                leaf = load_certificates_pem(
                    (cluster.secret_data(namespace, f"{name}-tls") or {})["tls.crt"]
                )[0]
                try:
                    leaf.verify_directly_issued_by(new_ca)
                except (ValueError, TypeError, InvalidSignature):
                    return False
            return True

        writes.wait(all_on_new_ca, 120, what="every leaf signed by the new CA")
        sample_trust(cluster, namespace, team, everything)
        writes.issued_exactly_once(everything, per_ca=2)
        # The issuer belongs to one slot; the Certificates of both slots were issued, then
        # re-issued by the new CA, each by the replica serving its slot.
        assert {slot_of(namespace, name, 2) for name in everything} == {0, 1}
        # The CA's steps (bootstrap, prepare, activate, retire) are logged by who took them: the
        # replica owning the issuer's bucket, and no other.
        steps = f"Issuer {namespace}/ca: "
        assert steps in group.by_identity(held[owner_slot]).process.log()
        assert steps not in group.by_identity(held[1 - owner_slot]).process.log()
        assert_issued_by_their_slots(group, namespace, 2, held)
        for slot in (0, 1):
            signed = [n for n in group.by_identity(held[slot]).issued() if n.startswith(f"{namespace}/")]
            assert sorted(signed) == sorted(
                f"{namespace}/{name}" for name in names[slot] for _ in range(2)
            ), slot


def test_the_recorder_catches_a_second_issuance(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    """The exactly-once check can fail: a Certificate whose spec changes is issued again, and the
    recorder, which saw both writes, says so."""
    with secret_writes(cluster, namespace) as writes:
        cluster.apply(self_signed_issuer(namespace))
        cluster.apply(certificate(namespace, "twice"))
        writes.wait(lambda: all_ready(cluster, namespace, ["twice"]), 60, what="first issuance")
        writes.issued_exactly_once(["twice"])
        cluster.apply(certificate(namespace, "twice", dnsNames=[f"other.{namespace}.svc"]))
        writes.wait(lambda: revisions(cluster, namespace, ["twice"]) == {"twice": 2}, 60, what="re-issue")
        writes.wait(
            lambda: len(writes.serials("twice-tls").get(only_authority(writes), [])) == 2, 60, what="seen"
        )
        with pytest.raises(AssertionError, match="not issued exactly once"):
            writes.issued_exactly_once(["twice"])


def only_authority(writes: SecretWrites) -> str:
    (authority,) = writes.serials("twice-tls")
    return authority
