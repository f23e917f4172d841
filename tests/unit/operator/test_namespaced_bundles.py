"""NamespacedTrustBundles on the contract-tested fake API: published into the bundle's own namespace
only, from its own Issuer, ConfigMap and Secret, any ClusterIssuer and inline PEM, by the same
reconciler as TrustBundles; a source naming another namespace is refused before anything is read."""

from datetime import timedelta
from typing import Any

from certmint.api.certificate import IssuerKind
from certmint.api.kinds import CLUSTER_ISSUERS, NAMESPACED_TRUST_BUNDLES, TRUST_BUNDLES
from certmint.api.namespacedtrustbundle import NamespacedBundleSource
from certmint.kube import objects
from certmint.kube.secrets import SecretObject
from certmint.operator.state import (
    CLUSTER_ISSUER,
    NAMESPACED_TRUST_BUNDLE,
    TRUST_BUNDLE,
    Key,
    published_by_bundles,
)
from certmint.pki import CARequest, certificates_to_pem, create_root_ca, load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.bundles.scope import foreign_sources, resolve_sources
from tests.e2e.manifests import cluster_issuer, namespaced_trust_bundle, trust_bundle
from tests.unit.operator.test_controller import ISSUER_KEY, NAMESPACE, Harness, issuer_body

OTHER = "other"
NAME = "team-trust"
BUNDLE = Key(NAMESPACED_TRUST_BUNDLE, NAMESPACE, NAME)
PLACE = (NAMESPACED_TRUST_BUNDLES.plural, NAMESPACE, NAME)
SOMEONE_ELSE = "kubectl"


def ca_pem(name: str, harness: Harness) -> str:
    authority = create_root_ca(CARequest(name, timedelta(days=30)), harness.clock())
    return certificates_to_pem([authority.certificate]).decode()


def add_bundle(harness: Harness, sources: list[dict[str, Any]], version: str = "n1", **target: Any) -> None:
    meta = {"uid": "uid-team-trust", "generation": 1, "resourceVersion": version}
    body = namespaced_trust_bundle(NAMESPACE, NAME, sources, meta=meta, **target)
    stored = harness.kube.objects.get(PLACE)
    if stored is not None:  # the spec changes, the status stays
        body = {**body, "status": stored.get("status", {})}
    harness.kube.objects[PLACE] = body
    harness.controller.trust_bundle_event(None, body, NAMESPACED_TRUST_BUNDLE)


def add_cluster_bundle(harness: Harness, name: str = NAME, **target: Any) -> None:
    """A TrustBundle (uid-cluster) beside the namespaced one, known to the controller; `target`: its
    target fields."""
    body = trust_bundle(
        name,
        [{"inlinePEM": ca_pem("cluster", harness)}],
        meta={"uid": "uid-cluster", "generation": 1, "resourceVersion": "t1"},
        **target,
    )
    harness.kube.objects[(TRUST_BUNDLES.plural, None, name)] = body
    harness.controller.trust_bundle_event(None, body)


def add_namespaces(harness: Harness) -> None:
    for name in (NAMESPACE, OTHER):
        harness.controller.namespace_event(None, {"metadata": {"name": name, "labels": {"team": name}}})


def add_root(harness: Harness) -> None:
    body = cluster_issuer(
        "root", {"uid": "uid-root", "generation": 1, "resourceVersion": "r1"}, selfSigned={}
    )
    harness.kube.objects[(CLUSTER_ISSUERS.plural, None, "root")] = body
    harness.controller.issuer_event(CLUSTER_ISSUER, None, body)


async def put_configmap(harness: Harness, namespace: str, name: str, pem: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"ca.crt": pem},
    }
    await harness.kube.server_side_apply(objects.core_path("configmaps", namespace, name), body, SOMEONE_ELSE)


def put_secret(harness: Harness, namespace: str, name: str, pem: str) -> None:
    harness.kube.put_secret(
        SecretObject(name, namespace, "Opaque", {"ca.crt": pem.encode()}, {}, {}, ""), SOMEONE_ELSE
    )


def synced(harness: Harness) -> dict[str, Any]:
    status = harness.kube.objects[PLACE]["status"]
    return next(c for c in status["conditions"] if c["type"] == "Synced")


