"""The hand-over from cert-manager to certmint, in the order README "Migrating from cert-manager and
trust-manager" gives, on the real API server with cert-manager's kinds served (cert-manager itself
never runs: its objects and Secrets are made here the way it makes them).

nginx serves mTLS with the Secret as a pod mounts it: a watch of the Secret projects every change
of its data the way the kubelet does (a directory per version, `..data` swapped atomically) and
reloads nginx. Every second a client handshakes (server verified against the CA it holds, client
certificate presented). Across the whole hand-over and a renewal after it: no failed handshake; the
Secret never deleted, emptied or invalid; certmint writes it once at adoption, once at the renewal.
"""

import base64
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography import x509
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, GROUP, IMPORTED, ISSUERS, VERSION
from certmint.pki import key_matches_certificate, load_private_key_pem
from certmint.planning import labels, markings, reasons
from tests.e2e import cert_manager, manifests
from tests.e2e.cert_manager import CERT_MANAGER_GROUP, install_cert_manager_kinds
from tests.e2e.nginx import IdentityBackend, Nginx
from tests.e2e.support import (
    Cluster,
    OperatorProcess,
    certmint,
    grant_role,
    json_object,
    token_client,
    wait_for,
)

SAMPLE_PERIOD = 1.0
"""Seconds between two handshakes of the sampler."""
SECRET = "web-tls"
MOUNTED_KEYS = ("tls.crt", "tls.key", "ca.crt")


@dataclass(frozen=True)
class Write:
    """One write of the Secret, as its watch reported it."""

    type: str
    resource_version: str
    secret_type: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    owners: tuple[str, ...]
    """Its ownerReferences, as kind/name."""
    certmint_fields: str
    """certmint's managedFields entry (time and fields): it changes exactly when certmint writes."""

    @property
    def serial(self) -> int:
        return x509.load_pem_x509_certificate(self.data["tls.crt"]).serial_number

    def problem(self) -> str:
        """What a pod mounting this version would suffer from, if anything."""
        if self.type == "DELETED":
            return "deleted"
        if self.secret_type != "kubernetes.io/tls":
            return f"type {self.secret_type}"
        missing = [key for key in MOUNTED_KEYS if not self.data.get(key)]
        if missing:
            return f"no {', '.join(missing)}"
        certificate = x509.load_pem_x509_certificate(self.data["tls.crt"])
        if not key_matches_certificate(load_private_key_pem(self.data["tls.key"]), certificate):
            return "tls.key does not match tls.crt"
        return ""


def written(event_type: str, secret: client.V1Secret) -> Write:
    metadata = secret.metadata
    assert metadata is not None, "a watched Secret carries metadata"
    certmint_fields = [
        f"{entry.time} {entry.fields_v1}"
        for entry in metadata.managed_fields or []
        if entry.manager == markings.FIELD_MANAGER
    ]
    return Write(
        type=event_type,
        resource_version=str(metadata.resource_version),
        secret_type=str(secret.type),
        data={key: base64.b64decode(value) for key, value in (secret.data or {}).items()},
        labels=dict(metadata.labels or {}),
        annotations=dict(metadata.annotations or {}),
        owners=tuple(f"{ref.kind}/{ref.name}" for ref in metadata.owner_references or []),
        certmint_fields=" ".join(certmint_fields),
    )


class Watched(Protocol):
    def check(self) -> None:
        """Fails the test if the thread died or stopped on an error."""


