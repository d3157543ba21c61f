"""matplotlib is optional (the extra `report`): without it `rblmirror compare --html` stops
with one clear line and exit status 2, and the rest of rblmirror works. The CLI runs in a
subprocess whose sys.modules blocks matplotlib, as if it were not installed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZONE = f"bl.rblmirror.test:ip4set:{ROOT / 'zones' / 'rfc5782-ip4.zone'}"
# None in sys.modules makes every `import matplotlib` (and its submodules) raise ImportError
BLOCKED = ("import sys\n"
           "sys.modules['matplotlib'] = None\n"
           "from rblmirror.cli import main\n"
           "sys.argv[0] = 'rblmirror'\n"
           "main()\n")


def run_without_matplotlib(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.integration
def test_compare_html_without_matplotlib_says_how_to_get_it(tmp_path):
    out = tmp_path / "report.html"
    r = run_without_matplotlib("compare", "--zone", ZONE, "--html", str(out))
    assert r.returncode == 2, r
    assert r.stderr == "rblmirror: error: --html needs matplotlib: pip install 'rblmirror[report]'\n"
    assert r.stdout == ""
    assert not out.exists()


@pytest.mark.integration
def test_the_rest_works_without_matplotlib():
    r = run_without_matplotlib("compare", "--zone", ZONE, "--json")
    assert r.returncode == 0, r.stderr
    assert '"lists"' in r.stdout
    r = run_without_matplotlib("check", "127.0.0.2", "--zone", ZONE)
    assert r.returncode == 1, r.stderr  # listed
    assert "127.0.0.2" in r.stdout


def test_matplotlib_is_the_report_extra_only():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("matplotlib") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("matplotlib") for d in extras["report"])
    assert any(d.startswith("matplotlib") for d in extras["test"])  # the HTML report tests
