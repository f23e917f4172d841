"""Issue 15 end to end: certmint as the signer of Kubernetes CertificateSigningRequests, on the real
API server. Requesters are real non-admin identities (TokenRequest tokens of ServiceAccounts whose
only right is creating and reading CSRs); the admin approves. Every "nothing happened" assertion
first waits for the positive signal (the operator has finished reconciling CSRs and is idle, or a
later CSR was signed), then looks."""

import base64
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certmint.api.kinds import CERTIFICATES, ISSUERS, TRUST_BUNDLES
from certmint.pki import RequestedNames, load_certificates_pem, load_crls_pem, serial_hex
from certmint.planning import reasons
from tests.csr_material import (
    ca_csr,
    csr_for,
    mismatched_signature_csr,
    spiffe_csr,
    weak_rsa_csr,
)
from tests.e2e import manifests
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.nginx import IdentityBackend, Nginx, body_if_ok, curl
from tests.e2e.support import Cluster, OperatorProcess, certmint, token_client, wait_for
from tests.e2e.test_chart import service_account_kubeconfig
from tests.e2e.test_revocation import (
    crl_lists,
    issuer,
    openssl_verify,
    publish_bundle,
    write_bundle,
    write_client,
)

TRUST_DOMAIN = "cluster.local"
CSR_KIND = "CertificateSigningRequest"
ANY_IDENTITY = spiffe_csr(TRUST_DOMAIN, "x", "y")[1]


@dataclass
class Requester:
    """A ServiceAccount that may create and read CSRs, and nothing else."""

    namespace: str
    account: str
    api: client.ApiClient

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.account}"

    @property
    def certificates(self) -> client.CertificatesV1Api:
        return client.CertificatesV1Api(self.api)

    def submit(self, name: str, request: bytes, signer: str, expiration: int | None = None) -> None:
        self.certificates.create_certificate_signing_request(
            client.V1CertificateSigningRequest.model_validate(csr_manifest(name, request, signer, expiration))
        )


def csr_manifest(name: str, request: bytes, signer: str, expiration: int | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": CSR_KIND,
        "metadata": {"name": name},
        "spec": {
            "signerName": signer,
            "request": base64.b64encode(request).decode(),
            "usages": ["digital signature", "client auth"],
            **({"expirationSeconds": expiration} if expiration else {}),
        },
    }


@pytest.fixture(scope="module")
def requester_role(cluster: Cluster) -> Iterator[str]:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    name = f"csr-requester-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role(
        client.V1ClusterRole.model_validate(
            {
                "metadata": {"name": name},
                "rules": [
                    {
                        "apiGroups": ["certificates.k8s.io"],
                        "resources": ["certificatesigningrequests"],
                        "verbs": ["create", "get", "list", "watch"],
                    }
                ],
            }
        )
    )
    yield name
    rbac.delete_cluster_role(name)


def make_requester(cluster: Cluster, requester_role: str, namespace: str, account: str) -> Requester:
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate({"metadata": {"name": account}})
    )
    client.RbacAuthorizationV1Api(cluster.api).create_cluster_role_binding(
        client.V1ClusterRoleBinding.model_validate(
            {
                "metadata": {"name": f"{namespace}-{account}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": requester_role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            }
        )
    )
    found = Requester(namespace, account, token_client(cluster, namespace, account))

    def can_list() -> bool:
        try:
            found.certificates.list_certificate_signing_request(limit=1)
        except ApiException:
            return False
        return True

    wait_for(can_list, 20, what="requester RBAC in effect")
    return found


@pytest.fixture
def requester(cluster: Cluster, requester_role: str, namespace: str) -> Iterator[Requester]:
    found = make_requester(cluster, requester_role, namespace, "web")
    yield found
    found.api.close()
    client.RbacAuthorizationV1Api(cluster.api).delete_cluster_role_binding(f"{namespace}-web")


def auto_approving_issuer(namespace: str, **spec: Any) -> dict[str, Any]:
    auto_approve = {"autoApprove": {"workloadIdentity": True}}
    return manifests.issuer(namespace, **{"selfSigned": {}, "signingRequests": auto_approve, **spec})


def signer_of(namespace: str, name: str = "ca") -> str:
    return f"issuers.certmint.dev/{namespace}.{name}"


def read_csr(cluster: Cluster, name: str) -> dict[str, Any]:
    found = client.CertificatesV1Api(cluster.api).read_certificate_signing_request(name)
    plain: dict[str, Any] = cluster.api.sanitize_for_serialization(found)
    return plain


def condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any] | None:
    conditions = (read_csr(cluster, name).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def issued(cluster: Cluster, name: str) -> list[x509.Certificate] | None:
    certificate_b64 = (read_csr(cluster, name).get("status") or {}).get("certificate")
    return load_certificates_pem(base64.b64decode(certificate_b64)) if certificate_b64 else None


def wait_issued(cluster: Cluster, name: str) -> list[x509.Certificate]:
    return wait_for(lambda: issued(cluster, name), 30, what=f"CSR {name} signed")


def wait_condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any]:
    return wait_for(lambda: condition(cluster, name, kind), 30, what=f"CSR {name} {kind}")


