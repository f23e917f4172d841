"""Shards on the fake API (planning.shards, operator.shards): what a sharded replica watches and
lists, the bucket labels it writes, the labeller, lying labels, and the objects only their bucket's
owner reconciles. A single replica (Shard WHOLE) is covered by every other operator test, unchanged.

Abuse written down: a tenant labels a Certificate with another bucket or `shared`; creates many
unlabelled Certificates; forges the bucket label of its Secret. Each costs one label write and moves
nothing but which replica serves the object."""

import asyncio
from typing import Any

import kopf

from certmint.api.kinds import CERTIFICATES
from certmint.kube import objects
from certmint.operator import shards
from certmint.operator.controller import DELETED
from certmint.operator.state import (
    CERTIFICATE,
    CERTIFICATE_BUCKET,
    CLUSTER_ISSUER,
    ISSUER,
    POD_CERTIFICATE_REQUEST,
    SECRET_BUCKET,
    SIGNING_REQUEST,
    TRUST_BUNDLE,
    Key,
)
from certmint.planning import labels, reasons
from certmint.planning.shards import (
    BUCKETS,
    Shard,
    bucket_label,
    certificate_selector,
    object_bucket,
    secret_bucket,
)
from tests.csr_material import spiffe_csr
from tests.podcert_material import pcr_body, pod_body
from tests.unit.operator import test_csrs, test_podcerts
from tests.unit.operator.test_bundles import add_bundle, add_namespace, bundle_body, ca_pem
from tests.unit.operator.test_controller import (
    NAMESPACE,
    Harness,
    certificate_body,
    issuer_body,
    ready_reason,
    secret_body,
    serial_in,
)

WEB_BUCKET = secret_bucket(NAMESPACE, "web-tls")
SERVING = Shard(WEB_BUCKET % 2, 2)
"""The replica serving apps/web-tls in a ring of two."""
OTHER = Shard((WEB_BUCKET + 1) % 2, 2)
CERTIFICATES_RESOURCE = kopf.Resource("certmint.dev", "v1", CERTIFICATES.plural, namespaced=True)
SECRETS_RESOURCE = kopf.Resource("", "v1", "secrets", namespaced=True)


def sharded(shard: Shard) -> Harness:
    harness = Harness()
    harness.controller.shard = shard
    return harness


async def add_issuer_made_by_its_owner(harness: Harness, body: dict[str, Any]) -> None:
    """The issuer, its CA Secret and status as the replica owning the issuer's bucket writes them:
    the replica under test serves web-tls's slot, the other one, and only observes the issuer."""
    serving = harness.controller.shard
    owner = object_bucket(ISSUER, NAMESPACE, "ca") % serving.slots
    harness.controller.shard = Shard(owner, serving.slots)
    harness.add_issuer(body)
    await harness.settle()
    harness.controller.shard = serving


def labelled(body: dict[str, Any], bucket: str) -> dict[str, Any]:
    body["metadata"].setdefault("labels", {})[labels.BUCKET_LABEL] = bucket
    return body


def test_kopf_watches_no_certificate_and_no_secret() -> None:
    """The controller watches both itself, with its shard's selectors (the tests below)."""
    registry = kopf.get_default_registry()
    watched = {selector.any_name for selector in registry._watching.get_all_selectors()}
    assert watched.isdisjoint({CERTIFICATES.plural, "secrets"}), watched


