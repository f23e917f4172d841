"""The `certmint` root ends every command's known failures with a message and an exit code."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from kubernetes.client.exceptions import ApiException

from certmint.cli import cluster
from certmint.cli.main import CertmintGroup, cli
from certmint.cli.output import EXIT_API_ERROR, EXIT_CONFIG_ERROR, EXIT_FAILED_CHECK, EXIT_NOT_FOUND
from certmint.pki import PKIError


def failing_with(error: Exception) -> CertmintGroup:
    group = CertmintGroup()

    @group.command()
    def fail() -> None:
        raise error

    return group


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            cluster.NotFound("certificate ns/web not found"),
            EXIT_NOT_FOUND,
            "error: certificate ns/web not found",
        ),
        (
            ApiException(status=403, reason="Forbidden"),
            EXIT_API_ERROR,
            "error: the API server answered 403 Forbidden",
        ),
        (PKIError("BadChain", "the chain is broken"), EXIT_FAILED_CHECK, "error: the chain is broken"),
    ],
)
def test_a_known_failure_is_a_message_and_an_exit_code(error: Exception, code: int, message: str) -> None:
    result = CliRunner().invoke(failing_with(error), ["fail"])
    assert result.exit_code == code
    assert result.stderr.strip() == message
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_usage_errors_keep_clicks_own_exit_code() -> None:
    result = CliRunner().invoke(failing_with(click.UsageError("name exactly one")), ["fail"])
    assert result.exit_code == click.UsageError.exit_code


def test_migrate_without_a_usable_kubeconfig_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    result = CliRunner().invoke(cli, ["--kubeconfig", str(empty), "migrate"])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert result.stderr.startswith("error: no usable kubeconfig or in-cluster configuration: ")


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """One context, c, whose API server does not exist: nothing listens on port 1 of loopback."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return kubeconfig


def test_migrate_against_an_unreachable_api_server_says_so(tmp_path: Path) -> None:
    """Nothing listens on port 1 of loopback: the first request fails, and nothing was written."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    result = CliRunner().invoke(cli, ["--kubeconfig", str(kubeconfig), "migrate"])
    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.startswith("error: ")
    assert "storedVersions of the kinds not yet done are unchanged" in result.stderr


def test_migrate_with_a_context_the_kubeconfig_lacks_says_so(tmp_path: Path) -> None:
    """--context reaches migrate as every command: a context not in the kubeconfig is a message and
    exit 5, before any request (the current context's server does not exist)."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    result = CliRunner().invoke(cli, ["--kubeconfig", str(kubeconfig), "--context", "nosuch", "migrate"])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert result.stderr.startswith("error: no usable kubeconfig or in-cluster configuration: ")
    assert "nosuch" in result.stderr
