"""The operator's HTTP endpoints: Prometheus metrics and the issuers' CRLs.

Served from the event loop, so a CRL request reads the issuer views the reconcilers keep current:
`/crl/<clusterissuer>.crl` and `/crl/<namespace>/<issuer>.crl`, DER, the signing CA's CRL.
"""

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from certmint.operator.state import CLUSTER_ISSUER, ISSUER, Key

if TYPE_CHECKING:
    from certmint.operator.controller import Controller

CRL_CONTENT_TYPE = "application/pkix-crl"


async def serve(controller: "Controller", address: str, port: int) -> web.AppRunner:
    app = web.Application()
    app["controller"] = controller
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/crl/{name}.crl", _crl)
    app.router.add_get("/crl/{namespace}/{name}.crl", _crl)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _crl(request: web.Request) -> web.Response:
    controller: Controller = request.app["controller"]
    namespace = request.match_info.get("namespace")
    name = request.match_info["name"]
    key = Key(ISSUER, namespace, name) if namespace else Key(CLUSTER_ISSUER, "", name)
    view = controller.state.issuer_views.get(key)
    if view is None or not view.crl_der:
        raise web.HTTPNotFound(text=f"no CRL for {key.kind} {f'{namespace}/' if namespace else ''}{name}\n")
    return web.Response(body=view.crl_der, content_type=CRL_CONTENT_TYPE)
