"""The default issuer in the operator, on a fake API and a fake clock: Certificates without issuerRef
resolve without an API call, a change of a default fans out exactly the Certificates it can move, in
the order of their points in the spread re-issue window, and each is re-issued at its point."""

from datetime import timedelta
from typing import Any

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, DEFAULT, ISSUERS
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import DELETED, Controller
from certmint.operator.state import CERTIFICATE, CLUSTER_ISSUER, ISSUER, Key, State
from certmint.pki import load_certificates_pem
from certmint.planning import labels, reasons
from certmint.planning.certificates.renewal import spread
from tests.e2e import manifests
from tests.kubefake import FakeClock, FakeKube

ROOT = Key(CLUSTER_ISSUER, "", "root")
OTHER_ROOT = Key(CLUSTER_ISSUER, "", "other-root")
LOCAL = Key(ISSUER, "apps", "local")
WINDOW = "1m"


class Cluster:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.kube = FakeKube(clock=self.clock)
        self.controller = Controller(
            kube=self.kube, config=OperatorConfig(namespace="certmint"), clock=self.clock
        )
        self._versions = 0

    def put_issuer(self, key: Key, default: bool) -> None:
        """As a user's apply and the watch event that follows; the status certmint wrote is kept."""
        self._versions += 1
        meta = {
            "uid": f"uid-{key.name}",
            "generation": self._versions,
            "resourceVersion": f"i{self._versions}",
        }
        spec: dict[str, Any] = {"selfSigned": {"rotation": {"reissueWindow": WINDOW}}, "default": default}
        place = issuer_place(key)
        if key.kind == CLUSTER_ISSUER:
            body = manifests.cluster_issuer(key.name, meta, **spec)
        else:
            body = manifests.issuer(key.namespace, key.name, meta, **spec)
        known = self.kube.objects.get(place)
        if known is not None and "status" in known:
            body["status"] = known["status"]
        self.kube.objects[place] = body
        self.controller.issuer_event(key.kind, None, body)

    def delete_issuer(self, key: Key) -> None:
        place = issuer_place(key)
        body = self.kube.objects.pop(place)
        self.controller.issuer_event(key.kind, DELETED, body)

    def add_certificate(self, namespace: str, name: str, issuer: str | None = None, **spec: Any) -> Key:
        meta = {"uid": f"uid-{name}", "generation": 1, "resourceVersion": f"c-{name}"}
        body = manifests.certificate(namespace, name, issuer, meta, duration="24h", **spec)
        self.kube.objects[(CERTIFICATES.plural, namespace, name)] = body
        self.controller.certificate_event(None, body)
        return Key(CERTIFICATE, namespace, name)

    async def settle(self, limit: int = 200) -> None:
        queue = self.controller.queue
        for _ in range(limit):
            if not queue.ready():
                return
            await self.controller.process(await queue.get())
        raise AssertionError("the queue never settled")

    async def drain(self) -> list[Key]:
        """What is queued now, in the order the workers would get it, without processing it."""
        queue = self.controller.queue
        handed = []
        while queue.ready():
            key = await queue.get()
            queue.done(key)
            handed.append(key)
        return handed

    def status(self, key: Key) -> dict[str, Any]:
        return self.kube.objects[(CERTIFICATES.plural, key.namespace, key.name)].get("status", {})

    def issuer_status(self, key: Key) -> dict[str, Any]:
        place = issuer_place(key)
        return self.kube.objects[place].get("status", {})

    def tls(self, key: Key) -> bytes:
        return self.kube.secrets[(key.namespace, f"{key.name}-tls")].data["tls.crt"]

    def recorded_issuer(self, key: Key) -> tuple[str, str]:
        annotations = self.kube.secrets[(key.namespace, f"{key.name}-tls")].annotations
        return annotations[labels.ISSUER_KIND], annotations[labels.ISSUER_NAME]


def issuer_place(key: Key) -> tuple[str, str | None, str]:
    if key.kind == CLUSTER_ISSUER:
        return CLUSTER_ISSUERS.plural, None, key.name
    return ISSUERS.plural, key.namespace, key.name


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == type_)


def issuer_of_leaf(cluster: Cluster, key: Key) -> str:
    return load_certificates_pem(cluster.tls(key))[0].issuer.rfc4514_string()


async def test_a_follower_resolves_to_the_default_cluster_issuer_without_an_api_call() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    web = cluster.add_certificate("apps", "web")
    await cluster.settle()
    assert ready_reason(cluster.status(web)) == reasons.READY
    assert cluster.status(web)["issuerRef"] == {"name": "root", "kind": "ClusterIssuer"}
    assert cluster.recorded_issuer(web) == ("ClusterIssuer", "root")
    assert cluster.kube.reads, "reads are recorded, or this shows nothing"
    assert [read for read in cluster.kube.reads if "issuers" in read] == [], "resolved from the cache"
    assert condition(cluster.issuer_status(ROOT), DEFAULT)["status"] == "True"


