"""A small mTLS server and client that reload their files on every connection, as pods do."""

import socket
import ssl
import threading
from pathlib import Path

from devcluster.controlplane import free_port


class ReloadingServer:
    """Accepts connections on loopback; each handshake uses the files as they are at that moment."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.failures: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._socket.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "ReloadingServer":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(self.directory / "server.crt", self.directory / "server.key")
                context.load_verify_locations(self.directory / "bundle.pem")
                context.verify_mode = ssl.CERT_REQUIRED
                try:
                    with context.wrap_socket(connection, server_side=True) as tls:
                        tls.sendall(b"ok")
                except (ssl.SSLError, OSError) as error:
                    self.failures.append(str(error))


def handshake(directory: Path, port: int, server_name: str) -> str:
    """A client handshake with the current files; returns what the server said."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(directory / "client.crt", directory / "client.key")
    context.load_verify_locations(directory / "bundle.pem")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.recv(2).decode()
