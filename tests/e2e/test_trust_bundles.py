"""Issue 5 end to end: TrustBundles published as ConfigMaps into exactly the selected namespaces."""

import base64
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from kubernetes.client import V1ConfigMap, V1Namespace

from certmint.api.kinds import GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.pki import load_certificates_pem
from tests.e2e.manifests import issuer_bundle, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for


@pytest.fixture
def team() -> str:
    return f"team-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_namespace(cluster: Cluster) -> Iterator[Callable[[dict[str, str]], str]]:
    created: list[str] = []

    def make(labels: dict[str, str]) -> str:
        name = f"b-{uuid.uuid4().hex[:8]}"
        cluster.core.create_namespace(
            V1Namespace.model_validate({"metadata": {"name": name, "labels": labels}})
        )
        created.append(name)
        return name

    yield make
    for name in created:
        cluster.core.delete_namespace(name)


def holders(cluster: Cluster, name: str) -> set[str | None]:
    found = cluster.core.list_config_map_for_all_namespaces(field_selector=f"metadata.name={name}")
    return {metadata_of(item).namespace for item in found.items}


def test_bundle_follows_the_namespace_selector(
    cluster: Cluster,
    namespace: str,
    operator_process: OperatorProcess,
    team: str,
    make_namespace: Callable[[dict[str, str]], str],
) -> None:
    make = make_namespace
    blue_a = make({"team": team})
    blue_b = make({"team": team})
    other = make({"team": "someone-else"})
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    name = f"bundle-{team}"
    cluster.apply(
        issuer_bundle(
            name,
            namespace,
            {"team": team},
            combinedKey="ca-bundle.crt",
            pkcs12={"key": "truststore.p12", "password": "changeit"},
        )
    )
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", "Synced")
    assert holders(cluster, name) == {blue_a, blue_b}
    status = (cluster.get(TRUST_BUNDLES.plural, None, name) or {})["status"]
    assert status["namespaceCount"] == 2
    assert status["digest"].startswith("sha256:")

    published = cluster.core.read_namespaced_config_map(name, blue_a)
    ca_secret = cluster.secret_data(namespace, "ca-ca") or {}
    assert load_certificates_pem((published.data or {})["ca.crt"].encode()) == load_certificates_pem(
        ca_secret["tls.crt"]
    )
    assert (published.data or {})["ca-bundle.crt"] == (published.data or {})["ca.crt"]
    store = pkcs12.load_pkcs12(base64.b64decode((published.binary_data or {})["truststore.p12"]), b"changeit")
    assert len(store.additional_certs) == 1
    assert "tls.key" not in str(published.data)
    assert "PRIVATE KEY" not in str(published.data)

    newcomer = make({"team": team})
    wait_for(lambda: newcomer in holders(cluster, name), 10, what="ConfigMap in a new matching namespace")
    version = metadata_of(cluster.core.read_namespaced_config_map(name, blue_a)).resource_version

    cluster.core.patch_namespace(blue_b, {"metadata": {"labels": {"team": "moved"}}})
    wait_for(
        lambda: blue_b not in holders(cluster, name), 10, what="ConfigMap removed from a relabelled namespace"
    )
    assert holders(cluster, name) == {blue_a, newcomer}
    assert other not in holders(cluster, name)
    assert metadata_of(cluster.core.read_namespaced_config_map(name, blue_a)).resource_version == version, (
        "unchanged content must not be rewritten"
    )
    wait_for(
        lambda: (cluster.get(TRUST_BUNDLES.plural, None, name) or {})["status"]["namespaceCount"] == 2, 10
    )


def test_deleting_a_bundle_removes_only_what_it_created(
    cluster: Cluster,
    namespace: str,
    operator_process: OperatorProcess,
    team: str,
    make_namespace: Callable[[dict[str, str]], str],
) -> None:
    make = make_namespace
    ours = make({"team": team})
    theirs = make({"team": team})
    name = f"bundle-{team}"
    cluster.core.create_namespaced_config_map(
        theirs, V1ConfigMap.model_validate({"metadata": {"name": name}, "data": {"ca.crt": "mine"}})
    )
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(issuer_bundle(name, namespace, {"team": team}))
    cond = cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "False", "ConfigMapConflict")
    assert theirs in cond["message"]
    assert cluster.core.read_namespaced_config_map(name, theirs).data == {"ca.crt": "mine"}
    assert ours in holders(cluster, name)

    # Tampering with a published ConfigMap is healed.
    cluster.core.patch_namespaced_config_map(name, ours, {"data": {"ca.crt": "tampered"}})
    wait_for(
        lambda: (
            "BEGIN CERTIFICATE" in (cluster.core.read_namespaced_config_map(name, ours).data or {})["ca.crt"]
        ),
        10,
        what="tampered ConfigMap healed",
    )

    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)
    # The garbage collector watches a custom resource only from its next discovery sync (every 30 s
    # in kube-controller-manager), so on a fresh control plane the first deletion can wait for it.
    wait_for(lambda: holders(cluster, name) == {theirs}, 120, what="published ConfigMaps garbage-collected")
    assert cluster.core.read_namespaced_config_map(name, theirs).data == {"ca.crt": "mine"}


