"""A real node for the local cluster: containerd, kubelet, kube-proxy and kube-scheduler beside the
control plane, all inside network, mount and PID namespaces that the run creates and the kernel
removes with it. The host reaches the API server through a relay on its loopback."""

from devcluster.node.cluster import LocalNode, RunningNode

__all__ = ["LocalNode", "RunningNode"]
