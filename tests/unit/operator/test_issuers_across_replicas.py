"""Two replicas (slots 0 and 1 of a ring of 2) on one fake API server: the one owning an issuer
does its issuer-wide work, the other observes it and signs its own Certificates. Each replica has
its own gateway onto the same objects, so what each one wrote is told apart; the watches are played
by hand: each replica gets the events its watches would bring (its Certificates and leaf Secrets,
every CA Secret, every issuer)."""

import base64
import copy
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.kube.secrets import SecretObject
from certmint.operator import issuers
from certmint.operator.config import OperatorConfig
from certmint.operator.controller import Controller
from certmint.operator.issuer_views import same_view
from certmint.operator.state import CERTIFICATE, CLUSTER_ISSUER, ISSUER, SIGNING_REQUEST, Key
from certmint.pki import (
    CARequest,
    certificates_to_pem,
    create_root_ca,
    encode_private_key_pem,
    issued_by,
    load_certificates_pem,
)
from certmint.planning import labels, reasons
from certmint.planning.issuers import longest_signed
from certmint.planning.issuers.ca_secret import RETIRES_AT
from certmint.planning.issuers.revocation import CRL_KEY, REVOKED_KEY, listed_serials, load_revocations
from certmint.planning.shards import Shard, bucket_label, object_bucket, secret_bucket
from certmint.planning.signers import issuer_signer_name
from tests.csr_material import spiffe_csr
from tests.e2e import manifests
from tests.kubefake import FakeClock, FakeKube
from tests.unit.operator import test_csrs as csr_tests

NAMESPACE = "apps"
OWNER, OTHER = 0, 1


def _named(prefix: str, slot: int, bucket: Any) -> str:
    return next(f"{prefix}{n}" for n in range(1000) if bucket(f"{prefix}{n}") % 2 == slot)


ISSUER_NAME = _named("ca", OWNER, lambda name: object_bucket(ISSUER, NAMESPACE, name))
ISSUER_KEY = Key(ISSUER, NAMESPACE, ISSUER_NAME)


def issuer_body(**spec: Any) -> dict[str, Any]:
    return manifests.issuer(NAMESPACE, ISSUER_NAME, {"uid": "uid-ca", "generation": 1}, **spec)


def secret_on(slot: int, prefix: str = "tls") -> str:
    """A Secret name whose Certificate the replica of `slot` serves."""
    return _named(f"{prefix}-", slot, lambda name: secret_bucket(NAMESPACE, name))