def subjects(harness: Harness, namespace: str = NAMESPACE, name: str = NAME) -> set[str]:
    data = harness.kube.configmaps[(namespace, name)].data
    return {c.subject.rfc4514_string() for c in load_certificates_pem(data["ca.crt"].encode())}


def touching(harness: Harness, namespace: str, since: tuple[int, int] = (0, 0)) -> list[str]:
    """Every read and write of an object in `namespace` since (reads, writes) were that many."""
    done = [*harness.kube.reads[since[0] :], *harness.kube.writes[since[1] :]]
    return [line for line in done if f" {namespace}/" in line]


async def test_it_publishes_its_own_sources_and_a_cluster_issuer_into_its_own_namespace_only() -> None:
    harness = Harness()
    add_namespaces(harness)
    harness.add_issuer(issuer_body())
    add_root(harness)
    await put_configmap(harness, NAMESPACE, "local-ca", ca_pem("from configmap", harness))
    put_secret(harness, NAMESPACE, "local-secret", ca_pem("from secret", harness))
    add_bundle(
        harness,
        [
            {"issuer": {"name": "ca"}},
            {"issuer": {"name": "root", "kind": "ClusterIssuer"}},
            {"configMap": {"name": "local-ca"}},
            {"secret": {"name": "local-secret", "namespace": NAMESPACE}},
            {"inlinePEM": ca_pem("inline", harness)},
        ],
    )
    await harness.settle()

    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("True", reasons.SYNCED), condition["message"]
    published = subjects(harness)
    assert {"CN=from configmap", "CN=from secret", "CN=inline"} <= published
    assert len(published) == 5, "the Issuer's CA and the ClusterIssuer's CA too"
    copy = harness.kube.objects[("configmaps", NAMESPACE, NAME)]
    assert [(o["kind"], o["name"], o["uid"]) for o in copy["metadata"]["ownerReferences"]] == [
        ("NamespacedTrustBundle", NAME, "uid-team-trust")
    ]
    assert labels.TRUST_BUNDLE_LABEL in harness.kube.configmaps[(NAMESPACE, NAME)].certmint_labels
    assert (OTHER, NAME) not in harness.kube.configmaps, "never into another namespace"
    assert touching(harness, OTHER) == []
    assert f"list configmaps {labels.TRUST_BUNDLE_LABEL}=uid-team-trust" in harness.kube.reads
    assert harness.kube.objects[PLACE]["status"]["namespaceCount"] == 1


async def test_a_source_naming_another_namespace_is_refused_and_nothing_is_read_or_written() -> None:
    harness = Harness()
    add_namespaces(harness)
    await put_configmap(harness, OTHER, "their-ca", ca_pem("theirs", harness))
    put_secret(harness, OTHER, "their-secret", ca_pem("their secret", harness))
    before = len(harness.kube.writes)
    since = (len(harness.kube.reads), before)
    add_bundle(
        harness,
        [
            {"inlinePEM": ca_pem("mine", harness)},
            {"configMap": {"name": "their-ca", "namespace": OTHER}},
            {"secret": {"name": "their-secret", "namespace": OTHER}},
            {"issuer": {"name": "ca", "namespace": OTHER}},
        ],
    )
    await harness.settle()

    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.SOURCE_OUTSIDE_NAMESPACE)
    for named in ("ConfigMap other/their-ca", "Secret other/their-secret", "Issuer other/ca"):
        assert named in condition["message"]
    assert touching(harness, OTHER, since) == [], "nothing of the other namespace is read"
    assert harness.kube.writes[before:] == [f"status {NAMESPACED_TRUST_BUNDLES.plural} {NAMESPACE}/{NAME}"]
    assert (NAMESPACE, NAME) not in harness.kube.configmaps, "nothing published"
    assert harness.controller.queue.scheduled(BUNDLE) is None, "only a change of its spec can fix it"


