"""`certmint`: run the operator, and inspect and steer what it manages."""

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml
from kubernetes.client.exceptions import ApiException

from certmint import __version__
from certmint.api import parse_duration
from certmint.api.common import DNS_SUBDOMAIN_PATTERN
from certmint.api.kinds import CERTIFICATES, CLUSTER_ISSUERS, ISSUERS, READY
from certmint.cli import cluster
from certmint.pki import (
    PURPOSE_USAGE,
    KeyAlgorithm,
    PKIError,
    RequestedNames,
    RevocationReason,
    TrustVerdict,
    Usage,
    build_csr,
    certificates_to_pem,
    check_trust,
    encode_private_key_pem,
    generate_private_key,
    key_spec,
    load_certificates_pem,
    load_crls_pem,
    load_private_key_pem,
    parse_serial,
    pkcs12_keystore,
    serial_hex,
    summarize_certificate,
)
from certmint.planning.csr import (
    cluster_issuer_signer_name,
    is_certmint_signer,
    issuer_signer_name,
    read_signing_request,
    with_condition,
)
from certmint.planning.labels import RENEW_REQUEST, REVOKE_REASON, REVOKE_REISSUE, REVOKE_REQUEST
from certmint.planning.rotation import ROTATE_REQUEST

EXIT_FAILED_CHECK = 1
EXIT_NOT_FOUND = 3
EXIT_API_ERROR = 4
OUTPUTS = click.Choice(["table", "json", "yaml"])
MIN_EXPIRATION_SECONDS = 600
"""The API server refuses shorter expirationSeconds."""


@click.group()
@click.version_option(__version__, prog_name="certmint")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig to use; in-cluster config when unset.")
@click.pass_context
def cli(context: click.Context, kubeconfig: str | None) -> None:
    """certmint: short-lived X.509 identities for Kubernetes workloads."""
    context.obj = kubeconfig


@cli.command()
def version() -> None:
    """Print the certmint version."""
    click.echo(__version__)


@cli.command()
@click.option(
    "--namespace",
    envvar="CERTMINT_NAMESPACE",
    default="certmint",
    show_default=True,
    help="The operator's namespace, where ClusterIssuer CA Secrets live.",
)
@click.option(
    "--liveness", default=None, help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz."
)
@click.option(
    "--peering",
    envvar="CERTMINT_PEERING",
    default="",
    help="ClusterKopfPeering object shared by replicas; only the highest priority works. Unset: standalone.",
)
@click.option(
    "--priority",
    envvar="CERTMINT_PRIORITY",
    type=int,
    default=None,
    help="Peering priority; default random, so replicas of one Deployment never tie.",
)
@click.option(
    "--watch-namespaces",
    envvar="CERTMINT_WATCH_NAMESPACES",
    default="",
    help="Comma-separated namespaces to serve (the operator's own included); unset: all.",
)
@click.option("--verbose", is_flag=True, help="Debug logging.")
@click.pass_obj
def operator(
    kubeconfig: str | None,
    namespace: str,
    liveness: str | None,
    peering: str,
    priority: int | None,
    watch_namespaces: str,
    verbose: bool,
) -> None:
    """Run the operator against the cluster (as `kopf run` does)."""
    # Imported here, not at the top: only this command needs kopf, and importing the handlers
    # registers them with it.
    import kopf  # noqa: PLC0415

    import certmint.operator.handlers  # noqa: F401, PLC0415

    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig
    os.environ["CERTMINT_NAMESPACE"] = namespace
    # kopf and the controller must agree on who this replica is in the peering object.
    identity = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
    priority = priority if priority is not None else secrets.randbelow(2**31 - 1) + 1
    served = sorted({name.strip() for name in watch_namespaces.split(",") if name.strip()})
    if served:
        served = sorted({*served, namespace})  # ClusterIssuer CA Secrets live in the operator's own
    os.environ.update(
        {
            "CERTMINT_PEERING": peering,
            "CERTMINT_PEER_IDENTITY": identity,
            "CERTMINT_PRIORITY": str(priority),
            "CERTMINT_WATCH_NAMESPACES": ",".join(served),
        }
    )
    kopf.configure(verbose=verbose, log_prefix=True)
    logging.getLogger("certmint").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf reports every handled watch event at INFO: thousands of lines a minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings = kopf.OperatorSettings()
    # The CRDs are installed before the operator (the chart's crds/): kopf need not list and watch
    # every CRD of the cluster for new resources, one list fewer on every start. Set here, not in
    # the startup handler: kopf's resource observer reads it while startup handlers still run.
    settings.scanning.disabled = True
    asyncio.run(
        kopf.operator(
            settings=settings,
            clusterwide=not served,
            namespaces=served,
            standalone=not peering,
            peering_name=peering or None,
            priority=priority,
            identity=identity,  # type: ignore[arg-type]
            liveness_endpoint=liveness,
        )
    )


