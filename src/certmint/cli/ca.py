"""`ca`: show and rotate issuer CAs."""

from collections.abc import Callable

import click

from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS
from certmint.cli import cluster
from certmint.cli.output import OUTPUTS, emit, ready_condition
from certmint.planning.issuers.rotation import ROTATE_REQUEST


@click.group()
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
    api = cluster.connect(kubeconfig)
    plural, ns = (CLUSTER_ISSUERS.plural, None) if cluster_scoped else (ISSUERS.plural, namespace)
    found = cluster.get_object(api, plural, ns, issuer)
    state = found.get("status") or {}
    ready = ready_condition(state)
    emit(
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
    api = cluster.connect(kubeconfig)
    plural, ns = (CLUSTER_ISSUERS.plural, None) if cluster_scoped else (ISSUERS.plural, namespace)
    found = cluster.get_object(api, plural, ns, issuer)
    if "selfSigned" not in found.get("spec", {}):
        raise click.ClickException(f"{issuer} is not a selfSigned issuer; rotate its CA Secret instead")
    cluster.annotate(api, plural, ns, issuer, {ROTATE_REQUEST: cluster.request_token()})
    click.echo(f"CA rotation requested for {issuer}; watch it with `certmint ca show {issuer}`")
