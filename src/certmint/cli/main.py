"""`certmint`: run the operator, and inspect and steer what it manages.

The root only: the command group, its kubectl flags, how errors end a command, and `main`. Each
command group lives in its own module, as cmctl lays out its commands. Installed as `certmint` and as
the kubectl plugin `kubectl-certmint` (`kubectl certmint ...`): the same command."""

import os
import sys
from typing import Any

import click
from kubernetes.client.exceptions import ApiException

from certmint import __version__
from certmint.cli import (
    bundle,
    ca,
    certificates,
    cluster,
    convert,
    inspect,
    migrate,
    operator,
    pod_certificates,
    signing_requests,
)
from certmint.cli.output import (
    EXIT_API_ERROR,
    EXIT_CONFIG_ERROR,
    EXIT_FAILED_CHECK,
    EXIT_NOT_FOUND,
    OUTPUTS,
)
from certmint.cli.session import Session
from certmint.pki import PKIError

PLUGIN_EXECUTABLE = "kubectl-certmint"
"""kubectl runs `kubectl certmint ...` as this executable on PATH, with the arguments unchanged."""


ROOT_ONLY_FLAGS = ("--kubeconfig", "--context")
"""kubectl's global flags that no command has: given after the command (`kubectl certmint status
web --context prod`, as kubectl users write them), they are still the root's."""


class CertmintGroup(click.Group):
    """Clear messages and exit codes instead of tracebacks, for every command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, root_flags_first(args))

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
        except cluster.BadConfig as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_CONFIG_ERROR)


@click.group(cls=CertmintGroup)
@click.version_option(__version__, prog_name="certmint")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig to use; in-cluster config when unset.")
@click.option("--context", "kube_context", help="The kubeconfig context to use (default: its current one).")
@click.option(
    "-n",
    "--namespace",
    help="Namespace for every command that takes one (a command's own -n wins); default: the "
    'context\'s namespace, else "default".',
)
@click.option(
    "-o", "--output", type=OUTPUTS, help="Output format of the commands that print objects (their -o wins)."
)
@click.pass_context
def cli(
    context: click.Context,
    kubeconfig: str | None,
    kube_context: str | None,
    namespace: str | None,
    output: str | None,
) -> None:
    """certmint: short-lived X.509 identities for Kubernetes workloads."""
    context.obj = Session(kubeconfig or None, kube_context, namespace, output)


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
cli.add_command(convert.convert_command)


def root_flags_first(args: list[str]) -> list[str]:
    """`args` with each of ROOT_ONLY_FLAGS (and its value) moved to the front; nothing after `--`."""
    hoisted: list[str] = []
    rest: list[str] = []
    remaining = iter(args)
    for arg in remaining:
        if arg == "--":
            rest.extend([arg, *remaining])
        elif arg in ROOT_ONLY_FLAGS:
            hoisted.append(arg)
            value = next(remaining, None)
            if value is not None:
                hoisted.append(value)
        elif arg.startswith(tuple(f"{flag}=" for flag in ROOT_ONLY_FLAGS)):
            hoisted.append(arg)
        else:
            rest.append(arg)
    return hoisted + rest


def main() -> None:
    cli(prog_name=program_name(sys.argv[0]))


def program_name(executable: str) -> str:
    """How help and usage name the command: `kubectl certmint` when kubectl ran it as its plugin."""
    return "kubectl certmint" if os.path.basename(executable) == PLUGIN_EXECUTABLE else "certmint"


if __name__ == "__main__":
    main()