async def test_naming_a_foreign_source_later_keeps_what_was_published() -> None:
    harness = Harness()
    add_namespaces(harness)
    add_bundle(harness, [{"inlinePEM": ca_pem("mine", harness)}])
    await harness.settle()
    published = harness.kube.objects[("configmaps", NAMESPACE, NAME)]
    add_bundle(harness, [{"configMap": {"name": "their-ca", "namespace": OTHER}}], version="n2")
    await harness.settle()
    assert synced(harness)["reason"] == reasons.SOURCE_OUTSIDE_NAMESPACE
    assert harness.kube.objects[("configmaps", NAMESPACE, NAME)] == published


async def test_a_configmap_of_its_name_certmint_does_not_own_is_never_written() -> None:
    harness = Harness()
    add_namespaces(harness)
    await put_configmap(harness, NAMESPACE, NAME, "theirs")
    add_bundle(harness, [{"inlinePEM": ca_pem("mine", harness)}])
    await harness.settle()
    assert harness.kube.configmaps[(NAMESPACE, NAME)].data == {"ca.crt": "theirs"}
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.CONFIGMAP_CONFLICT)
    assert NAMESPACE in condition["message"]


async def test_a_trust_change_is_announced_on_the_namespaced_bundle() -> None:
    harness = Harness()
    add_namespaces(harness)
    add_bundle(harness, [{"inlinePEM": ca_pem("first", harness)}])
    await harness.settle()
    add_bundle(harness, [{"inlinePEM": ca_pem("second", harness)}], version="n2")
    await harness.settle()
    assert subjects(harness) == {"CN=second"}
    changes = [e for e in harness.kube.events if e.reason == reasons.TRUST_CHANGED]
    assert [(e.about.kind, e.about.namespace, e.about.name) for e in changes] == [
        (NAMESPACED_TRUST_BUNDLE, NAMESPACE, NAME)
    ]


async def test_a_cluster_bundle_of_the_same_name_and_its_copies_stay_apart() -> None:
    harness = Harness()
    add_namespaces(harness)
    add_cluster_bundle(harness, namespaceSelector={"matchLabels": {"team": OTHER}})
    add_bundle(harness, [{"inlinePEM": ca_pem("namespaced", harness)}])
    await harness.settle()
    assert subjects(harness, OTHER) == {"CN=cluster"}
    assert subjects(harness, NAMESPACE) == {"CN=namespaced"}

    # Someone edits each copy: the watch wakes the bundle that published it, and only that one.
    cluster_key = Key(TRUST_BUNDLE, "", NAME)
    harness.controller.configmap_event(harness.kube.objects[("configmaps", NAMESPACE, NAME)])
    assert harness.controller.queue.queued(BUNDLE)
    assert not harness.controller.queue.queued(cluster_key)
    await harness.settle()
    harness.controller.configmap_event(harness.kube.objects[("configmaps", OTHER, NAME)])
    assert harness.controller.queue.queued(cluster_key)
    assert not harness.controller.queue.queued(BUNDLE)
    await harness.settle()

    # Relabelling another namespace concerns the cluster bundle only.
    harness.controller.namespace_event(None, {"metadata": {"name": OTHER, "labels": {"team": "x"}}})
    assert harness.controller.queue.queued(cluster_key)
    assert not harness.controller.queue.queued(BUNDLE)


async def test_its_issuers_wake_it_and_only_its_own_issuers_rotation_waits_for_it() -> None:
    harness = Harness()
    add_namespaces(harness)
    harness.add_issuer(issuer_body())
    add_root(harness)
    add_bundle(harness, [{"issuer": {"name": "ca"}}, {"issuer": {"name": "root", "kind": "ClusterIssuer"}}])
    await harness.settle()
    state = harness.controller.state
    root = Key(CLUSTER_ISSUER, "", "root")
    assert state.bundles_for_issuer(ISSUER_KEY) == {BUNDLE}, "its Issuer's CA changes reach it"
    assert state.bundles_for_issuer(root) == {BUNDLE}
    assert set(published_by_bundles(state.bundles, ISSUER_KEY)) == {f"{NAMESPACE}/{NAME}"}
    assert published_by_bundles(state.bundles, root) == {}, (
        "a tenant's bundle never holds back a ClusterIssuer"
    )


def source(**fields: Any) -> NamespacedBundleSource:
    return NamespacedBundleSource.model_validate(fields)