@cli.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET, or of the listing.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Certificates in every namespace.")
@click.option("-o", "--output", type=OUTPUTS, default="table", show_default=True)
@click.pass_obj
def status(
    kubeconfig: str | None, target: str | None, namespace: str | None, all_namespaces: bool, output: str
) -> None:
    """Certificates: ready, issuer, serial, expires in, renews in. TARGET is NS/NAME or NAME."""
    with _errors():
        api = cluster.connect(kubeconfig)
        if target:
            ns, name = _split(target, namespace)
            items = [cluster.get_object(api, CERTIFICATES.plural, ns, name)]
        else:
            items = cluster.list_certificates(api, None if all_namespaces else namespace or "default")
        rows = [_status_row(item) for item in items]
        _emit(
            rows,
            output,
            ["namespace", "name", "ready", "reason", "issuer", "serial", "expires_in", "renews_in"],
        )


@cli.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET, or of the selection.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every Certificate in every namespace.")
@click.option("-l", "--selector", help="Only Certificates with these labels.")
@click.pass_obj
def renew(
    kubeconfig: str | None,
    target: str | None,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
) -> None:
    """Issue new certificates now (new keys unless rotationPolicy is Never)."""
    if not target and not all_namespaces and not selector:
        raise click.UsageError("name a Certificate (NS/NAME), or select with -A or -l")
    with _errors():
        api = cluster.connect(kubeconfig)
        if target:
            ns, name = _split(target, namespace)
            chosen = [(ns, name)]
        else:
            items = cluster.list_certificates(
                api, None if all_namespaces else namespace or "default", selector
            )
            chosen = [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in items]
        token = cluster.request_token()
        for ns, name in chosen:
            cluster.annotate(api, CERTIFICATES.plural, ns, name, {RENEW_REQUEST: token})
            click.echo(f"renewal requested for {ns}/{name}")
        if not chosen:
            click.echo("no Certificate matched", err=True)
            sys.exit(EXIT_NOT_FOUND)


