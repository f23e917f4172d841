"""certificates.k8s.io/v1 CertificateSigningRequests: certmint writes only their status (the
certificate, a Failed condition) and their approval (Approved or Denied), never their spec."""

import base64
from typing import Any

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.apply import request_json

_MERGE_PATCH = "application/merge-patch+json"
STATUS = "status"
APPROVAL = "approval"


async def write_certificate(api: client.ApiClient, name: str, certificate_pem: bytes) -> None:
    """The one write that issues: status.certificate (leaf, then its chain)."""
    body = {"status": {"certificate": base64.b64encode(certificate_pem).decode()}}
    await _patch(api, name, STATUS, body)


async def write_conditions(
    api: client.ApiClient,
    name: str,
    subresource: str,
    conditions: list[dict[str, Any]],
    resource_version: str,
) -> None:
    """`conditions` is the whole list (a merge patch replaces lists). The resourceVersion makes it
    conditional: if anyone (an approver, another replica) changed the CSR meanwhile, the API
    server answers 409 and the CSR is judged again from what it now is."""
    body = {"metadata": {"resourceVersion": resource_version}, "status": {"conditions": conditions}}
    await _patch(api, name, subresource, body)


LIST_PAGE = 500
_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


async def list_for_signer(api: client.ApiClient, signer_name: str) -> list[dict[str, Any]]:
    """The CSRs addressed to one signer (the API server filters by spec.signerName), in pages."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        query: list[tuple[str, Any]] = [
            ("fieldSelector", f"spec.signerName={signer_name}"),
            ("limit", LIST_PAGE),
        ]
        if token:
            query.append(("continue", token))
        page = await request_json(api, "GET", _PATH, query=query)
        found.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return found


async def _patch(api: client.ApiClient, name: str, subresource: str, body: dict[str, Any]) -> None:
    certificates = client.CertificatesV1Api(api)
    try:
        if subresource == APPROVAL:
            await certificates.patch_certificate_signing_request_approval(
                name, body, _content_type=_MERGE_PATCH
            )
        else:
            await certificates.patch_certificate_signing_request_status(
                name, body, _content_type=_MERGE_PATCH
            )
    except ApiException as error:
        if error.status != 404:  # deleted meanwhile: nothing left to sign or report on
            raise
