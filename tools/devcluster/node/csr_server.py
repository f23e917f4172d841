"""A workload whose key never leaves its memory, run in a pod of the certmint image as
`python csr_server.py --csr-name ... --signer-name ...` (workloads.csr_server mounts this file).

It generates the key, sends a CSR for its SPIFFE ID (and its service name) with its own projected
ServiceAccount token, waits on a watch until the CSR is signed, and serves mutual TLS with the result.
The key and certificate reach OpenSSL through memfd files, which live in memory only: nothing is
written to any filesystem.

The image holds certmint and its dependencies but not devcluster: this file imports nothing of it.
"""

import argparse
import base64
import http.server
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client, config, watch

from certmint.pki import (
    KeySpec,
    PrivateKey,
    RequestedNames,
    build_csr,
    encode_private_key_pem,
    generate_private_key,
    load_certificates_pem,
    serial_hex,
)

ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TRUST_FILE = "/trust/ca.crt"


@dataclass(frozen=True)
class Arguments:
    csr_name: str
    service_account: str
    trust_domain: str
    server_name: str
    signer_name: str
    port: int


def parse_arguments(argv: Sequence[str] | None = None) -> Arguments:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csr-name", required=True, help="name of the CertificateSigningRequest to send")
    parser.add_argument("--service-account", required=True, help="the pod's ServiceAccount")
    parser.add_argument("--trust-domain", required=True, help="SPIFFE trust domain of its identity")
    parser.add_argument("--server-name", required=True, help="DNS name it serves as")
    parser.add_argument("--signer-name", required=True, help="signerName of the CSR")
    parser.add_argument("--port", type=int, required=True, help="port it serves mutual TLS on")
    return Arguments(**vars(parser.parse_args(argv)))  # each option's dest is a field's name


def request_certificate(arguments: Arguments, key: PrivateKey) -> bytes:
    """Sends the CSR with the pod's own token and waits for its chain (PEM); exits if it is refused."""
    namespace = (ACCOUNT_DIR / "namespace").read_text().strip()
    identity = f"spiffe://{arguments.trust_domain}/ns/{namespace}/sa/{arguments.service_account}"
    request = build_csr(key, RequestedNames(uris=(identity,), dns_names=(arguments.server_name,)))
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    csrs = client.CertificatesV1Api()
    csrs.create_certificate_signing_request(
        client.V1CertificateSigningRequest(
            metadata=client.V1ObjectMeta(name=arguments.csr_name),
            spec=client.V1CertificateSigningRequestSpec(
                signer_name=arguments.signer_name,
                request=base64.b64encode(request).decode(),
                usages=["digital signature", "server auth", "client auth"],
                expiration_seconds=3600,
            ),
        )
    )
    print(f"requested {arguments.csr_name} as {identity}", flush=True)
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    selector = f"metadata.name={arguments.csr_name}"
    events = stream.stream(  # type: ignore[no-untyped-call]
        csrs.list_certificate_signing_request, field_selector=selector
    )
    for event in events:
        status = event["object"].status
        refused = [c for c in (status.conditions or []) if c.type in ("Denied", "Failed")] if status else []
        if refused:
            sys.exit(f"{arguments.csr_name} {refused[0].type}: {refused[0].reason}: {refused[0].message}")
        if status and status.certificate:
            stream.stop()  # type: ignore[no-untyped-call]
            return base64.b64decode(status.certificate)
    sys.exit(f"the watch on {arguments.csr_name} ended before it was signed")


def in_memory(data: bytes) -> int:
    descriptor = os.memfd_create("tls")
    os.write(descriptor, data)
    return descriptor


def server_context(chain: bytes, key: PrivateKey) -> ssl.SSLContext:
    """Serves the chain, requires a client certificate that the mounted trust bundle verifies."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    chain_fd, key_fd = in_memory(chain), in_memory(encode_private_key_pem(key))
    context.load_cert_chain(f"/proc/self/fd/{chain_fd}", f"/proc/self/fd/{key_fd}")
    os.close(chain_fd)
    os.close(key_fd)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(TRUST_FILE)
    return context


def identity_handler(serial: str) -> type[http.server.BaseHTTPRequestHandler]:
    """Answers every GET with the client's common name and this server's certificate serial."""

    class Identity(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert isinstance(self.connection, ssl.SSLSocket)
            peer = x509.load_der_x509_certificate(self.connection.getpeercert(binary_form=True) or b"")
            names = peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            common_name = str(names[0].value) if names else ""
            body = f"client=CN={common_name} server-serial={serial}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Identity


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    key = generate_private_key(KeySpec())
    chain = request_certificate(arguments, key)
    serial = serial_hex(load_certificates_pem(chain)[0].serial_number)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", arguments.port), identity_handler(serial))
    server.socket = server_context(chain, key).wrap_socket(server.socket, server_side=True)
    print(f"serving {serial}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
