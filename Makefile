# certmint developer entry points. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# devcluster (tools/devcluster) is no part of the certmint package: what imports it finds it here.
DEVTOOLS := PYTHONPATH=$(CURDIR)/tools$(if $(PYTHONPATH),:$(PYTHONPATH))
# The bench also builds its manifests with the tests' builders (tests/e2e/manifests.py).
BENCHPATH := PYTHONPATH=$(CURDIR)/tools:$(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
HELM := $(or $(CERTMINT_CACHE),$(HOME)/.cache/certmint)/controlplane/v1.36.3/helm

.PHONY: run run-process demo test test-unit test-e2e test-node lint crds cluster controlplane promtool images system-deps bench bench-node clean

run: $(STAMP) controlplane system-deps images ## A real node, the chart's operator as a pod, a demo mTLS workload and its proof; Ctrl-C stops it.
	$(DEVTOOLS) $(BIN)/python -m devcluster.node.demo

run-process: $(STAMP) controlplane ## Fast development mode: control plane + operator as a process + demo Certificate.
	$(DEVTOOLS) $(BIN)/python -m devcluster.demo

demo: $(STAMP) controlplane ## Like run, but exits once the demo Secret is proven valid.
	$(DEVTOOLS) $(BIN)/python -m devcluster.demo --exit

test: $(STAMP) controlplane promtool system-deps images ## Unit, alert-rule and end-to-end tests against a real kube-apiserver, then on a real node.
	$(BIN)/pytest tests/unit tests/tools tests/e2e tests/e2e_node

test-unit: $(STAMP) system-deps  # system-deps: the Argo CD health checks run in Debian's Lua
	$(BIN)/pytest tests/unit

test-e2e: $(STAMP) controlplane system-deps
	$(BIN)/pytest tests/e2e

test-node: $(STAMP) controlplane system-deps images ## The end-to-end tests on a real node only.
	$(BIN)/pytest tests/e2e_node

lint: $(STAMP) controlplane promtool ## ruff, mypy --strict on src/, tools/devcluster, tests/ and bench/, import contracts, helm lint, promtool check rules.
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(DEVTOOLS) $(BIN)/lint-imports
	$(HELM) lint --strict charts/certmint
	@mkdir -p .cache
	$(BIN)/python tools/promtool/rules.py $(HELM) .cache/certmint.rules.yaml
	$$(tools/promtool/build.sh) check rules .cache/certmint.rules.yaml

crds: $(STAMP) ## Regenerate crds/ and the chart's CRDs (templates/crds/, and kopf's in crds/) from the pydantic models.
	$(BIN)/python -m certmint.api.crd crds charts/certmint

cluster: $(STAMP) controlplane ## A local control plane for humans; prints export KUBECONFIG=...
	$(DEVTOOLS) $(BIN)/python -m devcluster $(CURDIR)/.cluster

controlplane: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, kubelet, kube-scheduler, kube-proxy, helm into ~/.cache/certmint.
	tools/controlplane/build.sh

promtool: ## Build Prometheus's promtool from Go modules into ~/.cache/certmint (alert rule checks and tests).
	tools/promtool/build.sh

images: system-deps ## Node images (pause, Debian base, TLS peer, certmint from the Dockerfile) into ~/.cache/certmint/images; rebuilt when their inputs change.
	tools/images/build.sh

# TLS peers for the tests (openssl, curl, nginx), Lua for the Argo CD health scripts (contrib/argocd) and the node's runtime and image tools, from Debian's archive.
SYSTEM_PACKAGES := openssl curl nginx-light lua5.1 lua5.4 containerd runc containernetworking-plugins iptables iproute2 mmdebstrap buildah
system-deps:
	@dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null | grep -c '^install ok installed' | grep -qx $(words $(SYSTEM_PACKAGES)) || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }

bench: $(STAMP) controlplane ## PKI and OCSP micro-benchmarks, issuance at scale (N=100, 1000, 5000), a CA rotation of 5,000, 10 minutes of renewals, single-Certificate latency.
	$(BENCHPATH) $(BIN)/python bench/pki_bench.py
	$(BENCHPATH) $(BIN)/python bench/ocsp_bench.py
	$(BENCHPATH) $(BIN)/python bench/scale.py $(BENCH_ARGS)
	$(BENCHPATH) $(BIN)/python bench/latency.py
	$(BENCHPATH) $(BIN)/python bench/profile.py --size 1000

bench-node: $(STAMP) controlplane system-deps images ## On a real node: pods per second Ready with a pod certificate, the operator's CPU per PodCertificateRequest beside a Certificate's.
	$(BENCHPATH) $(BIN)/python bench/pod_certificates.py

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .cache .cluster .node .pytest_cache .mypy_cache .ruff_cache
