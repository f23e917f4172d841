"""`certmint`: run the operator, and inspect and steer what it manages.

The root only: the command group, its --kubeconfig, how errors end a command, and `main`. Each
command group lives in its own module, as cmctl lays out its commands."""

from typing import Any

import click
from kubernetes.client.exceptions import ApiException

from certmint import __version__
from certmint.cli import (
    bundle,
    ca,
    certificates,
    cluster,
    inspect,
    migrate,
    operator,
    pod_certificates,
    signing_requests,
)
from certmint.cli.output import EXIT_API_ERROR, EXIT_FAILED_CHECK, EXIT_NOT_FOUND
from certmint.pki import PKIError


class CertmintGroup(click.Group):
    """Clear messages and exit codes instead of tracebacks, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except cluster.NotFound as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_NOT_FOUND)
        except ApiException as error:
            click.echo(f"error: the API server answered {error.status} {error.reason}", err=True)
            ctx.exit(EXIT_API_ERROR)
        except PKIError as error:
            click.echo(f"error: {error.message}", err=True)
            ctx.exit(EXIT_FAILED_CHECK)


@click.group(cls=CertmintGroup)
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


cli.add_command(operator.operator)
for command in (*certificates.COMMANDS, *signing_requests.COMMANDS, *pod_certificates.COMMANDS):
    cli.add_command(command)
cli.add_command(inspect.inspect)
cli.add_command(ca.ca)
cli.add_command(bundle.bundle)
cli.add_command(migrate.migrate)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
