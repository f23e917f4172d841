"""`certmint` as the kubectl plugin `kubectl-certmint`: the installed entry point, and kubectl's
--context, -n and -o on the root, resolved by one rule for every command."""

import importlib
import json
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from certmint.cli import cluster, main
from certmint.cli import operator as operator_command
from certmint.cli.output import EXIT_CONFIG_ERROR, emit
from certmint.cli.session import Session

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "someone", "user": {"token": "not-a-secret"}}],
    "contexts": [
        {"name": "plain", "context": {"cluster": "local", "user": "someone"}},
        {"name": "team", "context": {"cluster": "local", "user": "someone", "namespace": "team-a"}},
    ],
    "current-context": "plain",
}


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    return str(path)


def test_the_plugin_is_installed_as_the_same_command() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-certmint"] == scripts["certmint"]
    module, function = scripts["kubectl-certmint"].split(":")
    assert getattr(importlib.import_module(module), function) is main.main
    assert main.PLUGIN_EXECUTABLE == "kubectl-certmint"


@pytest.mark.parametrize(
    ("executable", "shown"),
    [
        ("/usr/local/bin/kubectl-certmint", "kubectl certmint"),
        ("kubectl-certmint", "kubectl certmint"),
        ("/usr/local/bin/certmint", "certmint"),
        ("/venv/lib/python3.11/site-packages/certmint/cli/main.py", "certmint"),
    ],
)
def test_help_names_the_command_as_it_was_run(
    executable: str, shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", [executable, "status", "--help"])
    with pytest.raises(SystemExit) as ended:
        main.main()
    assert ended.value.code == 0
    assert capsys.readouterr().out.startswith(f"Usage: {shown} status [OPTIONS]")


def test_the_namespace_is_the_commands_then_the_roots_then_the_contexts_then_default(kubeconfig: str) -> None:
    assert Session(kubeconfig, "team", "root-ns").namespace_of("command-ns") == "command-ns"
    assert Session(kubeconfig, "team", "root-ns").namespace_of(None) == "root-ns"
    assert Session(kubeconfig, "team").namespace_of(None) == "team-a"
    assert Session(kubeconfig, "plain").namespace_of(None) == "default"
    # Without --context: the kubeconfig's current context.
    assert Session(kubeconfig).namespace_of(None) == "default"
    current = {**KUBECONFIG, "current-context": "team"}
    Path(kubeconfig).write_text(yaml.safe_dump(current))
    assert Session(kubeconfig).namespace_of(None) == "team-a"


def test_only_a_given_namespace_narrows_a_search(kubeconfig: str) -> None:
    assert Session(kubeconfig, "team").chosen_namespace(None) is None
    assert Session(kubeconfig, "team", "root-ns").chosen_namespace(None) == "root-ns"
    assert Session(kubeconfig, "team", "root-ns").chosen_namespace("command-ns") == "command-ns"


def test_a_context_missing_from_the_kubeconfig_is_a_clear_error(kubeconfig: str) -> None:
    with pytest.raises(
        cluster.BadConfig, match=r"context 'nosuch' is not in the kubeconfig \(its contexts: plain, team\)"
    ):
        cluster.connect(kubeconfig, "nosuch")
    with pytest.raises(cluster.BadConfig, match="context 'nosuch'"):
        Session(kubeconfig, "nosuch").namespace_of(None)


@pytest.mark.parametrize(
    "arguments",
    [
        ["status"],
        ["status", "-n", "given"],
        ["renew", "-A"],
        ["ca", "show", "ca"],
        ["inspect", "secret", "ns/web-tls"],
        ["pod-certificates"],
        ["approve", "some-csr"],
    ],
)
def test_every_command_ends_on_a_bad_context_with_a_message_and_exit_code(
    kubeconfig: str, arguments: list[str]
) -> None:
    result = CliRunner().invoke(main.cli, ["--kubeconfig", kubeconfig, "--context", "nosuch", *arguments])
    assert result.exit_code == EXIT_CONFIG_ERROR, result.output
    assert (
        result.stderr.strip()
        == "error: context 'nosuch' is not in the kubeconfig (its contexts: plain, team)"
    )


def test_no_kubeconfig_outside_a_cluster_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = CliRunner().invoke(main.cli, ["--kubeconfig", str(tmp_path / "absent"), "status", "x"])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert result.stderr.startswith("error: no usable kubeconfig (")
    assert "not in a cluster" in result.stderr


def test_the_operator_refuses_a_context_it_could_not_honour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_command, "run", lambda *_: pytest.fail("the operator started"))
    result = CliRunner().invoke(main.cli, ["--context", "team", "operator"])
    assert result.exit_code == click.UsageError.exit_code
    assert "--context is not for it" in result.output


def test_the_output_is_the_commands_then_the_roots_then_its_default() -> None:
    accepted = ("table", "json", "name")
    assert Session(output="json").output_of("name", "table", accepted) == "name"
    assert Session(output="json").output_of(None, "table", accepted) == "json"
    assert Session().output_of(None, "table", accepted) == "table"
    with pytest.raises(click.UsageError, match="-o yaml is not an output of this command"):
        Session(output="yaml").output_of(None, "table", accepted)


def test_a_roots_output_a_command_cannot_print_is_a_usage_error(kubeconfig: str) -> None:
    result = CliRunner().invoke(
        main.cli, ["--kubeconfig", kubeconfig, "-o", "name", "inspect", "secret", "x"]
    )
    assert result.exit_code == click.UsageError.exit_code
    assert "-o name is not an output of this command (it prints json, yaml)" in result.output


ROWS = [{"namespace": "a", "name": "web", "ready": "True", "secret": "web-tls"}]


def test_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    def printed(output: str) -> str:
        emit(
            ROWS,
            output,
            ["namespace", "name", "ready"],
            wide=["secret"],
            name=lambda row: f"thing/{row['name']}",
        )
        return capsys.readouterr().out

    assert printed("table").splitlines() == ["NAMESPACE  NAME  READY", "a          web   True"]
    assert printed("wide").splitlines() == [
        "NAMESPACE  NAME  READY  SECRET",
        "a          web   True   web-tls",
    ]
    assert printed("name") == "thing/web\n"
    assert json.loads(printed("json")) == ROWS[0]
    assert yaml.safe_load(printed("yaml")) == ROWS[0]


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        (["status", "web", "--context", "team"], ["--context", "team", "status", "web"]),
        (["status", "--kubeconfig=/k", "-o", "json"], ["--kubeconfig=/k", "status", "-o", "json"]),
        (["--context", "a", "status"], ["--context", "a", "status"]),
        (["approve", "x", "--", "--context", "b"], ["approve", "x", "--", "--context", "b"]),
        (["status", "--context"], ["--context", "status"]),
    ],
)
def test_kubectls_global_flags_after_the_command_are_the_roots(given: list[str], parsed: list[str]) -> None:
    assert main.root_flags_first(given) == parsed


def test_a_context_after_the_command_is_honoured(kubeconfig: str) -> None:
    result = CliRunner().invoke(
        main.cli, ["status", "web", "--kubeconfig", kubeconfig, "--context", "nosuch"]
    )
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "context 'nosuch' is not in the kubeconfig" in result.stderr