def ready_reason(status: dict[str, Any]) -> str:
    return str(condition(status, "Ready")["reason"])


async def test_without_a_default_a_follower_says_so_and_issues_once_one_is_marked() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=False)
    web = cluster.add_certificate("apps", "web")
    await cluster.settle()
    assert ready_reason(cluster.status(web)) == reasons.NO_DEFAULT_ISSUER
    assert ("apps", "web-tls") not in cluster.kube.secrets
    cluster.put_issuer(ROOT, default=True)
    assert web in queued_certificates(cluster), "marking a default plans its followers again"
    await cluster.settle()
    assert ready_reason(cluster.status(web)) == reasons.READY


def queued_certificates(cluster: Cluster) -> set[Key]:
    queue = cluster.controller.queue
    return {key for key in cluster.controller.state.certificates if queue.queued(key)}


async def test_two_default_cluster_issuers_stall_only_followers_and_name_each_other() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    cluster.put_issuer(OTHER_ROOT, default=True)
    web = cluster.add_certificate("apps", "web")
    pinned = cluster.add_certificate(
        "apps", "pinned", issuer="root", issuerRef={"name": "root", "kind": "ClusterIssuer"}
    )
    await cluster.settle()
    ready = condition(cluster.status(web), "Ready")
    assert ready["reason"] == reasons.AMBIGUOUS_DEFAULT_ISSUER
    assert "ClusterIssuer other-root and ClusterIssuer root are both marked default" in ready["message"]
    assert ("apps", "web-tls") not in cluster.kube.secrets
    assert ready_reason(cluster.status(pinned)) == reasons.READY, "an explicit issuerRef is unaffected"
    for key in (ROOT, OTHER_ROOT):
        standing = condition(cluster.issuer_status(key), DEFAULT)
        assert (standing["status"], standing["reason"]) == ("False", reasons.AMBIGUOUS_DEFAULT_ISSUER)
    cluster.put_issuer(OTHER_ROOT, default=False)
    await cluster.settle()
    assert cluster.status(web)["issuerRef"] == {"name": "root", "kind": "ClusterIssuer"}
    assert condition(cluster.issuer_status(ROOT), DEFAULT)["status"] == "True", "the other is told"
    assert all(c["type"] != DEFAULT for c in cluster.issuer_status(OTHER_ROOT)["conditions"])


async def test_a_namespace_default_moves_its_namespaces_followers_in_spread_order_each_at_its_point() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    cluster.put_issuer(LOCAL, default=False)
    names = ["a", "b", "c", "d", "e", "f"]
    followers = [cluster.add_certificate("apps", name) for name in names]
    elsewhere = cluster.add_certificate("shop", "elsewhere")
    pinned = cluster.add_certificate(
        "apps", "pinned", issuer="root", issuerRef={"name": "root", "kind": "ClusterIssuer"}
    )
    await cluster.settle()
    before = {key: cluster.tls(key) for key in [*followers, elsewhere, pinned]}

    cluster.put_issuer(LOCAL, default=True)
    handed = await cluster.drain()
    by_point = sorted(names, key=lambda name: spread(f"uid-{name}"))
    assert by_point != names, "the spread must differ from creation order, or this test shows nothing"
    assert [key.name for key in handed if key.kind == CERTIFICATE] == by_point
    assert LOCAL in handed

    cluster.put_issuer(LOCAL, default=True)  # the event again: these keys were drained unprocessed
    for key in followers:
        cluster.controller.queue.add(key)
    await cluster.settle()
    became = condition(cluster.issuer_status(LOCAL), DEFAULT)
    assert became["status"] == "True"
    for key in followers:
        assert cluster.status(key)["issuerRef"] == {"name": "local", "kind": "Issuer"}
        assert ready_reason(cluster.status(key)) == reasons.READY, "it stays Ready while it waits"
        assert cluster.tls(key) == before[key], "nothing is re-issued before its point"
        assert cluster.recorded_issuer(key) == ("ClusterIssuer", "root")
        assert cluster.controller.queue.scheduled(key) is not None, "its next look is scheduled"

    # Half the window: those whose point passed are re-issued, the others wait.
    cluster.clock.advance(timedelta(seconds=30))
    for key in followers:
        cluster.controller.queue.add(key)
    await cluster.settle()
    due = {key for key in followers if spread(f"uid-{key.name}") * 60 <= 30}
    assert due, "some point must fall in the first half, or this test shows nothing"
    assert due != set(followers), "some point must fall in the second half, or this test shows nothing"
    for key in followers:
        assert (cluster.tls(key) != before[key]) == (key in due)

    cluster.clock.advance(timedelta(seconds=31))
    for key in followers:
        cluster.controller.queue.add(key)
    await cluster.settle()
    for key in followers:
        assert cluster.tls(key) != before[key]
        assert cluster.recorded_issuer(key) == ("Issuer", "local")
        assert "local" in issuer_of_leaf(cluster, key)
    reissues = [e for e in cluster.kube.events if e.reason == reasons.REISSUED]
    assert len(reissues) == len(followers)
    assert all(e.message.startswith(reasons.DEFAULT_ISSUER_CHANGED) for e in reissues)
    assert cluster.tls(elsewhere) == before[elsewhere], "another namespace still follows root"
    assert cluster.tls(pinned) == before[pinned], "an explicit issuerRef is never moved"
    assert cluster.status(elsewhere)["issuerRef"]["name"] == "root"


