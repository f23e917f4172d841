"""Several real `certmint operator --replicas N` processes against one API server (issue 25), and
a recorder of every Secret write to prove that each Certificate was issued exactly once.

Each process is a Replica: its own log, metrics port, peer identity (the holder it writes in the
slot Leases) and, when given, its own kubeconfig (an audited plane tells the replicas apart by
their ServiceAccounts). Faults are the operating system's: SIGKILL, SIGSTOP and SIGCONT."""

import base64
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES
from certmint.pki import load_certificates_pem
from certmint.planning.shards import secret_bucket
from devcluster.controlplane import free_port
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for

ISSUED = re.compile(r"\] (issued|renewed|reissued) (\S+) serial")
STARTED = "certmint operator started"
SLOT_LEASE = re.compile(r"-g(\d+)-slot-(\d+)$")
"""Slot Leases are named with the ring's generation and the slot (planning/slots.py)."""


@dataclass
class Replica:
    identity: str
    slots: int
    """The --replicas this process was started with: the ring it asks for."""
    process: OperatorProcess

    def issued(self) -> list[str]:
        """namespace/name of every certificate this process signed (issued, renewed, re-issued)."""
        return [match.group(2) for match in ISSUED.finditer(self.process.log())]


@dataclass(frozen=True)
class SlotLease:
    generation: int
    slot: int
    holder: str
    acquired: datetime | None
    renewed: datetime | None
    duration: int

    def live(self, now: datetime) -> bool:
        return (
            bool(self.holder)
            and self.renewed is not None
            and self.renewed + timedelta(seconds=self.duration) > now
        )


class Replicas:
    """The processes of one test; close() stops every one of them (resumed first if paused)."""

    def __init__(
        self,
        cluster: Cluster,
        directory: Path,
        lease_seconds: int,
    ) -> None:
        self.cluster = cluster
        self.directory = directory
        self.lease_seconds = lease_seconds
        self.all: list[Replica] = []
        # Unique per test: a process must never find a Lease of an earlier test held in its name.
        self.prefix = f"replica-{uuid.uuid4().hex[:4]}"
        # The operator namespace is the test's own, and with it the ring and the slot Leases.
        self.namespace = f"certmint-{self.prefix}"
        cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))

    def add(self, slots: int, kubeconfig: Path | None = None) -> Replica:
        """A new process asking for a ring of `slots` (as `kubeconfig`'s user, else the admin); it
        may become a spare, so this does not wait for it to serve (wait_serving does)."""
        identity = f"{self.prefix}-{len(self.all)}"
        env = {
            "CERTMINT_NAMESPACE": self.namespace,
            "CERTMINT_METRICS_PORT": str(free_port()),
            "CERTMINT_REPLICAS": str(slots),
            "CERTMINT_LEASE_SECONDS": str(self.lease_seconds),
            "CERTMINT_PEER_IDENTITY": identity,
        }
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        replica = Replica(
            identity, slots, OperatorProcess(self.cluster.plane, self.directory / f"{identity}.log", env)
        )
        self.all.append(replica)
        replica.process.start(wait=False)
        return replica

    def alive(self) -> list[Replica]:
        return [replica for replica in self.all if replica.process.alive()]

    def leases(self) -> list[SlotLease]:
        found = client.CoordinationV1Api(self.cluster.api).list_namespaced_lease(self.namespace)
        leases = []
        for lease in found.items:
            match = SLOT_LEASE.search(str(metadata_of(lease).name))
            if match is None or lease.spec is None:
                continue
            leases.append(
                SlotLease(
                    generation=int(match.group(1)),
                    slot=int(match.group(2)),
                    holder=lease.spec.holder_identity or "",
                    acquired=lease.spec.acquire_time,
                    renewed=lease.spec.renew_time,
                    duration=lease.spec.lease_duration_seconds or 0,
                )
            )
        return leases

    def holders(self, slots: int) -> dict[int, str] | None:
        """slot → identity of its live holder, for the newest ring generation, when that ring has
        `slots` slots each held by a distinct live process of this test; None otherwise."""
        now = datetime.now(UTC)
        leases = [lease for lease in self.leases() if lease.live(now)]
        if not leases:
            return None
        newest = max(lease.generation for lease in leases)
        held = {lease.slot: lease.holder for lease in leases if lease.generation == newest}
        alive = {replica.identity for replica in self.alive()}
        if (
            set(held) != set(range(slots))
            or len(set(held.values())) != slots
            or not set(held.values()) <= alive
        ):
            return None
        return held

    def wait_serving(self, slots: int, timeout: float = 180) -> dict[int, str]:
        """The positive signal that a ring of `slots` is served: every slot's Lease held by a live
        process, and each of those processes says it serves that slot."""
        held = wait_for(lambda: self.holders(slots), timeout, interval=0.5, what=f"{slots} slots held")
        for slot, identity in held.items():
            serving = f"{identity}: holding slot {slot} of {slots}"
            log = self.by_identity(identity).process.log
            wait_for(lambda: serving in log(), timeout, what=serving)  # noqa: B023 - waited on at once
        return held

    def wait_started(self, replica: Replica, timeout: float = 180) -> None:
        """The process runs kopf with its shard (a spare has not started it yet)."""
        wait_for(lambda: STARTED in replica.process.log(), timeout, what=f"{replica.identity} started")

    def by_identity(self, identity: str) -> Replica:
        return next(replica for replica in self.all if replica.identity == identity)

    def issued(self) -> list[str]:
        return [name for replica in self.all for name in replica.issued()]

    def close(self) -> None:
        for replica in self.all:
            replica.process.stop()  # resumes a paused one first
        self.cluster.core.delete_namespace(self.namespace)  # the ring and Leases with it


