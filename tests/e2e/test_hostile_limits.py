"""Issue 27 end to end, on the real API server: a CSR past certmint's limits ends Failed with its
reason while an ordinary Certificate elsewhere still becomes Ready; `usages: [digital signature]`
is signed with the TLS extendedKeyUsage; a provided CA whose SKI follows RFC 7093 revokes for real
(openssl crl and openssl ocsp agree); a commonName with U+2028 is refused."""

import base64
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, GROUP, ISSUERS, VERSION
from certmint.pki import (
    MAX_NAMES_PER_KIND,
    MAX_REQUEST_BYTES,
    certificates_to_pem,
    load_certificates_pem,
    serial_hex,
)
from certmint.planning import reasons
from tests.e2e import manifests
from tests.e2e.canary import assert_canary_ready
from tests.e2e.manifests import certificate, client_certificate, issuer, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, certmint, wait_for
from tests.e2e.test_csr import condition, csr_manifest, delete_csrs, event_message, issued
from tests.e2e.test_ocsp import openssl_ocsp_until
from tests.e2e.test_revocation import fetch_crl, serial_of
from tests.limit_material import ip_addresses, raw_csr
from tests.rfc7093 import rfc7093_method1_key_identifier, rfc7093_root_ca, sha1_key_identifier

OPENSSL = "/usr/bin/openssl"


@pytest.fixture
def cluster_issuer(cluster: Cluster) -> Iterator[str]:
    name = f"limits-{uuid.uuid4().hex[:8]}"
    cluster.apply(manifests.cluster_issuer(name, selfSigned={}))
    cluster.wait_condition(CLUSTER_ISSUERS.plural, None, name, "True")
    yield name
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, CLUSTER_ISSUERS.plural, name)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("label", "request_pem", "reason"),
    [
        (
            "names",
            raw_csr(ip_addresses=tuple(ip_addresses(MAX_NAMES_PER_KIND + 1))),
            reasons.TOO_MANY_NAMES,
        ),
        # The issue's request: 60,000 IP SANs, about 490 KB of PEM, refused before it is parsed.
        ("bytes", raw_csr(ip_addresses=tuple(ip_addresses(60_000))), reasons.REQUEST_TOO_LARGE),
    ],
)
def test_an_approved_csr_past_a_limit_fails_and_the_canary_stays_ready(
    cluster: Cluster,
    operator_process: OperatorProcess,
    cluster_issuer: str,
    label: str,
    request_pem: bytes,
    reason: str,
) -> None:
    if reason == reasons.REQUEST_TOO_LARGE:
        assert len(request_pem) > MAX_REQUEST_BYTES
    else:
        assert len(request_pem) <= MAX_REQUEST_BYTES
    name = f"limits-{label}-{uuid.uuid4().hex[:8]}"
    cluster_signer = f"clusterissuers.certmint.dev/{cluster_issuer}"
    client.CertificatesV1Api(cluster.api).create_certificate_signing_request(
        client.V1CertificateSigningRequest.model_validate(csr_manifest(name, request_pem, cluster_signer))
    )
    try:
        approved = certmint(cluster, "approve", name)
        assert approved.returncode == 0, approved.stderr
        failed = wait_for(lambda: condition(cluster, name, "Failed"), 60, what=f"CSR {name} Failed")
        assert failed["reason"] == reason
        assert "at most" in failed["message"], failed["message"]
        event_message(cluster, name, reason, "Warning")
        assert issued(cluster, name) is None
        # The refused CSR still exists: an ordinary Certificate elsewhere is served all the same.
        assert_canary_ready(cluster, operator_process, timeout=120)
    finally:
        delete_csrs(cluster, name)


def _extended_usages(pem: bytes) -> list[x509.ObjectIdentifier]:
    leaf = load_certificates_pem(pem)[0]
    return list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.mark.timeout(180)