@cli.command()
@click.argument("target", required=False)
@click.option("-n", "--namespace", help="Namespace of TARGET when it is just NAME.")
@click.option("--csr", "csr_name", help="Revoke the certificate a CertificateSigningRequest received.")
@click.option(
    "--serial", help="Revoke the CSR-issued certificate with this serial (hex, as openssl prints it)."
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
    kubeconfig: str | None,
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
    with _errors():
        api = cluster.connect(kubeconfig)
        token = cluster.request_token()
        if csr_name or serial:
            name = csr_name or _signing_request_with_serial(api, serial or "")
            cluster.annotate_signing_request(api, name, {REVOKE_REQUEST: token, REVOKE_REASON: reason})
            click.echo(f"revocation requested for CertificateSigningRequest {name} ({reason})")
            return
        ns, name = _split(target or "", namespace)
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


def _signing_request_with_serial(api: Any, serial: str) -> str:
    try:
        wanted = parse_serial(serial)
    except ValueError as error:
        raise click.BadParameter(f"{serial!r} is not a hex serial number", param_hint="--serial") from error
    for item in cluster.list_signing_requests(api):
        csr = read_signing_request(item)
        if not is_certmint_signer(csr.signer_name) or not csr.certificate:
            continue
        with contextlib.suppress(PKIError):
            if load_certificates_pem(csr.certificate)[0].serial_number == wanted:
                return csr.name
    raise cluster.NotFound(
        f"no CertificateSigningRequest for a certmint signer holds serial {serial_hex(wanted)} "
        "(Kubernetes deletes CSRs an hour after they are signed; revoke soon after issuance or by "
        "the Certificate)"
    )


@cli.command()
@click.argument("name")
@click.option("--issuer", help="An Issuer, in --namespace, signs it.")
@click.option("-n", "--namespace", default="default", show_default=True, help="Namespace of --issuer.")
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
    kubeconfig: str | None,
    name: str,
    issuer: str | None,
    namespace: str,
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
    signer = (
        cluster_issuer_signer_name(cluster_issuer)
        if cluster_issuer
        else issuer_signer_name(namespace, issuer or "")
    )
    files = RequestFiles.of(out_dir, _csr_name(name))
    expiration = _expiration_seconds(duration)
    password = _p12_password(p12_password_file) if p12 else None
    names = RequestedNames(common_name, organizations, dns_names, ip_addresses, uris, emails)
    with _errors():
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
        api = cluster.connect(kubeconfig)
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


@cli.command()
@click.argument("name")
@click.option("--message", default="approved with certmint approve", show_default=True)
@click.pass_obj
def approve(kubeconfig: str | None, name: str, message: str) -> None:
    """Approve CertificateSigningRequest NAME (needs `approve` on its signer name); certmint then signs it."""
    _decide(kubeconfig, name, "Approved", "CertmintCLIApprove", message)


@cli.command()
@click.argument("name")
@click.option("--message", default="denied with certmint deny", show_default=True)
@click.pass_obj
def deny(kubeconfig: str | None, name: str, message: str) -> None:
    """Deny CertificateSigningRequest NAME: it is never signed."""
    _decide(kubeconfig, name, "Denied", "CertmintCLIDeny", message)


def _decide(kubeconfig: str | None, name: str, kind: str, reason: str, message: str) -> None:
    with _errors():
        api = cluster.connect(kubeconfig)
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


@cli.group()
def inspect() -> None:
    """Decode what certmint wrote."""


@inspect.command("secret")
@click.argument("target")
@click.option("-n", "--namespace")
@click.option("--bundle", help="NS/NAME of a trust bundle ConfigMap to check the chain against.")
@click.option("-o", "--output", type=OUTPUTS, default="yaml", show_default=True)
@click.pass_obj
def inspect_secret(
    kubeconfig: str | None, target: str, namespace: str | None, bundle: str | None, output: str
) -> None:
    """The chain in a Secret: subjects, SANs, validity, and whether a bundle trusts it (and for
    which TLS purposes). Exit 1 when the bundle does not trust it."""
    with _errors():
        api = cluster.connect(kubeconfig)
        ns, name = _split(target, namespace)
        data = cluster.secret_data(api, ns, name)
        chain = load_certificates_pem(data.get("tls.crt", b""))
        report: dict[str, Any] = {"secret": f"{ns}/{name}", "chain": [_summary(cert) for cert in chain]}
        rejected = False
        if bundle:
            bundle_ns, bundle_name = _split(bundle, ns)
            bundle_data = cluster.configmap_data(api, bundle_ns, bundle_name)
            trusted = load_certificates_pem(bundle_data.get("ca.crt", "").encode())
            verdict = check_trust(chain, trusted, datetime.now(UTC))
            report["trustedByBundle"] = _verdict_report(verdict)
            rejected = not verdict.trusted
            if bundle_data.get("ca.crl"):
                report["revoked"] = _revoked(chain[0], bundle_data["ca.crl"].encode())
        _emit([report], output, ["secret"])
        if rejected:
            sys.exit(EXIT_FAILED_CHECK)


@cli.group()
def ca() -> None:
    """Show and rotate issuer CAs."""


def _issuer_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("-n", "--namespace", default="default", show_default=True)(command)
    return click.option("--cluster", "cluster_scoped", is_flag=True, help="A ClusterIssuer.")(command)


@ca.command("show")
@click.argument("issuer")
@_issuer_options
@click.option("-o", "--output", type=OUTPUTS, default="yaml", show_default=True)
@click.pass_obj
def ca_show(kubeconfig: str | None, issuer: str, namespace: str, cluster_scoped: bool, output: str) -> None:
    """The issuer's CA, its readiness and its rotation phase."""
    with _errors():
        api = cluster.connect(kubeconfig)
        plural, ns = (CLUSTER_ISSUERS.plural, None) if cluster_scoped else (ISSUERS.plural, namespace)
        found = cluster.get_object(api, plural, ns, issuer)
        state = found.get("status") or {}
        ready: dict[str, Any] = next((c for c in state.get("conditions", []) if c["type"] == READY), {})
        _emit(
            [
                {
                    "issuer": issuer,
                    "ready": ready.get("status"),
                    "reason": ready.get("reason"),
                    "ca": state.get("ca"),
                    "rotation": state.get("rotation"),
                }
            ],
            output,
            ["issuer"],
        )


@ca.command("rotate")
@click.argument("issuer")
@_issuer_options
@click.pass_obj
def ca_rotate(kubeconfig: str | None, issuer: str, namespace: str, cluster_scoped: bool) -> None:
    """Rotate a selfSigned issuer's CA now (e.g. after a compromise): the old CA is distrusted early."""
    with _errors():
        api = cluster.connect(kubeconfig)
        plural, ns = (CLUSTER_ISSUERS.plural, None) if cluster_scoped else (ISSUERS.plural, namespace)
        found = cluster.get_object(api, plural, ns, issuer)
        if "selfSigned" not in found.get("spec", {}):
            raise click.ClickException(f"{issuer} is not a selfSigned issuer; rotate its CA Secret instead")
        cluster.annotate(api, plural, ns, issuer, {ROTATE_REQUEST: cluster.request_token()})
        click.echo(f"CA rotation requested for {issuer}; watch it with `certmint ca show {issuer}`")


@cli.group()
def bundle() -> None:
    """Trust bundles."""


@bundle.command("check")
@click.argument("configmap")
@click.option(
    "--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--key", "bundle_key", default="ca.crt", show_default=True)
@click.pass_obj
def bundle_check(kubeconfig: str | None, configmap: str, cert_file: Path, bundle_key: str) -> None:
    """Does the bundle in CONFIGMAP (NS/NAME) trust the certificate chain in FILE, and for which TLS
    purposes? Exit 1 if it does not trust it."""
    with _errors():
        api = cluster.connect(kubeconfig)
        ns, name = _split(configmap, None)
        trusted = load_certificates_pem(cluster.configmap_data(api, ns, name).get(bundle_key, "").encode())
        chain = load_certificates_pem(cert_file.read_bytes())
        verdict = check_trust(chain, trusted, datetime.now(UTC))
        click.echo(f"{'trusted' if verdict.trusted else 'not trusted'}: {verdict.reason}")
        for purpose in verdict.purposes:
            validity = "valid" if purpose.valid else "not valid"
            click.echo(f"{PURPOSE_USAGE[purpose.purpose]}: {validity}: {purpose.reason}")
        if not verdict.trusted:
            sys.exit(EXIT_FAILED_CHECK)


def _revoked(leaf: Any, crls: bytes) -> bool:
    """Whether a CRL of the leaf's issuer lists it."""
    return any(
        crl.issuer == leaf.issuer and crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        for crl in load_crls_pem(crls)
    )


def _verdict_report(verdict: TrustVerdict) -> dict[str, Any]:
    return {
        "trusted": verdict.trusted,
        "reason": verdict.reason,
        "purposes": {
            PURPOSE_USAGE[purpose.purpose]: {"valid": purpose.valid, "reason": purpose.reason}
            for purpose in verdict.purposes
        },
    }


def _summary(cert: Any) -> dict[str, Any]:
    summary = summarize_certificate(cert)
    return {
        "subject": summary.subject,
        "issuer": summary.issuer,
        "serial": summary.serial_number,
        "notBefore": summary.not_before.isoformat(),
        "notAfter": summary.not_after.isoformat(),
        "dnsNames": list(summary.dns_names),
        "ipAddresses": list(summary.ip_addresses),
        "uris": list(summary.uris),
        "keyType": summary.key_type,
        "sha256": summary.sha256_fingerprint,
        "isCA": summary.is_ca,
    }


def _status_row(item: dict[str, Any]) -> dict[str, Any]:
    state = item.get("status") or {}
    ready: dict[str, Any] = next((c for c in state.get("conditions", []) if c["type"] == READY), {})
    return {
        "namespace": item["metadata"]["namespace"],
        "name": item["metadata"]["name"],
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "issuer": item["spec"]["issuerRef"]["name"],
        "serial": _serial_text(state.get("serialNumber") or ""),
        "expires_in": _until(state.get("notAfter")),
        "renews_in": _until(state.get("renewalTime")),
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


def _emit(rows: list[dict[str, Any]], output: str, columns: list[str]) -> None:
    if output == "json":
        click.echo(json.dumps(rows if len(rows) != 1 else rows[0], indent=2, default=str))
    elif output == "yaml" or len(columns) == 1:
        click.echo(yaml.safe_dump(rows if len(rows) != 1 else rows[0], sort_keys=False).rstrip())
    else:
        widths = {c: max([len(c), *(len(str(row.get(c, ""))) for row in rows)]) for c in columns}
        click.echo("  ".join(c.upper().replace("_", " ").ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def _split(target: str, namespace: str | None) -> tuple[str, str]:
    if "/" in target:
        ns, name = target.split("/", 1)
        return ns, name
    return namespace or "default", target


@contextmanager
def _errors() -> Iterator[None]:
    """Clear messages and exit codes instead of tracebacks."""
    try:
        yield
    except cluster.NotFound as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    except ApiException as error:
        click.echo(f"error: the API server answered {error.status} {error.reason}", err=True)
        sys.exit(EXIT_API_ERROR)
    except PKIError as error:
        click.echo(f"error: {error.message}", err=True)
        sys.exit(EXIT_FAILED_CHECK)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