def test_only_sources_spelling_another_namespace_are_refused() -> None:
    sources = [
        source(issuer={"name": "ca"}),
        source(issuer={"name": "ca", "namespace": NAMESPACE}),
        source(issuer={"name": "root", "kind": "ClusterIssuer"}),
        source(configMap={"name": "cm", "namespace": NAMESPACE}),
        source(secret={"name": "s"}),
        source(inlinePEM="-----BEGIN CERTIFICATE-----"),
    ]
    assert foreign_sources(NAMESPACE, sources) is None
    refused = foreign_sources(
        NAMESPACE,
        [
            *sources,
            source(issuer={"name": "root", "kind": "ClusterIssuer", "namespace": OTHER}),
            source(secret={"name": "s", "namespace": OTHER}),
        ],
    )
    assert refused is not None
    assert refused.startswith("sources[6] ClusterIssuer other/root names namespace other; ")
    assert "sources[7] Secret other/s names namespace other" in refused
    assert "sources[0]" not in refused


def test_sources_resolve_into_the_bundles_namespace() -> None:
    resolved = resolve_sources(
        NAMESPACE,
        [
            source(issuer={"name": "ca"}),
            source(issuer={"name": "root", "kind": "ClusterIssuer"}),
            source(configMap={"name": "cm", "key": "bundle.pem"}),
            source(secret={"name": "s"}),
        ],
    )
    assert [(s.issuer.kind, s.issuer.namespace) for s in resolved[:2] if s.issuer is not None] == [
        (IssuerKind.ISSUER, NAMESPACE),
        (IssuerKind.CLUSTER_ISSUER, None),
    ]
    assert [(s.config_map.namespace, s.config_map.key) for s in resolved if s.config_map is not None] == [
        (NAMESPACE, "bundle.pem")
    ]
    assert [s.secret.namespace for s in resolved if s.secret is not None] == [NAMESPACE]


def published_secret(harness: Harness, namespace: str = NAMESPACE) -> SecretObject:
    return harness.kube.secrets[(namespace, NAME)]


async def test_its_secret_target_publishes_into_its_own_namespace_only_and_goes_when_removed() -> None:
    harness = Harness()
    add_namespaces(harness)
    pem = ca_pem("mine", harness)
    add_bundle(harness, [{"inlinePEM": pem}], secret={"key": "trust.pem"})
    await harness.settle()

    secret = published_secret(harness)
    assert secret.type == "Opaque"
    assert set(secret.data) == {"trust.pem"}
    published = load_certificates_pem(secret.data["trust.pem"])
    assert {c.subject.rfc4514_string() for c in published} == {"CN=mine"}
    body = harness.kube.objects[("secrets", NAMESPACE, NAME)]
    assert [(o["kind"], o["name"], o["uid"]) for o in body["metadata"]["ownerReferences"]] == [
        ("NamespacedTrustBundle", NAME, "uid-team-trust")
    ]
    assert (OTHER, NAME) not in harness.kube.secrets, "never into another namespace"
    assert touching(harness, OTHER) == []
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("True", reasons.SYNCED)
    assert "as a Secret in 1" in condition["message"]

    add_bundle(harness, [{"inlinePEM": pem}], version="n2")  # the same spec without `secret`
    await harness.settle()
    assert (NAMESPACE, NAME) not in harness.kube.secrets, "withdrawn with the target"
    assert (NAMESPACE, NAME) in harness.kube.configmaps, "the ConfigMap stays"
    assert synced(harness)["reason"] == reasons.SYNCED


