"""What the commands share: exit codes, NS/NAME targets and the -o output formats."""

import json
from typing import Any

import click
import yaml

from certmint.api.kinds import READY

EXIT_FAILED_CHECK = 1
EXIT_NOT_FOUND = 3
EXIT_API_ERROR = 4
OUTPUTS = click.Choice(["table", "json", "yaml"])


def emit(rows: list[dict[str, Any]], output: str, columns: list[str]) -> None:
    if output == "json":
        click.echo(json.dumps(rows if len(rows) != 1 else rows[0], indent=2, default=str))
    elif output == "yaml" or len(columns) == 1:
        click.echo(yaml.safe_dump(rows if len(rows) != 1 else rows[0], sort_keys=False).rstrip())
    else:
        widths = {c: max([len(c), *(len(str(row.get(c, ""))) for row in rows)]) for c in columns}
        click.echo("  ".join(c.upper().replace("_", " ").ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def split_target(target: str, namespace: str | None) -> tuple[str, str]:
    """NS/NAME, or NAME in `namespace` (default: "default")."""
    if "/" in target:
        ns, name = target.split("/", 1)
        return ns, name
    return namespace or "default", target


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    """The Ready condition of an object's status, or {} when it has none yet."""
    return next((c for c in status.get("conditions", []) if c["type"] == READY), {})