def test_digital_signature_alone_is_signed_for_tls_only(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.apply(certificate(namespace, "web", usages=["digital signature"]))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True", timeout=120)
    pem = (cluster.secret_data(namespace, "web-tls") or {})["tls.crt"]
    assert _extended_usages(pem) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    (tmp_path / "web.crt").write_bytes(pem)
    shown = subprocess.run(
        [OPENSSL, "x509", "-in", "web.crt", "-noout", "-ext", "extendedKeyUsage"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in shown, shown


@pytest.mark.timeout(180)
def test_a_common_name_with_a_line_separator_is_refused(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.apply(certificate(namespace, "web", commonName="web\u2028admin"))
    refused = cluster.wait_condition(
        CERTIFICATES.plural, namespace, "web", "False", reasons.INVALID_SPEC, timeout=120
    )
    assert "U+2028" in refused["message"], refused["message"]
    assert cluster.secret_data(namespace, "web-tls") is None


def _provided_ca_secret(namespace: str) -> tuple[dict[str, Any], x509.Certificate]:
    ca = rfc7093_root_ca(datetime.now(UTC), "RFC 7093 provided CA")
    key_pem = ca.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    data = {
        "tls.crt": base64.b64encode(certificates_to_pem([ca.certificate])).decode(),
        "tls.key": base64.b64encode(key_pem).decode(),
    }
    return {"metadata": {"name": "provided-ca", "namespace": namespace}, "data": data}, ca.certificate


def _openssl_crl_serials(directory: Path, der: bytes) -> set[int]:
    """The serials `openssl crl -text` lists in the CRL."""
    (directory / "ca.crl.der").write_bytes(der)
    text = subprocess.run(
        [OPENSSL, "crl", "-inform", "DER", "-in", "ca.crl.der", "-noout", "-text"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(found, 16) for found in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", text)}


@pytest.mark.timeout(300)
def test_a_provided_rfc7093_ca_revokes_on_its_crl_and_over_ocsp(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    secret, ca_certificate = _provided_ca_secret(namespace)
    public_key = ca_certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey), "the provided CA has an EC key"
    stated = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert stated == rfc7093_method1_key_identifier(public_key)
    assert stated != sha1_key_identifier(public_key)
    cluster.core.create_namespaced_secret(namespace, client.V1Secret.model_validate(secret))
    crl_url = operator_process.crl_url(namespace, "ca")
    ocsp_url = operator_process.ocsp_url(namespace, "ca")
    cluster.apply(
        issuer(
            namespace,
            ca={"secretName": "provided-ca"},
            revocation={
                "crlDuration": "1h",
                "distributionPointURL": crl_url,
                "ocspURL": ocsp_url,
                "ocspResponseDuration": "5m",
            },
        )
    )
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True", timeout=120)
    cluster.apply(client_certificate(namespace))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "client", "True", timeout=120)
    data = cluster.secret_data(namespace, "client-tls") or {}
    leaf = load_certificates_pem(data["tls.crt"])[0]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == stated, "the leaf names its CA by the CA's own SKI"
    (tmp_path / "ca.crt").write_bytes(certificates_to_pem([ca_certificate]))
    (tmp_path / "client.crt").write_bytes(certificates_to_pem([leaf]))
    good = openssl_ocsp_until(": good", tmp_path, "ca.crt", "client.crt", ocsp_url)
    assert "Response verify OK" in good, good

    revoked_serial = leaf.serial_number
    result = certmint(cluster, "revoke", f"{namespace}/client", "--reason", "keyCompromise", "--no-reissue")
    assert result.returncode == 0, result.stderr

    def openssl_lists_the_serial() -> bool:
        der = fetch_crl(crl_url)
        return bool(der) and revoked_serial in _openssl_crl_serials(tmp_path, der or b"")

    wait_for(openssl_lists_the_serial, 60, what=f"openssl crl to list serial {serial_hex(revoked_serial)}")
    verified = subprocess.run(
        [OPENSSL, "crl", "-inform", "DER", "-in", "ca.crl.der", "-noout", "-CAfile", "ca.crt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" in verified.stdout + verified.stderr, verified.stderr

    verdict = openssl_ocsp_until("client.crt: revoked", tmp_path, "ca.crt", "client.crt", ocsp_url)
    assert "Response verify OK" in verdict, verdict
    assert "Reason: keyCompromise" in verdict, verdict
    assert serial_of(cluster, namespace, "client") == revoked_serial, "--no-reissue keeps the revoked leaf"