async def test_its_secret_is_never_written_over_a_tenants_secret_or_a_cluster_bundles_copy() -> None:
    harness = Harness()
    add_namespaces(harness)
    # A TrustBundle of the same name publishes its Secret into both namespaces first.
    add_cluster_bundle(harness, namespaceSelector={}, secret={"key": "ca.crt"})
    await harness.settle()
    cluster_copy = harness.kube.objects[("secrets", NAMESPACE, NAME)]
    other_copy = harness.kube.objects[("secrets", OTHER, NAME)]

    add_bundle(harness, [{"inlinePEM": ca_pem("namespaced", harness)}], secret={"key": "ca.crt"})
    await harness.settle()
    assert harness.kube.objects[("secrets", NAMESPACE, NAME)] == cluster_copy, "the cluster bundle's copy"
    assert harness.kube.objects[("secrets", OTHER, NAME)] == other_copy
    condition = synced(harness)
    assert condition["status"] == "False"
    assert (
        f"a Secret named {NAME} that certmint did not create for this bundle exists in: {NAMESPACE}"
        in (condition["message"])
    )

    # A tenant's own Secret of that name, in a namespace no cluster bundle publishes into.
    tenant = Harness()
    add_namespaces(tenant)
    put_secret(tenant, NAMESPACE, NAME, "mine, not a bundle")
    before = tenant.kube.objects[("secrets", NAMESPACE, NAME)]
    add_bundle(tenant, [{"inlinePEM": ca_pem("namespaced", tenant)}], secret={"key": "ca.crt"})
    await tenant.settle()
    assert tenant.kube.objects[("secrets", NAMESPACE, NAME)] == before
    condition = synced(tenant)
    assert (condition["status"], condition["reason"]) == ("False", reasons.SECRET_CONFLICT)
    assert NAMESPACE in condition["message"]
    assert (NAMESPACE, NAME) in tenant.kube.configmaps, "the ConfigMap is published all the same"


async def test_a_change_of_its_secret_wakes_it_and_not_the_cluster_bundle_of_that_name() -> None:
    harness = Harness()
    add_namespaces(harness)
    add_cluster_bundle(harness, namespaceSelector={"matchLabels": {"team": OTHER}}, secret={"key": "ca.crt"})
    add_bundle(harness, [{"inlinePEM": ca_pem("namespaced", harness)}], secret={"key": "ca.crt"})
    await harness.settle()
    cluster_key = Key(TRUST_BUNDLE, "", NAME)

    last = harness.kube.objects[("secrets", NAMESPACE, NAME)]
    harness.kube.take_secret(NAMESPACE, NAME)
    harness.controller.secret_event("DELETED", last)
    assert harness.controller.queue.queued(BUNDLE)
    assert not harness.controller.queue.queued(cluster_key)
    await harness.settle()
    assert (NAMESPACE, NAME) in harness.kube.secrets, "put back"

    harness.controller.secret_event("MODIFIED", harness.kube.objects[("secrets", OTHER, NAME)])
    assert harness.controller.queue.queued(cluster_key)
    assert not harness.controller.queue.queued(BUNDLE)


async def test_a_restart_lists_namespaces_before_any_bundle_so_nothing_is_withdrawn_or_rewritten() -> None:
    """kopf's namespace watch may deliver its first events after a bundle's: without the namespaces
    listed at start, the bundles would withdraw their copies and publish them again."""
    before = Harness()
    for name in (NAMESPACE, OTHER):
        body = {"metadata": {"name": name, "labels": {"team": name}}, "status": {"phase": "Active"}}
        before.kube.objects[("namespaces", None, name)] = body
        before.controller.namespace_event(None, body)
    add_cluster_bundle(before, "cluster-trust", namespaceSelector={}, secret={"key": "ca.crt"})
    add_bundle(before, [{"inlinePEM": ca_pem("namespaced", before)}], secret={"key": "ca.crt"})
    await before.settle()
    assert {(NAMESPACE, "cluster-trust"), (OTHER, "cluster-trust"), (NAMESPACE, NAME)} <= set(
        before.kube.configmaps
    )

    after = Harness(before.kube, before.clock)
    await after.controller.load_views()
    written = len(before.kube.writes)
    for place, kind in (
        ((TRUST_BUNDLES.plural, None, "cluster-trust"), TRUST_BUNDLE),
        (PLACE, NAMESPACED_TRUST_BUNDLE),
    ):
        after.controller.trust_bundle_event(None, before.kube.objects[place], kind)
    await after.settle()
    assert before.kube.writes[written:] == [], "every copy and status stays as it was"
    assert after.controller.state.namespaces == {NAMESPACE: {"team": NAMESPACE}, OTHER: {"team": OTHER}}