class Replicas:
    def __init__(self) -> None:
        self.clock = FakeClock()
        first = FakeKube(clock=self.clock)
        second = FakeKube(
            clock=self.clock,
            objects=first.objects,
            owners=first.owners,
            change_times=first.change_times,
            _versions=first._versions,
        )
        self.kubes = [first, second]
        config = OperatorConfig(namespace="certmint", replicas=2)
        self.controllers = [
            Controller(kube=kube, config=config, clock=self.clock, shard=Shard(slot, 2))
            for slot, kube in enumerate(self.kubes)
        ]
        self._delivered: list[dict[tuple[str, str, str], str]] = [{}, {}]

    @property
    def owner(self) -> Controller:
        return self.controllers[OWNER]

    @property
    def other(self) -> Controller:
        return self.controllers[OTHER]

    def add_issuer(self, body: dict[str, Any]) -> None:
        self.kubes[0].objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)] = body
        for controller in self.controllers:
            controller.issuer_event(ISSUER, None, body)

    def add_certificate(self, name: str, secret: str, **spec: Any) -> tuple[int, Key]:
        # Labelled with its bucket, as the sharded watches deliver it (an unlabelled one is the
        # labeller's, not served until relabelled).
        meta = {
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": f"c-{name}",
            "labels": {labels.BUCKET_LABEL: bucket_label(secret_bucket(NAMESPACE, secret))},
        }
        body = manifests.certificate(
            NAMESPACE, name, ISSUER_NAME, meta, **{"secretName": secret, "duration": "1h", **spec}
        )
        self.kubes[0].objects[(CERTIFICATES.plural, NAMESPACE, name)] = body
        slot = secret_bucket(NAMESPACE, secret) % 2
        self.controllers[slot].certificate_event(None, body)
        return slot, Key(CERTIFICATE, NAMESPACE, name)

    def deliver(self) -> None:
        """Each replica's Secret watch: CA Secrets to both, a leaf Secret to the one serving it."""
        for (resource, namespace, name), body in list(self.kubes[0].objects.items()):
            if resource != "secrets" or namespace is None:
                continue
            role = (body["metadata"].get("labels") or {}).get(labels.SECRET_ROLE_LABEL)
            if role is None:
                continue
            version = body["metadata"]["resourceVersion"]
            serving = (0, 1) if role == labels.ROLE_CA else (secret_bucket(namespace, name) % 2,)
            for slot in serving:
                if self._delivered[slot].get((resource, namespace, name)) != version:
                    self._delivered[slot][(resource, namespace, name)] = version
                    self.controllers[slot].secret_event(None, copy.deepcopy(body))

    async def settle(self, only: tuple[int, ...] = (0, 1), limit: int = 200) -> None:
        """Work what is queued now on the replicas `only`, the watches delivering after each step."""
        for _ in range(limit):
            self.deliver()
            ready = [self.controllers[slot] for slot in only if self.controllers[slot].queue.ready()]
            if not ready:
                return
            await ready[0].process(await ready[0].queue.get())
        raise AssertionError("the replicas never settled")

    def ca_secret(self) -> Any:
        (found,) = [
            secret
            for secret in self.kubes[0].secrets.values()
            if secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
        ]
        return found

    def leaf(self, secret: str) -> x509.Certificate:
        return load_certificates_pem(self.kubes[0].secrets[(NAMESPACE, secret)].data["tls.crt"])[0]

    def issuer_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.kubes[0].objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)]["status"]
        return status


def request_revocation(replicas: Replicas, name: str, slot: int) -> None:
    body = replicas.kubes[0].objects[(CERTIFICATES.plural, NAMESPACE, name)]
    body["metadata"]["annotations"] = {
        labels.REVOKE_REQUEST: "t1",
        "certmint.dev/revoke-reason": "keyCompromise",
    }
    body["metadata"]["resourceVersion"] = f"c-{name}-2"
    replicas.controllers[slot].certificate_event(None, body)


async def test_only_the_owner_writes_the_issuer_and_the_other_signs_from_its_ca_secret() -> None:
    replicas = Replicas()
    replicas.add_issuer(issuer_body(selfSigned={}))
    await replicas.settle(only=(OTHER,))
    view = replicas.other.state.issuer_views[ISSUER_KEY]
    assert (view.ready, view.reason) == (False, reasons.WAITING_FOR_OWNER), "no CA Secret yet"
    assert replicas.kubes[OTHER].writes == [], "the other replica generates no CA and writes no status"
    await replicas.settle()
    assert replicas.other.state.issuer_views[ISSUER_KEY].ready, "the CA Secret's event brought the CA"
    slot, _ = replicas.add_certificate("web", secret_on(OTHER))
    assert slot == OTHER
    await replicas.settle()
    ca = replicas.ca_secret()
    ca_certificate = load_certificates_pem(ca.data["tls.crt"])[0]
    assert issued_by(replicas.leaf(secret_on(OTHER)), ca_certificate)
    writes = replicas.kubes[OTHER].writes
    assert not [w for w in writes if "issuers" in w], "never the issuer's status"
    assert not [w for w in writes if f"events {NAMESPACE}/{ISSUER_NAME}." in w], "nor its events"
    assert [w for w in writes if w.endswith(f"/{ca.name}")] == [f"apply secret-data {NAMESPACE}/{ca.name}"], (
        "its one write to the CA Secret: the longest leaf it signs under this CA"
    )
    record = f"{ca_certificate.serial_number:x}/3600"
    assert ca.annotations[longest_signed.annotation(OTHER)] == record
    assert longest_signed.annotation(OWNER) not in ca.annotations
    assert replicas.issuer_status()["conditions"], "the owner wrote it"


