"""`kubectl certmint`: the real kubectl finds certmint on PATH as its plugin kubectl-certmint and runs
it with kubectl's flags (--context, -n, -o) against the real API server.

The plugin executable is what pip's console script for `kubectl-certmint` is (pyproject's
[project.scripts], checked in tests/unit/test_kubectl_conventions.py): a Python script of that name
calling certmint.cli.main:main, here with this worktree's code on PYTHONPATH.

Who could abuse it: the plugin is the user's own kubectl credentials running certmint's commands;
it can do nothing the user's RBAC does not allow. Proven below with a read-only tenant context."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from certmint.api.kinds import CERTIFICATES, GROUP
from certmint.cli.output import EXIT_API_ERROR, EXIT_CONFIG_ERROR, EXIT_NOT_FOUND
from certmint.planning.labels import RENEW_REQUEST
from tests.e2e.manifests import certificate, self_signed_issuer
from tests.e2e.support import Cluster, OperatorProcess, grant_role

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Kubectl:
    binary: Path
    env: dict[str, str]
    plugin: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, check=False, timeout=120, env=self.env
        )


def kubeconfig_with_contexts(cluster: Cluster, namespace: str, viewer_token: str) -> dict[str, Any]:
    """The plane's cluster and admin, as three contexts: `admin` (no namespace, the current one),
    `team` (the admin in `namespace`), `viewer` (a read-only service account in `namespace`)."""
    plane = yaml.safe_load(cluster.plane.kubeconfig.read_text())
    server, admin = plane["clusters"][0], plane["users"][0]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [admin, {"name": "viewer", "user": {"token": viewer_token}}],
        "contexts": [
            {"name": "admin", "context": {"cluster": server["name"], "user": admin["name"]}},
            {
                "name": "team",
                "context": {"cluster": server["name"], "user": admin["name"], "namespace": namespace},
            },
            {
                "name": "viewer",
                "context": {"cluster": server["name"], "user": "viewer", "namespace": namespace},
            },
        ],
        "current-context": "admin",
    }


def viewer_token(cluster: Cluster, namespace: str) -> str:
    """A service account of `namespace` that may only get and list Certificates there."""
    grant_role(
        cluster,
        namespace,
        "viewer",
        [{"apiGroups": [GROUP], "resources": [CERTIFICATES.plural], "verbs": ["get", "list"]}],
    )
    request = cluster.core.create_namespaced_service_account_token(
        "viewer",
        namespace,
        client.AuthenticationV1TokenRequest.model_validate({"spec": {"expirationSeconds": 3600}}),
    )
    assert request.status is not None
    assert request.status.token
    return str(request.status.token)


@pytest.fixture
def kubectl(cluster: Cluster, namespace: str, tmp_path: Path) -> Kubectl:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    plugin = plugins / "kubectl-certmint"
    plugin.write_text(
        f"#!{sys.executable}\nimport sys\n\nfrom certmint.cli.main import main\n\nsys.exit(main())\n"
    )
    plugin.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(kubeconfig_with_contexts(cluster, namespace, viewer_token(cluster, namespace)))
    )
    env = {
        "PATH": f"{plugins}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return Kubectl(cluster.plane.binaries.kubectl, env, plugin)


def test_kubectl_finds_and_runs_the_plugin_with_its_flags(
    cluster: Cluster, namespace: str, kubectl: Kubectl, operator_process: OperatorProcess
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")

    listed = kubectl("plugin", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(kubectl.plugin) in listed.stdout.splitlines()

    helped = kubectl("certmint", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Usage: kubectl certmint [OPTIONS] COMMAND [ARGS]...")

    # -n picks the namespace; the admin context names none.
    explicit = kubectl("certmint", "--context", "admin", "-n", namespace, "status", "web", "-o", "json")
    assert explicit.returncode == 0, explicit.stderr
    shown = json.loads(explicit.stdout)
    assert (shown["namespace"], shown["name"], shown["ready"]) == (namespace, "web", "True")
    serial = (cluster.get(CERTIFICATES.plural, namespace, "web") or {})["status"]["serialNumber"]
    assert shown["serial"] == serial

    # The team context's namespace is the default namespace of every command.
    from_context = kubectl("certmint", "--context", "team", "status", "-o", "name")
    assert from_context.returncode == 0, from_context.stderr
    assert from_context.stdout == "certificate.certmint.dev/web\n"
    # As kubectl users write them: the global flag after the command.
    trailing = kubectl("certmint", "status", "web", "-o", "json", "--context", "team")
    assert trailing.returncode == 0, trailing.stderr
    assert json.loads(trailing.stdout)["namespace"] == namespace
    wide = kubectl("certmint", "--context", "team", "-o", "wide", "status")
    assert wide.returncode == 0, wide.stderr
    header, row = wide.stdout.splitlines()
    assert header.split()[-3:] == ["SECRET", "NOT", "AFTER"]
    assert row.split()[:3] == [namespace, "web", "True"]
    assert row.split()[-2] == "web-tls"

    # Without -n, the admin context (and the current context, which is admin) looks in "default".
    for context in (["--context", "admin"], []):
        elsewhere = kubectl("certmint", *context, "status", "web")
        assert elsewhere.returncode == EXIT_NOT_FOUND, elsewhere.stdout + elsewhere.stderr
        assert elsewhere.stderr.strip() == "error: certificates default/web not found"


def test_a_context_missing_from_the_kubeconfig_fails_clearly(kubectl: Kubectl) -> None:
    result = kubectl("certmint", "--context", "nosuch", "status")
    assert result.returncode == EXIT_CONFIG_ERROR
    assert (
        result.stderr.strip()
        == "error: context 'nosuch' is not in the kubeconfig (its contexts: admin, team, viewer)"
    )
    assert result.stdout == ""


def test_the_plugin_can_do_no_more_than_the_users_own_rbac(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    kubectl: Kubectl,
    operator_process: OperatorProcess,
) -> None:
    cluster.apply(self_signed_issuer(namespace))
    cluster.apply(certificate(namespace, "web"))
    cluster.apply(self_signed_issuer(other_namespace))
    cluster.apply(certificate(other_namespace, "web"))
    cluster.wait_condition(CERTIFICATES.plural, namespace, "web", "True")
    cluster.wait_condition(CERTIFICATES.plural, other_namespace, "web", "True")

    seen = kubectl("certmint", "--context", "viewer", "status", "web", "-o", "json")
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["ready"] == "True"

    renewal = kubectl("certmint", "--context", "viewer", "renew", "web")
    assert renewal.returncode == EXIT_API_ERROR
    assert renewal.stderr.strip() == "error: the API server answered 403 Forbidden"
    elsewhere = kubectl("certmint", "--context", "viewer", "-n", other_namespace, "status", "web")
    assert elsewhere.returncode == EXIT_API_ERROR
    assert elsewhere.stderr.strip() == "error: the API server answered 403 Forbidden"
    after = cluster.get(CERTIFICATES.plural, namespace, "web") or {}
    assert RENEW_REQUEST not in (after["metadata"].get("annotations") or {})
