"""The PodCertificateRequest signer on a fake API and clock: an Issued status the API server would
accept, Denied and Failed statuses, intake filtering, revocation onto the CRL, and a refused write
retried with backoff."""

import base64
import re
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from cryptography import x509

from certmint.api.kinds import ISSUERS
from certmint.cli import pod_certificates
from certmint.kube import objects, podcerts
from certmint.operator.controller import DELETED
from certmint.operator.state import ISSUER, POD_CERTIFICATE_REQUEST, SIGNER, Key
from certmint.pki import load_certificates_pem, load_crls_pem, serial_hex
from certmint.planning import reasons
from certmint.planning.issuers.revocation import CRL_KEY, REVOKED_KEY, load_revocations
from tests.e2e import manifests
from tests.podcert_material import pcr_body, pod_body
from tests.unit.operator import test_controller as controller_tests

NAMESPACE = "apps"
SIGNER_NAME = "issuers.certmint.dev/apps.ca"
TRUST_DOMAIN = "cluster.local"
FINAL = ("Issued", "Denied", "Failed")
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def parse_time(text: str) -> datetime:
    """RFC 3339 in whole seconds, as metav1.Time is written."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def status_update_errors(old: dict[str, Any], status: dict[str, Any], api_server_now: datetime) -> list[str]:
    """Kubernetes 1.36's ValidatePodCertificateRequestStatusUpdate (pkg/apis/certificates/validation),
    rule for rule, plus metav1 ValidateConditions: what the real API server would refuse."""
    errors = condition_errors(status.get("conditions") or [])
    if errors:
        return errors
    conditions = status.get("conditions") or []
    old_kinds = {c.get("type") for c in (old.get("status") or {}).get("conditions") or []}
    if old_kinds & set(FINAL):
        return [] if status == old.get("status") else ["status immutable once final"]
    kinds = {c["type"] for c in conditions}
    if kinds & {"Denied", "Failed"}:
        return [] if set(status) == {"conditions"} else ["Denied/Failed carry only conditions"]
    if "Issued" not in kinds:
        return []
    return issued_errors(old, status, api_server_now)


def condition_errors(conditions: list[dict[str, Any]]) -> list[str]:
    errors: list[str] = []
    known = 0
    seen: set[str] = set()
    for condition in conditions:
        kind = condition.get("type", "")
        if kind in seen:
            errors.append(f"duplicate condition {kind}")
        seen.add(kind)
        if kind in FINAL:
            known += 1
            if known > 1:
                errors.append("at most one of Issued, Denied, Failed")
            if condition.get("status") != "True":
                errors.append(f"{kind} status must be True")
        else:
            errors.append(f"condition type {kind} not supported")
        if condition.get("status") not in ("True", "False", "Unknown"):
            errors.append("condition status")
        if not condition.get("lastTransitionTime"):
            errors.append("lastTransitionTime required")
        else:
            parse_time(condition["lastTransitionTime"])
        reason = condition.get("reason", "")
        if not reason or len(reason) > 1024 or not _REASON.match(reason):
            errors.append(f"reason {reason!r}")
        if len(condition.get("message", "").encode()) > 32 * 1024:
            errors.append("message too long")
        if condition.get("observedGeneration", 0) < 0:
            errors.append("observedGeneration")
    return errors


def issued_errors(old: dict[str, Any], status: dict[str, Any], api_server_now: datetime) -> list[str]:
    errors: list[str] = []
    chain = status.get("certificateChain", "")
    if len(chain) > 100 * 1024:
        return ["certificateChain too long"]
    blocks = re.findall(r"-----BEGIN ([A-Z ]+)-----\n(.*?)\n-----END \1-----", chain, re.S)
    if not blocks or any(kind != "CERTIFICATE" for kind, _ in blocks):
        return ["chain must be CERTIFICATE blocks"]
    certificates = [x509.load_der_x509_certificate(base64.b64decode(body)) for _, body in blocks]
    leaf = certificates[0]
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    for name in sans.get_values_for_type(x509.DNSName):
        if not name or ".." in name or name.startswith(".") or name.endswith("."):
            errors.append(f"DNS name {name!r}")
    for email in sans.get_values_for_type(x509.RFC822Name):
        if not parseaddr(email)[1]:
            errors.append(f"email {email!r}")
    stub = x509.load_der_x509_csr(base64.b64decode(old["spec"]["stubPKCS10Request"]))
    if leaf.public_key() != stub.public_key():
        errors.append("leaf not issued to the requested public key")
    for field in ("notBefore", "notAfter", "beginRefreshAt"):
        if field not in status:
            errors.append(f"{field} required")
    if errors:
        return errors
    not_before, not_after = parse_time(status["notBefore"]), parse_time(status["notAfter"])
    refresh = parse_time(status["beginRefreshAt"])
    if not_before != leaf.not_valid_before_utc:
        return ["notBefore is not the leaf's"]
    if abs(not_before - api_server_now) > timedelta(minutes=5):
        return ["notBefore not within 5 minutes of the API server's clock"]
    if not_after != leaf.not_valid_after_utc:
        return ["notAfter is not the leaf's"]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    if lifetime < timedelta(hours=1):
        return ["lifetime under 1h"]
    if lifetime > timedelta(seconds=old["spec"].get("maxExpirationSeconds", 86400)):
        return ["lifetime over maxExpirationSeconds"]
    if refresh < not_before + timedelta(minutes=10):
        return ["beginRefreshAt before notBefore+10m"]
    if refresh > not_after - timedelta(minutes=10):
        return ["beginRefreshAt after notAfter-10m"]
    return []


class Harness(controller_tests.Harness):
    """The controller tests' harness (operator namespace certmint, trust domain cluster.local), with
    PodCertificateRequests served and a status checker standing in for the API server's."""

    def __init__(self) -> None:
        super().__init__()
        self.controller.state.pod_certificate_api = True
        self.refused: list[list[str]] = []
        fake_request = self.kube.request

        async def request(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            if method == "PATCH" and path.startswith(podcerts.path(NAMESPACE)) and path.endswith("/status"):
                name = path.removesuffix("/status").rsplit("/", 1)[1]
                old = self.kube.objects.get((podcerts.PLURAL, NAMESPACE, name))
                if old is not None:
                    self.refused.append(status_update_errors(old, kwargs["body"]["status"], self.clock()))
            return await fake_request(method, path, **kwargs)

        self.kube.request = request  # type: ignore[method-assign]

    def add_issuer(self, body: dict[str, Any]) -> None:
        self.kube.objects[(ISSUERS.plural, NAMESPACE, body["metadata"]["name"])] = body
        self.controller.issuer_event(ISSUER, None, body)

    def add_pod(self, body: dict[str, Any]) -> None:
        self.kube.objects[("pods", body["metadata"]["namespace"], body["metadata"]["name"])] = body

    def submit(self, body: dict[str, Any]) -> Key:
        meta = body["metadata"]
        self.kube.objects[(podcerts.PLURAL, meta["namespace"], meta["name"])] = body
        self.deliver(meta["name"], meta["namespace"])
        return Key(POD_CERTIFICATE_REQUEST, meta["namespace"], meta["name"])

    def deliver(self, name: str, namespace: str = NAMESPACE, event_type: str | None = None) -> None:
        self.controller.pod_certificate_request_event(
            event_type, self.kube.objects[(podcerts.PLURAL, namespace, name)]
        )

    def body(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        return self.kube.objects[(podcerts.PLURAL, namespace, name)]

    def condition(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        (condition,) = self.body(name, namespace)["status"]["conditions"]
        return condition


def issuer(**pod_certificates: Any) -> dict[str, Any]:
    meta = {"uid": "uid-ca", "generation": 1, "resourceVersion": "i1"}
    return manifests.issuer(NAMESPACE, "ca", meta, selfSigned={}, podCertificates=pod_certificates)


async def issued_harness(**pod_certificates: Any) -> Harness:
    harness = Harness()
    harness.add_issuer(issuer(**pod_certificates))
    await harness.settle()
    harness.add_pod(pod_body(NAMESPACE))
    harness.submit(pcr_body(NAMESPACE))
    await harness.settle()
    return harness


async def test_an_issued_status_is_one_the_api_server_accepts() -> None:
    harness = await issued_harness(dnsNameTemplates=["${serviceAccount}.${namespace}.svc"])
    assert harness.refused == [[]]
    status = harness.body("req-1")["status"]
    leaf, ca = load_certificates_pem(status["certificateChain"].encode())
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/apps/sa/web"
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["web.apps.svc"]
    assert harness.condition("req-1")["reason"] == reasons.POD_CERTIFICATE_ISSUED
    assert [w for w in harness.kube.writes if "pcr" in w] == ["status pcr apps/req-1 Issued"]
    assert "get pods apps/web-0" in harness.kube.reads
    assert [
        (e.about.kind, e.about.namespace, e.reason) for e in harness.kube.events if e.about.kind != "Issuer"
    ] == [("PodCertificateRequest", NAMESPACE, reasons.POD_CERTIFICATE_ISSUED)]
    harness.deliver("req-1")  # the echo of our write: final, so forgotten
    key = Key(POD_CERTIFICATE_REQUEST, NAMESPACE, "req-1")
    assert key not in harness.controller.state.pod_certificate_requests
    assert not harness.controller.queue.queued(key)


async def test_the_checker_refuses_what_the_api_server_refuses() -> None:
    """The checker is no rubber stamp: a status with a notBefore off the leaf, or a refresh too
    early, is refused by it."""
    harness = await issued_harness()
    old = {**harness.body("req-1"), "status": {}}
    good = harness.body("req-1")["status"]
    assert status_update_errors(old, good, harness.clock()) == []
    moved = {**good, "notBefore": "2020-01-01T00:00:00Z"}
    assert status_update_errors(old, moved, harness.clock()) == ["notBefore is not the leaf's"]
    early = {**good, "beginRefreshAt": good["notBefore"]}
    assert status_update_errors(old, early, harness.clock()) == ["beginRefreshAt before notBefore+10m"]
    late_clock = harness.clock() + timedelta(minutes=10)
    assert status_update_errors(old, good, late_clock) == [
        "notBefore not within 5 minutes of the API server's clock"
    ]


async def test_an_issuer_without_pod_certificates_denies_without_reading_the_pod() -> None:
    harness = Harness()
    meta = {"uid": "uid-ca", "generation": 1, "resourceVersion": "i1"}
    harness.add_issuer(manifests.issuer(NAMESPACE, "ca", meta, selfSigned={}))
    await harness.settle()
    harness.add_pod(pod_body(NAMESPACE))
    harness.submit(pcr_body(NAMESPACE))
    await harness.settle()
    assert harness.refused == [[]]
    condition = harness.condition("req-1")
    assert (condition["type"], condition["reason"]) == ("Denied", reasons.POD_CERTIFICATES_NOT_ENABLED)
    assert "set spec.podCertificates: {} on Issuer apps/ca" in condition["message"]
    assert set(harness.body("req-1")["status"]) == {"conditions"}
    assert not any(read.startswith("get pods") for read in harness.kube.reads)
    assert [e.reason for e in harness.kube.events if e.about.kind == "PodCertificateRequest"] == [
        reasons.POD_CERTIFICATES_NOT_ENABLED
    ]


async def test_a_request_from_another_namespace_or_for_another_pod_is_denied() -> None:
    harness = Harness()
    harness.add_issuer(issuer())
    await harness.settle()
    harness.add_pod(pod_body("intruder", service_account="web"))
    harness.submit(pcr_body("intruder", "req-x"))
    harness.add_pod(pod_body(NAMESPACE, service_account="admin"))
    harness.submit(pcr_body(NAMESPACE, "req-y", service_account="web"))
    await harness.settle()
    assert harness.condition("req-x", "intruder")["reason"] == reasons.REQUESTER_NOT_ALLOWED
    mismatch = harness.condition("req-y")
    assert (mismatch["type"], mismatch["reason"]) == ("Denied", reasons.POD_MISMATCH)
    assert "serviceAccountName" in mismatch["message"]
    assert all(errors == [] for errors in harness.refused)


async def test_requests_for_other_signers_or_unknown_issuers_are_not_kept() -> None:
    harness = Harness()
    harness.submit(pcr_body(NAMESPACE, "kube", signer="kubernetes.io/kube-apiserver-client-pod"))
    harness.submit(pcr_body(NAMESPACE, "early"))  # its Issuer does not exist yet
    assert harness.controller.state.pod_certificate_requests == {}
    assert not harness.controller.queue.ready()
    harness.add_pod(pod_body(NAMESPACE))
    harness.add_issuer(issuer())  # appears: its signer's pending requests are listed
    assert harness.controller.queue.queued(Key(SIGNER, "", SIGNER_NAME))
    await harness.settle()
    assert harness.condition("early")["type"] == "Issued"
    assert "status" not in harness.body("kube") or not harness.body("kube")["status"]


async def test_a_deleted_request_is_forgotten() -> None:
    harness = Harness()
    harness.add_issuer(issuer())
    await harness.settle()
    key = harness.submit(pcr_body(NAMESPACE))
    assert key in harness.controller.state.pod_certificate_requests
    harness.deliver("req-1", event_type=DELETED)
    assert key not in harness.controller.state.pod_certificate_requests
    await harness.settle()  # queued before: its reconcile finds nothing to do
    assert not any("pcr" in write for write in harness.kube.writes)


async def test_a_revoke_annotation_puts_the_serial_on_the_issuers_crl() -> None:
    harness = await issued_harness()
    leaf = load_certificates_pem(harness.body("req-1")["status"]["certificateChain"].encode())[0]
    harness.body("req-1")["metadata"]["annotations"] = {
        "certmint.dev/revoke": "t1",
        "certmint.dev/revoke-reason": "keyCompromise",
    }
    harness.deliver("req-1")
    await harness.settle()
    (ca_secret,) = [
        secret
        for (namespace, _), secret in harness.kube.secrets.items()
        if namespace == NAMESPACE and REVOKED_KEY in secret.data
    ]
    assert load_revocations(ca_secret.data[REVOKED_KEY]).revoked(leaf.serial_number)
    crl = load_crls_pem(ca_secret.data[CRL_KEY])[0]
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    assert reasons.REVOKED in [
        e.reason for e in harness.kube.events if e.about.kind == "PodCertificateRequest"
    ]
    writes = list(harness.kube.writes)
    harness.deliver("req-1")  # listed already: nothing more to do
    await harness.settle()
    assert harness.kube.writes == writes


async def test_a_conflicting_status_write_is_retried_with_backoff() -> None:
    harness = Harness()
    harness.add_issuer(issuer())
    await harness.settle()
    harness.add_pod(pod_body(NAMESPACE))
    key = harness.submit(pcr_body(NAMESPACE))
    # Someone changed the request after the event certmint holds: its write is made to a stale version.
    harness.body("req-1")["metadata"]["resourceVersion"] = "999"
    await harness.settle()
    queue = harness.controller.queue
    assert harness.body("req-1")["status"] == {}
    assert queue.failures(key) == 1, "one attempt, then a backoff"
    assert not queue.ready(), "not retried at once"
    harness.deliver("req-1")  # the watch reports the newer version
    await harness.settle()
    assert harness.condition("req-1")["type"] == "Issued"
    assert queue.failures(key) == 0


async def test_without_the_api_no_request_is_listed_when_an_issuer_appears() -> None:
    harness = Harness()
    harness.controller.state.pod_certificate_api = False
    harness.kube.serves_pod_certificate_api = False
    harness.add_issuer(issuer())
    await harness.settle()
    assert not any(podcerts.PLURAL in read for read in harness.kube.reads)
    assert objects.core_path("pods", NAMESPACE) not in harness.kube.reads


async def test_a_restricted_operator_keeps_no_request_for_an_issuer_it_does_not_serve() -> None:
    harness = Harness()
    harness.controller.config = replace(harness.controller.config, watch_namespaces=("certmint", "other"))
    harness.add_issuer(issuer())
    harness.submit(pcr_body(NAMESPACE))
    assert harness.controller.state.pod_certificate_requests == {}


async def test_the_cli_lists_a_request_with_its_serial_and_state() -> None:
    harness = await issued_harness()
    leaf = load_certificates_pem(harness.body("req-1")["status"]["certificateChain"].encode())[0]
    row = pod_certificates.row(harness.body("req-1"))
    assert row["serial"] == serial_hex(leaf.serial_number)
    assert (row["namespace"], row["pod"], row["name"], row["signer"]) == (
        NAMESPACE,
        "web-0",
        "req-1",
        SIGNER_NAME,
    )
    assert row["state"] == f"Issued/{reasons.POD_CERTIFICATE_ISSUED}"
    assert pod_certificates.row(pcr_body(NAMESPACE))["state"] == "Pending"