async def test_a_revocation_by_the_other_replica_reaches_the_owners_crl_and_the_other_replicas_view() -> None:
    replicas = Replicas()
    spec = {"selfSigned": {}, "revocation": {"ocspURL": "http://certmint.example/ocsp"}}
    replicas.add_issuer(issuer_body(**spec))
    secret = secret_on(OTHER)
    _, key = replicas.add_certificate("web", secret)
    await replicas.settle()
    revoked = replicas.leaf(secret).serial_number
    request_revocation(replicas, "web", OTHER)
    await replicas.settle(only=(OTHER,))
    # Recorded by the other replica; no CRL lists it until the owner signs one. Meanwhile the
    # Certificate waits without spinning: nothing of this replica is due now.
    assert revoked not in replicas.other.state.issuer_views[ISSUER_KEY].revoking.revoked_serials
    assert replicas.leaf(secret).serial_number == revoked
    assert not replicas.other.queue.ready()
    assert not replicas.other.queue.queued(key)
    due = replicas.other.queue.scheduled(ISSUER_KEY)
    assert due is not None
    assert replicas.ca_secret().data.get(CRL_KEY), "the owner's last CRL stays until it signs a new one"
    assert replicas.other.state.issuer_views[ISSUER_KEY].revoking.crl_der, "and is served meanwhile"
    await replicas.settle(only=(OWNER,))
    crls = replicas.ca_secret().data[CRL_KEY]
    owner_view = replicas.owner.state.issuer_views[ISSUER_KEY]
    assert owner_view.signing.ca is not None
    assert revoked in listed_serials(crls, (owner_view.signing.ca,)), "the owner signed the CRL"
    await replicas.settle()
    view = replicas.other.state.issuer_views[ISSUER_KEY]
    assert revoked in view.revoking.revoked_serials
    assert view.revoking.crl_der == owner_view.revoking.crl_der, "the other replica serves the owner's CRL"
    assert view.revoking.ocsp is not None
    (authority,) = view.revoking.ocsp.authorities
    assert revoked in authority.revoked, "and answers OCSP from it"
    assert replicas.leaf(secret).serial_number != revoked, "then the Certificate is re-issued"
    assert not [w for w in replicas.kubes[OTHER].writes if "issuers" in w]


def ca_in(secret: Any, key: str = "tls.crt") -> x509.Certificate:
    return load_certificates_pem(secret.data[key])[0]