async def test_a_shard_watches_only_its_buckets_certificates() -> None:
    shard = Shard(1, 2)
    harness = sharded(shard)
    for name, slot, labelled_so in (
        ("mine", 1, True),
        ("theirs", 0, True),
        ("bare", 1, False),
        ("last", 1, True),
    ):
        secret = next(
            f"{name}-{n}" for n in range(1000) if secret_bucket(NAMESPACE, f"{name}-{n}") % 2 == slot
        )
        body = certificate_body(name, secret)
        if labelled_so:
            labelled(body, bucket_label(secret_bucket(NAMESPACE, secret)))
        harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, name)] = body
    harness.controller.watch_certificates()
    try:
        async with asyncio.timeout(30):
            while Key(CERTIFICATE, NAMESPACE, "last") not in harness.controller.state.certificates:
                await asyncio.sleep(0.01)
        # One listing, in order: whatever else it held came before "last". The unlabelled one is the
        # labeller's (its own watch), not this one's.
        assert set(harness.controller.state.certificates) == {
            Key(CERTIFICATE, NAMESPACE, "mine"),
            Key(CERTIFICATE, NAMESPACE, "last"),
        }
        assert harness.kube.reads[0] == f"list certificates {certificate_selector(shard)}"
        assert set(harness.kube.reads) <= {
            f"{verb} certificates {certificate_selector(shard)}" for verb in ("list", "watch")
        }
    finally:
        await harness.controller.stop()


async def test_a_shard_lists_only_its_secrets_and_the_shared_ones() -> None:
    harness = sharded(Shard(0, 2))
    for name, bucket in (("even", "0"), ("odd", "1"), ("ca", "shared"), ("unlabelled", None)):
        secret_labels = {
            labels.SECRET_ROLE_LABEL: "leaf",
            **({labels.BUCKET_LABEL: bucket} if bucket else {}),
        }
        await harness.kube.create_secret(
            NAMESPACE, name, data={}, labels=secret_labels, annotations={}, secret_type="Opaque"
        )
    await harness.controller.load_secrets()
    assert set(harness.controller.state.secrets) == {(NAMESPACE, "even"), (NAMESPACE, "ca")}
    harness.controller.state.secrets.clear()
    await harness.controller.watch_secrets()
    try:
        assert set(harness.controller.state.secrets) == {(NAMESPACE, "even"), (NAMESPACE, "ca")}
    finally:
        await harness.controller.stop()


async def test_a_sharded_replica_labels_the_secret_it_writes_with_its_bucket() -> None:
    harness = sharded(SERVING)
    await add_issuer_made_by_its_owner(harness, issuer_body())
    harness.add_certificate(labelled(certificate_body(), bucket_label(WEB_BUCKET)))
    await harness.settle()
    assert ready_reason(harness.status()) == reasons.READY
    assert harness.secret().labels[labels.BUCKET_LABEL] == bucket_label(WEB_BUCKET)
    assert not any("patch certificates" in write for write in harness.kube.writes), "a true label stays"
    ca_secrets = [
        secret
        for secret in harness.kube.secrets.values()
        if secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
    ]
    assert ca_secrets, "the issuer wrote its CA Secret"
    assert all(secret.labels[labels.BUCKET_LABEL] == labels.SHARED_BUCKET for secret in ca_secrets), (
        "every replica watches and signs with the CA"
    )


async def test_a_single_replica_writes_no_bucket_label() -> None:
    harness = Harness()
    harness.add_issuer(issuer_body())
    harness.add_certificate(certificate_body())
    await harness.settle()
    assert labels.BUCKET_LABEL not in harness.secret().labels


async def test_a_certificate_labelled_with_another_bucket_or_shared_is_relabelled_once_and_not_served() -> (
    None
):
    """The replica whose bucket the lie names sees it: it moves it to the right bucket with one label
    write, signs nothing, writes no status, and forgets it."""
    for lie in (bucket_label((WEB_BUCKET + 1) % BUCKETS), labels.SHARED_BUCKET):
        harness = sharded(OTHER)
        harness.add_issuer(issuer_body())
        key = harness.add_certificate(labelled(certificate_body(), lie))
        await harness.settle()
        path = (CERTIFICATES.plural, NAMESPACE, "web")
        assert harness.kube.objects[path]["metadata"]["labels"][labels.BUCKET_LABEL] == bucket_label(
            WEB_BUCKET
        )
        certificate_writes = [write for write in harness.kube.writes if "web" in write]
        assert certificate_writes == [f"patch certificates {NAMESPACE}/web"], "one label write, nothing else"
        assert key not in harness.controller.state.certificates
        # The label write takes it out of this replica's watch: it is gone from here.
        harness.controller.certificate_event(DELETED, harness.kube.objects[path])
        assert not harness.controller.state.relabels


