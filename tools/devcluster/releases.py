"""The released versions of certmint (releases.yaml at the repository's root) and their sources.

Git tags do not travel with every clone; releases.yaml does. The upgrade test starts from the newest
release: its chart and its code, extracted by `git archive` of the recorded commit, no registry.
"""

import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from devcluster.binaries import cache_root

REPO = Path(__file__).resolve().parents[2]
RELEASES_FILE = REPO / "releases.yaml"
_COMMIT_LENGTH = 40


@dataclass(frozen=True)
class Release:
    version: str
    commit: str


class ReleasesError(Exception):
    """releases.yaml is malformed, or a recorded commit cannot be extracted."""


def read_releases(text: str) -> list[Release]:
    """The releases a releases.yaml lists, oldest first, as written."""
    document = yaml.safe_load(text)
    entries = document.get("releases") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ReleasesError("releases.yaml must hold a non-empty list under `releases`")
    releases = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or set(entry) != {"version", "commit"}:
            raise ReleasesError(
                f"release #{position}: exactly `version` and `commit` are expected, got {entry!r}"
            )
        version, commit = str(entry["version"]), str(entry["commit"])
        if len(commit) != _COMMIT_LENGTH or any(char not in "0123456789abcdef" for char in commit):
            raise ReleasesError(
                f"release {version}: commit must be a full 40-character hex id, got {commit!r}"
            )
        releases.append(Release(version=version, commit=commit))
    versions = [release.version for release in releases]
    if len(set(versions)) != len(versions):
        raise ReleasesError(f"a version is listed twice: {versions}")
    return releases


def newest_release(releases: list[Release]) -> Release:
    """The last one listed: releases are recorded newest last."""
    return releases[-1]


def recorded_releases(path: Path = RELEASES_FILE) -> list[Release]:
    return read_releases(path.read_text(encoding="utf-8"))


def extract_release(release: Release, repository: Path = REPO, cache: Path | None = None) -> Path:
    """The release's tree (`git archive` of its commit), in a directory cached by commit. A commit
    missing from this clone (a shallow one) fails with what to do."""
    target = (cache or cache_root() / "releases") / release.commit
    if target.is_dir():
        return target
    archive = subprocess.run(
        ["git", "-C", str(repository), "archive", "--format=tar", release.commit],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if archive.returncode != 0:
        raise ReleasesError(
            f"release {release.version}: commit {release.commit} is not in this clone "
            f"({archive.stderr.decode(errors='replace').strip()}); fetch the full history "
            "(`git fetch --unshallow` or `git fetch origin`) and run again"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Extracted beside the target, then renamed: a concurrent or interrupted run never sees half a tree.
    staging = Path(tempfile.mkdtemp(prefix=f".{release.commit}-", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(staging, filter="data")
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not another run's extraction of the same commit
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
