"""Helpers for the fetch tests: a config per test, the CLI in-process or as a process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rblmirror.cli import main
from rblmirror.dataset import Dataset
from rblmirror.state import SourceDir

FEEDS = Path(__file__).resolve().parents[2] / "shared/data/feeds"
CLI = [sys.executable, "-c", "import sys; from rblmirror.cli import main; sys.exit(main())"]


def copy_feed(name: str, dest: Path) -> Path:
    if not (FEEDS / name).is_file():
        import pytest
        pytest.skip(f"real feed {name} not found in {FEEDS}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FEEDS / name, dest)
    return dest


def write_config(tmp: Path, sources: list[dict], zones: list[dict] = (),
                 name: str = "rblmirror.toml") -> Path:
    """sources/zones: dicts of TOML keys (strings, numbers, lists of strings)."""
    def val(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        return repr(v)
    lines = [f"state_dir = {json.dumps(str(tmp / 'state'))}"]
    for s in sources:
        lines.append("[[source]]")
        lines += [f"{k} = {val(v)}" for k, v in s.items()]
    for z in zones:
        lines.append("[[zone]]")
        lines += [f"{k} = {val(v)}" for k, v in z.items()]
    p = tmp / name
    p.write_text("\n".join(lines) + "\n")
    return p


def cli(*args, env: dict | None = None):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def cli_process(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(CLI + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def state(tmp: Path, name: str):
    return SourceDir(str(tmp / "state"), name).load_state()


def served(tmp: Path, name: str) -> Dataset:
    """The dataset a server would load: STATE/NAME/current opened by mmap."""
    path = SourceDir(str(tmp / "state"), name).current_snapshot()
    assert path is not None, f"{name}: no current snapshot"
    return Dataset.load(path)


def status_json(cfg: Path) -> dict:
    code, out, err = cli("status", "--json", "--config", str(cfg))
    assert code in (0, 1), err
    return json.loads(out)