async def test_a_relabel_is_made_only_on_the_version_judged() -> None:
    """A tenant who writes again meanwhile: the relabel of the old version fails (409, no retry
    storm); the new version's event is judged afresh."""
    harness = sharded(OTHER)
    body = labelled(certificate_body(), bucket_label((WEB_BUCKET + 1) % BUCKETS))
    harness.add_certificate(body)
    harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]["metadata"]["resourceVersion"] = "newer"
    await harness.settle()
    stored = harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]
    assert stored["metadata"]["labels"][labels.BUCKET_LABEL] != bucket_label(WEB_BUCKET)
    assert harness.kube.writes == [], "the version judged is gone: nothing written"
    assert not harness.controller.queue.ready(), "nothing retried on its own"


async def test_many_unlabelled_certificates_cost_one_label_write_each_by_their_owner_only() -> None:
    names = [f"app-{number}" for number in range(40)]
    owners = [sharded(Shard(0, 2)), sharded(Shard(1, 2))]
    for harness in owners:
        for name in names:
            body = certificate_body(name, secret=f"{name}-tls")
            harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, name)] = body
            harness.controller.unbucketed_certificate_event("ADDED", body)
        await harness.settle()
    for slot, harness in enumerate(owners):
        mine = sorted(name for name in names if secret_bucket(NAMESPACE, f"{name}-tls") % 2 == slot)
        assert sorted(harness.kube.writes) == sorted(
            f"patch certificates {NAMESPACE}/{name}" for name in mine
        )
        for name in mine:
            written = harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, name)]["metadata"]["labels"]
            assert written[labels.BUCKET_LABEL] == bucket_label(secret_bucket(NAMESPACE, f"{name}-tls"))
        assert not harness.controller.state.certificates, "labelled, not reconciled: its watch brings it"


async def test_the_labeller_follows_the_api_and_labels_what_arrives_unlabelled() -> None:
    """operator.shards.follow on the fake API server's watch: a Certificate created without the
    label is labelled by its owner, and the watch's DELETED (it no longer matches) forgets it."""
    harness = sharded(SERVING)
    (watched,) = shards.unbucketed_certificates(CERTIFICATES.plural, ())
    follower = asyncio.create_task(
        shards.follow(harness.kube, watched, harness.controller.unbucketed_certificate_event)
    )
    try:
        await harness.kube.request(
            "POST", objects.path(CERTIFICATES.plural, NAMESPACE), body=certificate_body()
        )
        key = Key(CERTIFICATE_BUCKET, NAMESPACE, "web")
        async with asyncio.timeout(30):
            while not harness.controller.queue.queued(key):
                await asyncio.sleep(0.01)
                assert not follower.done(), follower
        await harness.step(key)
        stored = harness.kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")]
        assert stored["metadata"]["labels"][labels.BUCKET_LABEL] == bucket_label(WEB_BUCKET)
        assert not harness.controller.state.relabels, "one attempt per version judged"
        assert not harness.controller.queue.ready(), "labelled: the watch asks for nothing more"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def test_a_forged_bucket_label_on_a_secret_is_put_back_without_a_new_certificate() -> None:
    """The tenant's Secret leaves the serving replica's watch (DELETED for it); the Certificate then
    finds it in the way, reads it, and heals its labels: same certificate, right bucket."""
    harness = sharded(SERVING)
    await add_issuer_made_by_its_owner(harness, issuer_body())
    harness.add_certificate(labelled(certificate_body(), bucket_label(WEB_BUCKET)))
    await harness.settle()
    serial = serial_in(harness.secret())
    forged = harness.kube.objects[("secrets", NAMESPACE, "web-tls")]
    forged["metadata"]["labels"][labels.BUCKET_LABEL] = bucket_label((WEB_BUCKET + 1) % BUCKETS)
    harness.controller.secret_event(DELETED, secret_body(harness.secret()))
    await harness.settle()
    assert harness.secret().labels[labels.BUCKET_LABEL] == bucket_label(WEB_BUCKET)
    assert serial_in(harness.secret()) == serial, "not issued again"


