"""`bundle`: trust bundles."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from certmint.cli import cluster
from certmint.cli.output import EXIT_FAILED_CHECK, split_target
from certmint.cli.session import Session
from certmint.pki import PURPOSE_USAGE, check_trust, load_certificates_pem


@click.group()
def bundle() -> None:
    """Trust bundles."""


@bundle.command("check")
@click.argument("configmap")
@click.option(
    "--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--key", "bundle_key", default="ca.crt", show_default=True)
@click.pass_obj
def bundle_check(session: Session, configmap: str, cert_file: Path, bundle_key: str) -> None:
    """Does the bundle in CONFIGMAP (NS/NAME, or NAME in the namespace of -n) trust the certificate
    chain in FILE, and for which TLS purposes? Exit 1 if it does not trust it."""
    api = session.connect()
    ns, name = split_target(configmap, session.namespace_of(None))
    trusted = load_certificates_pem(cluster.configmap_data(api, ns, name).get(bundle_key, "").encode())
    chain = load_certificates_pem(cert_file.read_bytes())
    verdict = check_trust(chain, trusted, datetime.now(UTC))
    click.echo(f"{'trusted' if verdict.trusted else 'not trusted'}: {verdict.reason}")
    for purpose in verdict.purposes:
        validity = "valid" if purpose.valid else "not valid"
        click.echo(f"{PURPOSE_USAGE[purpose.purpose]}: {validity}: {purpose.reason}")
    if not verdict.trusted:
        sys.exit(EXIT_FAILED_CHECK)
