"""Operator settings: built once by `certmint operator` from its flags (or their CERTMINT_*
environment variables, which the Helm chart sets) and handed to the operator in kopf's memo."""

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
    pod_certificates: bool = False
    """Whether certmint signs Kubernetes PodCertificateRequests and publishes ClusterTrustBundles for
    issuers that opt in (the chart grants the RBAC only with podCertificates.enabled)."""
    migrate_storage: bool = True
    """Whether the operator, at start, moves objects still stored at a deprecated version to the
    storage version and updates the CRDs' storedVersions (as `certmint migrate` does)."""
    replicas: int = 1
    """Active replicas: the slots of the shard ring (planning.shards). 1 works as one replica always
    did; more split the buckets, each replica serving one slot while it holds that slot's Lease, and
    replicas beyond this number stand by as spares."""
    lease_seconds: int = 15
    """How long a slot Lease lasts without renewal: a replica stops writing before it can expire, and a
    spare takes a slot whose Lease expired."""
    kubeconfig: str | None = None
    """The kubeconfig certmint's own API client uses; unset: KUBECONFIG, else the pod's service account."""