def test_inline_and_secret_sources_and_a_missing_source(
    cluster: Cluster,
    namespace: str,
    operator_process: OperatorProcess,
    team: str,
    make_namespace: Callable[[dict[str, str]], str],
) -> None:
    target = make_namespace({"team": team})
    cluster.apply(self_signed_issuer(namespace, name="one"))
    cluster.apply(self_signed_issuer(namespace, name="two"))
    cluster.wait_condition(ISSUERS.plural, namespace, "one", "True")
    cluster.wait_condition(ISSUERS.plural, namespace, "two", "True")
    one = (cluster.secret_data(namespace, "one-ca") or {})["tls.crt"].decode()
    name = f"bundle-{team}"
    sources: list[dict[str, Any]] = [
        {"inlinePEM": one},
        {"secret": {"namespace": namespace, "name": "two-ca", "key": "tls.crt"}},
        {"configMap": {"namespace": namespace, "name": "absent", "key": "ca.crt"}},
    ]
    cluster.apply(trust_bundle(name, sources, namespaceSelector={"matchLabels": {"team": team}}))
    cond = cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "False", "SourceUnavailable")
    assert f"ConfigMap {namespace}/absent has no key ca.crt" in cond["message"]
    # Issue 27: the readable sources are published all the same (the missing one had nothing yet).
    partial = wait_for(lambda: target in holders(cluster, name), 30, what="the readable sources published")
    assert partial
    assert (
        len(
            load_certificates_pem(
                (cluster.core.read_namespaced_config_map(name, target).data or {})["ca.crt"].encode()
            )
        )
        == 2
    )

    cluster.core.create_namespaced_config_map(
        namespace,
        V1ConfigMap.model_validate({"metadata": {"name": "absent"}, "data": {"ca.crt": one}}),
    )
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", timeout=40)
    published = (cluster.core.read_namespaced_config_map(name, target).data or {})["ca.crt"]
    assert len(load_certificates_pem(published.encode())) == 2, "deduplicated: one + two"


def trust_changes(cluster: Cluster, name: str) -> list[str]:
    """Messages of the TrustChanged events of a (cluster-scoped) TrustBundle, oldest first."""
    return [
        event.message or "" for event in cluster.events("default", name) if event.reason == "TrustChanged"
    ]


def test_a_change_of_trust_is_an_event_and_a_metric_naming_the_cas(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, team: str
) -> None:
    cluster.apply(self_signed_issuer(namespace, name="old", commonName=f"{team} old"))
    cluster.apply(self_signed_issuer(namespace, name="new", commonName=f"{team} new"))
    for issuer in ("old", "new"):
        cluster.wait_condition(ISSUERS.plural, namespace, issuer, "True")
    name = f"bundle-{team}"
    target = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    old = {"issuer": {"name": "old", "namespace": namespace}}
    new = {"issuer": {"name": "new", "namespace": namespace}}
    cluster.apply(trust_bundle(name, [old], **target))
    cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True")

    cluster.apply(trust_bundle(name, [old, new], **target))
    added = wait_for(lambda: trust_changes(cluster, name), 30, what="a TrustChanged event")
    assert added[0].startswith(f"trusted now: CN={team} new (sha256 "), added
    assert "no longer trusted" not in added[0]

    cluster.apply(trust_bundle(name, [new], **target))
    changes = wait_for(
        lambda: found if len(found := trust_changes(cluster, name)) >= 2 else None,
        30,
        what="the second change",
    )
    # Events carry whole seconds: two in the same second have no order, so match them by content.
    assert len(changes) == 2, "a first publication is no change, and nothing else changed"
    removed = [change for change in changes if change != added[0]]
    assert len(removed) == 1, changes
    assert removed[0].startswith(f"no longer trusted: CN={team} old (sha256 "), changes

    metrics = urllib.request.urlopen(operator_process.metrics_url, timeout=10).read().decode()
    assert f'certmint_trustbundle_ca_changes_total{{change="added",name="{name}"}} 1.0' in metrics
    assert f'certmint_trustbundle_ca_changes_total{{change="removed",name="{name}"}} 1.0' in metrics
    assert f'certmint_trustbundle_synced_status{{name="{name}"}} 1.0' in metrics