async def test_a_rotation_owned_by_one_replica_covers_the_longest_leaf_either_signed() -> None:
    replicas = Replicas()
    spec = {
        "selfSigned": {"caDuration": "2000h", "rotation": {"propagationDelay": "5s", "reissueWindow": "1h"}}
    }
    replicas.add_issuer(issuer_body(**spec))
    short, long_ = secret_on(OWNER), secret_on(OTHER)
    replicas.add_certificate("short", short)  # 1h, on the owner
    replicas.add_certificate("long", long_, duration="240h")  # on the other replica
    await replicas.settle()
    old_ca = ca_in(replicas.ca_secret())
    assert issued_by(replicas.leaf(long_), old_ca)
    rotation = replicas.issuer_status()["rotation"]
    replicas.clock.now = datetime.fromisoformat(rotation["nextRotationAt"].replace("Z", "+00:00"))
    replicas.owner.queue.add(ISSUER_KEY)
    replicas.other.queue.add(ISSUER_KEY)
    await replicas.settle()
    assert replicas.issuer_status()["rotation"]["phase"] == "Prepared"
    next_ca = ca_in(replicas.ca_secret(), "next.crt")
    view = replicas.other.state.issuer_views[ISSUER_KEY]
    assert view.signing.ca is not None
    assert view.signing.ca.certificate == old_ca, "the old CA signs on"
    assert next_ca in view.trust.certificates, "the next CA is trusted already"
    # Issued while the next CA waits for its activation: signed by the current one, on both replicas.
    replicas.add_certificate("during-other", secret_on(OTHER, "during"))
    replicas.add_certificate("during-owner", secret_on(OWNER, "during"))
    await replicas.settle()
    for secret in (secret_on(OTHER, "during"), secret_on(OWNER, "during")):
        assert issued_by(replicas.leaf(secret), old_ca)
    replicas.clock.advance(timedelta(seconds=5))
    replicas.owner.queue.add(ISSUER_KEY)
    await replicas.settle()
    ca = replicas.ca_secret()
    assert ca_in(ca) == next_ca, "activated by the owner"
    retires = datetime.fromisoformat(ca.annotations[RETIRES_AT])
    assert retires - replicas.clock() >= timedelta(hours=240), (
        "the old CA stays trusted as long as the longest leaf the other replica signed under it"
    )
    assert not [w for w in replicas.kubes[OTHER].writes if "issuers" in w]
    # Both replicas re-issue their Certificates under the new CA within the reissue window.
    replicas.clock.advance(timedelta(hours=1, minutes=1))
    for controller in replicas.controllers:
        for key in list(controller.state.certificates):
            controller.queue.add(key)
    await replicas.settle()
    for secret in (short, long_, secret_on(OTHER, "during"), secret_on(OWNER, "during")):
        assert issued_by(replicas.leaf(secret), next_ca), secret


async def test_one_replica_records_nothing_in_the_ca_secret() -> None:
    clock = FakeClock()
    kube = FakeKube(clock=clock)
    controller = Controller(kube=kube, config=OperatorConfig(namespace="certmint"), clock=clock)
    body = issuer_body(selfSigned={})
    kube.objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)] = body
    controller.issuer_event(ISSUER, None, body)
    meta = {"uid": "uid-web", "generation": 1, "resourceVersion": "c-web"}
    cert = manifests.certificate(NAMESPACE, "web", ISSUER_NAME, meta, secretName="web-tls", duration="240h")
    kube.objects[(CERTIFICATES.plural, NAMESPACE, "web")] = cert
    controller.certificate_event(None, cert)
    for _ in range(50):
        if not controller.queue.ready():
            break
        await controller.process(await controller.queue.get())
    assert (NAMESPACE, "web-tls") in kube.secrets
    (ca,) = [s for s in kube.secrets.values() if s.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA]
    assert not [name for name in ca.annotations if name.startswith(longest_signed.PREFIX)]
    assert [w for w in kube.writes if w.endswith(f"/{ca.name}")] == [
        f"create secret {NAMESPACE}/{ca.name}",
        f"apply secret-data {NAMESPACE}/{ca.name}",
    ], "the CA and its first CRL, as before there were replicas"


async def step(replicas: Replicas, slot: int, key: Key) -> None:
    """Hand exactly this key to that replica, as a worker would."""
    queue = replicas.controllers[slot].queue
    assert queue.queued(key), f"{key} is not queued"
    while (got := await queue.get()) != key:
        queue.done(got)
        queue.add(got)
    await replicas.controllers[slot].process(key)


