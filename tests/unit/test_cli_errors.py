"""The `certmint` root ends every command's known failures with a message and an exit code."""

import click
import pytest
from click.testing import CliRunner
from kubernetes.client.exceptions import ApiException

from certmint.cli import cluster
from certmint.cli.main import CertmintGroup
from certmint.cli.output import EXIT_API_ERROR, EXIT_FAILED_CHECK, EXIT_NOT_FOUND
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
