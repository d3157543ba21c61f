"""The fast tier's guard itself (tests/support/tier.py): a test without the integration
marker that starts a process (subprocess, asyncio, os.fork) fails and the process is never
started; a marked one runs it; a test that starts nothing is untouched."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

INNER = '''
import asyncio, os, subprocess, sys
import pytest

TOUCH = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').close()"]

def test_plain():
    assert sum(range(4)) == 6

def test_unmarked_subprocess(tmp_path_factory):
    subprocess.run(TOUCH + [os.environ["MARK_DIR"] + "/unmarked"])

def test_unmarked_swallows_the_error():
    try:
        subprocess.run(TOUCH + [os.environ["MARK_DIR"] + "/swallowed"])
    except Exception:
        pass

def test_unmarked_asyncio():
    async def main():
        p = await asyncio.create_subprocess_exec(*TOUCH, os.environ["MARK_DIR"] + "/aio")
        await p.wait()
    asyncio.run(main())

def test_unmarked_fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)

@pytest.mark.integration
def test_marked_subprocess():
    subprocess.run(TOUCH + [os.environ["MARK_DIR"] + "/marked"], check=True)
'''


def test_guard(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    marks = tmp_path / "marks"
    marks.mkdir()
    here = os.path.dirname(__file__)
    env = {**{k: v for k, v in os.environ.items() if k != "CI"}, "PYTHONPATH": here,
           "MARK_DIR": str(marks)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "support.tier",
                        "-p", "no:cacheprovider", "-p", "no:randomly", "-W",
                        "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path / "test_inner.py")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    out = r.stdout
    assert r.returncode == 1, out
    assert "2 passed" in out and "4 failed" in out, out
    for name in ("unmarked_subprocess", "unmarked_swallows_the_error", "unmarked_asyncio",
                 "unmarked_fork"):
        assert f"FAILED test_inner.py::test_{name}" in out, out
    assert "PASSED test_inner.py::test_plain" in out and \
        "PASSED test_inner.py::test_marked_subprocess" in out, out
    assert "is not marked 'integration' but starts processes" in out
    # the refused processes never ran; the marked one did
    assert sorted(p.name for p in marks.iterdir()) == ["marked"]