async def test_a_replica_that_has_not_seen_the_activation_signs_nothing_with_the_old_ca() -> None:
    replicas = Replicas()
    policy = {"propagationDelay": "5s", "reissueWindow": "1h"}
    spec = {"selfSigned": {"caDuration": "2000h", "rotation": policy}}
    replicas.add_issuer(issuer_body(**spec))
    await replicas.settle()
    old_ca = ca_in(replicas.ca_secret())
    rotation = replicas.issuer_status()["rotation"]
    replicas.clock.now = datetime.fromisoformat(rotation["nextRotationAt"].replace("Z", "+00:00"))
    replicas.owner.queue.add(ISSUER_KEY)
    await replicas.settle(only=(OWNER,))
    replicas.clock.advance(timedelta(seconds=5))
    replicas.owner.queue.add(ISSUER_KEY)
    await replicas.settle(only=(OWNER,))
    assert ca_in(replicas.ca_secret()) != old_ca, "activated"
    stale = replicas.other.state.issuer_views[ISSUER_KEY]
    assert stale.signing.ca is not None
    assert stale.signing.ca.certificate == old_ca, "the other replica has not looked again yet"
    secret = secret_on(OTHER)
    _, key = replicas.add_certificate("late", secret, duration="240h")
    await step(replicas, OTHER, key)
    assert (NAMESPACE, secret) not in replicas.kubes[0].secrets, "nothing signed with the retired CA"
    assert replicas.other.queue.scheduled(key) is not None, "tried again with backoff"
    await replicas.settle()  # its issuer's look (the CA Secret's event) brings the new CA
    replicas.other.queue.add(key)
    await replicas.settle()
    assert issued_by(replicas.leaf(secret), ca_in(replicas.ca_secret()))


async def test_a_revocation_written_over_by_another_writer_is_read_again_and_kept() -> None:
    replicas = Replicas()
    replicas.add_issuer(issuer_body(selfSigned={}))
    secret = secret_on(OTHER)
    replicas.add_certificate("web", secret)
    await replicas.settle()
    revoked = replicas.leaf(secret).serial_number
    kube = replicas.kubes[OTHER]
    read = kube.read_secret
    raced: list[str] = []

    async def read_then_race(namespace: str, name: str) -> Any:
        found = await read(namespace, name)
        if found is not None and found.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA and not raced:
            # Another replica's write lands between this read and the write that follows it.
            written = await replicas.kubes[OWNER].apply_secret_annotations(
                namespace, name, {"example.com/other": "1"}, resource_version="", field_manager="other"
            )
            raced.append(written.resource_version)
        return found

    kube.read_secret = read_then_race  # type: ignore[method-assign]
    request_revocation(replicas, "web", OTHER)
    await replicas.settle(only=(OTHER,))
    assert raced, "the race happened"
    ca = replicas.ca_secret()
    assert ca.annotations["example.com/other"] == "1"
    assert revoked in {entry.serial_number for entry in load_revocations(ca.data[REVOKED_KEY]).entries}
    await replicas.settle()
    assert revoked in replicas.other.state.issuer_views[ISSUER_KEY].revoking.revoked_serials


async def test_an_issuer_of_a_given_ca_is_observed_without_a_write() -> None:
    replicas = Replicas()
    given = create_root_ca(CARequest("given", timedelta(days=30)), replicas.clock())
    data = {
        "tls.crt": certificates_to_pem([given.certificate]),
        "tls.key": encode_private_key_pem(given.private_key),
    }
    replicas.kubes[0].put_secret(SecretObject("given-ca", NAMESPACE, "kubernetes.io/tls", data, {}, {}, ""))
    replicas.add_issuer(issuer_body(ca={"secretName": "given-ca"}))
    secret = secret_on(OTHER)
    replicas.add_certificate("web", secret, duration="240h")
    await replicas.settle()
    assert issued_by(replicas.leaf(secret), given.certificate)
    writes = replicas.kubes[OTHER].writes
    assert not [w for w in writes if w.endswith("/given-ca")], "no record, no marking: the owner marks it"
    assert [w for w in replicas.kubes[OWNER].writes if w.endswith("/given-ca")], "the owner marked it"


async def test_a_sharded_replica_records_the_csrs_it_signs() -> None:
    harness = csr_tests.Harness()
    owner = object_bucket(CLUSTER_ISSUER, "", "mesh") % 2
    harness.controller.shard = Shard(owner, 2)
    harness.add_issuer(csr_tests.cluster_issuer())
    # A request of this replica's own bucket: the replica that owns a CSR is the one that signs it.
    name = next(f"web-{n}" for n in range(64) if object_bucket(SIGNING_REQUEST, "", f"web-{n}") % 2 == owner)
    _, request = spiffe_csr(csr_tests.TRUST_DOMAIN, "apps", "web")
    harness.submit(csr_tests.csr(name, request))
    harness.approve(name)
    await harness.settle()
    _, ca_certificate = harness.issued(name)
    ca = harness.kube.secrets[("certmint", "mesh-ca")]
    assert ca.annotations[longest_signed.annotation(owner)] == f"{ca_certificate.serial_number:x}/3600"


