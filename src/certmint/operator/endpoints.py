"""The operator's HTTP endpoints: Prometheus metrics, the issuers' CRLs and OCSP responders.

Served from the event loop, so a request reads the issuer views the reconcilers keep current:
`/crl/<clusterissuer>.crl` and `/crl/<namespace>/<issuer>.crl`, DER, the signing CA's CRL;
`/ocsp/clusterissuer/<name>` and `/ocsp/issuer/<namespace>/<name>`, OCSP by POST or by GET with the
base64 request appended (RFC 6960 A.1). Unauthenticated: bodies are bounded, one certificate per
request, metrics are labelled only by issuers that exist, and a request never makes the CA sign.
"""

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from certmint.operator import metrics
from certmint.operator.state import CLUSTER_ISSUER, ISSUER, Key
from certmint.pki.ocsp import CONTENT_TYPE_RESPONSE, Refusal, refusal

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

CRL_CONTENT_TYPE = "application/pkix-crl"
MAX_OCSP_REQUEST_BYTES: Final = 4096
"""One CertID with a nonce is about 100 bytes; even a signed request with its chain fits."""


async def serve(controller: "Controller", address: str, port: int) -> web.AppRunner:
    app = web.Application()
    app["controller"] = controller
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/crl/{name}.crl", _crl)
    app.router.add_get("/crl/{namespace}/{name}.crl", _crl)
    for prefix in ("/ocsp/clusterissuer/{name}", "/ocsp/issuer/{namespace}/{name}"):
        app.router.add_post(prefix, _ocsp_post)
        app.router.add_post(prefix + "/", _ocsp_post)
        app.router.add_get(prefix + "/{encoded:.+}", _ocsp_get)
    return await _listen(app, address, port)


async def serve_metrics(address: str, port: int) -> web.AppRunner:
    """/metrics alone, on the same port: what a spare serves while it waits for a slot (no
    controller runs then, so it knows no CRL or OCSP response to serve)."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    return await _listen(app, address, port)


async def _listen(app: web.Application, address: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner


async def _metrics(request: web.Request) -> web.Response:
    """`?name[]=<sample name>` (repeatable) serves only those, as prometheus_client's own handler
    does: at thousands of Certificates the whole exposition is large, and a client polling one
    gauge need not make the event loop render every series."""
    names = request.query.getall("name[]", [])
    registry = REGISTRY.restricted_registry(names) if names else REGISTRY
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _crl(request: web.Request) -> web.Response:
    controller: Controller = request.app["controller"]
    namespace = request.match_info.get("namespace")
    name = request.match_info["name"]
    key = Key(ISSUER, namespace, name) if namespace else Key(CLUSTER_ISSUER, "", name)
    view = controller.state.issuer_views.get(key)
    if view is None or not view.revoking.crl_der:
        raise web.HTTPNotFound(text=f"no CRL for {key.kind} {f'{namespace}/' if namespace else ''}{name}\n")
    return web.Response(body=view.revoking.crl_der, content_type=CRL_CONTENT_TYPE)


async def _ocsp_post(request: web.Request) -> web.Response:
    if (request.content_length or 0) > MAX_OCSP_REQUEST_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_OCSP_REQUEST_BYTES, request.content_length or 0)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > MAX_OCSP_REQUEST_BYTES:  # a chunked body that never said how long it is
            raise web.HTTPRequestEntityTooLarge(MAX_OCSP_REQUEST_BYTES, len(body))
    return _ocsp_answer(request, bytes(body), cacheable=False)


async def _ocsp_get(request: web.Request) -> web.Response:
    encoded = request.match_info["encoded"]
    if len(encoded) > MAX_OCSP_REQUEST_BYTES * 2:
        raise web.HTTPRequestEntityTooLarge(MAX_OCSP_REQUEST_BYTES * 2, len(encoded))
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        der = b""  # answered as malformedRequest
    return _ocsp_answer(request, der, cacheable=True)


def _ocsp_answer(request: web.Request, der: bytes, *, cacheable: bool) -> web.Response:
    """RFC 5019 6: a GET answer carries HTTP caching headers up to its nextUpdate."""
    controller: Controller = request.app["controller"]
    namespace = request.match_info.get("namespace")
    name = request.match_info["name"]
    key = Key(ISSUER, namespace, name) if namespace else Key(CLUSTER_ISSUER, "", name)
    view = controller.state.issuer_views.get(key)
    responder = controller.state.ocsp_responders.for_issuer(key, view.revoking.ocsp if view else None)
    if responder is None:
        # Not counted: a label per guessed name would let anyone grow the metrics without bound.
        return web.Response(body=refusal(Refusal.UNAUTHORIZED), content_type=CONTENT_TYPE_RESPONSE)
    now = controller.clock()
    answer = responder.answer(der, now)
    metrics.ocsp_responses.labels(key.kind, key.namespace, key.name, answer.status).inc()
    if answer.signed:
        metrics.ocsp_signatures.labels(key.kind, key.namespace, key.name).inc()
    headers = {}
    if cacheable and answer.this_update is not None and answer.next_update is not None:
        max_age = max(int((answer.next_update - now).total_seconds()), 0)
        headers = {
            "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
            "Last-Modified": _http_date(answer.this_update),
            "Expires": _http_date(answer.next_update),
        }
    return web.Response(body=answer.body, content_type=CONTENT_TYPE_RESPONSE, headers=headers)


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