def uris_of(leaf: x509.Certificate) -> list[str]:
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def csr_name(prefix: str, namespace: str) -> str:
    return f"{prefix}-{namespace}"


def delete_csrs(cluster: Cluster, *names: str) -> None:
    for name in names:
        try:
            client.CertificatesV1Api(cluster.api).delete_certificate_signing_request(name)
        except ApiException as error:
            if error.status != 404:
                raise


def event_message(cluster: Cluster, name: str, reason: str, kind: str | None = None) -> str:
    """The message of the CSR's event with that reason: posted just after the status write the
    test saw, so waited for rather than expected at once."""

    def found() -> str | None:
        for event in cluster.events("default", name):
            if event.reason == reason and kind in (None, event.type):
                return str(event.message)
        return None

    return wait_for(found, 30, what=f"a {reason} event on CSR {name}")


@dataclass(frozen=True)
class ClientFiles:
    name: str
    key: Path
    leaf: Path
    chain: Path
    p12: Path


def request_with_cli(cluster: Cluster, requester_role: str, namespace: str, tmp_path: Path) -> ClientFiles:
    """`certmint request` run by a user whose token may only create and read CSRs, approved by the
    admin with `certmint approve` while it waits."""
    user = make_requester(cluster, requester_role, namespace, "alice")
    kubeconfig = service_account_kubeconfig(cluster, namespace, "alice", tmp_path / "alice.kubeconfig")
    name = csr_name("alice", namespace)
    out = tmp_path / "alice"
    password = tmp_path / "p12-password"
    password.write_text("s3cret\n")
    command = [
        sys.executable, "-m", "certmint.cli.main", "--kubeconfig", str(kubeconfig),
        "request", name, "--issuer", "ca", "-n", namespace, "--cn", "alice", "--duration", "2h",
        "--out", str(out), "--p12", "--p12-password-file", str(password), "--timeout", "60",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as running:
        pending = wait_for(lambda: _exists(cluster, name), 30, what="the CSR the CLI sent")
        assert pending["spec"]["username"] == user.username
        assert stat.S_IMODE((out / f"{name}.key").stat().st_mode) == 0o600, "the key exists before approval"
        approved = certmint(cluster, "approve", name)
        assert approved.returncode == 0, approved.stderr
        stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr
    assert f"kubectl certificate approve {name}" in stdout
    user.api.close()
    client.RbacAuthorizationV1Api(cluster.api).delete_cluster_role_binding(f"{namespace}-alice")
    files = ClientFiles(
        name, *(out / f"{name}{suffix}" for suffix in (".key", ".crt", "-chain.crt", "-client.p12"))
    )
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.p12.stat().st_mode) == 0o600
    return files


