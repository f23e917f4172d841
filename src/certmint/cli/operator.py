"""`certmint operator`: the operator's configuration, built once from the command line, and its start.

Each setting is a flag whose environment variable (the Helm chart sets CERTMINT_*) stands in for
it when it is not given; the defaults are OperatorConfig's. The configuration reaches the operator
in kopf's memo: nothing is passed through the process environment."""

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

import click

from certmint.cli.session import Session
from certmint.operator.config import OperatorConfig

DEFAULTS = OperatorConfig()


def _setting(field: str, help: str, **option: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The flag of OperatorConfig.<field>: --<field>, which CERTMINT_<FIELD> stands in for when it
    is not given, with the dataclass's default (its type click's)."""
    flag = option.pop("flag", f"--{field.replace('_', '-')}")
    option.setdefault("envvar", f"CERTMINT_{field.upper()}")
    option.setdefault("default", getattr(DEFAULTS, field))
    option.setdefault("show_default", True)
    return click.option(flag, field, help=help, **option)


@click.command()
@_setting("namespace", "The operator's namespace, where ClusterIssuer CA Secrets live.")
@_setting("trust_domain", "SPIFFE trust domain of identities requested through spec.identity.serviceAccount.")
@_setting(
    "cluster_domain",
    "The cluster's DNS domain: a namespaced Issuer's CA is limited to <ns>.svc.<cluster domain>.",
)
@_setting("workers", "Reconciles run at once.")
@_setting("issuer_resync_seconds", "Seconds between reconciles of an unchanged issuer.")
@_setting("metrics_port", "Port of /metrics, /crl/... and /ocsp/...; 0 turns them off.")
@_setting("http_address", "Address the metrics, CRL and OCSP endpoints listen on.")
@_setting(
    "csr_auto_approve",
    "Whether issuers that opt in may approve CertificateSigningRequests; off, each waits for a person.",
    flag="--csr-auto-approve/--no-csr-auto-approve",
)
@_setting(
    "pod_certificates",
    "Sign PodCertificateRequests and publish ClusterTrustBundles for issuers with spec.podCertificates "
    "(needs certificates.k8s.io/v1beta1 and the chart's podCertificates.enabled RBAC).",
    flag="--pod-certificates/--no-pod-certificates",
)
@_setting(
    "migrate_storage",
    "At start, in the background: rewrite objects still stored at a deprecated version and update the "
    "CRDs' storedVersions, as `certmint migrate` does (needs the chart's migrateStorage RBAC).",
    flag="--migrate-storage/--no-migrate-storage",
)
@_setting(
    "peering",
    "ClusterKopfPeering object shared by replicas; only the highest priority works. Unset: standalone.",
    show_default=False,
)
@_setting(
    "identity",
    "This replica's name in the peering object; default host/pid/random, unique per process.",
    flag="--peer-identity",
    envvar="CERTMINT_PEER_IDENTITY",
    default=None,
)
@_setting(
    "priority",
    "Peering priority; default random, so replicas of one Deployment never tie.",
    type=int,
    default=None,
)
@_setting(
    "peering_lifetime",
    "Seconds after its last keep-alive that a replica counts as gone and another takes over.",
)
@_setting(
    "replicas",
    "Active replicas: each serves one slot of the shard ring while it holds that slot's Lease; more "
    "replicas than this stand by as spares. 1 (the default) works as a single replica.",
    type=click.IntRange(1, 64),
)
@_setting("lease_seconds", "Seconds a slot Lease lasts without renewal (with more than one replica).")
@_setting("watch_server_timeout", "Seconds after which the API server ends each watch; it is started again.")
@_setting(
    "watch_client_timeout",
    "Seconds after which a watch the server never ended is abandoned and started again.",
)
@_setting(
    "watch_namespaces",
    "Comma-separated namespaces to serve (the operator's own included); unset: all.",
    default="",
    show_default=False,
)
@click.option(
    "--liveness", default=None, help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz."
)
@click.option("--verbose", is_flag=True, help="Debug logging.")
@click.pass_obj
def operator(session: Session, /, liveness: str | None, verbose: bool, **settings: Any) -> None:
    """Run the operator against the cluster (as `kopf run` does), with the kubeconfig's current context."""
    if session.context is not None:
        # kopf logs in on its own, from the kubeconfig's current context: it has no --context.
        raise click.UsageError(
            "the operator runs with the kubeconfig's current context; --context is not for it"
        )
    run(build_config(session.kubeconfig, **settings), liveness, verbose)


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
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(
            kopf.operator(
                settings=settings,
                memo=kopf.Memo({handlers.CONFIG: config}),
                clusterwide=not config.watch_namespaces,
                namespaces=config.watch_namespaces,
                identity=config.identity,  # type: ignore[arg-type]
                liveness_endpoint=liveness,
            )
        )


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop, as `kopf run` uses it when it is installed: at a restart of 2,000 Certificates it took
    the time until all were reconciled from 8.2 s to 3.7 s (bench/results/2026-12-02-shard-restart.md).
    CERTMINT_EVENT_LOOP=asyncio keeps the standard loop (to compare, or should uvloop misbehave)."""
    if os.environ.get("CERTMINT_EVENT_LOOP") == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop
