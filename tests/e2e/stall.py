"""A TLS proxy in front of the API server that can make every open watch go silent: the stream
stays connected but nothing more arrives, the failure kopf #1120 describes. Other requests, and
watches started afterwards, pass through untouched."""

import asyncio
import ssl
import threading
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from devcluster import ControlPlane
from devcluster.controlplane import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


class StallingProxy:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.port = free_port()
        self.stalled_streams = 0
        """Watches that were open when `stall_open_watches` was called, and went silent."""
        self.watches_after_stall = 0
        self._generation = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._released = asyncio.Event()
        """Set on exit: stalled streams end, so the server can shut down."""

    def __enter__(self) -> "StallingProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def stall_open_watches(self) -> None:
        self._generation += 1

    def kubeconfig(self, path: Path) -> Path:
        """The plane's admin kubeconfig, pointed at this proxy."""
        config = yaml.safe_load(self.plane.kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        path.write_text(yaml.safe_dump(config))
        return path

    async def _start(self) -> None:
        credentials = self.plane.credentials
        upstream = ssl.create_default_context(cafile=str(credentials.ca_cert))
        upstream.load_cert_chain(str(credentials.admin_cert), str(credentials.admin_key))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(),
        )
        serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        serving.load_cert_chain(str(credentials.serving_cert), str(credentials.serving_key))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=serving).start()

    async def _stop(self) -> None:
        # Stalled streams end, closing the upstream session ends the live ones, and the runner's
        # short shutdown timeout cancels whatever is left.
        self._released.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        watch = request.query.get("watch") in ("true", "1")
        generation = self._generation
        if watch and generation > 0:
            self.watches_after_stall += 1
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method,
            f"{self.plane.server}{request.path_qs}",
            headers=headers,
            data=body or None,
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={
                    name: value for name, value in upstream.headers.items() if name.lower() not in HOP_BY_HOP
                },
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                if watch and self._generation != generation:
                    break
                await response.write(chunk)
            if watch and self._generation != generation:
                # Neither this event nor the end of the stream ever reaches the client: silence,
                # until the client gives up and disconnects.
                self.stalled_streams += 1
                await self._released.wait()
            await response.write_eof()
            return response
