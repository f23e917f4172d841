"""`python -m devcluster`: its arguments are parsed before anything starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from devcluster.__main__ import parse_workdir
from devcluster.environment import child_environment


def test_the_directory_is_optional_and_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_workdir([]) is None
    assert parse_workdir(["cluster"]) == tmp_path / "cluster"
    assert parse_workdir(["--", "-odd-name"]) == tmp_path / "-odd-name"


def test_help_prints_usage_and_starts_nothing(tmp_path: Path) -> None:
    """The issue's report: `--help` was taken for a directory and a control plane started in it."""
    shown = subprocess.run(
        [sys.executable, "-m", "devcluster", "--help"],
        cwd=tmp_path,
        env=child_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: python -m devcluster [-h] [workdir]")
    assert "KUBECONFIG" in shown.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["one", "two"], "unrecognized arguments: two"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-h2"], "ignored explicit argument '2'"),
    ],
)
def test_bad_usage_exits_2_with_a_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_workdir(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: python -m devcluster")
    assert message in error


def test_a_file_is_no_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exited:
        parse_workdir([str(tmp_path / "file")])
    assert exited.value.code == 2
    assert f"{tmp_path / 'file'} exists and is not a directory" in capsys.readouterr().err
