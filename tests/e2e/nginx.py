"""Real peers for the mTLS tests: nginx verifying client certificates against a bundle and its CRLs
(or asking the OCSP responder each leaf names),
an HTTP backend behind it that reports the identity nginx passed on, and curl as the client."""

import json
import os
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography import x509

from devcluster.controlplane import free_port
from tests.e2e.support import wait_for

CONFIG = """
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/server.crt;
        ssl_certificate_key {dir}/server.key;
        ssl_client_certificate {dir}/ca.crt;
        {revocation}
        ssl_verify_client on;
        ssl_verify_depth 2;
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_set_header X-Client-DN $ssl_client_s_dn;
            proxy_set_header X-Client-Verify $ssl_client_verify;
            proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
        }}
    }}
}}
"""


class IdentityBackend:
    """Answers with the client identity nginx forwarded: subject DN and SAN URIs."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _IdentityHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "IdentityBackend":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _IdentityHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        pem = unquote(self.headers.get("X-Client-Cert", ""))
        uris: list[str] = []
        if pem:
            certificate = x509.load_pem_x509_certificate(pem.encode())
            try:
                san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            except x509.ExtensionNotFound:  # a person's client certificate may have a CN only
                san = x509.SubjectAlternativeName([])
            uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        body = json.dumps(
            {
                "dn": self.headers.get("X-Client-DN"),
                "verify": self.headers.get("X-Client-Verify"),
                "uris": uris,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


class Nginx:
    """nginx from Debian's archive on loopback; its files live in `directory` (server.crt/key, ca.crt,
    ca.crl), and `reload()` makes it read them again, as a pod's config reloader would. With `ocsp`,
    no CRL: nginx asks the OCSP URL of each client certificate, uncached, on every handshake. With
    `crl` False (and no `ocsp`), no revocation check: trust material only (a bundle Secret holds no
    CRL), or a CA that publishes none (cert-manager's)."""

    def __init__(self, directory: Path, backend_port: int, *, ocsp: bool = False, crl: bool = True) -> None:
        self.directory = directory
        self.port = free_port()
        self.backend_port = backend_port
        self.revocation = "ssl_ocsp on;" if ocsp else f"ssl_crl {directory}/ca.crl;" if crl else ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Nginx":
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        (self.directory / "tmp").mkdir(exist_ok=True)
        config = self.directory / "nginx.conf"
        config.write_text(
            CONFIG.format(
                dir=self.directory, port=self.port, backend=self.backend_port, revocation=self.revocation
            )
        )
        test = subprocess.run(
            [
                binary,
                "-t",
                "-p",
                str(self.directory),
                "-c",
                str(config),
                "-e",
                str(self.directory / "error.log"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert test.returncode == 0, test.stderr
        self.process = subprocess.Popen(
            [binary, "-p", str(self.directory), "-c", str(config), "-e", str(self.directory / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for((self.directory / "nginx.pid").exists, 10, what="nginx to start")
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def reload(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGHUP)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def error_log(self) -> str:
        return (self.directory / "error.log").read_text(errors="replace")


def body_if_ok(answer: tuple[int, str]) -> str | None:
    """The body of a curl answer with status 200, else None: a wait_for check."""
    status, body = answer
    return body if status == 200 else None


def curl(url: str, ca_file: Path, *client: str) -> tuple[int, str]:
    """HTTP status and body, status 0 when no connection was made; `client` is curl's client-certificate
    arguments."""
    result = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca_file), *client, "-w", "\n%{http_code}", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        return 0, result.stderr
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body
