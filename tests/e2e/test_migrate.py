"""Issue 26 on a real API server and etcd: objects stored at certmint.dev/v1alpha1 (CRDs of the
previous release's storage version) move to v1, each written exactly once, and the CRDs'
storedVersions end as ["v1"]: by `certmint migrate`, and by the operator at start.

Each test runs its own control plane: the CRDs start out storing v1alpha1 (the working tree's CRDs
with the storage flag on v1alpha1, the same schema), and where an object is stored, and at which
apiVersion, is read from etcd itself."""

import base64
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch

from certmint.api.crd import RESOURCES as DEFINITIONS
from certmint.api.crd import custom_resource_definition
from certmint.api.kinds import (
    CERTIFICATES,
    CLUSTER_ISSUERS,
    DEPRECATED_VERSIONS,
    GROUP,
    ISSUERS,
    NAMESPACED_TRUST_BUNDLES,
    RESOURCES,
    TRUST_BUNDLES,
    VERSION,
    Resource,
)
from certmint.cli.output import EXIT_API_ERROR
from certmint.planning.labels import SECRET_ROLE_LABEL, TRUST_BUNDLE_LABEL
from devcluster import ControlPlane, LocalControlPlane
from devcluster.controlplane import free_port
from tests.e2e import manifests
from tests.e2e.support import (
    Cluster,
    OperatorProcess,
    certmint,
    grant_role,
    json_object,
    metadata_of,
    wait_for,
)
from tests.e2e.test_chart import service_account_kubeconfig

REPO = Path(__file__).resolve().parents[2]
OLD_VERSION = DEPRECATED_VERSIONS[0]
OLD_API_VERSION = f"{GROUP}/{OLD_VERSION}"
NEW_API_VERSION = f"{GROUP}/{VERSION}"
Place = tuple[str, str | None, str]
"""(plural, namespace or None, name)."""


def legacy_crds() -> str:
    """certmint's CRDs as a release storing v1alpha1 had them: the same schema, v1alpha1 the storage
    version (both versions served, so that the upgrade is the storage flag alone)."""
    documents = []
    for definition in DEFINITIONS:
        crd = custom_resource_definition(definition)
        for version in crd["spec"]["versions"]:
            version["storage"] = version["name"] == OLD_VERSION
        documents.append(json.loads(json.dumps(crd)))
    return yaml.safe_dump_all(documents)


@dataclass
class Plane:
    cluster: Cluster
    etcd_url: str

    @property
    def plane(self) -> ControlPlane:
        return self.cluster.plane

    def stored(self, resource: Resource) -> dict[Place, tuple[str, int]]:
        """What etcd holds for every object of the kind: (apiVersion it is encoded at, mod revision)."""
        prefix = f"/registry/{GROUP}/{resource.plural}/".encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        request = {"key": base64.b64encode(prefix).decode(), "range_end": base64.b64encode(end).decode()}
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{self.etcd_url}/v3/kv/range", data=json.dumps(request).encode(), method="POST"
            ),
            timeout=60,
        ) as response:
            answer = json.load(response)
        found = {}
        for kv in answer.get("kvs") or []:
            parts = base64.b64decode(kv["key"]).decode().removeprefix(prefix.decode()).split("/")
            place = (resource.plural, parts[0] if resource.namespaced else None, parts[-1])
            found[place] = (json.loads(base64.b64decode(kv["value"]))["apiVersion"], int(kv["mod_revision"]))
        return found

    def stored_everywhere(self) -> dict[Place, tuple[str, int]]:
        return {place: at for resource in RESOURCES for place, at in self.stored(resource).items()}

    def listed(self) -> dict[Place, dict[str, Any]]:
        """Every certmint object as the API serves it at v1."""
        found = {}
        for resource in RESOURCES:
            answer = json_object(
                self.cluster.custom.list_cluster_custom_object(GROUP, VERSION, resource.plural)
            )
            for item in answer["items"]:
                metadata = item["metadata"]
                found[(resource.plural, metadata.get("namespace"), metadata["name"])] = item
        return found

    def stored_versions(self) -> dict[str, list[str]]:
        """status.storedVersions of every certmint CRD, by kind."""
        extensions = client.ApiextensionsV1Api(self.cluster.api)
        found = {}
        for resource in RESOURCES:
            crd = extensions.read_custom_resource_definition(f"{resource.plural}.{GROUP}")
            assert crd.status is not None, "an established CRD has a status"
            found[resource.kind] = list(crd.status.stored_versions or [])
        return found

    def upgrade_crds(self) -> None:
        """This release's CRDs, as `helm upgrade` or `kubectl apply -f crds/` puts them."""
        self.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        wait_for(
            lambda: all(versions[-1] == VERSION for versions in self.stored_versions().values()),
            60,
            what="the API server to note v1 in every CRD's storedVersions",
        )


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Plane]:
    """A control plane of its own whose certmint CRDs store v1alpha1."""
    with LocalControlPlane(tmp_path / "plane", controller_manager=False) as plane:
        etcd_args = [str(arg) for arg in plane.processes["etcd"].args]  # type: ignore[union-attr]
        etcd_url = next(arg for arg in etcd_args if arg.startswith("--listen-client-urls=")).split("=", 1)[1]
        plane.kubectl("apply", "--server-side", "-f", "-", input_text=legacy_crds())
        plane.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/name=certmint",
        )
        plane.kubectl("create", "namespace", "certmint")
        legacy = Plane(
            Cluster(plane=plane, api=config.new_client_from_config(str(plane.kubeconfig))), etcd_url
        )
        assert set(map(tuple, legacy.stored_versions().values())) == {(OLD_VERSION,)}
        yield legacy


