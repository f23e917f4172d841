"""Certificates: `status`, `renew` and `revoke` (revoke also takes a CSR-issued certificate)."""

import contextlib
import sys
from datetime import UTC, datetime
from typing import Any

import click

from certmint.api.kinds import CERTIFICATES
from certmint.cli import cluster, pod_certificates
from certmint.cli.output import (
    EXIT_NOT_FOUND,
    OBJECT_OUTPUTS,
    emit,
    output_option,
    ready_condition,
    resource_name,
    split_target,
)
from certmint.cli.session import Session
from certmint.pki import PKIError, RevocationReason, load_certificates_pem, parse_serial, serial_hex
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.labels import RENEW_REQUEST, REVOKE_REASON, REVOKE_REISSUE, REVOKE_REQUEST
from certmint.planning.signers import is_certmint_signer


@click.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET, or of the listing.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Certificates in every namespace.")
@output_option(OBJECT_OUTPUTS, "table")
@click.pass_obj
def status(
    session: Session, target: str | None, namespace: str | None, all_namespaces: bool, output: str | None
) -> None:
    """Certificates: ready, issuer, serial, expires in, renews in (-o wide: and the Secret, notAfter).
    TARGET is NS/NAME or NAME."""
    chosen_output = session.output_of(output, "table", OBJECT_OUTPUTS)
    api = session.connect()
    if target:
        ns, name = split_target(target, session.namespace_of(namespace))
        items = [cluster.get_object(api, CERTIFICATES.plural, ns, name)]
    else:
        items = cluster.list_certificates(api, None if all_namespaces else session.namespace_of(namespace))
    rows = [_status_row(item) for item in items]
    emit(
        rows,
        chosen_output,
        ["namespace", "name", "ready", "reason", "issuer", "serial", "expires_in", "renews_in"],
        wide=["secret", "not_after"],
        name=lambda row: resource_name(CERTIFICATES, row["name"]),
    )


@click.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET, or of the selection.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every Certificate in every namespace.")
@click.option("-l", "--selector", help="Only Certificates with these labels.")
@click.pass_obj
def renew(
    session: Session,
    target: str | None,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
) -> None:
    """Issue new certificates now (new keys unless rotationPolicy is Never)."""
    if not target and not all_namespaces and not selector:
        raise click.UsageError("name a Certificate (NS/NAME), or select with -A or -l")
    api = session.connect()
    if target:
        ns, name = split_target(target, session.namespace_of(namespace))
        chosen = [(ns, name)]
    else:
        items = cluster.list_certificates(
            api, None if all_namespaces else session.namespace_of(namespace), selector
        )
        chosen = [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in items]
    token = cluster.request_token()
    for ns, name in chosen:
        cluster.annotate(api, CERTIFICATES.plural, ns, name, {RENEW_REQUEST: token})
        click.echo(f"renewal requested for {ns}/{name}")
    if not chosen:
        click.echo("no Certificate matched", err=True)
        sys.exit(EXIT_NOT_FOUND)


@click.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET when it is just NAME.")
@click.option("--csr", "csr_name", help="Revoke the certificate a CertificateSigningRequest received.")
@click.option(
    "--serial",
    help="Revoke the certificate with this serial (hex, as openssl prints it) that a "
    "CertificateSigningRequest or a PodCertificateRequest (in -n, else any namespace) received.",
)
@click.option(
    "--reason",
    type=click.Choice([reason.value for reason in RevocationReason]),
    default=RevocationReason.UNSPECIFIED.value,
    show_default=True,
    help="RFC 5280 revocation reason.",
)
@click.option("--no-reissue", is_flag=True, help="Leave the Certificate without a valid certificate.")
@click.pass_obj
def revoke(
    session: Session,
    target: str | None,
    namespace: str | None,
    csr_name: str | None,
    serial: str | None,
    reason: str,
    no_reissue: bool,
) -> None:
    """Revoke a Certificate's current certificate (TARGET, NS/NAME): its issuer lists it on the CRL
    it publishes, and a new certificate with a new key is issued (unless --no-reissue). With --csr or
    --serial: a certificate issued through a CertificateSigningRequest, which is only listed."""
    if sum(bool(choice) for choice in (target, csr_name, serial)) != 1:
        raise click.UsageError("name exactly one of: a Certificate (NS/NAME), --csr NAME, --serial HEX")
    api = session.connect()
    token = cluster.request_token()
    if serial:
        wanted = _serial(serial)
        pod_request = pod_certificates.request_with_serial(api, session.chosen_namespace(namespace), wanted)
        if pod_request is not None:
            ns, name = pod_request
            annotations: dict[str, str | None] = {REVOKE_REQUEST: token, REVOKE_REASON: reason}
            cluster.annotate_pod_certificate_request(api, ns, name, annotations)
            click.echo(f"revocation requested for PodCertificateRequest {ns}/{name} ({reason})")
            return
    if csr_name or serial:
        name = csr_name or _signing_request_with_serial(api, serial or "")
        cluster.annotate_signing_request(api, name, {REVOKE_REQUEST: token, REVOKE_REASON: reason})
        click.echo(f"revocation requested for CertificateSigningRequest {name} ({reason})")
        return
    ns, name = split_target(target or "", session.namespace_of(namespace))
    cluster.annotate(
        api,
        CERTIFICATES.plural,
        ns,
        name,
        {
            REVOKE_REQUEST: token,
            REVOKE_REASON: reason,
            REVOKE_REISSUE: "false" if no_reissue else None,
        },
    )
    click.echo(f"revocation requested for {ns}/{name} ({reason})")


COMMANDS = (status, renew, revoke)


def _serial(serial: str) -> int:
    try:
        return parse_serial(serial)
    except ValueError as error:
        raise click.BadParameter(f"{serial!r} is not a hex serial number", param_hint="--serial") from error


def _signing_request_with_serial(api: Any, serial: str) -> str:
    wanted = _serial(serial)
    for item in cluster.list_signing_requests(api):
        csr = read_signing_request(item)
        if not is_certmint_signer(csr.signer_name) or not csr.certificate:
            continue
        with contextlib.suppress(PKIError):
            if load_certificates_pem(csr.certificate)[0].serial_number == wanted:
                return csr.name
    raise cluster.NotFound(
        f"no CertificateSigningRequest or PodCertificateRequest for a certmint signer holds serial "
        f"{serial_hex(wanted)} (Kubernetes deletes CSRs an hour after they are signed and "
        "PodCertificateRequests 15 minutes after their creation; revoke soon after issuance or by "
        "the Certificate)"
    )


def _status_row(item: dict[str, Any]) -> dict[str, Any]:
    state = item.get("status") or {}
    ready = ready_condition(state)
    return {
        "namespace": item["metadata"]["namespace"],
        "name": item["metadata"]["name"],
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        # Without issuerRef: the default it resolved to, if it did.
        "issuer": (item["spec"].get("issuerRef") or state.get("issuerRef") or {}).get("name", ""),
        "serial": _serial_text(state.get("serialNumber") or ""),
        "expires_in": _until(state.get("notAfter")),
        "renews_in": _until(state.get("renewalTime")),
        "secret": item["spec"].get("secretName", ""),
        "not_after": state.get("notAfter") or "",
    }


def _serial_text(stored: str) -> str:
    """Statuses written before serials took openssl's form are shown in it too."""
    try:
        return serial_hex(parse_serial(stored)) if stored else ""
    except ValueError:
        return stored


def _until(moment: str | None) -> str:
    if not moment:
        return ""
    seconds = int((datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h"
    if hours:
        return f"{sign}{hours}h{minutes}m"
    return f"{sign}{minutes}m{seconds}s"
