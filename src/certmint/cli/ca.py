"""`ca`: show and rotate issuer CAs."""

from collections.abc import Callable

import click

from certmint.api.kinds import CLUSTER_ISSUERS, ISSUERS
from certmint.cli import cluster
from certmint.cli.output import OBJECT_OUTPUTS, emit, output_option, ready_condition, resource_name
from certmint.cli.session import Session
from certmint.planning.issuers.rotation import ROTATE_REQUEST


@click.group()
def ca() -> None:
    """Show and rotate issuer CAs."""


SHOW_OUTPUTS = tuple(output for output in OBJECT_OUTPUTS if output not in ("table", "wide"))


def _namespace(session: Session, flag: str | None, cluster_scoped: bool) -> str | None:
    return None if cluster_scoped else session.namespace_of(flag)


def _issuer_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("-n", "--namespace", help="Namespace of an Issuer.")(command)
    return click.option("--cluster", "cluster_scoped", is_flag=True, help="A ClusterIssuer.")(command)


@ca.command("show")
@click.argument("issuer")
@_issuer_options
@output_option(SHOW_OUTPUTS, "yaml")
@click.pass_obj
def ca_show(
    session: Session, issuer: str, namespace: str | None, cluster_scoped: bool, output: str | None
) -> None:
    """The issuer's CA, its readiness and its rotation phase."""
    chosen_output = session.output_of(output, "yaml", SHOW_OUTPUTS)
    kind = CLUSTER_ISSUERS if cluster_scoped else ISSUERS
    api = session.connect()
    found = cluster.get_object(api, kind.plural, _namespace(session, namespace, cluster_scoped), issuer)
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
        chosen_output,
        ["issuer"],
        name=lambda row: resource_name(kind, row["issuer"]),
    )


@ca.command("rotate")
@click.argument("issuer")
@_issuer_options
@click.pass_obj
def ca_rotate(session: Session, issuer: str, namespace: str | None, cluster_scoped: bool) -> None:
    """Rotate a selfSigned issuer's CA now (e.g. after a compromise): the old CA is distrusted early."""
    api = session.connect()
    plural = CLUSTER_ISSUERS.plural if cluster_scoped else ISSUERS.plural
    ns = _namespace(session, namespace, cluster_scoped)
    found = cluster.get_object(api, plural, ns, issuer)
    if "selfSigned" not in found.get("spec", {}):
        raise click.ClickException(f"{issuer} is not a selfSigned issuer; rotate its CA Secret instead")
    cluster.annotate(api, plural, ns, issuer, {ROTATE_REQUEST: cluster.request_token()})
    click.echo(f"CA rotation requested for {issuer}; watch it with `certmint ca show {issuer}`")