@dataclass
class EventLog:
    """Every watch event of one kind from a resourceVersion on, recorded by a thread. A watch that
    ends or fails before `stop` is an error the test reports (`check`)."""

    cluster: Cluster
    resource: Resource
    since: str
    events: list[tuple[str, Place, str]] = field(default_factory=list)
    """(type, object, resourceVersion), in order."""
    error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(
            target=self._follow, daemon=True, name=f"watch-{self.resource.plural}"
        )
        self._thread.start()

    def _follow(self) -> None:
        stream = watch.Watch()
        try:
            for event in stream.stream(
                self.cluster.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                self.resource.plural,
                resource_version=self.since,
                timeout_seconds=1800,
            ):
                if self._stop.is_set():
                    return
                metadata = event["object"]["metadata"]
                place = (self.resource.plural, metadata.get("namespace"), metadata["name"])
                with self._lock:
                    self.events.append((event["type"], place, metadata["resourceVersion"]))
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            return
        if not self._stop.is_set():
            self.error = "the watch ended early"

    def check(self) -> None:
        assert not self.error, f"watch of {self.resource.plural}: {self.error}"
        assert self._thread.is_alive(), f"watch of {self.resource.plural} stopped"

    def seen(self, place: Place, event_type: str) -> bool:
        self.check()
        with self._lock:
            return any(kind == event_type and where == place for kind, where, _ in self.events)

    def until(self, place: Place) -> list[tuple[str, Place, str]]:
        """The events before the first one about `place`."""
        with self._lock:
            index = next(i for i, (_, where, _) in enumerate(self.events) if where == place)
            return list(self.events[:index])

    def stop(self) -> None:
        self._stop.set()


def _create_all(cluster: Cluster, bodies: list[dict[str, Any]]) -> None:
    """Created as a client of the previous release would (apiVersion v1alpha1), eight at a time."""

    def create(body: dict[str, Any]) -> None:
        body = {**body, "apiVersion": OLD_API_VERSION}
        namespace = body["metadata"].get("namespace")
        plural = next(r.plural for r in RESOURCES if r.kind == body["kind"])
        if namespace:
            cluster.custom.create_namespaced_custom_object(GROUP, OLD_VERSION, namespace, plural, body)
        else:
            cluster.custom.create_cluster_custom_object(GROUP, OLD_VERSION, plural, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, bodies))


def _population(
    namespaces: list[str], prefix: str, certificates: int, issuers: int, cluster_issuers: int, bundles: int
) -> list[dict[str, Any]]:
    """`bundles`: that many TrustBundles, and as many NamespacedTrustBundles."""
    return [
        *(
            # Of the issuer ca-<j> that lives in its namespace (at least one per namespace is made).
            manifests.certificate(
                namespaces[i % len(namespaces)],
                f"{prefix}cert-{i}",
                issuer=f"{prefix}ca-{i % len(namespaces)}",
            )
            for i in range(certificates)
        ),
        *(
            manifests.self_signed_issuer(namespaces[i % len(namespaces)], f"{prefix}ca-{i}")
            for i in range(issuers)
        ),
        *(manifests.cluster_issuer(f"{prefix}cluster-ca-{i}", selfSigned={}) for i in range(cluster_issuers)),
        *(
            manifests.trust_bundle(
                f"{prefix}bundle-{i}", [{"issuer": {"name": f"{prefix}ca-0", "namespace": namespaces[0]}}]
            )
            for i in range(bundles)
        ),
        *(
            manifests.namespaced_trust_bundle(
                namespaces[i % len(namespaces)],
                f"{prefix}local-bundle-{i}",  # not the TrustBundles' names: their ConfigMaps would collide
                [{"issuer": {"name": f"{prefix}ca-{i % len(namespaces)}"}}],
            )
            for i in range(bundles)
        ),
    ]


