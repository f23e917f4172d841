"""The environment of devcluster's child Python processes."""

import os
from pathlib import Path

# tools/: devcluster is a development package, no part of the certmint wheel, so it is not installed.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def child_environment(**overrides: str) -> dict[str, str]:
    """os.environ with tools/ first on PYTHONPATH, so that `python -m devcluster...` in a child finds
    the package whichever way the parent found it (pytest's pythonpath, the Makefile's PYTHONPATH)."""
    inherited = os.environ.get("PYTHONPATH")
    search_path = os.pathsep.join([str(SOURCE_ROOT), *([inherited] if inherited else [])])
    return {**os.environ, "PYTHONPATH": search_path, **overrides}