async def test_a_cluster_default_change_fans_out_only_followers_without_a_namespace_default() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    cluster.put_issuer(LOCAL, default=True)
    local_follower = cluster.add_certificate("apps", "web")
    cluster_follower = cluster.add_certificate("shop", "cart")
    cluster.add_certificate(
        "shop", "pinned", issuer="root", issuerRef={"name": "root", "kind": "ClusterIssuer"}
    )
    await cluster.settle()
    assert cluster.status(local_follower)["issuerRef"]["name"] == "local"
    cluster.put_issuer(ROOT, default=False)
    handed = await cluster.drain()
    assert [key for key in handed if key.kind == CERTIFICATE] == [cluster_follower]


async def test_a_deleted_default_leaves_its_followers_waiting_for_one() -> None:
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    web = cluster.add_certificate("apps", "web")
    await cluster.settle()
    cluster.delete_issuer(ROOT)
    await cluster.settle()
    assert ready_reason(cluster.status(web)) == reasons.NO_DEFAULT_ISSUER


async def test_the_anchor_of_the_spread_survives_a_restart() -> None:
    """When the default moved is read from its Default condition: a new process plans the same point."""
    cluster = Cluster()
    cluster.put_issuer(ROOT, default=True)
    db = cluster.add_certificate("apps", "db")  # its point is late in the window
    await cluster.settle()
    cluster.put_issuer(ROOT, default=False)
    cluster.put_issuer(OTHER_ROOT, default=True)
    await cluster.settle()
    scheduled_by_first = cluster.status(db)["renewalTime"]
    assert spread("uid-db") * 60 > 30
    cluster.clock.advance(timedelta(seconds=30))

    restarted = Controller(
        kube=cluster.kube, config=OperatorConfig(namespace="certmint"), clock=cluster.clock
    )
    for (resource, _, _), body in list(cluster.kube.objects.items()):
        if resource == CLUSTER_ISSUERS.plural:
            restarted.issuer_event(CLUSTER_ISSUER, None, body)
    await restarted.load_secrets()
    restarted.certificate_event(None, cluster.kube.objects[(CERTIFICATES.plural, "apps", "db")])
    cluster.controller = restarted
    await cluster.settle()
    assert cluster.status(db)["renewalTime"] == scheduled_by_first, "the same point, not 30s later"
    assert cluster.recorded_issuer(db) == ("ClusterIssuer", "root"), "not re-issued by the restart"


def test_followers_count_as_their_defaults_certificates_and_move_with_their_issuer_ref() -> None:
    """What a CA rotation of the default counts (the leaves it must keep trusted) includes its
    followers; a Certificate that gains or drops issuerRef is filed again."""
    state = State()
    state.issuers[ROOT] = manifests.cluster_issuer("root", selfSigned={}, default=True)
    assert state.refresh_default(ROOT)
    follower_body = manifests.certificate("apps", "web", None, {"uid": "uid-web"})
    pinned_body = manifests.certificate("apps", "web", "ca", {"uid": "uid-web"})
    web = Key(CERTIFICATE, "apps", "web")
    state.put_certificate(web, follower_body)
    assert state.certificates_for_issuer(ROOT) == {web}
    assert state.followers_of_scope(ROOT) == {web}
    state.put_certificate(web, pinned_body)
    assert state.certificates_for_issuer(ROOT) == set()
    assert state.certificates_for_issuer(Key(ISSUER, "apps", "ca")) == {web}
    assert state.followers_of_scope(ROOT) == set()
    state.put_certificate(web, follower_body)
    state.issuers[LOCAL] = manifests.issuer("apps", "local", selfSigned={}, default=True)
    assert state.refresh_default(LOCAL)
    assert state.certificates_for_issuer(ROOT) == set(), "the namespace default wins"
    assert state.certificates_for_issuer(LOCAL) == {web}
    assert not state.refresh_default(LOCAL), "nothing changed"
    del state.issuers[LOCAL]
    assert state.refresh_default(LOCAL)
    assert state.certificates_for_issuer(ROOT) == {web}
    state.remove_certificate(web)
    assert state.followers_of_scope(ROOT) == set()
