"""The CSR signer on a fake API and clock: intake filtering, signing once, auto-approval, failures
as conditions, revocation onto the CRL, and a restart that writes nothing."""

import base64
from dataclasses import replace
from typing import Any

from cryptography import x509

from certmint.api.kinds import CLUSTER_ISSUERS
from certmint.operator.controller import DELETED
from certmint.operator.state import CLUSTER_ISSUER, SIGNING_REQUEST, Key
from certmint.pki import RequestedNames, load_certificates_pem, load_crls_pem
from certmint.planning import reasons
from certmint.planning.issuers.revocation import CRL_KEY, REVOKED_KEY, load_revocations
from tests.csr_material import csr_for, mismatched_signature_csr, spiffe_csr
from tests.e2e import manifests
from tests.unit.operator import test_controller as controller_tests

PLURAL = "certificatesigningrequests"
MESH = Key(CLUSTER_ISSUER, "", "mesh")
TRUST_DOMAIN = "cluster.local"


def cluster_issuer(**spec: Any) -> dict[str, Any]:
    meta = {"uid": "uid-mesh", "generation": 1, "resourceVersion": "i1"}
    return manifests.cluster_issuer("mesh", meta, **{"selfSigned": {}, **spec})


def csr(
    name: str,
    request: bytes,
    *,
    signer: str = "clusterissuers.certmint.dev/mesh",
    username: str = "system:serviceaccount:apps:web",
    conditions: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "annotations": {}},
        "spec": {
            "signerName": signer,
            "request": base64.b64encode(request).decode(),
            "usages": ["digital signature", "client auth"],
            "username": username,
            "expirationSeconds": 3600,
        },
        "status": {"conditions": [{"type": kind, "status": "True", "reason": "Test"} for kind in conditions]},
    }


class Harness(controller_tests.Harness):
    """The controller tests' harness (operator namespace certmint, trust domain cluster.local)."""

    def add_issuer(self, body: dict[str, Any]) -> None:
        self.kube.objects[(CLUSTER_ISSUERS.plural, None, "mesh")] = body
        self.controller.issuer_event(CLUSTER_ISSUER, None, body)

    def submit(self, body: dict[str, Any]) -> Key:
        self.kube.objects[(PLURAL, None, body["metadata"]["name"])] = body
        self.deliver(body["metadata"]["name"])
        return Key(SIGNING_REQUEST, "", body["metadata"]["name"])

    def deliver(self, name: str) -> None:
        """The watch event of the CSR as the API server now has it."""
        self.controller.signing_request_event(None, self.kube.objects[(PLURAL, None, name)])

    def approve(self, name: str) -> None:
        body = self.kube.objects[(PLURAL, None, name)]
        body["status"]["conditions"].append({"type": "Approved", "status": "True", "reason": "Admin"})
        self.deliver(name)

    def body(self, name: str) -> dict[str, Any]:
        return self.kube.objects[(PLURAL, None, name)]

    def issued(self, name: str) -> list[x509.Certificate]:
        return load_certificates_pem(base64.b64decode(self.body(name)["status"]["certificate"]))

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.body(name)["status"]["conditions"] if c["type"] == kind), None)


async def test_an_approved_request_is_signed_once_with_its_chain() -> None:
    harness = Harness()
    harness.add_issuer(cluster_issuer())
    key_pair, request = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    key = harness.submit(csr("web", request))
    await harness.settle()
    assert not any("csr" in write for write in harness.kube.writes), "unapproved: nothing written"
    harness.approve("web")
    await harness.settle()
    assert [w for w in harness.kube.writes if "csr" in w] == ["sign csr web"]
    leaf, ca = harness.issued("web")
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key() == key_pair.public_key()
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/apps/sa/web"
    ]
    assert (leaf.not_valid_after_utc - harness.clock()).total_seconds() <= 3600
    assert [e.reason for e in harness.kube.events if e.about.kind == "CertificateSigningRequest"] == [
        reasons.CSR_ISSUED
    ]
    harness.deliver("web")  # the echo of our write: settled, so forgotten
    assert key not in harness.controller.state.signing_requests
    assert not harness.controller.queue.queued(key)


async def signed_web_request() -> Harness:
    """A harness whose ClusterIssuer has signed `web`, an approved request for apps/web's identity."""
    harness = Harness()
    harness.add_issuer(cluster_issuer())
    _, request = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    harness.submit(csr("web", request, conditions=("Approved",)))
    await harness.settle()
    return harness


async def test_a_restart_costs_no_write_for_signed_requests() -> None:
    first = await signed_web_request()
    writes = list(first.kube.writes)
    restarted = Harness(first.kube)
    restarted.add_issuer(first.kube.objects[(CLUSTER_ISSUERS.plural, None, "mesh")])  # as the API has it
    restarted.deliver("web")
    await restarted.settle()
    assert restarted.kube.writes == writes
    assert restarted.controller.state.signing_requests == {}


async def test_requests_for_other_signers_are_neither_cached_nor_queued() -> None:
    harness = Harness()
    _, request = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    key = harness.submit(csr("kubelet", request, signer="kubernetes.io/kube-apiserver-client-kubelet"))
    assert harness.controller.state.signing_requests == {}
    assert not harness.controller.queue.queued(key)


