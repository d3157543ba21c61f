"""The one required-tool rule: a test that needs an outside program (or root) skips with the
reason when it is missing. It never decides about CI itself: with CI=true the ci_rule
plugin (tests/ci_rule.py, loaded for tests/ and benchmarks/) turns that skip into a
failure, so the rule is written once."""
from __future__ import annotations

import os
import shutil

import pytest


def find_tool(name: str) -> str | None:
    """The program's path: on PATH, else in /usr/sbin (not on a plain user's PATH)."""
    path = shutil.which(name)
    if path is None and os.access(f"/usr/sbin/{name}", os.X_OK):
        path = f"/usr/sbin/{name}"
    return path


def require_tool(name: str) -> str:
    """The program's path; missing, the test skips (fails under CI=true, by ci_rule)."""
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name!r} is not installed (scripts/bootstrap test installs it)")
    return path


def require_root(why: str = "needs root") -> None:
    """Skip (under CI=true: fail, by ci_rule) unless running as root."""
    if os.geteuid() != 0:
        pytest.skip(why)
