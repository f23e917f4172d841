"""The few Kubernetes reads and writes certmint does, in one place."""
