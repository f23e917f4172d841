"""Issue 27 end to end, trust bundles: one broken source does not freeze a shared TrustBundle and a
rotated CA signs only once the bundle publishes it; forged certmint markings on a tenant's Secret or
ConfigMap make certmint act on nobody's issuer or bundle; an unconstrained namespaced Issuer CA is
not published into other namespaces. Every tenant here is a real non-admin user (canary.py)."""

import base64
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client, watch

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, ISSUERS, TRUST_BUNDLES, VERSION
from certmint.pki import CARequest, create_root_ca, issued_by, load_certificates_pem, load_crls_pem
from tests.e2e import manifests
from tests.e2e.canary import certmint_rules, tenant_client
from tests.e2e.manifests import certificate, issuer_bundle, self_signed_issuer, trust_bundle
from tests.e2e.support import Cluster, OperatorProcess, metadata_of, wait_for

OPERATOR_NAMESPACE = "certmint"


def bundle_content(cluster: Cluster, namespace: str, name: str) -> tuple[list[x509.Certificate], str]:
    """One read of the published ConfigMap: its CA certificates and its CRL PEM."""
    data = cluster.core.read_namespaced_config_map(name, namespace).data or {}
    return load_certificates_pem(data["ca.crt"].encode()), data.get("ca.crl", "")


def signed_by(crl_pem: str, ca: x509.Certificate) -> list[x509.CertificateRevocationList]:
    if not crl_pem:
        return []
    # certmint's CAs have RSA or EC keys, which is_signature_valid takes; public_key() types every kind.
    return [crl for crl in load_crls_pem(crl_pem.encode()) if crl.is_signature_valid(ca.public_key())]  # type: ignore[arg-type]


def ca_of(cluster: Cluster, namespace: str, secret: str) -> x509.Certificate:
    return load_certificates_pem((cluster.secret_data(namespace, secret) or {})["tls.crt"])[0]


@pytest.fixture
def cluster_issuer(cluster: Cluster) -> Iterator[str]:
    """A selfSigned ClusterIssuer whose rotation has the shortest propagation delay (5s): without the
    wait for its bundles, its next CA would sign before a contested bundle could publish it."""
    name = f"shared-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        manifests.cluster_issuer(
            name,
            selfSigned={"caDuration": "24h", "rotation": {"propagationDelay": "5s", "reissueWindow": "10s"}},
        )
    )
    yield name
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)