async def test_a_secret_a_tenant_labels_shared_is_put_back_by_the_replica_serving_it() -> None:
    """`shared` puts the tenant's Secret in every replica's watch; only the replica serving its
    Certificate writes, once, and the certificate stays."""
    harness = sharded(SERVING)
    await add_issuer_made_by_its_owner(harness, issuer_body())
    harness.add_certificate(labelled(certificate_body(), bucket_label(WEB_BUCKET)))
    await harness.settle()
    serial = serial_in(harness.secret())
    tenants = harness.kube.objects[("secrets", NAMESPACE, "web-tls")]["metadata"]
    tenants["labels"][labels.BUCKET_LABEL] = labels.SHARED_BUCKET
    tenants["resourceVersion"] = "written-by-the-tenant"
    writes_before = len(harness.kube.writes)
    harness.secret_event("web-tls", "MODIFIED")
    await harness.settle()
    assert harness.secret().labels[labels.BUCKET_LABEL] == bucket_label(WEB_BUCKET)
    assert serial_in(harness.secret()) == serial
    secret_writes = [w for w in harness.kube.writes[writes_before:] if "secret" in w]
    assert len(secret_writes) == 1, secret_writes
    bystander = sharded(OTHER)
    bystander.controller.secret_event("MODIFIED", secret_body(harness.secret()))
    await bystander.settle()
    assert bystander.kube.writes == [], "no Certificate of its own names it: nothing written"


async def test_an_unbucketed_secret_is_labelled_by_one_replica() -> None:
    leaf = {labels.SECRET_ROLE_LABEL: "leaf"}
    for shard, expected in ((SERVING, 1), (OTHER, 0)):
        harness = sharded(shard)
        await harness.kube.create_secret(
            NAMESPACE,
            "web-tls",
            data={},
            labels=leaf,
            annotations={},
            secret_type="Opaque",
        )
        harness.controller.unbucketed_secret_event(
            "ADDED", harness.kube.objects[("secrets", NAMESPACE, "web-tls")]
        )
        await harness.settle()
        stored = harness.kube.objects[("secrets", NAMESPACE, "web-tls")]["metadata"]["labels"]
        assert (stored.get(labels.BUCKET_LABEL) == bucket_label(WEB_BUCKET)) == bool(expected)
        assert len([w for w in harness.kube.writes if w.startswith("patch")]) == expected


async def test_a_forged_ca_marking_is_not_made_shared() -> None:
    """A tenant's Secret with the CA role label (not written by certmint) lands on one replica's
    bucket, never in every replica's `shared` watch."""
    harness = sharded(SERVING)
    forged = {labels.SECRET_ROLE_LABEL: labels.ROLE_CA}
    await harness.kube.create_secret(
        NAMESPACE,
        "web-tls",
        data={},
        labels=forged,
        annotations={},
        secret_type="Opaque",
    )
    harness.kube.objects[("secrets", NAMESPACE, "web-tls")]["metadata"]["managedFields"] = []
    harness.controller.unbucketed_secret_event(
        "ADDED", harness.kube.objects[("secrets", NAMESPACE, "web-tls")]
    )
    await harness.settle()
    stored = harness.kube.objects[("secrets", NAMESPACE, "web-tls")]["metadata"]["labels"]
    assert stored[labels.BUCKET_LABEL] == bucket_label(WEB_BUCKET)


