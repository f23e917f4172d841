"""Operator settings, from the environment (the Helm chart sets them) or the CLI."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    namespace: str = "certmint"
    """Where ClusterIssuer CA Secrets live: the operator's own namespace."""
    trust_domain: str = "cluster.local"
    cluster_domain: str = "cluster.local"
    """The cluster's DNS domain: a namespaced Issuer's CA is limited to <ns>.svc.<cluster domain>."""
    workers: int = 8
    issuer_resync_seconds: float = 600.0
    metrics_port: int = 9402
    """Port of /metrics and /crl/...; 0 turns the HTTP endpoints off."""
    peering: str = ""
    """Name of the ClusterKopfPeering object replicas share; empty runs standalone (one replica)."""
    identity: str = ""
    """This replica's name in the peering object."""
    priority: int = 0
    """The live replica with the highest priority works; the others stand by."""
    peering_lifetime: int = 60
    """Seconds after its last keep-alive that a replica counts as gone and another takes over."""
    watch_server_timeout: int = 300
    """Seconds after which the API server ends each watch; kopf starts it again."""
    watch_client_timeout: int = 330
    """Seconds after which a watch is abandoned even if the server never ended it: a silently
    stalled stream (kopf #1120) is noticed and restarted."""
    watch_namespaces: tuple[str, ...] = ()
    """The only namespaces served (with namespaced RBAC); empty serves every namespace."""
    http_address: str = "0.0.0.0"
    csr_auto_approve: bool = True
    """Whether issuers that opt in may approve CSRs (the chart grants `approve` only with
    csrSigner.autoApprove); off, every CSR waits for a person."""

    @classmethod
    def from_env(cls) -> "OperatorConfig":
        defaults = cls()
        return cls(
            namespace=os.environ.get("CERTMINT_NAMESPACE", defaults.namespace),
            trust_domain=os.environ.get("CERTMINT_TRUST_DOMAIN", defaults.trust_domain),
            cluster_domain=os.environ.get("CERTMINT_CLUSTER_DOMAIN", defaults.cluster_domain),
            workers=int(os.environ.get("CERTMINT_WORKERS", defaults.workers)),
            issuer_resync_seconds=float(
                os.environ.get("CERTMINT_ISSUER_RESYNC_SECONDS", defaults.issuer_resync_seconds)
            ),
            metrics_port=int(os.environ.get("CERTMINT_METRICS_PORT", defaults.metrics_port)),
            http_address=os.environ.get("CERTMINT_HTTP_ADDRESS", defaults.http_address),
            csr_auto_approve=os.environ.get("CERTMINT_CSR_AUTO_APPROVE", "true").lower() == "true",
            peering=os.environ.get("CERTMINT_PEERING", defaults.peering),
            watch_server_timeout=int(
                os.environ.get("CERTMINT_WATCH_SERVER_TIMEOUT", defaults.watch_server_timeout)
            ),
            watch_client_timeout=int(
                os.environ.get("CERTMINT_WATCH_CLIENT_TIMEOUT", defaults.watch_client_timeout)
            ),
            watch_namespaces=tuple(
                name for name in os.environ.get("CERTMINT_WATCH_NAMESPACES", "").split(",") if name
            ),
            identity=os.environ.get("CERTMINT_PEER_IDENTITY", defaults.identity),
            priority=int(os.environ.get("CERTMINT_PRIORITY", defaults.priority)),
            peering_lifetime=int(os.environ.get("CERTMINT_PEERING_LIFETIME", defaults.peering_lifetime)),
        )
