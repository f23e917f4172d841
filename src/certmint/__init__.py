"""certmint: short-lived X.509 identities for Kubernetes workloads."""

__version__ = "0.2.0.dev0"
