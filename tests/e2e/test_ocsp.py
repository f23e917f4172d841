"""Issue 16 end to end: the OCSP responder proven with real peers — `openssl ocsp` (POST) sees good,
then revoked after `certmint revoke`; nginx with `ssl_ocsp on` and no CRL (GET, per handshake)
rejects the revoked client and accepts its successor; a CA rotation keeps answers right for leaves
of both CAs — and the unauthenticated endpoint bounded against whoever can reach it."""

import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certmint.api.kinds import CERTIFICATES, ISSUERS
from certmint.pki import certificates_to_pem, load_certificates_pem
from tests.e2e.manifests import certificate, client_certificate, issuer
from tests.e2e.nginx import IdentityBackend, Nginx, body_if_ok, curl
from tests.e2e.support import Cluster, OperatorProcess, certmint, wait_for
from tests.e2e.test_revocation import loopback_constraints


def ocsp_issuer(namespace: str, url: str, **self_signed: object) -> dict[str, object]:
    return issuer(
        namespace,
        selfSigned={"nameConstraints": loopback_constraints(namespace), **self_signed},
        revocation={"ocspURL": url, "ocspResponseDuration": "5m"},
    )


def write_leaf(cluster: Cluster, namespace: str, name: str, directory: Path, stem: str) -> x509.Certificate:
    data = cluster.secret_data(namespace, f"{name}-tls") or {}
    (directory / f"{stem}.crt").write_bytes(data["tls.crt"])
    (directory / f"{stem}.key").write_bytes(data["tls.key"])
    return load_certificates_pem(data["tls.crt"])[0]


def write_ca(cluster: Cluster, namespace: str, path: Path) -> x509.Certificate:
    ca = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["tls.crt"])[0]
    path.write_bytes(certificates_to_pem([ca]))
    return ca


