"""`migrate`: move every stored certmint.dev object to the storage version, then drop the old
versions from the CRDs' status.storedVersions (kube.migration, once per kind)."""

import asyncio
import sys

import click
from kubernetes.aio.config import ConfigException

from certmint.api.kinds import RESOURCES
from certmint.cli.output import EXIT_API_ERROR, EXIT_CONFIG_ERROR, EXIT_FAILED_CHECK, emit
from certmint.cli.session import Session
from certmint.kube.client import connect
from certmint.kube.errors import TRANSIENT, describe
from certmint.kube.gateway import Kube
from certmint.kube.migration import KindMigration, MigrationRefused, check, migrate_kind
from certmint.planning.storage import DEFAULT_WRITES_PER_SECOND

COLUMNS = ["kind", "objects", "rewritten", "stored_versions"]


@click.command()
@click.option("--dry-run", is_flag=True, help="Check the CRDs and count the objects; write nothing.")
@click.option(
    "--writes-per-second",
    type=click.FloatRange(min=0.1, max=1000),
    default=DEFAULT_WRITES_PER_SECOND,
    show_default=True,
    help="At most this many object writes a second, so a large cluster is not flooded.",
)
@click.pass_obj
def migrate(session: Session, dry_run: bool, writes_per_second: float) -> None:
    """Rewrite every certmint object at the storage version (certmint.dev/v1) and set the CRDs'
    storedVersions to [v1], so that a later release can stop serving v1alpha1. Needs this release's
    CRDs applied first; refuses, writing nothing, otherwise. Safe to run again."""
    try:
        migrations = asyncio.run(_migrate(session, dry_run, writes_per_second))
    except ConfigException as error:
        click.echo(f"error: no usable kubeconfig or in-cluster configuration: {error}", err=True)
        sys.exit(EXIT_CONFIG_ERROR)
    except MigrationRefused as refusal:
        click.echo(f"error: {refusal}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    except TRANSIENT as error:
        click.echo(
            f"error: {describe(error)}; storedVersions of the kinds not yet done are unchanged", err=True
        )
        sys.exit(EXIT_API_ERROR)
    emit([_row(migration, dry_run) for migration in migrations], "table", COLUMNS)


async def _migrate(session: Session, dry_run: bool, writes_per_second: float) -> list[KindMigration]:
    api = await connect(session.kubeconfig, session.context)
    try:
        kube = Kube(api)
        # Every CRD checked before the first write: one not upgraded refuses the whole migration.
        refusals = [found.refusal for found in [await check(kube, resource) for resource in RESOURCES]]
        if any(refusals):
            raise MigrationRefused("; ".join(refusal for refusal in refusals if refusal))
        return [
            await migrate_kind(kube, resource, writes_per_second, dry_run=dry_run) for resource in RESOURCES
        ]
    finally:
        await api.close()  # type: ignore[no-untyped-call]


def _row(migration: KindMigration, dry_run: bool) -> dict[str, object]:
    before, after = ",".join(migration.stored_before), ",".join(migration.stored_after)
    return {
        "kind": migration.resource.kind,
        "objects": migration.objects,
        "rewritten": "(dry run)" if dry_run else migration.rewritten,
        "stored_versions": f"{before} -> {after}" if before != after else f"{after} (unchanged)",
    }