class MountedSecret:
    """A Secret mounted the way the kubelet mounts it: each version of its data in a directory of its
    own, `..data` a symlink swapped to it atomically (a rename), and one symlink per key through
    `..data`. A watch of the Secret mounts every change of its data, then calls `on_change` (nginx
    reloads, as a config reloader makes it), and records every write."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str, directory: Path) -> None:
        self.core, self.namespace, self.name, self.directory = core, namespace, name, directory
        self.writes: list[Write] = []
        self.error = ""
        self.on_change: Callable[[], None] = lambda: None
        self._version = ""
        self._mounted: dict[str, bytes] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True, name=f"mount-{name}")

    def start(self) -> "MountedSecret":
        """Mounts the Secret as it is now, then follows it."""
        self.directory.mkdir()
        secret = self.core.read_namespaced_secret(self.name, self.namespace)
        first = written("LISTED", secret)
        self.writes.append(first)
        self._version = first.resource_version
        self._mount(first.data)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def latest(self) -> Write:
        with self._lock:
            return self.writes[-1]

    def history(self) -> list[Write]:
        with self._lock:
            return list(self.writes)

    def check(self) -> None:
        assert not self.error, f"the mount of Secret {self.name} failed: {self.error}"
        assert self._thread.is_alive(), f"the mount of Secret {self.name} stopped"

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                stream = watch.Watch().stream(
                    self.core.list_namespaced_secret,
                    self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=self._version,
                    timeout_seconds=10,
                )
                for event in stream:
                    if event["type"] == "ERROR":
                        raise AssertionError(f"the watch failed: {event['raw_object']}")
                    write = written(event["type"], event["object"])
                    self._version = write.resource_version
                    with self._lock:
                        self.writes.append(write)
                    # The kubelet keeps the files of a deleted Secret; it projects changed data only.
                    if write.type != "DELETED" and write.data != self._mounted:
                        self._mount(write.data)
                        self.on_change()
        except Exception as error:  # the test fails on it (check)
            self.error = f"{type(error).__name__}: {error}"

    def _mount(self, data: dict[str, bytes]) -> None:
        self._count += 1
        version = self.directory / f"..{datetime.now():%Y_%m_%d_%H_%M_%S}.{self._count}"
        version.mkdir()
        for key, value in data.items():
            (version / key).write_bytes(value)
        swap = self.directory / "..data_tmp"
        swap.symlink_to(version.name)
        previous = (self.directory / "..data").resolve() if (self.directory / "..data").exists() else None
        os.rename(swap, self.directory / "..data")
        for key in data:
            if not (self.directory / key).is_symlink():
                (self.directory / key).symlink_to(f"..data/{key}")
        for stale in self._mounted.keys() - data.keys():
            (self.directory / stale).unlink()
        if previous is not None:
            for old in previous.iterdir():
                old.unlink()
            previous.rmdir()
        self._mounted = dict(data)


@dataclass(frozen=True)
class Sample:
    serial: int | None
    """The serial of the server certificate nginx presented."""
    failure: str = ""


@dataclass
class Sampler:
    """Every second, one request over mTLS as a workload's client makes it: nginx's certificate
    verified against the CA file the client holds and the name it calls, the client's certificate
    presented, answered 200 by the backend with nginx's verdict on the client certificate."""

    port: int
    server_name: str
    client_files: Path
    samples: list[Sample] = field(default_factory=list)
    error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="handshake-sampler")

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def check(self) -> None:
        assert not self.error, f"the handshake sampler failed: {self.error}"
        assert self._thread.is_alive(), "the handshake sampler stopped"

    def taken(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def served(self, serial: int) -> bool:
        return any(sample.serial == serial and not sample.failure for sample in self.taken())

    def _run(self) -> None:
        try:
            while not self._stop.wait(SAMPLE_PERIOD):
                sample = self._sample()
                with self._lock:
                    self.samples.append(sample)
        except Exception as error:  # the test fails on it (check)
            self.error = f"{type(error).__name__}: {error}"

    def _sample(self) -> Sample:
        context = ssl.create_default_context(cafile=self.client_files / "ca.crt")
        context.load_cert_chain(self.client_files / "client.crt", self.client_files / "client.key")
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=20) as raw,
                context.wrap_socket(raw, server_hostname=self.server_name) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
                request = f"GET / HTTP/1.1\r\nHost: {self.server_name}\r\nConnection: close\r\n\r\n"
                tls.sendall(request.encode())
                answer = b""
                while chunk := tls.recv(65536):
                    answer += chunk
        except (OSError, ssl.SSLError) as error:
            return Sample(None, f"{type(error).__name__}: {error}")
        serial = x509.load_der_x509_certificate(der).serial_number if der else None
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        if not status.endswith(" 200 OK") or b'"verify": "SUCCESS"' not in answer:
            return Sample(serial, f"answered {status}: {answer[-200:]!r}")
        return Sample(serial)


