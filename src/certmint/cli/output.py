"""What the commands share: exit codes, NS/NAME targets and the -o output formats."""

import json
from collections.abc import Callable, Sequence
from typing import Any

import click
import yaml

from certmint.api.kinds import GROUP, READY, Resource

EXIT_FAILED_CHECK = 1
EXIT_NOT_FOUND = 3
EXIT_API_ERROR = 4
EXIT_CONFIG_ERROR = 5
OBJECT_OUTPUTS = ("table", "wide", "json", "yaml", "name")
"""kubectl's common -o values, for the commands that list objects ("table" is kubectl's default)."""
REPORT_OUTPUTS = ("json", "yaml")
"""For the commands that print one report about an object rather than the object."""
OUTPUTS = click.Choice(OBJECT_OUTPUTS)


def output_option(
    accepted: Sequence[str], default: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command's -o: unset, the root's -o, else `default`."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(accepted),
        default=None,
        help=f"Output format (default: the root's -o, else {default}).",
    )


def emit(
    rows: list[dict[str, Any]],
    output: str,
    columns: list[str],
    *,
    wide: Sequence[str] = (),
    name: Callable[[dict[str, Any]], str] | None = None,
) -> None:
    """`rows` as a table (plus the `wide` columns for -o wide), JSON, YAML, or one kubectl-style
    resource/name per row (-o name, through `name`)."""
    if output == "name":
        if name is None:
            raise click.UsageError("-o name is not an output of this command")
        for row in rows:
            click.echo(name(row))
    elif output == "json":
        click.echo(json.dumps(rows if len(rows) != 1 else rows[0], indent=2, default=str))
    elif output == "yaml" or len(columns) == 1:
        click.echo(yaml.safe_dump(rows if len(rows) != 1 else rows[0], sort_keys=False).rstrip())
    else:
        columns = [*columns, *wide] if output == "wide" else columns
        widths = {c: max([len(c), *(len(str(row.get(c, ""))) for row in rows)]) for c in columns}
        click.echo("  ".join(c.upper().replace("_", " ").ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def split_target(target: str, namespace: str) -> tuple[str, str]:
    """NS/NAME, or NAME in `namespace`."""
    if "/" in target:
        ns, name = target.split("/", 1)
        return ns, name
    return namespace, target


def resource_name(resource: Resource, name: str) -> str:
    """As `kubectl get -o name` prints an object: kind.group/name."""
    return f"{resource.kind.lower()}.{GROUP}/{name}"


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    """The Ready condition of an object's status, or {} when it has none yet."""
    return next((c for c in status.get("conditions", []) if c["type"] == READY), {})