class LeafWatch:
    """Watches a leaf Secret; at the first leaf not signed by `old_ca`, reads the bundle at once."""

    def __init__(
        self, cluster: Cluster, namespace: str, secret: str, bundle: str, old_ca: x509.Certificate
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.secret = secret
        self.bundle = bundle
        self.old_ca = old_ca
        self.first: tuple[x509.Certificate, list[x509.Certificate]] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._watch = watch.Watch()
        version = metadata_of(cluster.core.read_namespaced_secret(secret, namespace)).resource_version
        self._thread = threading.Thread(target=self._run, args=(version,), daemon=True)
        self._thread.start()

    def _run(self, version: str) -> None:
        try:
            self._follow(version)
        except BaseException as error:
            self.error = error
            self.done.set()
            raise

    def _follow(self, version: str) -> None:
        for event in self._watch.stream(
            self.cluster.core.list_namespaced_secret,
            self.namespace,
            field_selector=f"metadata.name={self.secret}",
            resource_version=version,
            timeout_seconds=300,
        ):
            data = event["object"].data or {}
            if "tls.crt" not in data:
                continue
            leaf = load_certificates_pem(base64.b64decode(data["tls.crt"]))[0]
            if not issued_by(leaf, self.old_ca):
                trusted, _ = bundle_content(self.cluster, self.namespace, self.bundle)
                self.first = (leaf, trusted)
                self.done.set()
                self._watch.stop()
                return

    def stop(self) -> None:
        self._watch.stop()


def _shared_bundle(
    cluster: Cluster, namespace: str, cluster_issuer: str
) -> tuple[client.CustomObjectsApi, str]:
    """A tenant's own Issuer and a ClusterIssuer, both sources of one bundle; a leaf of the latter."""
    team = f"shared-{uuid.uuid4().hex[:6]}"
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": {"hostile-trust": team}}})
    tenant = client.CustomObjectsApi(tenant_client(cluster, namespace, certmint_rules(ISSUERS.plural)))
    tenant.create_namespaced_custom_object(
        GROUP, VERSION, namespace, ISSUERS.plural, self_signed_issuer(namespace, "tenant-ca")
    )
    leaf = certificate(namespace, "app", issuer=cluster_issuer, duration="1h")
    leaf["spec"]["issuerRef"]["kind"] = "ClusterIssuer"
    cluster.apply(leaf)
    cluster.apply(
        trust_bundle(
            team,
            [
                {"issuer": {"name": "tenant-ca", "namespace": namespace}},
                {"issuer": {"name": cluster_issuer, "kind": "ClusterIssuer"}},
            ],
            # The tenant Issuer's CA is not name-constrained: published into its own namespace only.
            namespaceSelector={"matchLabels": {"hostile-trust": team}},
        )
    )
    return tenant, team


def test_a_deleted_tenant_issuer_neither_freezes_nor_empties_a_shared_bundle(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, cluster_issuer: str
) -> None:
    tenant, bundle = _shared_bundle(cluster, namespace, cluster_issuer)
    tenant_source = f"Issuer/{namespace}/tenant-ca"
    try:
        cluster.wait_condition(ISSUERS.plural, namespace, "tenant-ca", "True")
        cluster.wait_condition(CERTIFICATES.plural, namespace, "app", "True", timeout=60)
        cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "True", "Synced", timeout=60)
        tenant_ca = ca_of(cluster, namespace, "tenant-ca-ca")
        old_root = ca_of(cluster, OPERATOR_NAMESPACE, f"{cluster_issuer}-ca")
        trusted, crls = bundle_content(cluster, namespace, bundle)
        assert {tenant_ca, old_root} <= set(trusted)
        tenant_crls = signed_by(crls, tenant_ca)
        assert tenant_crls, "the tenant issuer's CRL is published"

        # The tenant deletes its Issuer: that source fails; the bundle says so and keeps its CAs.
        tenant.delete_namespaced_custom_object(GROUP, VERSION, namespace, ISSUERS.plural, "tenant-ca")
        condition = cluster.wait_condition(
            TRUST_BUNDLES.plural, None, bundle, "False", "SourceUnavailable", timeout=60
        )
        assert tenant_source in condition["message"]
        assert f"ClusterIssuer/{cluster_issuer}:" not in condition["message"], (
            "the healthy source is not named"
        )
        trusted, crls = bundle_content(cluster, namespace, bundle)
        assert tenant_ca in trusted, "the failing source's last CA is kept"
        assert signed_by(crls, tenant_ca), "and its last CRL"

        # A rogue writer contests the bundle's copy, so certmint holds its next write back: the
        # bundle will lag behind the rotation (the ClusterIssuer's propagation delay is the 5 s minimum).
        _contest(cluster, namespace, bundle)
        new_leaf, trusted_then = _rotate(
            cluster, operator_process, namespace, bundle, cluster_issuer, old_root
        )
        new_root = ca_of(cluster, OPERATOR_NAMESPACE, f"{cluster_issuer}-ca")
        assert new_root != old_root
        assert issued_by(new_leaf, new_root)
        assert new_root in trusted_then, "the next CA was published before its first leaf existed"
        assert any(issued_by(new_leaf, ca) for ca in trusted_then)
        assert new_leaf.not_valid_after_utc > datetime.now(UTC)

        # Still kept after the rotation; the healthy issuer's CRLs keep being published.
        trusted, crls = bundle_content(cluster, namespace, bundle)
        assert tenant_ca in trusted
        assert signed_by(crls, tenant_ca), "the deleted source's last CRL stays"
        assert signed_by(crls, new_root), "the rotated issuer's new CRL reached the bundle"
        condition = cluster.condition(TRUST_BUNDLES.plural, None, bundle, "Synced") or {}
        assert condition["reason"] == "SourceUnavailable"
        assert tenant_source in condition["message"]
        warnings = [e.reason for e in cluster.events("default", cluster_issuer) if e.type == "Warning"]
        assert "CAActivatedUnpublished" not in warnings
    finally:
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, bundle)


