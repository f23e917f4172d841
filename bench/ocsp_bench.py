"""OCSP responder benchmark: cached answers per second, in process and over HTTP GET on one core.

python bench/ocsp_bench.py [--seconds S] [--concurrency C]

The HTTP server is the operator's own endpoint module serving one issuer, in a process pinned to
core 0; the load generator (aiohttp, keep-alive) runs pinned to core 1. Prints a table and appends a
section to bench/results/<date>.md.
"""

import argparse
import asyncio
import base64
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certmint.operator import endpoints
from certmint.operator.ocsp_responder import OCSPResponder, Responders
from certmint.operator.state import ISSUER, Key
from certmint.pki import CARequest, KeySpec, LeafRequest, create_root_ca, issue_leaf
from certmint.planning.issuer_view import IssuerView, Revoking
from certmint.planning.issuers.ocsp import refresh_signers, responder_inputs
from certmint.planning.issuers.revocation import RevocationList, build_crls
from devcluster.controlplane import free_port

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, CLIENT_CORE = 0, 1


def setup() -> tuple[OCSPResponder, bytes, list[bytes]]:
    """A responder for one CA, a request for one of its leaves, and requests for 2,000 others."""
    now = datetime.now(UTC)
    ca = create_root_ca(CARequest("bench CA", timedelta(days=30)), now)
    leaves = [
        issue_leaf(LeafRequest(common_name=f"w{i}", duration=timedelta(hours=1)), KeySpec(), ca, now)[1]
        for i in range(2001)
    ]
    _, crl_pem = build_crls((ca,), RevocationList(), now, timedelta(hours=24))
    inputs = responder_inputs((ca,), refresh_signers((ca,), (), now), crl_pem, timedelta(hours=1))
    requests = [
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.certificate, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
        for leaf in leaves
    ]
    return OCSPResponder(inputs, signatures_per_second=1e9), requests[0], requests[1:]


def in_process(responder: OCSPResponder, cached: bytes, misses: list[bytes]) -> dict[str, float]:
    os.sched_setaffinity(0, {SERVER_CORE})
    now = datetime.now(UTC)
    responder.answer(cached, now)
    count = 50_000
    started = time.perf_counter()
    for _ in range(count):
        responder.answer(cached, now)
    cached_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for der in misses:
        assert responder.answer(der, now).signed
    signed_rate = len(misses) / (time.perf_counter() - started)
    return {"cached": cached_rate, "signed": signed_rate}


def serve(port: int, ready: Any) -> None:
    os.sched_setaffinity(0, {SERVER_CORE})
    responder, cached, _ = setup()
    revoking = Revoking(ocsp=responder.inputs)
    view = IssuerView(exists=True, ready=True, reason="CAReady", message="", revoking=revoking)
    state = SimpleNamespace(
        issuer_views={Key(ISSUER, "bench", "ca"): view}, ocsp_responders=Responders(signatures_per_second=1e9)
    )
    controller = SimpleNamespace(state=state)

    async def run() -> None:
        # A SimpleNamespace stands in for the Controller: serve() reads only its state.
        await endpoints.serve(controller, "127.0.0.1", port)  # type: ignore[arg-type]
        ready.put(base64.b64encode(cached).decode())
        await asyncio.Event().wait()

    asyncio.run(run())


async def load(url: str, seconds: float, concurrency: int) -> tuple[int, int]:
    done = failed = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done, failed
            while time.monotonic() < deadline:
                async with session.get(url) as response:
                    body = await response.read()
                    ok = response.status == 200 and ocsp.load_der_ocsp_response(body).response_status == (
                        ocsp.OCSPResponseStatus.SUCCESSFUL
                    )
                done += ok
                failed += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, failed


def over_http(seconds: float, concurrency: int) -> dict[str, float]:
    port = free_port()
    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    try:
        encoded = ready.get(timeout=120)
        os.sched_setaffinity(0, {CLIENT_CORE})
        url = f"http://127.0.0.1:{port}/ocsp/issuer/bench/ca/{encoded}"
        server_cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        done, failed = asyncio.run(load(url, seconds, concurrency))
        elapsed = time.perf_counter() - started
        server_cpu = _cpu_seconds(server.pid) - server_cpu
    finally:
        server.terminate()
        server.join(10)
    return {"rate": done / elapsed, "failed": failed, "server_cpu": server_cpu / elapsed}


def _cpu_seconds(pid: int | None) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    responder, cached, misses = setup()
    local = in_process(responder, cached, misses)
    http = over_http(args.seconds, args.concurrency)
    lines = [
        f"## OCSP responder, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`python bench/ocsp_bench.py`: server on one core, load generator (aiohttp, {args.concurrency} "
        f"keep-alive connections) on the other, {args.seconds:.0f} s; one issuer, ECDSA P-256 signer.",
        "",
        "| path | answers/s | notes |",
        "|---|---:|---|",
        f"| in process, cached | {local['cached']:,.0f} | dictionary lookup, no signature |",
        f"| in process, cache miss (signed) | {local['signed']:,.0f} | one ECDSA signature each |",
        f"| HTTP GET, cached | {http['rate']:,.0f} | server CPU {http['server_cpu']:.0%} of one core, "
        f"{http['failed']:.0f} failed |",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}.md"
    with out.open("a") as results:
        results.write("\n" + table)
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