def _place(body: dict[str, Any]) -> Place:
    plural = next(r.plural for r in RESOURCES if r.kind == body["kind"])
    return (plural, body["metadata"].get("namespace"), body["metadata"]["name"])


def _content(item: dict[str, Any]) -> dict[str, Any]:
    """What a migration must not change: everything but the resourceVersion (and managedFields,
    whose timestamps are the API server's bookkeeping)."""
    metadata = {k: v for k, v in item["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {**item, "metadata": metadata}


Events = list[tuple[str, Place, str]]


def _writes_during(legacy: Plane, namespaces: list[str], action: Callable[[], None]) -> Events:
    """The watch events of every certmint object while `action` runs, in order per kind. Afterwards a
    sentinel of each kind is created: once its event arrived, every earlier event of that kind has
    (a watch delivers them in order), so what is missing did not happen."""
    cluster = legacy.cluster
    logs = {
        resource.plural: EventLog(
            cluster,
            resource,
            json_object(cluster.custom.list_cluster_custom_object(GROUP, VERSION, resource.plural))[
                "metadata"
            ]["resourceVersion"],
        )
        for resource in RESOURCES
    }
    try:
        action()
        sentinel_bodies = _population(
            namespaces, "sentinel-", certificates=1, issuers=1, cluster_issuers=1, bundles=1
        )
        _create_all(cluster, sentinel_bodies)
        sentinels = [_place(body) for body in sentinel_bodies]
        events: Events = []
        for sentinel in sentinels:
            log = logs[sentinel[0]]
            wait_for(partial(log.seen, sentinel, "ADDED"), 60, what=f"the watch to see {sentinel}")
            events.extend(log.until(sentinel))
        return events
    finally:
        for log in logs.values():
            log.stop()


def _legacy_population(legacy: Plane, namespaces: list[str]) -> set[Place]:
    """1,000 objects stored at v1alpha1, some with a status."""
    cluster = legacy.cluster
    for name in namespaces:
        cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    old = _population(namespaces, "", certificates=940, issuers=30, cluster_issuers=10, bundles=10)
    assert len(old) == 1000
    _create_all(cluster, old)
    for i in range(0, 940, 20):  # a status, which the rewrite must leave as it is
        status = {"status": {"revision": i + 1, "serialNumber": f"{i:x}"}}
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespaces[i % 4], CERTIFICATES.plural, f"cert-{i}", status
        )
    places = {_place(body) for body in old}
    stored = legacy.stored_everywhere()
    assert set(stored) == places
    assert {api_version for api_version, _ in stored.values()} == {OLD_API_VERSION}
    return places


def _resource_versions(listed: dict[Place, dict[str, Any]]) -> dict[Place, str]:
    return {place: item["metadata"]["resourceVersion"] for place, item in listed.items()}


def test_migrate_refuses_before_the_crds_are_upgraded_and_writes_nothing(legacy: Plane) -> None:
    namespaces = ["m-0"]
    legacy.cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": "m-0"}}))
    _create_all(
        legacy.cluster, _population(namespaces, "", certificates=5, issuers=1, cluster_issuers=1, bundles=1)
    )
    stored = legacy.stored_everywhere()

    refused = certmint(legacy.cluster, "migrate")

    assert refused.returncode != 0, refused.stdout
    assert f"certificates.{GROUP} stores {OLD_VERSION}, not {VERSION}" in refused.stderr, refused.stderr
    assert "apply this release's CRDs" in refused.stderr, refused.stderr
    assert legacy.stored_everywhere() == stored
    assert {api_version for api_version, _ in stored.values()} == {OLD_API_VERSION}
    assert set(map(tuple, legacy.stored_versions().values())) == {(OLD_VERSION,)}


def test_migrate_moves_a_thousand_objects_to_v1_writing_each_once(legacy: Plane) -> None:
    namespaces = [f"m-{i}" for i in range(4)]
    old = _legacy_population(legacy, namespaces)
    legacy.upgrade_crds()
    assert set(map(tuple, legacy.stored_versions().values())) == {(OLD_VERSION, VERSION)}
    # Objects created after the upgrade are stored at v1 already: the migration must not write them.
    new_bodies = _population(namespaces, "new-", certificates=8, issuers=4, cluster_issuers=4, bundles=4)
    _create_all(legacy.cluster, new_bodies)
    new = {_place(body) for body in new_bodies}
    stored = legacy.stored_everywhere()
    assert {stored[place][0] for place in new} == {NEW_API_VERSION}
    assert {stored[place][0] for place in old} == {OLD_API_VERSION}
    before = legacy.listed()

    dry = certmint(legacy.cluster, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{OLD_VERSION},{VERSION} -> {VERSION}" in dry.stdout, dry.stdout
    assert legacy.stored_everywhere() == stored, "a dry run wrote"

    outputs = []
    events = _writes_during(
        legacy,
        namespaces,
        lambda: outputs.append(
            certmint(legacy.cluster, "migrate", "--writes-per-second", "200", timeout=300)
        ),
    )

    done = outputs[0]
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in done.stdout.splitlines()[1:]}
    assert rows == {
        "Certificate": ["948", "940"],
        "Issuer": ["34", "30"],
        "ClusterIssuer": ["14", "10"],
        "TrustBundle": ["14", "10"],
        "NamespacedTrustBundle": ["14", "10"],
    }, done.stdout
    # Exactly one write per object stored at v1alpha1, none for the others, nothing else.
    assert sorted(place for _, place, _ in events) == sorted(old)
    assert {event_type for event_type, _, _ in events} == {"MODIFIED"}
    after = legacy.listed()
    assert {place: _content(after[place]) for place in before} == {
        place: _content(item) for place, item in before.items()
    }
    versions_before, versions_after = _resource_versions(before), _resource_versions(after)
    assert {place for place in before if versions_after[place] != versions_before[place]} == old
    stored = legacy.stored_everywhere()
    assert {stored[place][0] for place in old | new} == {NEW_API_VERSION}
    assert legacy.stored_versions() == {r.kind: [VERSION] for r in RESOURCES}

    again = certmint(legacy.cluster, "migrate", timeout=300)

    assert again.returncode == 0, again.stderr
    assert f"{VERSION} (unchanged)" in again.stdout, again.stdout
    assert legacy.stored_everywhere() == stored
    assert _resource_versions(legacy.listed()) == versions_after


def test_the_operator_migrates_at_start_and_rewrites_nothing_else(legacy: Plane, tmp_path: Path) -> None:
    cluster, namespaces = legacy.cluster, ["apps"]
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": "apps"}}))
    operator = OperatorProcess(
        legacy.plane, tmp_path / "operator.log", {"CERTMINT_METRICS_PORT": str(free_port())}
    )
    operator.start()
    try:
        # Under CRDs that still store v1alpha1 the operator serves, and its migration says why not.
        wait_for(
            lambda: (
                f"storage migration of Certificate not run: CustomResourceDefinition certificates.{GROUP} "
                f"stores {OLD_VERSION}, not {VERSION}" in operator.log()
            ),
            60,
            what="the operator's line about the CRDs not being upgraded",
        )
        bodies = _population(namespaces, "", certificates=24, issuers=2, cluster_issuers=2, bundles=2)
        _create_all(cluster, bodies)
        for body in bodies:
            plural, namespace, name = _place(body)
            cluster.wait_condition(plural, namespace, name, "True", timeout=120)
        # Settled, every kind: a restart then finds nothing to do but the migration.
        _settle(operator, certificates=24, issuers=2, cluster_issuers=2, bundles=2)
    finally:
        operator.stop()
    old = {_place(body) for body in bodies}
    assert {legacy.stored_everywhere()[place][0] for place in old} == {OLD_API_VERSION}
    secrets = _managed_versions(cluster, "secret")
    config_maps = _managed_versions(cluster, "configmap")
    assert len(secrets) == 24 + 2 + 2, secrets
    assert config_maps, "the TrustBundles published"
    before = legacy.listed()
    legacy.upgrade_crds()

    def restart_and_migrate() -> None:
        operator.start()
        wait_for(
            lambda: legacy.stored_versions() == {r.kind: [VERSION] for r in RESOURCES},
            120,
            what="the operator to set storedVersions to [v1]",
        )

    try:
        events = _writes_during(legacy, namespaces, restart_and_migrate)
        # The operator has seen every event up to the sentinels: once it reconciled the sentinel
        # Certificate and its queue is empty, whatever it would write has been written.
        cluster.wait_condition(CERTIFICATES.plural, "apps", "sentinel-cert-0", "True", timeout=120)
        _settle(operator, certificates=24 + 1, issuers=2 + 1, cluster_issuers=2 + 1, bundles=2 + 1)
        log = operator.log()
    finally:
        operator.stop()

    assert sorted(place for _, place, _ in events) == sorted(old), "one write per object, the migration's"
    assert {event_type for event_type, _, _ in events} == {"MODIFIED"}
    after = legacy.listed()
    migrated = {place: version for _, place, version in events}
    assert {place: after[place]["metadata"]["resourceVersion"] for place in old} == migrated
    assert {place: _content(after[place]) for place in old} == {
        place: _content(before[place]) for place in old
    }
    assert {legacy.stored_everywhere()[place][0] for place in old} == {NEW_API_VERSION}
    remaining = _managed_versions(cluster, "secret")
    assert {key: remaining[key] for key in secrets} == secrets, "a Secret was rewritten"
    remaining = _managed_versions(cluster, "configmap")
    assert {key: remaining[key] for key in config_maps} == config_maps, (
        "a trust bundle ConfigMap was rewritten"
    )
    assert "storage migration of Certificate done: 24 objects, 24 rewritten" in log, log[-3000:]
    assert "storage migration of TrustBundle done: 2 objects, 2 rewritten" in log, log[-3000:]


def _settle(
    operator: OperatorProcess, certificates: int, issuers: int, cluster_issuers: int, bundles: int
) -> None:
    """At least that many reconciles of each kind finished, and nothing queued or in work."""
    for resource, count in (
        (CERTIFICATES, certificates),
        (ISSUERS, issuers),
        (CLUSTER_ISSUERS, cluster_issuers),
        (TRUST_BUNDLES, bundles),
        (NAMESPACED_TRUST_BUNDLES, bundles),
    ):
        operator.wait_reconciled(count, resource.kind, timeout=120)


def _managed_versions(cluster: Cluster, kind: str) -> dict[tuple[str, str], str]:
    """resourceVersion of every Secret or ConfigMap certmint wrote, by namespace and name."""
    selector = SECRET_ROLE_LABEL if kind == "secret" else TRUST_BUNDLE_LABEL
    lister = (
        cluster.core.list_secret_for_all_namespaces
        if kind == "secret"
        else cluster.core.list_config_map_for_all_namespaces
    )
    found = {}
    for item in lister(label_selector=selector).items:
        metadata = metadata_of(item)
        found[(str(metadata.namespace), str(metadata.name))] = str(metadata.resource_version)
    return found


def test_a_tenant_cannot_migrate(legacy: Plane, tmp_path: Path) -> None:
    """`certmint migrate` acts with its caller's rights: a tenant with every right on Certificates of
    its own namespace reads no CRD, lists no other namespace and sets no storedVersions."""
    cluster = legacy.cluster
    cluster.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": "team"}}))
    grant_role(
        cluster,
        "team",
        "tenant",
        [
            {
                "apiGroups": [GROUP],
                "resources": [CERTIFICATES.plural, f"{CERTIFICATES.plural}/status"],
                "verbs": ["*"],
            }
        ],
    )
    _create_all(cluster, _population(["team"], "", certificates=3, issuers=1, cluster_issuers=0, bundles=0))
    legacy.upgrade_crds()
    stored = legacy.stored_everywhere()
    kubeconfig = service_account_kubeconfig(cluster, "team", "tenant", tmp_path / "tenant.kubeconfig")

    attempt = certmint(cluster, "migrate", kubeconfig=kubeconfig)

    assert attempt.returncode == EXIT_API_ERROR, attempt.stdout
    assert "API 403" in attempt.stderr, attempt.stderr
    assert legacy.stored_everywhere() == stored
    assert set(map(tuple, legacy.stored_versions().values())) == {(OLD_VERSION, VERSION)}
