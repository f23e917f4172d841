#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kubectl), the node
# (kubelet, kube-scheduler, kube-proxy) and helm
# from Go modules into a cache outside the repository; skips whatever is already there.
set -euo pipefail

K8S_VERSION=v1.36.3
HELM_VERSION=v3.21.4
here=$(cd "$(dirname "$0")" && pwd)
out="${CERTMINT_CACHE:-$HOME/.cache/certmint}/controlplane/$K8S_VERSION"
mkdir -p "$out"

# Keep compiler caches beside the binaries so a CI clone reuses them.
export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
version_pkg=k8s.io/component-base/version
ldflags="-s -w \
 -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor \
 -X $version_pkg.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build() {
  local name=$1 pkg=$2
  if [ -x "$out/$name" ]; then
    echo "cached: $out/$name"
    return
  fi
  echo "building $name ($pkg)..."
  local start=$SECONDS
  (cd "$here" && go build -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name in $((SECONDS - start)) s"
}

build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy

if [ ! -x "$out/helm" ]; then
  echo "building helm $HELM_VERSION..."
  start=$SECONDS
  GOBIN="$out" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "built helm in $((SECONDS - start)) s"
fi
echo "$out"
