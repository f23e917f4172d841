"""`certmint operator`: the operator's configuration, built once from the command line, and its start.

Each setting is a flag whose environment variable (the Helm chart sets CERTMINT_*) stands in for
it when it is not given; the defaults are OperatorConfig's. The configuration reaches the operator
in kopf's memo: nothing is passed through the process environment."""

import asyncio
import logging
import os
import secrets
import socket
from typing import Any

import click

from certmint.operator.config import OperatorConfig

DEFAULTS = OperatorConfig()


@click.command()
@click.option(
    "--namespace",
    envvar="CERTMINT_NAMESPACE",
    default=DEFAULTS.namespace,
    show_default=True,
    help="The operator's namespace, where ClusterIssuer CA Secrets live.",
)
@click.option(
    "--trust-domain",
    envvar="CERTMINT_TRUST_DOMAIN",
    default=DEFAULTS.trust_domain,
    show_default=True,
    help="SPIFFE trust domain of identities requested through spec.identity.serviceAccount.",
)
@click.option(
    "--cluster-domain",
    envvar="CERTMINT_CLUSTER_DOMAIN",
    default=DEFAULTS.cluster_domain,
    show_default=True,
    help="The cluster's DNS domain: a namespaced Issuer's CA is limited to <ns>.svc.<cluster domain>.",
)
@click.option(
    "--workers",
    envvar="CERTMINT_WORKERS",
    type=int,
    default=DEFAULTS.workers,
    show_default=True,
    help="Reconciles run at once.",
)
@click.option(
    "--issuer-resync-seconds",
    envvar="CERTMINT_ISSUER_RESYNC_SECONDS",
    type=float,
    default=DEFAULTS.issuer_resync_seconds,
    show_default=True,
    help="Seconds between reconciles of an unchanged issuer.",
)
@click.option(
    "--metrics-port",
    envvar="CERTMINT_METRICS_PORT",
    type=int,
    default=DEFAULTS.metrics_port,
    show_default=True,
    help="Port of /metrics, /crl/... and /ocsp/...; 0 turns them off.",
)
@click.option(
    "--http-address",
    envvar="CERTMINT_HTTP_ADDRESS",
    default=DEFAULTS.http_address,
    show_default=True,
    help="Address the metrics, CRL and OCSP endpoints listen on.",
)
@click.option(
    "--csr-auto-approve/--no-csr-auto-approve",
    envvar="CERTMINT_CSR_AUTO_APPROVE",
    default=DEFAULTS.csr_auto_approve,
    show_default=True,
    help="Whether issuers that opt in may approve CertificateSigningRequests; off, each waits for a person.",
)
@click.option(
    "--peering",
    envvar="CERTMINT_PEERING",
    default=DEFAULTS.peering,
    help="ClusterKopfPeering object shared by replicas; only the highest priority works. Unset: standalone.",
)
@click.option(
    "--peer-identity",
    "identity",
    envvar="CERTMINT_PEER_IDENTITY",
    default=None,
    help="This replica's name in the peering object; default host/pid/random, unique per process.",
)
@click.option(
    "--priority",
    envvar="CERTMINT_PRIORITY",
    type=int,
    default=None,
    help="Peering priority; default random, so replicas of one Deployment never tie.",
)
@click.option(
    "--peering-lifetime",
    envvar="CERTMINT_PEERING_LIFETIME",
    type=int,
    default=DEFAULTS.peering_lifetime,
    show_default=True,
    help="Seconds after its last keep-alive that a replica counts as gone and another takes over.",
)
@click.option(
    "--watch-server-timeout",
    envvar="CERTMINT_WATCH_SERVER_TIMEOUT",
    type=int,
    default=DEFAULTS.watch_server_timeout,
    show_default=True,
    help="Seconds after which the API server ends each watch; it is started again.",
)
@click.option(
    "--watch-client-timeout",
    envvar="CERTMINT_WATCH_CLIENT_TIMEOUT",
    type=int,
    default=DEFAULTS.watch_client_timeout,
    show_default=True,
    help="Seconds after which a watch the server never ended is abandoned and started again.",
)
@click.option(
    "--watch-namespaces",
    envvar="CERTMINT_WATCH_NAMESPACES",
    default="",
    help="Comma-separated namespaces to serve (the operator's own included); unset: all.",
)
@click.option(
    "--liveness", default=None, help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz."
)
@click.option("--verbose", is_flag=True, help="Debug logging.")
@click.pass_obj
def operator(kubeconfig: str | None, /, liveness: str | None, verbose: bool, **settings: Any) -> None:
    """Run the operator against the cluster (as `kopf run` does)."""
    run(build_config(kubeconfig, **settings), liveness, verbose)


def build_config(
    kubeconfig: str | None,
    *,
    identity: str | None,
    priority: int | None,
    watch_namespaces: str,
    **settings: Any,
) -> OperatorConfig:
    """The operator's configuration from the command's options, with what is decided once per
    process: its peer identity, its priority, and the namespaces it serves."""
    served = {name.strip() for name in watch_namespaces.split(",") if name.strip()}
    if served:
        served.add(settings["namespace"])  # ClusterIssuer CA Secrets live in the operator's own
    return OperatorConfig(
        **settings,
        kubeconfig=kubeconfig,
        # kopf and the controller must agree on who this replica is in the peering object.
        identity=identity or f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}",
        priority=priority if priority is not None else secrets.randbelow(2**31 - 1) + 1,
        watch_namespaces=tuple(sorted(served)),
    )


def run(config: OperatorConfig, liveness: str | None, verbose: bool) -> None:
    """kopf's operator with certmint's handlers, its settings, and `config` in its memo."""
    # Imported here, not at the top: only this command needs kopf, and importing the handlers
    # registers them with it.
    import kopf  # noqa: PLC0415

    from certmint.operator import handlers  # noqa: PLC0415

    kopf.configure(verbose=verbose, log_prefix=True)
    logging.getLogger("certmint").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf reports every handled watch event at INFO: thousands of lines a minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings = kopf.OperatorSettings()
    handlers.configure_kopf(settings, config)
    asyncio.run(
        kopf.operator(
            settings=settings,
            memo=kopf.Memo({handlers.CONFIG: config}),
            clusterwide=not config.watch_namespaces,
            namespaces=config.watch_namespaces,
            identity=config.identity,  # type: ignore[arg-type]
            liveness_endpoint=liveness,
        )
    )
