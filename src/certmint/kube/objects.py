"""Where objects are on the API server."""

from certmint.api import GROUP, VERSION


def path(plural: str, namespace: str | None, name: str = "") -> str:
    """A certmint.dev object (cluster-scoped when `namespace` is None or empty), or with no `name`
    the list of them."""
    scope = f"namespaces/{namespace}/" if namespace else ""
    return f"/apis/{GROUP}/{VERSION}/{scope}{plural}" + (f"/{name}" if name else "")


def core_path(resource: str, namespace: str | None, name: str = "") -> str:
    """A core (v1) object, or with no `name` the list of them in `namespace` (None: in every one)."""
    scope = f"/namespaces/{namespace}" if namespace is not None else ""
    return f"/api/v1{scope}/{resource}" + (f"/{name}" if name else "")


def crd_path(name: str) -> str:
    """A CustomResourceDefinition."""
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"


def lease_path(namespace: str, name: str = "") -> str:
    """A coordination.k8s.io Lease of `namespace`, or with no `name` the list of them."""
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases" + (f"/{name}" if name else "")
