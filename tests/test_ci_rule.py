"""The CI rule itself: a skip passes outside CI and fails with CI=true."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def _run(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\ndef test_needs_tool():\n    pytest.skip('frobnicate is not installed')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    here = os.path.dirname(__file__)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "ci_rule",
                           "-p", "no:cacheprovider", str(tmp_path / "test_x.py")],
                          capture_output=True, text=True, env={**env, "PYTHONPATH": here},
                          cwd=tmp_path, timeout=120)


def test_skip_outside_ci_is_a_skip(tmp_path):
    r = _run(tmp_path, ci=False)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout


def test_skip_under_ci_is_a_failure(tmp_path):
    r = _run(tmp_path, ci=True)
    assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout
    assert "frobnicate is not installed" in r.stdout
