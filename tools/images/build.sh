#!/usr/bin/env bash
# Builds the local node's images without any registry, as docker archives that the node's containerd
# imports: pause (the pod sandbox), base (Debian + Python, the base the project's Dockerfile is built
# on), peer (Debian + nginx, curl and openssl: the TLS workloads of the tests and the demo) and
# certmint (the project's Dockerfile, unchanged apart from its PYTHON_IMAGE and CERTMINT_VERSION build
# arguments).
#
# Usage: build.sh [pause|base|peer|certmint]...   (default: all of them)
# Each image is rebuilt only when the hash of its inputs changes; <name>.ref beside its archive names
# the image, tagged with that hash. Everything lives in ${CERTMINT_CACHE:-~/.cache/certmint}/images.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out="${CERTMINT_CACHE:-$HOME/.cache/certmint}/images"
mkdir -p "$out"
# One build at a time per cache: parallel checkouts share the storage and the archives.
exec 9> "$out/.lock"
flock 9
# vfs storage: no overlay mounts that could outlive a killed build.
buildah_storage=(--root "$out/storage" --runroot "$out/runroot" --storage-driver vfs)
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
PEER_PACKAGES=nginx-light,curl,openssl,ca-certificates,procps

# Mounts made by mmdebstrap and buildah stay in a private mount namespace: a killed build leaves
# nothing mounted on the host.
private() { unshare --mount --propagation private -- "$@"; }
buildah_() { private buildah "${buildah_storage[@]}" "$@"; }

apt_sources() {
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    echo /etc/apt/sources.list.d/debian.sources
  else
    echo /etc/apt/sources.list
  fi
}

# up_to_date NAME HASH: the archive exists and was built from inputs with this hash.
up_to_date() {
  [ -f "$out/$1.tar" ] && [ -f "$out/$1.ref" ] && [ "$(cat "$out/$1.hash" 2>/dev/null)" = "$2" ]
}

# publish NAME HASH REF: writes the archive of REF and records what it was built from.
publish() {
  local name=$1 hash=$2 ref=$3 previous
  previous=$(cat "$out/$name.ref" 2>/dev/null || true)
  rm -f "$out/$name.tar.tmp"
  buildah_ push --quiet "$ref" "docker-archive:$out/$name.tar.tmp:$ref" > /dev/null
  mv "$out/$name.tar.tmp" "$out/$name.tar"
  echo "$ref" > "$out/$name.ref"
  echo "$hash" > "$out/$name.hash"
  # The image it replaces only takes room in the build storage.
  if [ -n "$previous" ] && [ "$previous" != "$ref" ]; then buildah_ rmi "$previous" > /dev/null 2>&1 || true; fi
}

# rootfs_image NAME PACKAGES: a Debian minbase root filesystem with PACKAGES, as an image.
rootfs_image() {
  local name=$1 packages=$2 hash ref start=$SECONDS
  hash=$(printf '%s\n' "$SUITE" "$packages" "$(sha256sum < "$0")" | sha256sum | cut -c1-16)
  if up_to_date "$name" "$hash"; then echo "cached: $(cat "$out/$name.ref")"; return; fi
  ref="localhost/certmint-$name:$hash"
  echo "building $ref (mmdebstrap $SUITE: $packages)..."
  private mmdebstrap --quiet --mode=root --variant=minbase --include="$packages" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$SUITE" "$out/$name-rootfs.tar" "$(apt_sources)"
  local container
  container=$(buildah_ from scratch)
  buildah_ add --quiet "$container" "$out/$name-rootfs.tar" / > /dev/null
  buildah_ config --cmd '["/bin/bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 "$container"
  buildah_ commit --quiet --rm "$container" "$ref" > /dev/null
  rm -f "$out/$name-rootfs.tar"
  publish "$name" "$hash" "$ref"
  echo "built $ref in $((SECONDS - start)) s"
}

pause_image() {
  local hash ref start=$SECONDS
  hash=$(cat "$here/pause/go.mod" "$here/pause/main.go" "$0" | sha256sum | cut -c1-16)
  if up_to_date pause "$hash"; then echo "cached: $(cat "$out/pause.ref")"; return; fi
  ref="localhost/certmint-pause:$hash"
  echo "building $ref..."
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/pause.bin" .)
  local container
  container=$(buildah_ from scratch)
  buildah_ copy --quiet "$container" "$out/pause.bin" /pause > /dev/null
  buildah_ config --entrypoint '["/pause"]' --user 65535:65535 "$container"
  buildah_ commit --quiet --rm "$container" "$ref" > /dev/null
  rm -f "$out/pause.bin"
  publish pause "$hash" "$ref"
  echo "built $ref in $((SECONDS - start)) s"
}

# The Dockerfile's inputs as the work tree has them (tracked files only: no virtualenv, no caches).
certmint_inputs() {
  git -C "$repo" ls-files -- Dockerfile pyproject.toml README.md src | sort
}

certmint_image() {
  rootfs_image base "$BASE_PACKAGES" > /dev/null
  local base_ref hash ref start=$SECONDS
  base_ref=$(cat "$out/base.ref")
  hash=$( { echo "$base_ref"; sha256sum < "$0"; certmint_inputs | (cd "$repo" && xargs -d '\n' sha256sum); } \
    | sha256sum | cut -c1-16)
  if up_to_date certmint "$hash"; then echo "cached: $(cat "$out/certmint.ref")"; return; fi
  ref="localhost/certmint:$hash"
  echo "building $ref from the project's Dockerfile..."
  local context
  context=$(mktemp -d)
  trap 'rm -rf "$context"' RETURN
  certmint_inputs | (cd "$repo" && xargs -d '\n' cp --parents -t "$context")
  # pip inside the build reaches the package index the way this machine's pip does: its configuration
  # and CA bundle, when there are such files.
  local mounts=()
  for file in /etc/pip.conf /etc/ssl/certs/ca-certificates.crt; do
    [ -f "$file" ] && mounts+=(-v "$file:$file:ro")
  done
  local version
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml" | head -n 1)
  [ -n "$version" ] || { echo "no version in $repo/pyproject.toml" >&2; return 1; }
  buildah_ bud --quiet --isolation chroot --network host --layers=false "${mounts[@]}" \
    --build-arg "PYTHON_IMAGE=$base_ref" --build-arg "CERTMINT_VERSION=$version" \
    -t "$ref" -f "$context/Dockerfile" "$context" > /dev/null
  publish certmint "$hash" "$ref"
  echo "built $ref in $((SECONDS - start)) s"
}

for image in "${@:-pause base peer certmint}"; do
  for name in $image; do
    case "$name" in
      pause) pause_image ;;
      base) rootfs_image base "$BASE_PACKAGES" ;;
      peer) rootfs_image peer "$PEER_PACKAGES" ;;
      certmint) certmint_image ;;
      *) echo "unknown image: $name (pause, base, peer, certmint)" >&2; exit 2 ;;
    esac
  done
done