async def test_bad_input_ends_failed_with_a_reason_and_a_warning() -> None:
    harness = Harness()
    harness.add_issuer(cluster_issuer())
    harness.submit(csr("forged", mismatched_signature_csr(), conditions=("Approved",)))
    harness.submit(csr("nowhere", b"x", signer="clusterissuers.certmint.dev/UPPER", conditions=("Approved",)))
    await harness.settle()
    forged = harness.condition("forged", "Failed")
    assert forged is not None
    assert forged["reason"] == reasons.INVALID_SIGNATURE
    assert harness.condition("forged", "Approved") is not None, "the approval stays"
    nowhere = harness.condition("nowhere", "Failed")
    assert nowhere is not None
    assert nowhere["reason"] == reasons.UNKNOWN_SIGNER
    warnings = {(e.about.name, e.reason) for e in harness.kube.events if e.kind == "Warning"}
    assert warnings == {("forged", reasons.INVALID_SIGNATURE), ("nowhere", reasons.UNKNOWN_SIGNER)}
    assert "certificate" not in harness.body("forged")["status"]


async def test_auto_approval_approves_the_own_identity_then_signs_and_denies_a_foreign_one() -> None:
    harness = Harness()
    harness.add_issuer(cluster_issuer(signingRequests={"autoApprove": {"workloadIdentity": True}}))
    _, own = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    _, foreign = spiffe_csr(TRUST_DOMAIN, "payments", "web")
    harness.submit(csr("own", own))
    harness.submit(csr("foreign", foreign))
    await harness.settle()
    approved = harness.condition("own", "Approved")
    assert approved is not None
    assert approved["reason"] == reasons.AUTO_APPROVED
    denied = harness.condition("foreign", "Denied")
    assert denied is not None
    assert "payments" in denied["message"]
    harness.deliver("own")  # the approval comes back as an event
    await harness.settle()
    assert harness.issued("own")[0].serial_number > 0
    assert "certificate" not in harness.body("foreign")["status"]


async def test_a_revoke_annotation_puts_the_serial_on_the_crl() -> None:
    harness = await signed_web_request()
    serial = harness.issued("web")[0].serial_number
    harness.body("web")["metadata"]["annotations"] = {
        "certmint.dev/revoke": "t1",
        "certmint.dev/revoke-reason": "keyCompromise",
    }
    harness.deliver("web")
    await harness.settle()
    ca_secret = harness.kube.secrets[("certmint", "mesh-ca")]
    assert load_revocations(ca_secret.data[REVOKED_KEY]).revoked(serial)
    crl = load_crls_pem(ca_secret.data[CRL_KEY])[0]
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    writes = list(harness.kube.writes)
    harness.deliver("web")  # nothing left to do: the issuer lists it
    await harness.settle()
    assert harness.kube.writes == writes


async def test_a_deleted_request_is_forgotten() -> None:
    harness = Harness()
    harness.add_issuer(cluster_issuer())
    _, request = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    key = harness.submit(csr("web", request))
    assert key in harness.controller.state.signing_requests
    harness.controller.signing_request_event(DELETED, harness.body("web"))
    assert key not in harness.controller.state.signing_requests


async def test_without_the_charts_approve_permission_nothing_is_auto_approved() -> None:
    harness = Harness()
    harness.controller.config = replace(harness.controller.config, csr_auto_approve=False)
    harness.add_issuer(cluster_issuer(signingRequests={"autoApprove": {"workloadIdentity": True}}))
    _, own = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    key = harness.submit(csr("own", own))
    await harness.settle()
    assert harness.controller.state.issuer_views[MESH].ready, "the issuer was reconciled"
    assert not harness.controller.queue.queued(key)
    assert harness.body("own")["status"]["conditions"] == []
    assert not any("csr" in write for write in harness.kube.writes)


async def test_a_restricted_operator_ignores_issuers_of_namespaces_it_does_not_serve() -> None:
    harness = Harness()
    harness.controller.config = replace(harness.controller.config, watch_namespaces=("apps", "certmint"))
    harness.add_issuer(cluster_issuer())
    for namespace in ("apps", "elsewhere"):
        harness.controller.issuer_event(
            "Issuer", None, {"metadata": {"namespace": namespace, "name": "ca"}, "spec": {"selfSigned": {}}}
        )
    _, request = spiffe_csr(TRUST_DOMAIN, "apps", "web")
    served = harness.submit(csr("served", request, signer="issuers.certmint.dev/apps.ca"))
    other = harness.submit(csr("other", request, signer="issuers.certmint.dev/elsewhere.ca"))
    cluster = harness.submit(csr("cluster", request))
    assert set(harness.controller.state.signing_requests) == {served, cluster}
    assert not harness.controller.queue.queued(other)


async def test_a_person_fails_a_cluster_issuer_whose_policy_selects_namespaces() -> None:
    harness = Harness()
    harness.add_issuer(
        cluster_issuer(
            policy={"namespaceSelector": {"matchLabels": {"mesh": "on"}}, "allowedCommonNames": ["*"]}
        )
    )
    _, request = csr_for(RequestedNames(common_name="alice"))
    harness.submit(csr("alice", request, username="alice", conditions=("Approved",)))
    await harness.settle()
    failed = harness.condition("alice", "Failed")
    assert failed is not None
    assert failed["reason"] == reasons.POLICY_DENIED
    assert "namespaceSelector" in failed["message"]
