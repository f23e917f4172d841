"""A TCP relay: connections accepted on a socket of the host's loopback are joined to an address inside
the node's network namespace. The listening socket was opened in the host's namespace and handed
down, so it stays there while this process, inside the node's namespace, connects locally."""

import contextlib
import socket
import threading

_CHUNK = 65536


def serve_relay(listener: socket.socket, target: tuple[str, int]) -> threading.Thread:
    thread = threading.Thread(target=_accept_forever, args=(listener, target), daemon=True, name="relay")
    thread.start()
    return thread


def _accept_forever(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        pumps = [
            threading.Thread(target=_pump, args=(source, sink), daemon=True, name="relay-pump")
            for source, sink in ((client, upstream), (upstream, client))
        ]
        for pump in pumps:
            pump.start()
        threading.Thread(target=_close_after, args=(pumps, client, upstream), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        # The other direction may still be sending: end this direction only.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _close_after(pumps: list[threading.Thread], *sockets: socket.socket) -> None:
    for pump in pumps:
        pump.join()
    for sock in sockets:
        sock.close()
