"""Runs certmint's Argo CD health scripts (contrib/argocd) with Debian's Lua interpreter on an
object as JSON, as Argo CD runs them: the object is the global `obj`, the script returns hs."""

import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from argocd_cm import script

INTERPRETERS = ("lua5.1", "lua5.4")
"""Debian's packages and commands (the Makefile's SYSTEM_PACKAGES): Lua 5.1, the language Argo CD's
gopher-lua implements, and the current Lua; every script must give the same answer in both."""
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def lua_literal(value: Any) -> str:
    """JSON as a Lua table constructor: objects keyed by ["name"], arrays from 1, null as nil."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _lua_string(value)
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"[{_lua_string(key)}] = {lua_literal(item)}" for key, item in value.items())
            + "}"
        )
    raise TypeError(f"not JSON: {value!r}")


def _lua_string(text: str) -> str:
    """Printable ASCII as it is; every other byte of the UTF-8 (quotes, backslash, newlines,
    non-ASCII) as a three-digit decimal escape, which Lua 5.1 and later read alike."""
    return (
        '"'
        + "".join(
            chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
            for byte in text.encode()
        )
        + '"'
    )


def health(kind: str, obj: dict[str, Any]) -> Health:
    """The script's answer, the same in every interpreter."""
    answers = {interpreter: _run(interpreter, kind, obj) for interpreter in INTERPRETERS}
    first = answers[INTERPRETERS[0]]
    assert all(answer == first for answer in answers.values()), f"the interpreters disagree: {answers}"
    return first


def _run(interpreter: str, kind: str, obj: dict[str, Any]) -> Health:
    lua = shutil.which(interpreter)
    if lua is None:
        pytest.fail(
            f"{interpreter} is not installed: `make system-deps` installs the Debian package {interpreter}"
        )
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local function health()\n{script(kind)}\nend\n"
        "local hs = health()\n"
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    run = subprocess.run([lua, "-"], input=program, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"the {kind} health script failed in {interpreter}: {run.stderr}"
    status, _, message = run.stdout.partition("\n")
    assert status in HEALTH_STATUSES, f"the {kind} health script returned status {status!r} in {interpreter}"
    return Health(status, message)