@contextmanager
def replicas(cluster: Cluster, directory: Path, lease_seconds: int) -> Iterator[Replicas]:
    group = Replicas(cluster, directory, lease_seconds)
    try:
        yield group
    finally:
        group.close()


def names_for_every_slot(namespace: str, slots: int, per_slot: int, prefix: str) -> dict[int, list[str]]:
    """Certificate names (secretName = <name>-tls) chosen so that each slot of a ring of `slots`
    serves `per_slot` of them: the proof covers every replica, not whichever the hash favoured."""
    chosen: dict[int, list[str]] = {slot: [] for slot in range(slots)}
    index = 0
    while any(len(names) < per_slot for names in chosen.values()):
        name = f"{prefix}-{index}"
        slot = secret_bucket(namespace, f"{name}-tls") % slots
        if len(chosen[slot]) < per_slot:
            chosen[slot].append(name)
        index += 1
    return chosen


def slot_of(namespace: str, name: str, slots: int) -> int:
    """The slot serving Certificate `name` (secretName <name>-tls, as tests/e2e/manifests builds)."""
    return secret_bucket(namespace, f"{name}-tls") % slots


def all_ready(cluster: Cluster, namespace: str, names: Iterable[str]) -> bool:
    for name in names:
        condition = cluster.condition(CERTIFICATES.plural, namespace, name)
        if not condition or condition["status"] != "True":
            return False
    return True


@dataclass(frozen=True)
class SecretWrite:
    name: str
    resource_version: str
    serial: int | None
    """The leaf's serial in tls.crt; None while the Secret holds no certificate."""
    authority: str
    """The leaf's authority key identifier (hex): which CA signed it."""
    managers: tuple[str, ...]


