"""kopf wiring: watch events feed a work queue; workers reconcile through planning, pki and kube."""