def wait_watching(
    watched: tuple[Watched, ...], predicate: Callable[[], Any], timeout: float, what: str
) -> Any:
    """wait_for, failing at once if the mount or the sampler died meanwhile."""

    def checked() -> Any:
        for thread in watched:
            thread.check()
        return predicate()

    return wait_for(checked, timeout, interval=0.5, what=what)


def cert_manager_object(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{CERT_MANAGER_GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def create_as_cert_manager(cluster: Cluster, manifest: dict[str, Any]) -> None:
    cluster.core.create_namespaced_secret(
        manifest["metadata"]["namespace"],
        client.V1Secret.model_validate(manifest),
        field_manager=cert_manager.CERT_MANAGER_FIELD_MANAGER,
    )


def install_cert_manager_state(
    cluster: Cluster, namespace: str, host: str
) -> tuple[cert_manager.Issued, int]:
    """What cert-manager left in the namespace: the CA bootstrap (selfSigned Issuer, isCA Certificate,
    `ca` Issuer) with the CA Secret, and Certificate web with its Secret, ownerReferencing it.
    Returns the CA and the serial of web's certificate."""
    objects: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("Issuer", "selfsigned", {"selfSigned": {}}),
        (
            "Certificate",
            "root-ca",
            {
                "isCA": True,
                "commonName": "shop root",
                "secretName": "root-ca-tls",
                "issuerRef": {"name": "selfsigned"},
            },
        ),
        ("Issuer", "ca", {"ca": {"secretName": "root-ca-tls"}}),
        (
            "Certificate",
            "web",
            {"secretName": SECRET, "commonName": "web", "dnsNames": [host], "issuerRef": {"name": "ca"}},
        ),
    )
    for kind, name, spec in objects:
        cluster.apply(cert_manager_object(kind, namespace, name, spec))
    root = cert_manager.root_ca("shop root", lifetime=timedelta(days=365))
    create_as_cert_manager(
        cluster,
        cert_manager.tls_secret(
            namespace, "root-ca-tls", root, root, certificate_name="root-ca", issuer_name="selfsigned"
        ),
    )
    web = json_object(
        cluster.custom.get_namespaced_custom_object(
            CERT_MANAGER_GROUP, "v1", namespace, "certificates", "web"
        )
    )
    leaf = cert_manager.leaf(root, common_name="web", dns_names=(host,))
    create_as_cert_manager(
        cluster,
        cert_manager.tls_secret(
            namespace,
            SECRET,
            leaf,
            root,
            certificate_name="web",
            issuer_name="ca",
            owner=cert_manager.certificate_owner(web),
        ),
    )
    return root, leaf.certificate.serial_number


def client_files(directory: Path, root: cert_manager.Issued) -> Path:
    """What the client workload holds: the CA it trusts and its own certificate from that CA."""
    directory.mkdir()
    identity = cert_manager.leaf(root, common_name="shop-client", server=False)
    (directory / "ca.crt").write_bytes(root.certificate_pem)
    (directory / "client.crt").write_bytes(identity.certificate_pem)
    (directory / "client.key").write_bytes(identity.key_pem)
    return directory


def serving_directory(directory: Path, mount: Path) -> Path:
    """nginx's files are the mounted Secret's keys."""
    directory.mkdir()
    for served, key in (("server.crt", "tls.crt"), ("server.key", "tls.key"), ("ca.crt", "ca.crt")):
        (directory / served).symlink_to(mount / key)
    return directory


@dataclass
class Handover:
    """The README's steps, each waited for to its positive signal, with the mount and the sampler
    checked alive at every wait."""

    cluster: Cluster
    namespace: str
    operator: OperatorProcess
    mount: MountedSecret
    sampler: Sampler

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        return wait_watching((self.mount, self.sampler), predicate, timeout, what)

    def kubectl(self, *args: str) -> str:
        return self.cluster.plane.kubectl(*args, "-n", self.namespace)

    def new_serial(self, *known: int) -> int | None:
        serial = self.mount.latest().serial
        return serial if serial not in known else None

    def adopt(self, old_serial: int) -> int:
        """Steps 1 to 4; returns the serial certmint issued at adoption."""
        # 1. The certmint issuer as `certmint convert` writes it by default: a selfSigned issuer
        # importing cert-manager's CA Secret (the CA is kept), the Secret annotated as its note says.
        self.apply_converted_issuer()
        # 2. Whoever may write the Secret invites the certmint Certificate to adopt it.
        self.kubectl("annotate", "secret", SECRET, f"{labels.ALLOW_ADOPTION_BY}=web")
        # 3. cert-manager lets go of it: its Certificate deleted, the Secret orphaned.
        self.kubectl("delete", "certificates.cert-manager.io", "web", "--cascade=orphan", "--timeout=120s")
        self.wait(lambda: not self.mount.latest().owners, "the Secret orphaned")
        # 4. The certmint Certificate adopts it.
        reconciled = self.operator.reconciles()
        certificate = manifests.certificate(
            self.namespace, "web", commonName="web", certManagerAnnotations=True
        )
        self.cluster.apply(certificate)
        self.cluster.wait_condition(CERTIFICATES.plural, self.namespace, "web", "True", timeout=120)
        adopted: int = self.wait(lambda: self.new_serial(old_serial), "the adopted Secret")
        self.wait(lambda: self.sampler.served(adopted), "certmint's certificate served")
        self.operator.wait_reconciled(reconciled + 1, timeout=120)
        return adopted

    def apply_converted_issuer(self) -> None:
        converted = certmint(self.cluster, "convert", "--from-cluster", "-n", self.namespace, timeout=120)
        assert converted.returncode == 0, converted.stderr
        issuers = [d for d in yaml.safe_load_all(converted.stdout) if d and d["kind"] == "Issuer"]
        assert [(d["metadata"]["name"], d["spec"]["selfSigned"]["importFrom"]) for d in issuers] == [
            ("ca", {"name": "root-ca-tls"})
        ], "cert-manager's selfsigned Issuer absorbed, its `ca` Issuer imports the CA Secret"
        invitation = f"{labels.ALLOW_IMPORT_BY}=Issuer/ca"
        assert f"annotate it {invitation}" in converted.stderr, converted.stderr
        self.kubectl("annotate", "secret", "root-ca-tls", invitation)
        self.cluster.apply(yaml.safe_dump_all(issuers))
        self.cluster.wait_condition(ISSUERS.plural, self.namespace, "ca", "True", timeout=60)
        imported = self.cluster.condition(ISSUERS.plural, self.namespace, "ca", IMPORTED)
        assert imported is not None, "Ready by the import of cert-manager's CA"
        assert imported["status"] == "True"
        assert imported["reason"] == reasons.CA_IMPORTED

    def uninstall_cert_manager(self) -> None:
        """Step 5: cert-manager's objects go (its CRDs, shared by this test session, stay)."""
        kinds = "certificates.cert-manager.io,issuers.cert-manager.io"
        self.kubectl("delete", kinds, "--all", "--cascade=orphan", "--timeout=120s")

    def renew(self, *known: int) -> int:
        reconciled = self.operator.reconciles()
        renewal = certmint(self.cluster, "renew", f"{self.namespace}/web")
        assert renewal.returncode == 0, renewal.stderr
        renewed: int = self.wait(lambda: self.new_serial(*known), "the renewed Secret", timeout=120)
        self.wait(lambda: self.sampler.served(renewed), "the renewed certificate served")
        self.operator.wait_reconciled(reconciled + 1, timeout=120)
        return renewed

    def more_handshakes(self, count: int) -> None:
        taken = len(self.sampler.taken())
        self.wait(lambda: len(self.sampler.taken()) >= taken + count, f"{count} more handshakes")


def test_a_cert_manager_secret_is_handed_over_without_a_failed_handshake(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    install_cert_manager_kinds(cluster)
    host = f"web.{namespace}.svc"
    root, old_serial = install_cert_manager_state(cluster, namespace, host)
    mount = MountedSecret(cluster.core, namespace, SECRET, tmp_path / "mount").start()
    try:
        with (
            IdentityBackend() as backend,
            Nginx(serving_directory(tmp_path / "nginx", mount.directory), backend.port, crl=False) as nginx,
        ):
            mount.on_change = nginx.reload
            with Sampler(nginx.port, host, client_files(tmp_path / "client", root)) as sampler:
                handover = Handover(cluster, namespace, operator_process, mount, sampler)
                handover.wait(lambda: sampler.served(old_serial), "cert-manager's certificate served")
                adopted = handover.adopt(old_serial)
                handover.more_handshakes(3)
                handover.uninstall_cert_manager()
                renewed = handover.renew(old_serial, adopted)
                handover.more_handshakes(3)
                mount.check()
                sampler.check()
    finally:
        mount.stop()

    samples = sampler.taken()
    assert [sample for sample in samples if sample.failure] == [], "a handshake failed during the hand-over"
    served = _deduplicated(sample.serial for sample in samples)
    assert served == [old_serial, adopted, renewed], "cert-manager's, the adopted, the renewed: in that order"
    assert_written_once_per_issuance(mount.history(), root, adopted, renewed)
    issued = [
        (event.reason, (event.message or "").split(":")[0])
        for event in cluster.events(namespace, "web")
        if (event.involved_object.api_version or "").startswith(GROUP)
    ]
    assert issued == [(reasons.ISSUED, reasons.ADOPTED), (reasons.REISSUED, reasons.RENEW_REQUESTED)]


def assert_written_once_per_issuance(
    writes: list[Write], root: cert_manager.Issued, adopted: int, renewed: int
) -> None:
    """Never gone, empty or invalid; ca.crt the same CA throughout; certmint's writes: the adoption
    and the renewal, and nobody else changed the data."""
    assert [(w.resource_version, w.problem()) for w in writes if w.problem()] == []
    assert all(w.data["ca.crt"] == root.certificate_pem for w in writes), "ca.crt: the same CA throughout"
    by_certmint = [now for before, now in pairwise(writes) if now.certmint_fields != before.certmint_fields]
    assert [w.serial for w in by_certmint] == [adopted, renewed], (
        "certmint wrote at adoption, then at renewal"
    )
    assert [now for before, now in pairwise(writes) if now.data != before.data] == by_certmint
    adoption = by_certmint[0]
    adopted_at = writes.index(adoption)
    assert writes[adopted_at:] == by_certmint, "nobody wrote it after the adoption but certmint's renewal"
    assert not [w for w in writes[:adopted_at] if w.certmint_fields], "nothing of certmint's before"
    assert adoption.owners == (), "no owner left to delete it with"
    assert adoption.labels[cert_manager.CERT_MANAGER_LABEL] == "true", "cert-manager's label left alone"
    assert adoption.labels[labels.SECRET_ROLE_LABEL] == labels.ROLE_LEAF
    assert adoption.annotations["cert-manager.io/issuer-group"] == "certmint.dev"
    assert adoption.annotations["cert-manager.io/certificate-name"] == "web"


def _deduplicated(serials: Iterable[int | None]) -> list[int | None]:
    """Consecutive repeats dropped."""
    kept: list[int | None] = []
    for serial in serials:
        if not kept or kept[-1] != serial:
            kept.append(serial)
    return kept


def snapshot(
    cluster: Cluster, namespace: str, name: str
) -> tuple[str, dict[str, str], dict[str, str], list[str]]:
    secret = cluster.core.read_namespaced_secret(name, namespace)
    metadata = secret.metadata
    assert metadata is not None
    return (
        str(metadata.resource_version),
        {key: str(value) for key, value in (secret.data or {}).items()},
        dict(metadata.annotations or {}),
        [str(ref.uid) for ref in metadata.owner_references or []],
    )


def test_a_tenant_cannot_take_a_cert_manager_secret_nobody_invited(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    """Who could abuse the hand-over: a tenant allowed only to create Certificates names cert-manager's
    Secret, with the name cert-manager's annotations give and certManagerAnnotations on, hoping
    certmint takes cert-manager's markings for an invitation. Refused, and the Secret stays as it was."""
    install_cert_manager_kinds(cluster)
    install_cert_manager_state(cluster, namespace, f"web.{namespace}.svc")
    cluster.apply(manifests.ca_issuer(namespace, "root-ca-tls"))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)
    rules = [{"apiGroups": [GROUP], "resources": [CERTIFICATES.plural], "verbs": ["create", "get", "delete"]}]
    grant_role(cluster, namespace, "tenant", rules)
    tenant = client.CustomObjectsApi(token_client(cluster, namespace, "tenant"))
    before = snapshot(cluster, namespace, SECRET)
    manifest = manifests.certificate(namespace, "web", commonName="web", certManagerAnnotations=True)

    def created() -> bool:
        try:
            tenant.create_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural, manifest)
        except ApiException as error:
            if error.status != 403:  # refused until RBAC is in effect
                raise
            return False
        return True

    wait_for(created, 20, what="the tenant's Certificate created")
    condition = cluster.wait_condition(
        CERTIFICATES.plural, namespace, "web", "False", reasons.SECRET_NOT_OWNED
    )
    assert f"{labels.ALLOW_ADOPTION_BY}=web" in condition["message"]
    assert snapshot(cluster, namespace, SECRET) == before
    tenant.delete_namespaced_custom_object(GROUP, VERSION, namespace, CERTIFICATES.plural, "web")
    wait_for(lambda: cluster.get(CERTIFICATES.plural, namespace, "web") is None, 30, what="Certificate gone")
    assert snapshot(cluster, namespace, SECRET) == before


def test_an_invited_secret_of_another_type_is_refused_untouched(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    """A Secret's type cannot change: one that is not kubernetes.io/tls cannot be adopted in place."""
    install_cert_manager_kinds(cluster)
    root, _ = install_cert_manager_state(cluster, namespace, f"web.{namespace}.svc")
    cluster.apply(manifests.ca_issuer(namespace, "root-ca-tls"))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)
    opaque = cert_manager.tls_secret(
        namespace,
        "opaque-tls",
        cert_manager.leaf(root, dns_names=(f"web.{namespace}.svc",)),
        root,
        certificate_name="web",
        issuer_name="ca",
    )
    opaque["type"] = "Opaque"
    opaque["metadata"]["annotations"][labels.ALLOW_ADOPTION_BY] = "web"
    create_as_cert_manager(cluster, opaque)
    before = snapshot(cluster, namespace, "opaque-tls")
    cluster.apply(manifests.certificate(namespace, "web", secretName="opaque-tls"))
    condition = cluster.wait_condition(
        CERTIFICATES.plural, namespace, "web", "False", reasons.SECRET_REJECTED, timeout=60
    )
    assert "field is immutable" in condition["message"]
    assert snapshot(cluster, namespace, "opaque-tls") == before


def test_cert_manager_annotations_turned_off_leave_cert_managers_own(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    """Server-side apply decides what certmint removes: the annotations only its field manager owns.
    Those cert-manager wrote with the same value stay, as cert-manager's."""
    install_cert_manager_kinds(cluster)
    _, old_serial = install_cert_manager_state(cluster, namespace, f"web.{namespace}.svc")
    cluster.apply(manifests.ca_issuer(namespace, "root-ca-tls"))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=60)
    cluster.plane.kubectl("annotate", "secret", SECRET, f"{labels.ALLOW_ADOPTION_BY}=web", "-n", namespace)
    cluster.apply(manifests.certificate(namespace, "web", commonName="web", certManagerAnnotations=True))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=120)
    adopted = snapshot(cluster, namespace, SECRET)
    assert adopted[2]["cert-manager.io/issuer-group"] == "certmint.dev"
    assert adopted[2]["cert-manager.io/email-sans"] == ""

    reconciled = operator_process.reconciles()
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, CERTIFICATES.plural, "web", {"spec": {"certManagerAnnotations": False}}
    )
    wait_for(
        lambda: "cert-manager.io/issuer-group" not in snapshot(cluster, namespace, SECRET)[2],
        60,
        what="certmint's cert-manager annotations removed",
    )
    operator_process.wait_reconciled(reconciled + 1)
    _, data, annotations, owners = snapshot(cluster, namespace, SECRET)
    assert data == adopted[1], "the same certificate and key"
    assert "cert-manager.io/email-sans" not in annotations, "only certmint wrote it"
    assert annotations["cert-manager.io/alt-names"] == f"web.{namespace}.svc", "cert-manager wrote it too"
    assert annotations["cert-manager.io/certificate-name"] == "web"
    assert owners == adopted[3], "cert-manager's ownerReference left as it was"
    assert old_serial != x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"])).serial_number