async def test_a_csr_revoked_on_the_other_replica_waits_for_the_owners_crl_without_spinning() -> None:
    replicas = Replicas()
    replicas.add_issuer(issuer_body(selfSigned={}))
    await replicas.settle()
    _, request = spiffe_csr(csr_tests.TRUST_DOMAIN, NAMESPACE, "web")
    signer = issuer_signer_name(NAMESPACE, ISSUER_NAME)
    body = csr_tests.csr("web", request, signer=signer, conditions=("Approved",))
    replicas.kubes[0].objects[(csr_tests.PLURAL, None, "web")] = body
    other = replicas.other
    other.signing_request_event(None, body)  # the replica the request's bucket belongs to
    await replicas.settle(only=(OTHER,))
    signed = replicas.kubes[0].objects[(csr_tests.PLURAL, None, "web")]
    serial = load_certificates_pem(base64.b64decode(signed["status"]["certificate"]))[0].serial_number
    revoke = {labels.REVOKE_REQUEST: "t1", "certmint.dev/revoke-reason": "keyCompromise"}
    signed["metadata"]["annotations"] = revoke
    other.signing_request_event(None, signed)
    await replicas.settle(only=(OTHER,))  # would never settle if the request spun on its issuer
    told = [e.reason for e in replicas.kubes[OTHER].events if e.about.kind == "CertificateSigningRequest"]
    assert told.count(reasons.REVOKED) == 1, "recorded and told once"
    assert serial not in other.state.issuer_views[ISSUER_KEY].revoking.revoked_serials
    await replicas.settle()
    assert serial in other.state.issuer_views[ISSUER_KEY].revoking.revoked_serials, "the owner's CRL lists it"
    assert not other.queue.ready()


async def test_two_looks_at_an_unchanged_ca_secret_are_the_same_view() -> None:
    replicas = Replicas()
    replicas.add_issuer(issuer_body(selfSigned={}, revocation={"ocspURL": "http://certmint.example/ocsp"}))
    await replicas.settle()
    first = (await issuers.observe(replicas.other.context, ISSUER_KEY)).issuer_view
    second = (await issuers.observe(replicas.other.context, ISSUER_KEY)).issuer_view
    assert first is not None
    assert second is not None
    assert first.revoking.ocsp is not None, "keys loaded anew each time, compared by their certificates"
    assert same_view(first, second)
    replicas.clock.advance(timedelta(hours=13))  # past half the CRL's life: the owner signs a new one
    replicas.owner.queue.add(ISSUER_KEY)
    await replicas.settle()
    third = (await issuers.observe(replicas.other.context, ISSUER_KEY)).issuer_view
    assert third is not None
    assert not same_view(second, third)
    assert replicas.kubes[OTHER].writes == [], "looking writes nothing"


