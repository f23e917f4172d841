"""`certmint`: run the operator, and inspect what it manages."""

import asyncio
import logging
import os

import click

from certmint import __version__


@click.group()
@click.version_option(__version__, prog_name="certmint")
def cli() -> None:
    """certmint: short-lived X.509 identities for Kubernetes workloads."""


@cli.command()
def version() -> None:
    """Print the certmint version."""
    click.echo(__version__)


@cli.command()
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig to use; in-cluster config when unset.")
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
@click.option("--verbose", is_flag=True, help="Debug logging.")
def operator(kubeconfig: str | None, namespace: str, liveness: str | None, verbose: bool) -> None:
    """Run the operator against the cluster (as `kopf run` does)."""
    # Imported here, not at the top: only this command needs kopf, and importing the handlers
    # registers them with it.
    import kopf  # noqa: PLC0415

    import certmint.operator.handlers  # noqa: F401, PLC0415

    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig
    os.environ["CERTMINT_NAMESPACE"] = namespace
    kopf.configure(verbose=verbose, log_prefix=True)
    logging.getLogger("certmint").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf reports every handled watch event at INFO: thousands of lines a minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(kopf.operator(clusterwide=True, standalone=True, liveness_endpoint=liveness))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
