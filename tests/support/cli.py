"""The rblmirror command in tests: the argv of it as a process, and in-process calls."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: `rblmirror` as a child process of this interpreter (the checkout's editable install)
RBLMIRROR = [sys.executable, "-m", "rblmirror"]


def cli(*args, env: dict | None = None, input: str | bytes | None = None):
    """Run the CLI in-process (click's CliRunner; `input`: its stdin): (exit code, stdout,
    stderr)."""
    from click.testing import CliRunner

    from rblmirror.cli import main
    r = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def cli_process(*args, env: dict | None = None) -> subprocess.Popen:
    """`rblmirror ARGS` as a child process, stdout and stderr piped (text)."""
    return subprocess.Popen(RBLMIRROR + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def run(*args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """`rblmirror ARGS` run to its end, output captured (text)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(RBLMIRROR + list(args), timeout=timeout, **kw)


def status_json(cfg: Path) -> dict:
    code, out, err = cli("status", "--json", "--config", str(cfg))
    assert code in (0, 1), err
    return json.loads(out)