async def test_a_record_landing_during_the_activation_is_counted_before_the_old_ca_stops_signing() -> None:
    replicas = Replicas()
    policy = {"propagationDelay": "5s", "reissueWindow": "1h"}
    replicas.add_issuer(issuer_body(selfSigned={"caDuration": "2000h", "rotation": policy}))
    replicas.add_certificate("short", secret_on(OWNER))
    await replicas.settle()
    old_ca = ca_in(replicas.ca_secret())
    rotation = replicas.issuer_status()["rotation"]
    replicas.clock.now = datetime.fromisoformat(rotation["nextRotationAt"].replace("Z", "+00:00"))
    replicas.owner.queue.add(ISSUER_KEY)
    await replicas.settle(only=(OWNER,))  # Prepare
    replicas.clock.advance(timedelta(seconds=5))
    kube = replicas.kubes[OWNER]
    read = kube.read_secret
    raced: list[str] = []

    async def read_then_the_other_records(namespace: str, name: str) -> Any:
        found = await read(namespace, name)
        if found is not None and found.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA and not raced:
            # The other replica records a 240h leaf between the owner's read and its activation.
            record = {
                longest_signed.annotation(OTHER): longest_signed.value(
                    old_ca.serial_number, timedelta(hours=240)
                )
            }
            written = await replicas.kubes[OTHER].apply_secret_annotations(
                namespace,
                name,
                record,
                resource_version=found.resource_version,
                field_manager=longest_signed.field_manager(OTHER),
            )
            raced.append(written.resource_version)
        return found

    kube.read_secret = read_then_the_other_records  # type: ignore[method-assign]
    replicas.owner.queue.add(ISSUER_KEY)
    await step(replicas, OWNER, ISSUER_KEY)
    assert raced, "the record landed in between"
    assert ca_in(replicas.ca_secret()) == old_ca, "the activation written over the record was refused"
    assert replicas.owner.queue.scheduled(ISSUER_KEY) is not None, "and is tried again"
    replicas.owner.queue.add(ISSUER_KEY)
    await step(replicas, OWNER, ISSUER_KEY)
    ca = replicas.ca_secret()
    assert ca_in(ca) != old_ca, "activated on the second look"
    retires = datetime.fromisoformat(ca.annotations[RETIRES_AT])
    assert retires - replicas.clock() >= timedelta(hours=240), "counting the record that raced it"


async def test_a_certificate_listed_before_its_observed_issuer_reads_the_issuer_once() -> None:
    replicas = Replicas()
    body = issuer_body(selfSigned={})
    replicas.kubes[0].objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)] = body
    replicas.owner.issuer_event(ISSUER, None, body)  # the other replica's watch has not reported it
    await replicas.settle(only=(OWNER,))
    secret = secret_on(OTHER)
    replicas.add_certificate("web", secret)
    await replicas.settle()
    assert ISSUER_KEY in replicas.other.state.issuers, "read from the API"
    assert replicas.kubes[OTHER].reads.count(f"get issuers {NAMESPACE}/{ISSUER_NAME}") == 1
    assert issued_by(replicas.leaf(secret), ca_in(replicas.ca_secret()))


async def test_one_replica_ignores_longest_signed_records_someone_wrote_on_its_ca_secret() -> None:
    clock = FakeClock()
    kube = FakeKube(clock=clock)
    controller = Controller(kube=kube, config=OperatorConfig(namespace="certmint"), clock=clock)
    policy = {"propagationDelay": "5s", "reissueWindow": "1h"}
    body = issuer_body(selfSigned={"caDuration": "2000h", "rotation": policy})
    kube.objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)] = body
    controller.issuer_event(ISSUER, None, body)

    async def settle() -> None:
        for _ in range(50):
            if not controller.queue.ready():
                return
            await controller.process(await controller.queue.get())

    await settle()
    (ca,) = [s for s in kube.secrets.values() if s.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA]
    forged = {longest_signed.annotation(1): longest_signed.value(ca_in(ca).serial_number, timedelta(days=60))}
    await kube.apply_secret_annotations(
        NAMESPACE, ca.name, forged, resource_version=ca.resource_version, field_manager="tenant"
    )
    status = kube.objects[(ISSUERS.plural, NAMESPACE, ISSUER_NAME)]["status"]
    clock.now = datetime.fromisoformat(status["rotation"]["nextRotationAt"].replace("Z", "+00:00"))
    controller.queue.add(ISSUER_KEY)
    await settle()  # Prepare
    clock.advance(timedelta(seconds=5))
    controller.queue.add(ISSUER_KEY)
    await settle()  # Activate
    (ca,) = [s for s in kube.secrets.values() if s.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA]
    retires = datetime.fromisoformat(ca.annotations[RETIRES_AT])
    assert retires - clock() < timedelta(hours=2), "its reissueWindow and delay, not the forged 60 days"
