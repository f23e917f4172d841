"""releases.yaml and the extraction of a release's tree (tools/devcluster/releases.py)."""

import subprocess
from pathlib import Path

import pytest

from devcluster.releases import (
    Release,
    ReleasesError,
    extract_release,
    newest_release,
    read_releases,
    recorded_releases,
)

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def test_the_newest_release_is_the_last_listed() -> None:
    releases = read_releases(
        f"releases:\n  - {{version: 0.1.0, commit: {COMMIT_A}}}\n  - {{version: 0.2.0, commit: {COMMIT_B}}}\n"
    )
    assert releases == [Release("0.1.0", COMMIT_A), Release("0.2.0", COMMIT_B)]
    assert newest_release(releases) == Release("0.2.0", COMMIT_B)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty list"),
        ("releases: []", "non-empty list"),
        ("releases: {version: 0.1.0}", "non-empty list"),
        (f"releases:\n  - {{version: 0.1.0, commit: {COMMIT_A}, tag: x}}", "exactly `version` and `commit`"),
        ("releases:\n  - {version: 0.1.0, commit: 9ead6ac}", "full 40-character hex id"),
        (f"releases:\n  - {{version: 0.1.0, commit: {'G' * 40}}}", "full 40-character hex id"),
        (
            f"releases:\n  - {{version: 0.1.0, commit: {COMMIT_A}}}"
            f"\n  - {{version: 0.1.0, commit: {COMMIT_B}}}",
            "listed twice",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ReleasesError, match=message):
        read_releases(text)


def test_the_repositorys_file_records_0_1_0() -> None:
    releases = recorded_releases()
    assert releases[0] == Release("0.1.0", "9ead6ac532d8b6d3802d5fc0fed227c1fe64c998")


def git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "chart").mkdir()
    (path / "chart" / "Chart.yaml").write_text("version: 0.1.0\n")
    git(path, "add", ".")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "release")
    return path


def test_a_release_is_extracted_from_its_commit_and_cached(repository: Path, tmp_path: Path) -> None:
    release = Release("0.1.0", git(repository, "rev-parse", "HEAD"))
    (repository / "chart" / "Chart.yaml").write_text("version: 0.2.0-dev\n")  # the working tree moved on
    tree = extract_release(release, repository, tmp_path / "cache")
    assert tree == tmp_path / "cache" / release.commit
    assert (tree / "chart" / "Chart.yaml").read_text() == "version: 0.1.0\n"
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [release.commit], "no staging left"
    (tree / "marker").write_text("cached")
    assert extract_release(release, repository, tmp_path / "cache") == tree
    assert (tree / "marker").exists(), "a cached tree is reused, not extracted again"


def test_a_commit_missing_from_the_clone_names_it_and_says_to_fetch(repository: Path, tmp_path: Path) -> None:
    missing = Release("0.0.9", "0123456789abcdef0123456789abcdef01234567")
    with pytest.raises(
        ReleasesError, match=f"commit {missing.commit} is not in this clone.*fetch the full history"
    ):
        extract_release(missing, repository, tmp_path / "cache")
    assert not (tmp_path / "cache" / missing.commit).exists()
