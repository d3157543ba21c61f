"""The type checker is part of the test command: mypy, with the project's configuration
([tool.mypy] in pyproject.toml: strict on the library), must pass on the library, and
on the tests with the strict flags of TESTS_LOOSER relaxed; every compiled module must
have a stub that matches it (mypy's stubtest against the built extension). Each failure
shows mypy's own report."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"
#: the compiled modules: ext/NAME.pyx is built as rblmirror._NAME (setup.py)
COMPILED = sorted(f"rblmirror._{p.stem}" for p in (ROOT / "ext").glob("*.pyx"))
#: compiled modules stubtest leaves out (none: every stub is held to its module)
STUBTEST_PENDING: set[str] = set()
#: the tests: what they call and assign is checked, but a test function need not be
#: annotated (its unannotated body is not checked), nor its generics spelled out, and a
#: test may reach for a name another module imported
TESTS_LOOSER = ("--allow-untyped-defs", "--allow-incomplete-defs", "--allow-untyped-calls",
                "--allow-untyped-decorators", "--allow-any-generics", "--no-warn-return-any",
                "--implicit-reexport")


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MYPY_FORCE_COLOR="0", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_library_type_checks():
    r = _mypy("mypy", "--config-file", str(CONFIG))
    assert r.returncode == 0, f"mypy reports errors:\n{r.stdout}{r.stderr}"
    assert "Success: no issues found" in r.stdout, r.stdout + r.stderr


@pytest.mark.integration
def test_tests_type_check_loosely():
    r = _mypy("mypy", "--config-file", str(CONFIG), *TESTS_LOOSER, "tests")
    assert r.returncode == 0, f"mypy reports errors in the tests:\n{r.stdout}{r.stderr}"


@pytest.mark.integration
def test_configuration_is_strict(tmp_path):
    """The configuration really checks: an unannotated function and a wrong type fail."""
    bad = tmp_path / "sloppy.py"
    bad.write_text("def f(x):\n    return x\n\n\ndef g() -> int:\n    return 'no'\n")
    r = _mypy("mypy", "--config-file", str(CONFIG), str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[no-untyped-def]" in r.stdout and "[return-value]" in r.stdout, r.stdout


def test_every_compiled_module_has_a_stub():
    assert len(COMPILED) >= 6, COMPILED
    missing = [m for m in COMPILED if not (ROOT / (m.replace(".", "/") + ".pyi")).is_file()]
    assert not missing, f"compiled modules without a .pyi stub beside them: {missing}"
    assert (ROOT / "rblmirror" / "py.typed").is_file()


@pytest.mark.integration
def test_stubs_match_compiled_modules():
    """Every name each module defines is in its stub (and no other), with the same
    parameter names and defaults where Cython exposes a signature (one stubtest run over
    all of them: each error names its module)."""
    modules = [m for m in COMPILED if m not in STUBTEST_PENDING]
    r = _mypy("mypy.stubtest", "--mypy-config-file", str(CONFIG),
              "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt"), *modules)
    assert r.returncode == 0, f"stubtest {' '.join(modules)}:\n{r.stdout}{r.stderr}"