async def test_only_the_owner_of_a_bundles_bucket_publishes_it_with_its_bucket_on_the_copy() -> None:
    bucket = object_bucket(TRUST_BUNDLE, "", "shared")
    for shard, publishes in ((Shard(bucket % 2, 2), True), (Shard((bucket + 1) % 2, 2), False)):
        harness = sharded(shard)
        add_namespace(harness, "apps", "a")
        body = bundle_body(ca_pem("first", harness))
        body["spec"]["target"]["secret"] = {"key": "ca.crt"}
        add_bundle(harness, body)
        await harness.settle()
        if publishes:
            copy = harness.kube.secrets[("apps", "shared")]
            assert copy.labels[labels.BUCKET_LABEL] == bucket_label(bucket)
            assert harness.kube.configmaps
        else:
            assert harness.kube.writes == [], "another replica's bundle: nothing written"
            assert Key(TRUST_BUNDLE, "", "shared") in harness.controller.state.bundles, "still cached"


async def test_a_bundle_copy_from_before_sharding_is_labelled_with_the_bundles_bucket() -> None:
    bucket = object_bucket(TRUST_BUNDLE, "", "shared")
    harness = sharded(Shard(bucket % 2, 2))
    add_bundle(harness, bundle_body(ca_pem("first", harness)))
    copy_labels = {
        labels.SECRET_ROLE_LABEL: labels.ROLE_TRUST_BUNDLE,
        labels.TRUST_BUNDLE_LABEL: "uid-shared",
    }
    await harness.kube.create_secret(
        "apps", "shared", data={}, labels=copy_labels, annotations={}, secret_type="Opaque"
    )
    harness.controller.unbucketed_secret_event("ADDED", harness.kube.objects[("secrets", "apps", "shared")])
    key = Key(SECRET_BUCKET, "apps", "shared")
    await harness.step(key)
    stored = harness.kube.objects[("secrets", "apps", "shared")]["metadata"]["labels"]
    assert stored[labels.BUCKET_LABEL] == bucket_label(bucket)


async def test_only_the_owner_of_a_csrs_bucket_signs_it() -> None:
    _, request = spiffe_csr(test_csrs.TRUST_DOMAIN, "apps", "web")
    bucket = object_bucket(SIGNING_REQUEST, "", "web")
    for shard, signs in ((Shard(bucket % 2, 2), True), (Shard((bucket + 1) % 2, 2), False)):
        harness = test_csrs.Harness()
        # The ClusterIssuer's CA as its owner makes it; then the replica of this ring under test.
        harness.controller.shard = Shard(object_bucket(CLUSTER_ISSUER, "", "mesh") % 2, 2)
        harness.add_issuer(test_csrs.cluster_issuer())
        await harness.settle()
        harness.controller.shard = shard
        harness.submit(test_csrs.csr("web", request, conditions=("Approved",)))
        await harness.settle()
        assert ("sign csr web" in harness.kube.writes) == signs
        if not signs:
            assert Key(SIGNING_REQUEST, "", "web") in harness.controller.state.signing_requests, (
                "still cached"
            )


async def test_only_the_owner_of_a_pod_certificate_requests_bucket_answers_it() -> None:
    bucket = object_bucket(POD_CERTIFICATE_REQUEST, NAMESPACE, "req-1")
    for shard, answers in ((Shard(bucket % 2, 2), True), (Shard((bucket + 1) % 2, 2), False)):
        harness = test_podcerts.Harness()
        harness.controller.shard = shard
        harness.add_issuer(test_podcerts.issuer())
        await harness.settle()
        harness.add_pod(pod_body(NAMESPACE))
        harness.submit(pcr_body(NAMESPACE))
        await harness.settle()
        answered = [write for write in harness.kube.writes if "pcr" in write]
        assert answered == (["status pcr apps/req-1 Issued"] if answers else [])
