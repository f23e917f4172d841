"""A real local Kubernetes control plane (etcd + kube-apiserver [+ kube-controller-manager]) on loopback.

Built for tests and `make run`: no Docker, no kubelet. Binaries come from tools/controlplane/build.sh.
"""

from devcluster.binaries import Binaries, locate_binaries
from devcluster.controlplane import ControlPlane, LocalControlPlane

__all__ = ["Binaries", "ControlPlane", "LocalControlPlane", "locate_binaries"]
