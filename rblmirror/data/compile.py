"""Compiling dump files into snapshots in a separate process.

The serving process never parses: `compile_isolated()` runs `python -m rblmirror.data.compile`
to parse the files and write a snapshot (atomically), and the caller opens it with
`Dataset.load()` (mmap, milliseconds). A reload therefore never holds the server's GIL for
the length of a parse, and every worker that maps the same snapshot file shares its pages.
Combined datasets are not snapshotted and load in-process.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import TypedDict

from .dataset import Dataset
from ..errors import SnapshotError, ZoneFileError

COMPILE_TIMEOUT = 600.0
#: the pid of the process that started the compile child (it ends when that one does)
PARENT_ENV = "RBLMIRROR_COMPILE_PARENT"


def snapshot_name(format: str, files: tuple[str, ...]) -> str:
    h = hashlib.sha1("\0".join((format, *files)).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{format}-{h[:16]}.snap"


class Summary(TypedDict):
    """What a compile reports (the child prints it as JSON)."""

    entries: int
    warnings: int


def compile_files(format: str, files: list[str], out: str) -> Summary:
    """Parse and save a snapshot (in this process); returns a short summary."""
    ds = Dataset.from_files(files, format=format)
    ds.save(out)
    return {"entries": ds.entries, "warnings": len(ds.warnings)}


def compile_isolated(format: str, files: tuple[str, ...], out: str,
                     timeout: float = COMPILE_TIMEOUT) -> Summary:
    """compile_files() in a child process; raises ZoneFileError with the child's message."""
    # -I: isolated mode. The child never imports from its working directory (a checkout's
    # rblmirror/ beside a non-editable install, or anything planted where root runs us)
    # and ignores PYTHON* variables and the user's site-packages.
    cmd = [sys.executable, "-I", "-m", "rblmirror.data.compile", format, out, *files]
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ZoneFileError(f"compiling {', '.join(files)} took over {timeout:.0f}s") from None
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["compiler failed"])[-1]
        raise ZoneFileError(msg)
    got = json.loads(p.stdout)
    return {"entries": int(got["entries"]), "warnings": int(got["warnings"])}


def load_isolated(format: str, files: tuple[str, ...], workdir: str) -> Dataset:
    """Compile out of process into workdir and open the snapshot by mmap."""
    if format == "combined":
        return Dataset.from_files(files, format=format)
    out = os.path.join(workdir, snapshot_name(format, files))
    compile_isolated(format, files, out)
    return Dataset.load(out)


def _die_with_parent() -> None:
    """Linux: SIGTERM when the process that started us ends, however it ends (a serve
    killed, or stopped while loading, leaves no compile running)."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # it ended before the prctl
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        _die_with_parent()
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3:
        print("usage: python -m rblmirror.data.compile FORMAT OUT.snap FILE...", file=sys.stderr)
        return 2
    try:
        summary = compile_files(args[0], args[2:], args[1])
    except (ZoneFileError, SnapshotError, OSError) as e:
        print(f"rblmirror.data.compile: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
