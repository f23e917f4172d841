# certmint developer entry points. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HELM := $(or $(CERTMINT_CACHE),$(HOME)/.cache/certmint)/controlplane/v1.36.3/helm

.PHONY: run demo test test-unit test-e2e lint crds cluster controlplane promtool system-deps bench clean

run: $(STAMP) controlplane ## Local control plane + operator + demo Issuer/Certificate; Ctrl-C stops it.
	$(BIN)/python -m certmint.devcluster.demo

demo: $(STAMP) controlplane ## Like run, but exits once the demo Secret is proven valid.
	$(BIN)/python -m certmint.devcluster.demo --exit

test: $(STAMP) controlplane promtool system-deps ## Unit, alert-rule and end-to-end tests against a real kube-apiserver.
	$(BIN)/pytest tests/unit tests/tools tests/e2e

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-e2e: $(STAMP) controlplane system-deps
	$(BIN)/pytest tests/e2e

lint: $(STAMP) controlplane promtool ## ruff, mypy --strict on src/, import contracts, helm lint, promtool check rules.
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(HELM) lint --strict charts/certmint
	@mkdir -p .cache
	$(BIN)/python tools/promtool/rules.py $(HELM) .cache/certmint.rules.yaml
	$$(tools/promtool/build.sh) check rules .cache/certmint.rules.yaml

crds: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models.
	$(BIN)/python -m certmint.api.crd crds charts/certmint/crds

cluster: $(STAMP) controlplane ## A local control plane for humans; prints export KUBECONFIG=...
	$(BIN)/python -m certmint.devcluster $(CURDIR)/.cluster

controlplane: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, helm into ~/.cache/certmint.
	tools/controlplane/build.sh

promtool: ## Build Prometheus's promtool from Go modules into ~/.cache/certmint (alert rule checks and tests).
	tools/promtool/build.sh

system-deps: ## Real TLS peers for the tests (openssl, curl, nginx) from Debian's archive.
	@command -v openssl >/dev/null && command -v curl >/dev/null && command -v nginx >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl curl nginx-light >/dev/null; }

bench: $(STAMP) controlplane ## PKI and OCSP micro-benchmarks, then issuance at scale (N=100, 1000, 5000) on a local control plane.
	$(BIN)/python bench/pki_bench.py
	$(BIN)/python bench/ocsp_bench.py
	$(BIN)/python bench/scale.py $(BENCH_ARGS)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .cache .cluster .pytest_cache .mypy_cache .ruff_cache
