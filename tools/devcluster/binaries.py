"""Where tools/controlplane/build.sh puts the control-plane binaries."""

import os
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"


@dataclass(frozen=True)
class Binaries:
    directory: Path

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def kube_apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.directory / "kube-controller-manager"

    @property
    def kubectl(self) -> Path:
        return self.directory / "kubectl"

    @property
    def kube_scheduler(self) -> Path:
        return self.directory / "kube-scheduler"

    @property
    def kubelet(self) -> Path:
        return self.directory / "kubelet"

    @property
    def kube_proxy(self) -> Path:
        return self.directory / "kube-proxy"

    @property
    def helm(self) -> Path:
        return self.directory / "helm"


def cache_root() -> Path:
    return Path(os.environ.get("CERTMINT_CACHE", Path.home() / ".cache" / "certmint"))


def cache_directory() -> Path:
    return cache_root() / "controlplane" / KUBERNETES_VERSION


def locate_binaries() -> Binaries:
    binaries = Binaries(cache_directory())
    missing = [
        path.name
        for path in (
            binaries.etcd,
            binaries.kube_apiserver,
            binaries.kube_controller_manager,
            binaries.kubectl,
        )
        if not os.access(path, os.X_OK)
    ]
    if missing:
        raise FileNotFoundError(
            f"control-plane binaries missing in {binaries.directory}: {', '.join(missing)}; "
            "build them with tools/controlplane/build.sh (or `make controlplane`)"
        )
    return binaries