def openssl_ocsp(directory: Path, issuer: str, cert: str, url: str, *extra: str) -> str:
    """What `openssl ocsp` says about `cert` (stdout and stderr), verifying the response against
    the issuing CA."""
    result = subprocess.run(
        ["openssl", "ocsp", "-issuer", issuer, "-cert", cert, "-url", url, "-CAfile", issuer, *extra],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout + result.stderr


def openssl_ocsp_until(word: str, directory: Path, issuer: str, cert: str, url: str) -> str:
    """What `openssl ocsp` says about `cert` once it says `word`, asking again for up to a minute."""

    def said() -> str | None:
        output = openssl_ocsp(directory, issuer, cert, url)
        return output if word in output else None

    return wait_for(said, 60, what=f"openssl ocsp to say {word!r} about {cert}")


def ocsp_urls(leaf: x509.Certificate) -> list[str]:
    access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [
        item.access_location.value
        for item in access
        if item.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
    ]


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/ocsp-request", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, bytes(error.read())


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, bytes(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, bytes(error.read()), dict(error.headers)


def response_status(body: bytes) -> ocsp.OCSPResponseStatus:
    return ocsp.load_der_ocsp_response(body).response_status


def request_der(leaf: x509.Certificate, ca: x509.Certificate) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.timeout(300)
def test_openssl_and_nginx_see_a_revocation_through_ocsp_alone(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    url = operator_process.ocsp_url(namespace, "ca")
    cluster.apply(ocsp_issuer(namespace, url))
    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    cluster.apply(certificate(namespace, "server", dnsNames=["localhost"], ipAddresses=["127.0.0.1"]))
    cluster.apply(client_certificate(namespace))
    for name in ("server", "client"):
        cluster.wait_condition(CERTIFICATES.plural, namespace, name, "True")
    write_leaf(cluster, namespace, "server", tmp_path, "server")
    leaf = write_leaf(cluster, namespace, "client", tmp_path, "client")
    write_ca(cluster, namespace, tmp_path / "ca.crt")
    assert ocsp_urls(leaf) == [url]
    secret = cluster.secret_data(namespace, "ca-ca") or {}
    assert set(secret) >= {"ocsp.crt", "ocsp.key"}, "the delegated signer lives in the CA Secret"
    signer = load_certificates_pem(secret["ocsp.crt"])[0]
    assert signer.extensions.get_extension_for_class(x509.OCSPNoCheck)

    verdict = openssl_ocsp(tmp_path, "ca.crt", "client.crt", url)
    assert "Response verify OK" in verdict, verdict
    assert "client.crt: good" in verdict, verdict
    client = ("--cert", str(tmp_path / "client.crt"), "--key", str(tmp_path / "client.key"))
    with IdentityBackend() as backend, Nginx(tmp_path, backend.port, ocsp=True) as nginx:
        accepted = wait_for(
            lambda: body_if_ok(curl(nginx.url, tmp_path / "ca.crt", *client)),
            15,
            what="nginx to accept the client",
        )
        assert json.loads(accepted)["verify"] == "SUCCESS"

        result = certmint(cluster, "revoke", f"{namespace}/client", "--reason", "keyCompromise")
        assert result.returncode == 0, result.stderr
        verdict = openssl_ocsp_until("revoked", tmp_path, "ca.crt", "client.crt", url)
        assert "Response verify OK" in verdict, verdict
        assert "Reason: keyCompromise" in verdict, verdict
        assert "Revocation Time:" in verdict, verdict

        # nginx asks on every handshake (no ssl_ocsp_cache): the very files it accepted are refused.
        assert curl(nginx.url, tmp_path / "ca.crt", *client)[0] == 400
        assert "certificate revoked" in nginx.error_log()
        wait_for(
            lambda: (
                (cluster.secret_data(namespace, "client-tls") or {}).get("tls.crt")
                != (tmp_path / "client.crt").read_bytes()
            ),
            30,
            what="the revoked client re-issued",
        )
        successor = write_leaf(cluster, namespace, "client", tmp_path, "successor")
        assert successor.serial_number != leaf.serial_number
        successor_args = ("--cert", str(tmp_path / "successor.crt"), "--key", str(tmp_path / "successor.key"))
        assert curl(nginx.url, tmp_path / "ca.crt", *successor_args)[0] == 200
        assert "successor.crt: good" in openssl_ocsp(tmp_path, "ca.crt", "successor.crt", url, "-no_nonce")

    metrics = urllib.request.urlopen(operator_process.metrics_url, timeout=10).read().decode()
    series = f'kind="Issuer",name="ca",namespace="{namespace}"'
    for status in ("good", "revoked"):
        assert f'certmint_ocsp_responses_total{{{series},status="{status}"}}' in metrics, status


def test_the_unauthenticated_endpoint_is_bounded(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    url = operator_process.ocsp_url(namespace, "ca")
    cluster.apply(ocsp_issuer(namespace, url))
    cluster.apply(certificate(namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    leaf = write_leaf(cluster, namespace, "web", tmp_path, "web")
    ca = write_ca(cluster, namespace, tmp_path / "ca.crt")
    good = request_der(leaf, ca)

    status, body = post(url, good)
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.GOOD
    status, body, headers = get(f"{url}/{base64.b64encode(good).decode()}")
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert "max-age=" in headers["Cache-Control"]

    # Oversized bodies are refused before they are read, whether announced or chunked.
    assert post(url, b"\x30" * 100_000)[0] == 413
    chunked = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "@-",
            url,
        ],
        input=b"\x30" * 100_000,
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert chunked.stdout == b"413", chunked.stderr
    # Garbage, bad base64 and many certificates in one request are malformedRequest, not a crash.
    assert response_status(post(url, b"\x30\x03\x02\x01\x00")[1]) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert response_status(get(f"{url}/not*base64")[1]) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    two = subprocess.run(
        ["openssl", "ocsp", "-issuer", "ca.crt", "-serial", "1", "-serial", "2", "-reqout", "two.der"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    assert two.returncode == 0
    malformed = post(url, (tmp_path / "two.der").read_bytes())[1]
    assert response_status(malformed) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # Guessed issuer names get unauthorized and leave no metric series behind.
    stranger = operator_process.ocsp_url(namespace, "no-such-issuer")
    assert response_status(post(stranger, good)[1]) == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert response_status(post(url.split("/ocsp/")[0] + "/ocsp/clusterissuer/no-such-issuer", good)[1]) == (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )
    # A flood of certificates never seen before: each answered (signed once, or tryLater beyond the
    # signature budget), and the cached answer for the real one stays served.
    answers = set()
    for serial in range(1, 400):
        flood = (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(
                ocsp.load_der_ocsp_request(good).issuer_name_hash,
                ocsp.load_der_ocsp_request(good).issuer_key_hash,
                serial,
                hashes.SHA1(),
            )
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        answers.add(response_status(post(url, flood)[1]))
    assert answers <= {ocsp.OCSPResponseStatus.SUCCESSFUL, ocsp.OCSPResponseStatus.TRY_LATER}
    assert ocsp.load_der_ocsp_response(post(url, good)[1]).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert operator_process.alive()

    metrics = urllib.request.urlopen(operator_process.metrics_url, timeout=10).read().decode()
    assert "no-such-issuer" not in metrics
    series = f'kind="Issuer",name="ca",namespace="{namespace}"'
    assert f'certmint_ocsp_responses_total{{{series},status="malformedRequest"}} 3.0' in metrics


@pytest.mark.timeout(300)
def test_a_ca_rotation_keeps_answers_right_for_leaves_of_both_cas(
    cluster: Cluster, namespace: str, operator_process: OperatorProcess, tmp_path: Path
) -> None:
    url = operator_process.ocsp_url(namespace, "ca")
    cluster.apply(
        ocsp_issuer(
            namespace, url, caDuration="24h", rotation={"propagationDelay": "45s", "reissueWindow": "1h"}
        )
    )
    for name in ("kept", "revoked"):
        cluster.apply(certificate(namespace, name, duration="1h"))
        cluster.wait_condition(CERTIFICATES.plural, namespace, name, "True")
    old_ca = write_ca(cluster, namespace, tmp_path / "old-ca.crt")
    write_leaf(cluster, namespace, "kept", tmp_path, "kept-old")
    write_leaf(cluster, namespace, "revoked", tmp_path, "revoked-old")
    result = certmint(cluster, "revoke", f"{namespace}/revoked", "--reason", "superseded")
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: "revoked-old.crt: revoked" in openssl_ocsp(tmp_path, "old-ca.crt", "revoked-old.crt", url),
        30,
        what="the old CA's leaf revoked",
    )

    cluster.plane.kubectl(
        "annotate", "issuers.certmint.dev", "ca", "-n", namespace, "certmint.dev/rotate-ca=ocsp-test"
    )

    old_key_id = x509.SubjectKeyIdentifier.from_public_key(old_ca.public_key()).digest

    def rotated_leaf() -> x509.Certificate | None:
        data = cluster.secret_data(namespace, "kept-tls") or {}
        found = load_certificates_pem(data["tls.crt"])[0]
        signer = found.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        return found if signer.key_identifier != old_key_id else None

    wait_for(rotated_leaf, 120, what="the leaf re-issued by the new CA")
    phase = (cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"]["rotation"]["phase"]
    assert phase == "Overlap", "the previous CA is still trusted, and still answered for"
    write_ca(cluster, namespace, tmp_path / "new-ca.crt")
    write_leaf(cluster, namespace, "kept", tmp_path, "kept-new")
    answers = {
        "kept-old": openssl_ocsp(tmp_path, "old-ca.crt", "kept-old.crt", url),
        "revoked-old": openssl_ocsp(tmp_path, "old-ca.crt", "revoked-old.crt", url),
        "kept-new": openssl_ocsp(tmp_path, "new-ca.crt", "kept-new.crt", url),
    }
    assert "kept-old.crt: good" in answers["kept-old"], answers
    assert "revoked-old.crt: revoked" in answers["revoked-old"], answers
    assert "Reason: superseded" in answers["revoked-old"], answers
    assert "kept-new.crt: good" in answers["kept-new"], answers
    assert all("Response verify OK" in answer for answer in answers.values()), answers

    cluster.wait_condition(ISSUERS.plural, namespace, "ca", "True")
    wait_for(
        lambda: (
            (cluster.get(ISSUERS.plural, namespace, "ca") or {})["status"]["rotation"]["phase"] == "Stable"
        ),
        120,
        what="the previous CA retired",
    )
    retired = openssl_ocsp_until("unauthorized", tmp_path, "old-ca.crt", "kept-old.crt", url)
    assert "Responder Error: unauthorized" in retired
    assert "kept-new.crt: good" in openssl_ocsp(tmp_path, "new-ca.crt", "kept-new.crt", url)
    signers = load_certificates_pem((cluster.secret_data(namespace, "ca-ca") or {})["ocsp.crt"])
    assert len(signers) == 1, "the retired CA's signer left the Secret"
    assert json.dumps([event.message for event in cluster.events(namespace, "ca")]).count("PRIVATE KEY") == 0
