"""The CLI's reads and writes: a synchronous client is plenty for one command at a time."""

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from certmint.api import GROUP, VERSION
from certmint.api.kinds import CERTIFICATES
from certmint.kube import podcerts


class NotFound(Exception):
    pass


@contextmanager
def _missing_is(description: str) -> Iterator[None]:
    """A 404 from the API server becomes a NotFound naming what was missing."""
    try:
        yield
    except ApiException as error:
        if error.status == 404:
            raise NotFound(f"{description} not found") from error
        raise


class BadConfig(Exception):
    """No usable kubeconfig, or no such context in it."""


def connect(kubeconfig: str | None, context: str | None = None) -> client.ApiClient:
    """A client for `context` of the kubeconfig (default: its current context); without a kubeconfig,
    the pod's service account. A named context is never replaced by the in-cluster configuration."""
    if context is not None:
        _context(kubeconfig, context)
        return config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call,no-any-return]
    try:
        return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call,no-any-return]
    except config.ConfigException as missing:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            raise BadConfig(f"no usable kubeconfig ({missing}) and not in a cluster") from missing
        return client.ApiClient()


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace `context` (default: the current context) names, as kubectl reads it; in a pod
    without a kubeconfig, the pod's own namespace."""
    if context is None:
        try:
            _, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            return _pod_namespace()
        chosen = cast(dict[str, Any], current)
    else:
        chosen = _context(kubeconfig, context)
    return cast(str | None, (chosen.get("context") or {}).get("namespace"))


def _context(kubeconfig: str | None, name: str) -> dict[str, Any]:
    try:
        found, _ = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except config.ConfigException as error:
        raise BadConfig(f"context {name!r}: no usable kubeconfig ({error})") from error
    contexts = cast(list[dict[str, Any]], found or [])
    for entry in contexts:
        if entry.get("name") == name:
            return entry
    known = ", ".join(sorted(str(entry.get("name")) for entry in contexts)) or "none"
    raise BadConfig(f"context {name!r} is not in the kubeconfig (its contexts: {known})")


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _pod_namespace() -> str | None:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def list_certificates(
    api: client.ApiClient, namespace: str | None, selector: str | None = None
) -> list[dict[str, Any]]:
    objects = client.CustomObjectsApi(api)
    if namespace:
        found = objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, CERTIFICATES.plural, label_selector=selector
        )
    else:
        found = objects.list_cluster_custom_object(
            GROUP, VERSION, CERTIFICATES.plural, label_selector=selector
        )
    return cast(list[dict[str, Any]], cast(dict[str, Any], found)["items"])


def get_object(api: client.ApiClient, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api)
    with _missing_is(_described(plural, namespace, name)):
        if namespace:
            found = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        else:
            found = objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
    return cast(dict[str, Any], found)


def annotate(
    api: client.ApiClient, plural: str, namespace: str | None, name: str, annotations: dict[str, str | None]
) -> None:
    """Sets the annotations in one write; None removes one."""
    objects = client.CustomObjectsApi(api)
    body = {"metadata": {"annotations": annotations}}
    with _missing_is(_described(plural, namespace, name)):
        if namespace:
            objects.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, body, _content_type="application/merge-patch+json"
            )
        else:
            objects.patch_cluster_custom_object(
                GROUP, VERSION, plural, name, body, _content_type="application/merge-patch+json"
            )


def secret_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, bytes]:
    with _missing_is(f"Secret {namespace}/{name}"):
        secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def configmap_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    with _missing_is(f"ConfigMap {namespace}/{name}"):
        found = client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    return dict(found.data or {})


def _described(plural: str, namespace: str | None, name: str) -> str:
    return f"{plural} {namespace + '/' if namespace else ''}{name}"


