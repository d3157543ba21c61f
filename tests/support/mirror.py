"""A mirror per test: its config file, and what its state dir holds afterwards."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rblmirror.data.dataset import Dataset
from rblmirror.mirror.state import SourceDir


def write_config(tmp: Path, sources: Sequence[dict], zones: Sequence[dict] = (),
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


def state(tmp: Path, name: str):
    return SourceDir(str(tmp / "state"), name).load_state()


def served(tmp: Path, name: str) -> Dataset:
    """The dataset a server would load: STATE/NAME/current opened by mmap."""
    path = SourceDir(str(tmp / "state"), name).current_snapshot()
    assert path is not None, f"{name}: no current snapshot"
    return Dataset.load(path)