def _rotate(
    cluster: Cluster,
    operator_process: OperatorProcess,
    namespace: str,
    bundle: str,
    cluster_issuer: str,
    old_root: x509.Certificate,
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Rotates the ClusterIssuer now; returns its first leaf signed by the next CA and the bundle
    as read the moment that leaf appeared. Meanwhile the ClusterIssuer must say it waits for the
    lagging bundle."""
    # The ClusterIssuer rotates now. Its first leaf signed by the next CA must verify against
    # the bundle as read the moment that leaf appears.
    leaves = LeafWatch(cluster, namespace, "app-tls", bundle, old_root)
    try:
        cluster.plane.kubectl(
            "annotate", "clusterissuers.certmint.dev", cluster_issuer, f"certmint.dev/rotate-ca={bundle}"
        )
        waiting = wait_for(
            lambda: _lagging(cluster, cluster_issuer) or leaves.done.is_set(),
            60,
            what="the ClusterIssuer waiting for the bundle",
        )
        assert isinstance(waiting, dict), "a leaf of the next CA came while the bundle lagged"
        assert waiting["reason"] == "BundlesLagging"
        assert bundle in waiting["message"]
        assert leaves.done.wait(180), f"no leaf of the next CA:\n{operator_process.log()[-3000:]}"
    finally:
        leaves.stop()
    assert leaves.error is None, leaves.error
    assert leaves.first is not None
    return leaves.first


ROGUE = "rogue-writer"


def _contest(cluster: Cluster, namespace: str, name: str) -> None:
    """Another field manager changes the bundle's copy twice: certmint repairs the first change at
    once and holds the second back (the repair count it reads says 6: 32 s after its last write)."""
    original = (cluster.core.read_namespaced_config_map(name, namespace).data or {})["ca.crt"]
    cluster.core.patch_namespaced_config_map(
        name, namespace, {"data": {"ca.crt": original + "\n"}}, field_manager=ROGUE
    )
    wait_for(
        lambda: (cluster.core.read_namespaced_config_map(name, namespace).data or {})["ca.crt"] == original,
        30,
        what="the first change repaired",
    )
    cluster.core.patch_namespaced_config_map(
        name,
        namespace,
        {
            "metadata": {"annotations": {"certmint.dev/contested-repairs": "6"}},
            "data": {"ca.crt": original + "\n"},
        },
        field_manager=ROGUE,
    )
    wait_for(
        lambda: (
            (cluster.condition(TRUST_BUNDLES.plural, None, name, "Synced") or {}).get("reason")
            == "ConfigMapContested"
        ),
        30,
        what="the second change held back",
    )


def _lagging(cluster: Cluster, name: str) -> dict[str, Any] | None:
    found = cluster.condition(CLUSTER_ISSUERS.plural, None, name, "CAPublished")
    return found if found and found["status"] == "False" else None


CORE_RULES = [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]


def test_forged_certmint_markings_make_certmint_act_on_nobodys_issuer_or_bundle(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(
        client.V1Namespace.model_validate({"metadata": {"name": victim, "labels": {"hostile-trust": victim}}})
    )
    try:
        _forgery(cluster, namespace, victim, operator_process)
    finally:
        cluster.core.delete_namespace(victim)
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, victim)
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, f"probe-{victim}")


def _forgery(cluster: Cluster, attacker: str, victim: str, operator_process: OperatorProcess) -> None:
    cluster.apply(self_signed_issuer(victim))
    cluster.apply(issuer_bundle(victim, victim, {"hostile-trust": victim}))
    # Probes in the attacker's namespace: certmint's reaction to them, on the same watch streams as
    # the forgeries, is the positive signal that the forgeries were seen too.
    cluster.core.patch_namespace(attacker, {"metadata": {"labels": {"probe": victim}}})
    cluster.apply(self_signed_issuer(attacker))
    cluster.apply(certificate(attacker, "probe"))
    probe = f"probe-{victim}"
    cluster.apply(issuer_bundle(probe, attacker, {"probe": victim}))
    cluster.wait_condition(TRUST_BUNDLES.plural, None, victim, "True", "Synced", timeout=60)
    cluster.wait_condition(CERTIFICATES.plural, attacker, "probe", "True", timeout=60)
    cluster.wait_condition(TRUST_BUNDLES.plural, None, probe, "True", "Synced", timeout=60)
    victim_bundle = cluster.get(TRUST_BUNDLES.plural, None, victim) or {}
    victim_copy = metadata_of(cluster.core.read_namespaced_config_map(victim, victim)).resource_version
    events_before = len(cluster.events("default", victim))

    core = client.CoreV1Api(tenant_client(cluster, attacker, CORE_RULES))
    forged_ca = create_root_ca(CARequest("forged", timedelta(days=1)), datetime.now(UTC))
    forged_pem = forged_ca.certificate.public_bytes(Encoding.PEM).decode()
    core.create_namespaced_config_map(
        attacker,
        client.V1ConfigMap.model_validate(
            {
                "metadata": {
                    "name": victim,
                    "labels": {"certmint.dev/trust-bundle": victim_bundle["metadata"]["uid"]},
                    "annotations": {"certmint.dev/trust-bundle-name": victim},
                },
                "data": {"ca.crt": forged_pem},
            }
        ),
    )
    core.create_namespaced_secret(
        attacker,
        client.V1Secret.model_validate(
            {
                "metadata": {
                    "name": "forged-ca",
                    "labels": {"certmint.dev/secret-role": "ca"},
                    "annotations": {
                        "certmint.dev/issuer-kind": "Issuer",
                        "certmint.dev/issuer-namespace": victim,
                        "certmint.dev/issuer-name": "ca",
                    },
                },
                "type": "Opaque",
                "data": {},
            }
        ),
    )
    issuer_reconciles = operator_process.reconciles("Issuer")
    rounds = 5
    for round_ in range(rounds):
        # Each round: the forgeries change (an event each), then a probe certmint must answer.
        core.patch_namespaced_secret(
            "forged-ca", attacker, {"metadata": {"annotations": {"round": str(round_)}}}
        )
        try:
            core.patch_namespaced_config_map(
                victim, attacker, {"metadata": {"annotations": {"round": str(round_)}}}
            )
        except client.ApiException as error:
            if error.status == 404:
                raise AssertionError(
                    "certmint withdrew the tenant's ConfigMap as the victim's copy"
                ) from error
            raise
        # A namespace's labels change: every bundle, the victim's too, is reconciled with the
        # forged ConfigMap in place (it must not be taken for one of the victim's copies).
        bundles_done = operator_process.reconciles("TrustBundle")
        cluster.core.patch_namespace(attacker, {"metadata": {"labels": {"round": str(round_)}}})
        operator_process.wait_reconciled(bundles_done + 1, kind="TrustBundle")
        old_leaf = metadata_of(cluster.core.read_namespaced_secret("probe-tls", attacker)).uid
        cluster.core.delete_namespaced_secret("probe-tls", attacker)
        cluster.core.delete_namespaced_config_map(probe, attacker)
        wait_for(
            # mypy cannot infer a lambda with a default argument (here, the loop's capture).
            lambda old=old_leaf: _uid(cluster, "secrets", attacker, "probe-tls") not in (None, old),  # type: ignore[misc]
            60,
            what="the probe's Secret re-created",
        )
        wait_for(
            lambda: _uid(cluster, "configmaps", attacker, probe), 60, what="the probe bundle re-published"
        )
        operator_process.wait_reconciled(0, kind="TrustBundle")
    forged = cluster.core.read_namespaced_config_map(victim, attacker)
    assert forged.data == {"ca.crt": forged_pem}, "the forged ConfigMap is neither written nor withdrawn"
    after = cluster.get(TRUST_BUNDLES.plural, None, victim) or {}
    assert after["status"] == victim_bundle["status"], "the victim bundle's status did not move"
    assert (
        metadata_of(cluster.core.read_namespaced_config_map(victim, victim)).resource_version == victim_copy
    )
    assert len(cluster.events("default", victim)) == events_before, "no TrustChanged on the victim bundle"
    # Before: every round reconciled the victim Issuer at least once. Issuer resyncs of unrelated
    # issuers (every 10 min each) may add one.
    assert operator_process.reconciles("Issuer") - issuer_reconciles < rounds


def _uid(cluster: Cluster, kind: str, namespace: str, name: str) -> str | None:
    try:
        if kind == "secrets":
            return str(metadata_of(cluster.core.read_namespaced_secret(name, namespace)).uid)
        return str(metadata_of(cluster.core.read_namespaced_config_map(name, namespace)).uid)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def test_an_unconstrained_namespaced_issuer_ca_stays_in_its_namespace(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, cluster_issuer: str
) -> None:
    other = f"other-{uuid.uuid4().hex[:6]}"
    label = {"unconstrained": other}
    cluster.core.create_namespace(
        client.V1Namespace.model_validate({"metadata": {"name": other, "labels": label}})
    )
    cluster.core.patch_namespace(namespace, {"metadata": {"labels": label}})
    name = other
    try:
        # Its tenant opts out of the namespace default: `{}` makes a CA without name constraints.
        cluster.apply(self_signed_issuer(namespace, nameConstraints={}))
        cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
        cluster.wait_condition(CLUSTER_ISSUERS.plural, None, cluster_issuer, "True")
        cluster.apply(
            trust_bundle(
                name,
                [
                    {"issuer": {"name": "ca", "namespace": namespace}},
                    {"issuer": {"name": cluster_issuer, "kind": "ClusterIssuer"}},
                ],
                namespaceSelector={"matchLabels": label},
            )
        )
        condition = cluster.wait_condition(
            TRUST_BUNDLES.plural, None, name, "False", "UnconstrainedIssuerCA", timeout=60
        )
        assert f"Issuer/{namespace}/ca" in condition["message"]
        assert "NameConstraints" in condition["message"]
        namespaced = ca_of(cluster, namespace, "ca-ca")
        root = ca_of(cluster, OPERATOR_NAMESPACE, f"{cluster_issuer}-ca")
        for target in (namespace, other):
            trusted = wait_for(partial(_published, cluster, target, name), 30, what=f"bundle in {target}")
            assert namespaced not in trusted, f"the unconstrained CA reached {target}"
            assert root in trusted, "the ClusterIssuer's CA is published all the same"
        # Only its own namespace selected: the same CA is published there.
        cluster.core.patch_namespace(other, {"metadata": {"labels": {"unconstrained": "no"}}})
        cluster.wait_condition(TRUST_BUNDLES.plural, None, name, "True", "Synced", timeout=60)
        assert namespaced in (_published(cluster, namespace, name) or [])
    finally:
        cluster.core.delete_namespace(other)
        cluster.custom.delete_cluster_custom_object(GROUP, VERSION, TRUST_BUNDLES.plural, name)


def _published(cluster: Cluster, namespace: str, name: str) -> list[x509.Certificate] | None:
    try:
        return bundle_content(cluster, namespace, name)[0]
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