@pytest.mark.timeout(180)
def test_a_user_requests_with_the_cli_an_admin_approves_and_the_bundle_verifies_it(
    cluster: Cluster,
    namespace: str,
    requester_role: str,
    operator_process: OperatorProcess,
    tmp_path: Path,
) -> None:
    """The key stays local with mode 0600; openssl verifies the certificate against the
    TrustBundle; the p12 opens in openssl and authenticates curl to nginx; revoked by serial, it
    lands on the CRL and nginx refuses it."""
    cluster.apply(issuer(namespace, operator_process.crl_url(namespace, "ca")))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    bundle = publish_bundle(cluster, namespace)
    cluster.apply(certificate(namespace, "server", dnsNames=["localhost"], ipAddresses=["127.0.0.1"]))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "server", "True")
    cluster.wait_condition(TRUST_BUNDLES.plural, None, bundle, "True", "Synced")
    files = request_with_cli(cluster, requester_role, namespace, tmp_path)
    name, leaf_file, chain_file, p12 = files.name, files.leaf, files.chain, files.p12
    assert b"PRIVATE KEY" not in base64.b64decode(read_csr(cluster, name)["status"]["certificate"])
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())
    assert leaf.subject.rfc4514_string() == "CN=alice"
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(hours=2) + timedelta(minutes=1)

    write_bundle(cluster, namespace, bundle, tmp_path)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", "ca.crt", "-untrusted", str(chain_file), str(leaf_file)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    opened = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:s3cret", "-nokeys", "-clcerts"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert "subject=CN=alice" in opened.stdout.replace(" = ", "=")

    server_cert, server_key = write_client(cluster, namespace, "server", tmp_path)
    server_cert.rename(tmp_path / "server.crt")
    server_key.rename(tmp_path / "server.key")
    ca_file = tmp_path / "ca.crt"
    with IdentityBackend() as backend, Nginx(tmp_path, backend.port) as nginx:
        answered = wait_for(
            lambda: body_if_ok(curl(nginx.url, ca_file, "--cert-type", "P12", "--cert", f"{p12}:s3cret")),
            15,
            what="nginx to accept the p12 client",
        )
        assert json.loads(answered)["dn"] == "CN=alice"

        serial = serial_hex(leaf.serial_number)
        revoked = certmint(cluster, "revoke", "--serial", serial, "--reason", "keyCompromise")
        assert revoked.returncode == 0, revoked.stderr
        wait_for(lambda: crl_lists(cluster, namespace, bundle, leaf.serial_number), 20, what="CRL lists it")
        write_bundle(cluster, namespace, bundle, tmp_path)
        nginx.reload()
        wait_for(
            lambda: curl(nginx.url, ca_file, "--cert-type", "P12", "--cert", f"{p12}:s3cret")[0] == 400,
            15,
            what="nginx to refuse the revoked client",
        )
    verdict = openssl_verify(tmp_path, leaf_file)
    assert "certificate revoked" in verdict.stdout + verdict.stderr
    assert serial in event_message(cluster, name, reasons.CSR_ISSUED)
    assert "keyCompromise" in event_message(cluster, name, reasons.REVOKED)
    delete_csrs(cluster, name)