def request_token() -> str:
    """A value for request annotations: each distinct value asks once."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def create_signing_request(
    api: client.ApiClient,
    name: str,
    signer_name: str,
    request_pem: bytes,
    usages: list[str],
    expiration_seconds: int | None,
) -> None:
    body = client.V1CertificateSigningRequest(
        api_version="certificates.k8s.io/v1",
        kind="CertificateSigningRequest",
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1CertificateSigningRequestSpec(
            signer_name=signer_name,
            request=base64.b64encode(request_pem).decode(),
            usages=usages,
            expiration_seconds=expiration_seconds,
        ),
    )
    client.CertificatesV1Api(api).create_certificate_signing_request(body)


def read_signing_request(api: client.ApiClient, name: str) -> dict[str, Any]:
    with _missing_is(f"CertificateSigningRequest {name}"):
        found = client.CertificatesV1Api(api).read_certificate_signing_request(name)
    return _plain(api, found)


def list_signing_requests(api: client.ApiClient) -> list[dict[str, Any]]:
    found = client.CertificatesV1Api(api).list_certificate_signing_request()
    return [_plain(api, item) for item in found.items]


def wait_signing_request(
    api: client.ApiClient, name: str, done: Callable[[dict[str, Any]], bool], timeout: int
) -> dict[str, Any] | None:
    """Watches the one CSR (no polling) until `done` holds; None when `timeout` seconds pass first."""
    certificates = client.CertificatesV1Api(api)
    current = read_signing_request(api, name)
    if done(current):
        return current
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    version = current["metadata"]["resourceVersion"]
    while (remaining := int(deadline - time.monotonic())) > 0:
        for event in stream.stream(  # type: ignore[no-untyped-call]
            certificates.list_certificate_signing_request,
            field_selector=f"metadata.name={name}",
            resource_version=version,
            timeout_seconds=remaining,
        ):
            item = _plain(api, event["object"])
            version = item["metadata"]["resourceVersion"]
            if event["type"] == "DELETED":
                raise NotFound(f"CertificateSigningRequest {name} was deleted")
            if done(item):
                stream.stop()  # type: ignore[no-untyped-call]
                return item
    return None


def write_approval(
    api: client.ApiClient, name: str, conditions: list[dict[str, Any]], resource_version: str
) -> None:
    body = {"metadata": {"resourceVersion": resource_version}, "status": {"conditions": conditions}}
    with _missing_is(f"CertificateSigningRequest {name}"):
        client.CertificatesV1Api(api).patch_certificate_signing_request_approval(
            name, body, _content_type="application/merge-patch+json"
        )


def annotate_signing_request(api: client.ApiClient, name: str, annotations: dict[str, str | None]) -> None:
    body = {"metadata": {"annotations": annotations}}
    with _missing_is(f"CertificateSigningRequest {name}"):
        client.CertificatesV1Api(api).patch_certificate_signing_request(
            name, body, _content_type="application/merge-patch+json"
        )


def _plain(api: client.ApiClient, model: object) -> dict[str, Any]:
    """A typed client object as the API's JSON (camelCase keys, base64 bytes)."""
    return cast(dict[str, Any], api.sanitize_for_serialization(model))  # type: ignore[no-untyped-call]


def list_pod_certificate_requests(api: client.ApiClient, namespace: str | None) -> list[dict[str, Any]]:
    """In `namespace`, or every namespace; NotFound when the API server does not serve them."""
    with _missing_is("the PodCertificateRequest API (certificates.k8s.io/v1beta1)"):
        found = call(api, "GET", podcerts.path(namespace))
    return list(found.get("items") or [])


def annotate_pod_certificate_request(
    api: client.ApiClient, namespace: str, name: str, annotations: dict[str, str | None]
) -> None:
    body = {"metadata": {"annotations": annotations}}
    with _missing_is(f"PodCertificateRequest {namespace}/{name}"):
        call(api, "PATCH", podcerts.path(namespace, name), body, "application/merge-patch+json")


def call(
    api: client.ApiClient,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """A request to an API the typed client does not know, answered as plain JSON."""
    params = api.param_serialize(
        method=method,
        resource_path=path,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*params)
    response.read()  # type: ignore[no-untyped-call]
    answer = api.response_deserialize(response, {"200": "object", "201": "object"}).data
    return cast(dict[str, Any], answer)


def list_objects(
    api: client.ApiClient, group: str, version: str, plural: str, namespace: str | None
) -> list[dict[str, Any]]:
    """Every object of any group's custom kind, in `namespace` or (None) all of them; NotFound when
    the API server does not serve the kind."""
    objects = client.CustomObjectsApi(api)
    with _missing_is(f"{plural}.{group}/{version}"):
        if namespace:
            found = objects.list_namespaced_custom_object(group, version, namespace, plural)
        else:
            found = objects.list_cluster_custom_object(group, version, plural)
    return cast(list[dict[str, Any]], cast(dict[str, Any], found)["items"])