@dataclass
class SecretWrites:
    """A watch of one namespace's Secrets recording every write (ADDED and MODIFIED), in its own
    thread; check() fails the test if that thread died, and every wait of a test using it should
    call check() so that a dead recorder cannot pass for 'nothing was written'."""

    api: client.ApiClient
    namespace: str
    writes: list[SecretWrite] = field(default_factory=list)
    error: BaseException | None = None
    _listed: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"secret-writes-{self.namespace}", daemon=True)
        self._thread.start()
        wait_for(lambda: self._listed.is_set() or self.error, 60, what="the Secret recorder's first list")
        self.check()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.check(stopping=True)

    def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """wait_for that fails at once when the recorder died: a test waiting on writes must not
        wait on a recorder that no longer records."""

        def recorded() -> object:
            self.check()
            return predicate()

        wait_for(recorded, timeout, what=what)

    def check(self, stopping: bool = False) -> None:
        if self.error is not None:
            raise AssertionError(f"the Secret write recorder died: {self.error!r}") from self.error
        if not stopping:
            assert self._thread is not None, "the Secret write recorder was never started"
            assert self._thread.is_alive(), "the Secret write recorder is not running"

    def _run(self) -> None:
        core = client.CoreV1Api(self.api)
        try:
            version = self._list(core)
            self._listed.set()
            while not self._stopping.is_set():
                try:
                    version = self._watch(core, version)
                except ApiException as error:
                    if error.status != 410:
                        raise
                    version = self._list(core)  # too old: what changed since is in the new list
        except BaseException as error:  # any death of the recorder fails the test (check)
            self.error = error

    def _list(self, core: client.CoreV1Api) -> str:
        listed = core.list_namespaced_secret(self.namespace)
        for secret in listed.items:
            self._record(secret)
        return str(listed.metadata.resource_version if listed.metadata else "")

    def _watch(self, core: client.CoreV1Api, version: str) -> str:
        stream = watch.Watch().stream(
            core.list_namespaced_secret,
            self.namespace,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
            _request_timeout=60,
        )
        for event in stream:
            kind, secret = event["type"], event["object"]
            if kind == "ERROR":
                raise ApiException(status=secret.get("code", 500), reason=str(secret))
            if kind == "BOOKMARK":  # only its resourceVersion: the client leaves it a dict
                raw = event["raw_object"]["metadata"]
                version = raw["resourceVersion"]
                continue
            version = str(metadata_of(secret).resource_version)
            if kind in ("ADDED", "MODIFIED"):
                self._record(secret)
            if self._stopping.is_set():
                break
        return version

    def _record(self, secret: client.V1Secret) -> None:
        serial, authority = None, ""
        certificate = (secret.data or {}).get("tls.crt")
        if certificate:
            chain = load_certificates_pem(base64.b64decode(certificate))
            if chain:
                serial, authority = chain[0].serial_number, _authority(chain[0])
        meta = metadata_of(secret)
        managers = tuple(entry.manager or "" for entry in meta.managed_fields or [])
        with self._lock:
            self.writes.append(
                SecretWrite(str(meta.name), str(meta.resource_version), serial, authority, managers)
            )

    def serials(self, name: str) -> dict[str, list[int]]:
        """Every distinct serial Secret `name` held, by the CA (authority key identifier) that signed it."""
        by_authority: dict[str, list[int]] = {}
        with self._lock:
            for write in self.writes:
                if write.name == name and write.serial is not None:
                    seen = by_authority.setdefault(write.authority, [])
                    if write.serial not in seen:
                        seen.append(write.serial)
        return by_authority

    def issued_exactly_once(self, names: Iterable[str], per_ca: int = 1) -> None:
        """Certificate <name>'s Secret <name>-tls held exactly one certificate (per CA it was
        issued under, `per_ca` CAs in all): never a second serial from a second issuance."""
        self.check()
        problems = {}
        for name in names:
            serials = self.serials(f"{name}-tls")
            if len(serials) != per_ca or any(len(found) != 1 for found in serials.values()):
                problems[name] = serials
        assert not problems, f"not issued exactly once: {problems}"


@contextmanager
def secret_writes(cluster: Cluster, namespace: str) -> Iterator[SecretWrites]:
    recorder = SecretWrites(cluster.api, namespace)
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


def _authority(certificate: x509.Certificate) -> str:
    try:
        identifier = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return certificate.issuer.rfc4514_string()
    return (identifier.key_identifier or b"").hex()


def revisions(cluster: Cluster, namespace: str, names: Iterable[str]) -> dict[str, Any]:
    """status.revision of each Certificate: how many certificates certmint issued for it."""
    return {
        name: ((cluster.get(CERTIFICATES.plural, namespace, name) or {}).get("status") or {}).get("revision")
        for name in names
    }
