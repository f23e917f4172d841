"""`certmint operator`: the operator's configuration, built once from the command line, and its start.

Each setting is a flag whose environment variable (the Helm chart sets CERTMINT_*) stands in for
it when it is not given; the defaults are OperatorConfig's. The configuration reaches the operator
in kopf's memo: nothing is passed through the process environment."""

import asyncio
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from certmint.cli.session import Session
from certmint.kube.client import connect
from certmint.kube.gateway import Kube
from certmint.operator import endpoints, metrics
from certmint.operator.config import OperatorConfig
from certmint.operator.slots import Fence, Held, Slots, serve_liveness
from certmint.planning.shards import Shard

if TYPE_CHECKING:
    import kopf

log = logging.getLogger("certmint.operator")

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
    "--liveness",
    envvar="CERTMINT_LIVENESS",
    default=None,
    help="Serve kopf's liveness probe (a spare's, while it waits for a slot), e.g. http://0.0.0.0:8080/healthz.",
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
    """kopf's operator with certmint's handlers, its settings, and `config` in its memo; with more
    than one active replica, the slot cycle (run_slots) around it."""
    # Imported here, not at the top: only this command needs kopf, and importing the handlers
    # registers them with it.
    import kopf  # noqa: PLC0415

    kopf.configure(verbose=verbose, log_prefix=True)
    logging.getLogger("certmint").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf reports every handled watch event at INFO: thousands of lines a minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        if config.replicas > 1:
            runner.run(run_slots(config, liveness))
        else:
            runner.run(run_kopf(config, liveness))


async def run_kopf(
    config: OperatorConfig,
    liveness: str | None,
    stop_flag: asyncio.Event | None = None,
    memo: "kopf.Memo | None" = None,
) -> None:
    """One run of kopf, until a signal or `stop_flag`, with the configuration in its `memo` (which
    the startup handler fills: the caller may look at it meanwhile)."""
    import kopf  # noqa: PLC0415

    from certmint.operator import handlers  # noqa: PLC0415

    memo = memo if memo is not None else kopf.Memo()
    memo[handlers.CONFIG] = config
    settings = kopf.OperatorSettings()
    handlers.configure_kopf(settings, config)
    await kopf.operator(
        settings=settings,
        memo=memo,
        clusterwide=not config.watch_namespaces,
        namespaces=config.watch_namespaces,
        identity=config.identity,  # type: ignore[arg-type]
        liveness_endpoint=liveness,
        stop_flag=stop_flag,
    )


async def run_slots(config: OperatorConfig, liveness: str | None) -> None:
    """A replica of a ring of config.replicas slots (serve_slots), with a client of its own for the
    Leases."""
    api = await connect(config.kubeconfig)
    keeper = Slots(
        kube=Kube(api),
        namespace=config.namespace,
        identity=config.identity,
        replicas=config.replicas,
        lease_seconds=config.lease_seconds,
        clock=lambda: datetime.now(UTC),
    )
    # devcluster's OperatorProcess waits for "certmint operator started": a spare has started too.
    log.info(
        "certmint operator started as %s, one of %d slots: taking a slot", config.identity, config.replicas
    )
    try:
        await serve_slots(config, liveness, keeper)
    finally:
        await api.close()  # type: ignore[no-untyped-call]


async def serve_slots(config: OperatorConfig, liveness: str | None, keeper: Slots) -> None:
    """Take a slot (a spare waits here), serve its buckets with kopf until the slot is lost, then
    take one again; until SIGTERM or SIGINT, when the slot is handed on at once. kopf's peering is
    off: the slot Leases decide who works."""
    import kopf  # noqa: PLC0415

    from certmint.operator import handlers  # noqa: PLC0415

    config = replace(config, peering="")
    stopping = asyncio.Event()
    while not stopping.is_set():
        _on_signals(stopping.set)  # kopf installs its own while it runs
        fence = Fence(config.lease_seconds, keeper.monotonic)
        # While it waits, a spare answers its liveness probe and serves its metrics (the slot
        # metrics say it holds none); kopf and the controller serve both from the slot on.
        standby = [
            *([await serve_liveness(liveness, keeper)] if liveness else []),
            *(
                [await endpoints.serve_metrics(config.http_address, config.metrics_port)]
                if config.metrics_port
                else []
            ),
        ]
        try:
            held = await _unless(stopping, keeper.acquire(fence))
        finally:
            for runner in standby:
                await runner.cleanup()
        if held is None:
            return
        _record_slot(held.shard, 1)
        lost = asyncio.Event()
        memo = kopf.Memo({handlers.SHARD: held.shard, handlers.FENCE: fence})
        serving = asyncio.create_task(run_kopf(config, liveness, lost, memo), name="certmint-kopf")
        keeping = asyncio.create_task(keeper.keep(held, fence), name="certmint-slot-keeper")
        await asyncio.wait({serving, keeping}, return_when=asyncio.FIRST_COMPLETED)
        _record_slot(held.shard, 0)
        if keeping.done():
            log.warning("%s: slot %d lost (%s): stopping", config.identity, held.lease.slot, keeping.result())
            controller = memo.get(handlers.CONTROLLER)
            if controller is not None:
                controller.active.clear()
            # kopf's signal handlers stay installed while it shuts down (it never removes them): a
            # SIGTERM then must end this loop, not only the kopf run that is ending anyway.
            _on_signals(stopping.set)
            lost.set()
            await serving
            continue
        # kopf ended on a signal (or failed): the slot is handed on at once.
        keeping.cancel()
        fence.close()
        await asyncio.gather(keeping, return_exceptions=True)
        await keeper.release(held)
        serving.result()
        return


async def _unless(stopping: asyncio.Event, work: Coroutine[Any, Any, Held]) -> Held | None:
    """`work`'s result, or None when `stopping` is set first (`work` cancelled)."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stopping.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


def _on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)


def _record_slot(shard: Shard, holding: int) -> None:
    metrics.shard_slot.labels(str(shard.slot), str(shard.generation), str(shard.slots)).set(holding)
    metrics.shard_buckets.set(len(shard.buckets()) * holding)


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
