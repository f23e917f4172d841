"""One shared async API client, configured from a kubeconfig or the pod's service account."""

import os
import urllib.request

from kubernetes.aio import client, config

# Imported now rather than lazily on first use, which would stall the first reconcile for seconds.
from kubernetes.aio.client.api import core_v1_api, custom_objects_api  # noqa: F401

USER_AGENT = "certmint-operator"


async def connect(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """`context` names a context of the kubeconfig (its current one when None)."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        await config.load_kube_config(config_file=path, context=context)  # type: ignore[no-untyped-call]
    else:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    # One pool for every worker: a connection per concurrent request, reused across requests.
    configuration.connection_pool_maxsize = 32
    if not urllib.request.getproxies():
        # With trust_env aiohttp looks up proxy variables and reads ~/.netrc on every request,
        # about a tenth of the operator's CPU per issuance; without proxy variables it finds none.
        configuration.client_session_kwargs = {"trust_env": False}
    api = client.ApiClient(configuration)
    # Its requests named as certmint's in the API server's audit log (kopf's are "kopf/<version>").
    api.user_agent = USER_AGENT
    return api
