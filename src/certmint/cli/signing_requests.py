"""CertificateSigningRequests: `request` a certificate for a local key, `approve` and `deny`."""

import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from kubernetes.client.exceptions import ApiException

from certmint.api import parse_duration
from certmint.api.common import DNS_SUBDOMAIN_PATTERN
from certmint.cli import cluster
from certmint.cli.output import EXIT_FAILED_CHECK
from certmint.cli.session import Session
from certmint.pki import (
    KeyAlgorithm,
    RequestedNames,
    Usage,
    build_csr,
    certificates_to_pem,
    encode_private_key_pem,
    generate_private_key,
    key_spec,
    load_certificates_pem,
    load_private_key_pem,
    pkcs12_keystore,
    serial_hex,
)
from certmint.planning.csrs.plan import with_condition
from certmint.planning.csrs.signing_request import read_signing_request
from certmint.planning.signers import cluster_issuer_signer_name, issuer_signer_name

MIN_EXPIRATION_SECONDS = 600
"""The API server refuses shorter expirationSeconds."""


@click.command()
@click.argument("name")
@click.option("--issuer", help="An Issuer, in --namespace, signs it.")
@click.option("-n", "--namespace", help="Namespace of --issuer.")
@click.option("--cluster-issuer", help="A ClusterIssuer signs it.")
@click.option("--cn", "common_name", help="Subject common name.")
@click.option("--org", "organizations", multiple=True, help="Subject organization (repeatable).")
@click.option("--dns", "dns_names", multiple=True, help="DNS name (repeatable).")
@click.option("--ip", "ip_addresses", multiple=True, help="IP address (repeatable).")
@click.option("--uri", "uris", multiple=True, help="URI, e.g. a SPIFFE ID (repeatable).")
@click.option("--email", "emails", multiple=True, help="Email address (repeatable).")
@click.option(
    "--usage",
    "usages",
    multiple=True,
    type=click.Choice([usage.value for usage in Usage if usage not in (Usage.CERT_SIGN, Usage.CRL_SIGN)]),
    help="Key usage (repeatable); default: digital signature, client auth.",
)
@click.option("--duration", default="24h", show_default=True, help="Requested lifetime (expirationSeconds).")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this unencrypted PEM private key instead of generating one.",
)
@click.option(
    "--key-algorithm", type=click.Choice([a.value for a in KeyAlgorithm]), default="ECDSA", show_default=True
)
@click.option("--key-size", type=int, default=None, help="Default: 256 for ECDSA, 2048 for RSA.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for NAME.key, NAME.crt, NAME-chain.crt (and NAME-client.p12).",
)
@click.option("--p12", is_flag=True, help="Also write NAME-client.p12 (key, certificate, chain).")
@click.option(
    "--p12-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The PKCS#12 password is this file's first line; prompted when unset.",
)
@click.option("--timeout", default=600, show_default=True, help="Seconds to wait for approval and signing.")
@click.pass_obj
def request(
    session: Session,
    name: str,
    issuer: str | None,
    namespace: str | None,
    cluster_issuer: str | None,
    common_name: str | None,
    organizations: tuple[str, ...],
    dns_names: tuple[str, ...],
    ip_addresses: tuple[str, ...],
    uris: tuple[str, ...],
    emails: tuple[str, ...],
    usages: tuple[str, ...],
    duration: str,
    key_file: Path | None,
    key_algorithm: str,
    key_size: int | None,
    out_dir: Path,
    p12: bool,
    p12_password_file: Path | None,
    timeout: int,
) -> None:
    """Get a certificate for a key that never leaves this machine: the key is generated here (or
    --key), a CertificateSigningRequest NAME goes to the issuer's signer, and once someone with
    `approve` on that signer approved it, the certificate is written next to the key."""
    if bool(issuer) == bool(cluster_issuer):
        raise click.UsageError("name exactly one of --issuer or --cluster-issuer")
    # Before a key is made or written: a bad --context or kubeconfig fails here.
    api = session.connect()
    signer = (
        cluster_issuer_signer_name(cluster_issuer)
        if cluster_issuer
        else issuer_signer_name(session.namespace_of(namespace), issuer or "")
    )
    files = RequestFiles.of(out_dir, _csr_name(name))
    expiration = _expiration_seconds(duration)
    password = _p12_password(p12_password_file) if p12 else None
    names = RequestedNames(common_name, organizations, dns_names, ip_addresses, uris, emails)
    key = (
        load_private_key_pem(key_file.read_bytes())
        if key_file
        else generate_private_key(key_spec(KeyAlgorithm(key_algorithm), key_size))
    )
    request_pem = build_csr(key, names)
    out_dir.mkdir(parents=True, exist_ok=True)
    if key_file is None:
        # Written before anything is sent: a certificate is useless without its key.
        files.write_private(files.key, encode_private_key_pem(key))
    try:
        cluster.create_signing_request(
            api,
            name,
            signer,
            request_pem,
            list(usages or ("digital signature", "client auth")),
            expiration,
        )
    except ApiException:
        if key_file is None:
            files.key.unlink()  # never sent: nothing can be signed for it
        raise
    click.echo(f"CertificateSigningRequest {name} sent to {signer}; waiting for approval:")
    click.echo(f"  kubectl certificate approve {name}    (or: certmint approve {name})")
    final = cluster.wait_signing_request(api, name, _final, timeout)
    if final is None:
        click.echo(f"error: {name} was not signed within {timeout} s", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    csr = read_signing_request(final)
    if not csr.certificate:
        refusal = next(c for c in final["status"]["conditions"] if c["type"] in ("Denied", "Failed"))
        click.echo(
            f"error: {name} {refusal['type'].lower()}: {refusal.get('reason')}: {refusal.get('message')}",
            err=True,
        )
        sys.exit(EXIT_FAILED_CHECK)
    chain = load_certificates_pem(csr.certificate)
    files.write(files.certificate, certificates_to_pem(chain[:1]))
    files.write(files.chain, certificates_to_pem(chain[1:]))
    if password is not None:
        files.write_private(
            files.p12, pkcs12_keystore(key, chain[0], chain[1:], password, friendly_name=name.encode())
        )
    serial = serial_hex(chain[0].serial_number)
    click.echo(f"signed: serial {serial}, valid until {chain[0].not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
    for written in files.written:
        click.echo(f"wrote {written}")


@dataclass(frozen=True)
class RequestFiles:
    """Where `certmint request` writes; never over an existing file."""

    key: Path
    certificate: Path
    chain: Path
    p12: Path
    written: list[Path]

    @classmethod
    def of(cls, directory: Path, name: str) -> "RequestFiles":
        return cls(
            directory / f"{name}.key",
            directory / f"{name}.crt",
            directory / f"{name}-chain.crt",
            directory / f"{name}-client.p12",
            [],
        )

    def write_private(self, path: Path, data: bytes) -> None:
        """Mode 0600 from the moment it exists, so no other user ever reads it."""
        self._write(path, data, 0o600)

    def write(self, path: Path, data: bytes) -> None:
        self._write(path, data, 0o644)

    def _write(self, path: Path, data: bytes, mode: int) -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise click.ClickException(f"{path} exists; remove it or choose another --out") from None
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(path, mode)  # the umask may have narrowed it; it can only have been narrower
        self.written.append(path)


def _csr_name(name: str) -> str:
    """NAME becomes file names before the API server sees it: a DNS subdomain, so no path."""
    if not re.fullmatch(DNS_SUBDOMAIN_PATTERN, name) or len(name) > 253:
        raise click.BadParameter(
            "must be a DNS subdomain (lowercase letters, digits, '-', '.')", param_hint="NAME"
        )
    return name


def _expiration_seconds(duration: str) -> int:
    try:
        seconds = int(parse_duration(duration).total_seconds())
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--duration") from error
    if seconds < MIN_EXPIRATION_SECONDS:
        raise click.BadParameter("Kubernetes signs for at least 10m", param_hint="--duration")
    return seconds


def _p12_password(password_file: Path | None) -> bytes:
    if password_file is not None:
        lines = password_file.read_text().splitlines()
        password = lines[0] if lines else ""
    else:
        password = click.prompt("PKCS#12 password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.BadParameter("the PKCS#12 password must not be empty", param_hint="--p12-password-file")
    return password.encode()


def _final(item: dict[str, Any]) -> bool:
    csr = read_signing_request(item)
    return bool(csr.certificate) or csr.denied or csr.failed


def _decision_command(command: str, kind: str, reason: str, help: str) -> click.Command:
    """`approve` or `deny`: one condition of `kind` added to a pending CertificateSigningRequest."""

    @click.command(command, help=help)
    @click.argument("name")
    @click.option("--message", default=f"{kind.lower()} with certmint {command}", show_default=True)
    @click.pass_obj
    def decide(session: Session, name: str, message: str) -> None:
        _decide(session, name, kind, reason, message)

    return decide


approve = _decision_command(
    "approve",
    "Approved",
    "CertmintCLIApprove",
    "Approve CertificateSigningRequest NAME (needs `approve` on its signer name); certmint then signs it.",
)
deny = _decision_command(
    "deny", "Denied", "CertmintCLIDeny", "Deny CertificateSigningRequest NAME: it is never signed."
)


def _decide(session: Session, name: str, kind: str, reason: str, message: str) -> None:
    api = session.connect()
    found = cluster.read_signing_request(api, name)
    csr = read_signing_request(found)
    if not csr.pending:
        decided = (
            "signed"
            if csr.certificate
            else "approved"
            if csr.approved
            else "denied"
            if csr.denied
            else "failed"
        )
        click.echo(f"error: {name} is already {decided}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    existing = (found.get("status") or {}).get("conditions") or []
    conditions = with_condition(existing, kind, reason, message, datetime.now(UTC))
    cluster.write_approval(api, name, conditions, found["metadata"]["resourceVersion"])
    click.echo(f"{name} {kind.lower()} ({csr.username} asked {csr.signer_name})")


COMMANDS = (request, approve, deny)
