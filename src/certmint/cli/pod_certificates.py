"""`certmint pod-certificates`: the PodCertificateRequests of certmint's signers, and finding one by
serial for `certmint revoke --serial`. Kubernetes deletes every request 15 minutes after its
creation: only recent ones are found."""

import contextlib
from typing import Any

import click

from certmint.cli import cluster
from certmint.cli.output import OBJECT_OUTPUTS, emit, output_option
from certmint.cli.session import Session
from certmint.pki import PKIError, load_certificates_pem, serial_hex
from certmint.planning.podcerts.request import FINAL_CONDITIONS
from certmint.planning.signers import is_certmint_signer

RESOURCE = "podcertificaterequest.certificates.k8s.io"
"""How `kubectl get -o name` names them."""
COLUMNS = ["namespace", "pod", "name", "signer", "serial", "not_after", "state"]


@click.command("pod-certificates")
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
@click.option("--pod", help="Only the requests of this pod.")
@output_option(OBJECT_OUTPUTS, "table")
@click.pass_obj
def pod_certificates(
    session: Session, namespace: str | None, all_namespaces: bool, pod: str | None, output: str | None
) -> None:
    """PodCertificateRequests of certmint's signers: pod, request, signer, serial, notAfter, state
    (-o wide: and the service account)."""
    chosen_output = session.output_of(output, "table", OBJECT_OUTPUTS)
    api = session.connect()
    rows = [
        row(item)
        for item in cluster.list_pod_certificate_requests(
            api, None if all_namespaces else session.namespace_of(namespace)
        )
        if is_certmint_signer(str((item.get("spec") or {}).get("signerName", "")))
        and (pod is None or (item.get("spec") or {}).get("podName") == pod)
    ]
    emit(
        rows,
        chosen_output,
        COLUMNS,
        wide=["service_account"],
        name=lambda row: f"{RESOURCE}/{row['name']}",
    )


COMMANDS = (pod_certificates,)


def row(item: dict[str, Any]) -> dict[str, Any]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    leaf = leaf_of(item)
    return {
        "namespace": item["metadata"].get("namespace", ""),
        "pod": spec.get("podName", ""),
        "name": item["metadata"].get("name", ""),
        "signer": spec.get("signerName", ""),
        "serial": serial_hex(leaf.serial_number) if leaf is not None else "",
        "not_after": status.get("notAfter", ""),
        "state": state(status),
        "service_account": spec.get("serviceAccountName", ""),
    }


def state(status: dict[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") in FINAL_CONDITIONS and condition.get("status") == "True":
            reason = condition.get("reason", "")
            return f"{condition['type']}/{reason}" if reason else str(condition["type"])
    return "Pending"


def leaf_of(item: dict[str, Any]) -> Any:
    chain = (item.get("status") or {}).get("certificateChain")
    if not isinstance(chain, str) or not chain:
        return None
    with contextlib.suppress(PKIError, IndexError):
        return load_certificates_pem(chain.encode())[0]
    return None


def request_with_serial(api: Any, namespace: str | None, wanted: int) -> tuple[str, str] | None:
    """(namespace, name) of the request of certmint's signers whose leaf has serial `wanted`; None
    when none does or the API is not served."""
    try:
        items = cluster.list_pod_certificate_requests(api, namespace)
    except cluster.NotFound:
        return None
    for item in items:
        if not is_certmint_signer(str((item.get("spec") or {}).get("signerName", ""))):
            continue
        leaf = leaf_of(item)
        if leaf is not None and leaf.serial_number == wanted:
            return item["metadata"]["namespace"], item["metadata"]["name"]
    return None
