"""The CLI's reads and writes: a synchronous client is plenty for one command at a time."""

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from certmint.api import GROUP, VERSION


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


def connect(kubeconfig: str | None) -> client.ApiClient:
    try:
        return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call,no-any-return]
    except config.ConfigException:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()


def list_certificates(
    api: client.ApiClient, namespace: str | None, selector: str | None = None
) -> list[dict[str, Any]]:
    objects = client.CustomObjectsApi(api)
    if namespace:
        found = objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "certificates", label_selector=selector
        )
    else:
        found = objects.list_cluster_custom_object(GROUP, VERSION, "certificates", label_selector=selector)
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