def test_a_service_account_token_gets_its_own_identity_auto_approved_for_its_expiration(
    cluster: Cluster, namespace: str, requester: Requester, operator_process: OperatorProcess
) -> None:
    cluster.apply(auto_approving_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    key, request = spiffe_csr(TRUST_DOMAIN, namespace, "web")
    name = csr_name("own", namespace)
    requester.submit(name, request, signer_of(namespace), expiration=900)
    leaf, ca = wait_issued(cluster, name)
    approved = condition(cluster, name, "Approved")
    assert approved is not None
    assert approved["reason"] == reasons.AUTO_APPROVED
    assert uris_of(leaf) == [f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/web"]
    assert leaf.public_key() == key.public_key()
    leaf.verify_directly_issued_by(ca)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(minutes=15) <= lifetime <= timedelta(minutes=16), (
        "expirationSeconds, plus the minute of backdating"
    )

    revoked = certmint(cluster, "revoke", "--csr", name)
    assert revoked.returncode == 0, revoked.stderr

    def crl_listing() -> bool:
        crls = load_crls_pem((cluster.secret_data(namespace, "ca-ca") or {}).get("ca.crl", b""))
        return any(crl.get_revoked_certificate_by_serial_number(leaf.serial_number) for crl in crls)

    wait_for(crl_listing, 20, what="the issuer's CRL listing the serial")
    event_message(cluster, name, reasons.REVOKED)
    delete_csrs(cluster, name)


def test_identities_of_another_namespace_are_denied_with_a_reason(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    requester: Requester,
    operator_process: OperatorProcess,
) -> None:
    """Abuse: a workload asks its namespace's auto-approving issuer for another namespace's SPIFFE
    ID, or asks the other namespace's issuer directly."""
    for ns in (namespace, other_namespace):
        cluster.apply(auto_approving_issuer(ns))
        cluster.wait_condition(ISSUERS.plural, ns, "ca", "True")
    _, foreign = spiffe_csr(TRUST_DOMAIN, other_namespace, "web")
    _, own = spiffe_csr(TRUST_DOMAIN, namespace, "web")
    via_own, via_theirs = csr_name("foreign-id", namespace), csr_name("foreign-issuer", namespace)
    requester.submit(via_own, foreign, signer_of(namespace))
    requester.submit(via_theirs, own, signer_of(other_namespace))
    denied = wait_condition(cluster, via_own, "Denied")
    assert denied["reason"] == reasons.AUTO_DENIED
    assert denied["message"].startswith(f"{reasons.POLICY_DENIED}: identity:")
    assert other_namespace in denied["message"]
    refused = wait_condition(cluster, via_theirs, "Denied")
    assert refused["message"].startswith(reasons.REQUESTER_NOT_ALLOWED)
    for name in (via_own, via_theirs):
        assert issued(cluster, name) is None
        event_message(cluster, name, reasons.AUTO_DENIED, "Warning")
    delete_csrs(cluster, via_own, via_theirs)


def test_a_workload_cannot_approve_or_sign_its_own_request(
    cluster: Cluster, namespace: str, requester: Requester, operator_process: OperatorProcess
) -> None:
    """Abuse: approval and signing are the signer's and the approvers' (RBAC on the signer name),
    not the requester's; and a request beyond the pure workload identity waits for a person."""
    cluster.apply(auto_approving_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    identity = f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/web"
    _, wider = csr_for(RequestedNames(uris=(identity,), dns_names=(f"api.{namespace}.svc",)))
    waiting = csr_name("wider", namespace)
    requester.submit(waiting, wider, signer_of(namespace))
    found = requester.certificates.read_certificate_signing_request(waiting)
    assert found.status is not None, "a CSR read back carries a status, empty until approved"
    found.status.conditions = [
        client.V1CertificateSigningRequestCondition(type="Approved", status="True", reason="Self")
    ]
    with pytest.raises(ApiException) as approving:
        requester.certificates.replace_certificate_signing_request_approval(waiting, found)
    assert approving.value.status == 403
    with pytest.raises(ApiException) as signing:
        requester.certificates.patch_certificate_signing_request_status(
            waiting, {"status": {"certificate": base64.b64encode(b"forged").decode()}}
        )
    assert signing.value.status == 403
    # The positive signal: a later, auto-approvable CSR of the same requester is signed.
    _, own = spiffe_csr(TRUST_DOMAIN, namespace, "web")
    later = csr_name("later", namespace)
    requester.submit(later, own, signer_of(namespace))
    wait_issued(cluster, later)
    operator_process.wait_reconciled(1, kind=CSR_KIND)
    still = read_csr(cluster, waiting)
    assert not (still.get("status") or {}).get("conditions"), "left to a person"
    assert not (still.get("status") or {}).get("certificate")
    delete_csrs(cluster, waiting, later)


@pytest.mark.parametrize(
    ("label", "request_pem", "signer", "reason"),
    [
        ("weak", weak_rsa_csr(), "", reasons.INVALID_KEY),
        ("ca", ca_csr(), "", reasons.POLICY_DENIED),
        (
            "nosigner",
            spiffe_csr(TRUST_DOMAIN, "x", "y")[1],
            "issuers.certmint.dev/no-dot-here",
            reasons.UNKNOWN_SIGNER,
        ),
        (
            "noissuer",
            spiffe_csr(TRUST_DOMAIN, "x", "y")[1],
            "clusterissuers.certmint.dev/absent",
            reasons.ISSUER_NOT_FOUND,
        ),
    ],
)
def test_bad_input_approved_by_the_admin_ends_failed_with_a_reason(
    cluster: Cluster,
    namespace: str,
    requester: Requester,
    operator_process: OperatorProcess,
    label: str,
    request_pem: bytes,
    signer: str,
    reason: str,
) -> None:
    """Hostile requests (sent by the non-admin requester), approved by a careless admin: certmint
    still refuses, with the Failed condition and a Warning event, and keeps running."""
    cluster.apply(self_signed_issuer(namespace))  # no auto-approval: these wait for the admin
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    name = csr_name(label, namespace)
    requester.submit(name, request_pem, signer or signer_of(namespace))
    approved = certmint(cluster, "approve", name)
    assert approved.returncode == 0, approved.stderr
    failed = wait_condition(cluster, name, "Failed")
    assert failed["reason"] == reason
    event_message(cluster, name, reason, "Warning")
    assert issued(cluster, name) is None
    assert operator_process.alive()
    delete_csrs(cluster, name)


@pytest.mark.parametrize(
    ("label", "request_pem", "words"),
    [
        ("garbage", b"not a request", "PEM block type must be CERTIFICATE REQUEST"),
        ("forged", mismatched_signature_csr(), "verification failure"),
    ],
)
def test_malformed_or_forged_requests_never_reach_the_signer(
    cluster: Cluster, requester: Requester, label: str, request_pem: bytes, words: str
) -> None:
    """The API server itself refuses a request that is not a PEM CSR, or whose signature does not
    match its key (certmint checks the signature again: planning and pki unit tests)."""
    with pytest.raises(ApiException) as refused:
        requester.submit(f"{label}-{requester.namespace}", request_pem, signer_of(requester.namespace))
    assert refused.value.status == 422
    assert words in (refused.value.body or "")


def test_the_cli_refuses_bad_input_with_a_clear_message(cluster: Cluster, tmp_path: Path) -> None:
    both = certmint(cluster, "request", "x", "--issuer", "a", "--cluster-issuer", "b")
    assert both.returncode == 2
    assert "exactly one of --issuer or --cluster-issuer" in both.stderr
    short = certmint(
        cluster, "request", "x", "--cluster-issuer", "b", "--duration", "5m", "--out", str(tmp_path)
    )
    assert short.returncode == 2
    assert "at least 10m" in short.stderr
    bad_name = certmint(cluster, "request", "CAPS", "--cluster-issuer", "b", "--cn", "x")
    assert bad_name.returncode == 2
    missing = certmint(cluster, "approve", "no-such-csr")
    assert missing.returncode == 3
    assert "not found" in missing.stderr
    unknown_serial = certmint(cluster, "revoke", "--serial", "0BADC0DE")
    assert unknown_serial.returncode == 3
    assert not os.listdir(tmp_path), "nothing written for a refused request"


def _exists(cluster: Cluster, name: str) -> dict[str, Any] | None:
    try:
        return read_csr(cluster, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def test_deny_is_final_and_a_decided_request_is_not_decided_again(cluster: Cluster, namespace: str) -> None:
    name = csr_name("denied", namespace)
    _, request = spiffe_csr(TRUST_DOMAIN, namespace, "web")
    client.CertificatesV1Api(cluster.api).create_certificate_signing_request(
        client.V1CertificateSigningRequest.model_validate(csr_manifest(name, request, signer_of(namespace)))
    )
    denied = certmint(cluster, "deny", name, "--message", "not on the list")
    assert denied.returncode == 0, denied.stderr
    found = condition(cluster, name, "Denied")
    assert found is not None
    assert found["message"] == "not on the list"
    again = certmint(cluster, "approve", name)
    assert again.returncode == 1
    assert "already denied" in again.stderr
    assert condition(cluster, name, "Approved") is None
    delete_csrs(cluster, name)
