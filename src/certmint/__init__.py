"""certmint: short-lived X.509 identities for Kubernetes workloads."""

__version__ = "0.1.0"
