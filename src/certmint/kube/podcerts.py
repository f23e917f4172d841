"""certificates.k8s.io/v1beta1 PodCertificateRequests: certmint writes only their status, and reads
the Pods they name (a GET, never a watch)."""

GROUP_VERSION = "certificates.k8s.io/v1beta1"
PLURAL = "podcertificaterequests"
LIST_PAGE = 500


def discovery_path() -> str:
    return f"/apis/{GROUP_VERSION}"


def path(namespace: str | None = None, name: str = "") -> str:
    """The request `name` of `namespace`, or all of `namespace` (every namespace when None)."""
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{GROUP_VERSION}{scope}/{PLURAL}" + (f"/{name}" if name else "")
