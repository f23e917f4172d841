#!/usr/bin/env bash
# Builds Prometheus's promtool from Go modules (pinned by go.mod here) into a cache outside the
# repository; skips it when already there. It checks and unit-tests the chart's alerting rules
# (make lint, make test). Prints the binary's path.
set -euo pipefail

PROMETHEUS_VERSION=v0.315.0  # keep in step with go.mod
here=$(cd "$(dirname "$0")" && pwd)
out="${CERTMINT_CACHE:-$HOME/.cache/certmint}/promtool/$PROMETHEUS_VERSION"
mkdir -p "$out"
if [ -x "$out/promtool" ]; then
  echo "$out/promtool"
  exit 0
fi
echo "building promtool $PROMETHEUS_VERSION..." >&2
start=$SECONDS
(cd "$here" && GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
  go build -ldflags "-s -w" -o "$out/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool) >&2
mv "$out/promtool.tmp" "$out/promtool"
echo "built promtool in $((SECONDS - start)) s" >&2
echo "$out/promtool"
