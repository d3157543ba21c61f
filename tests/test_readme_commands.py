"""The README's command table is the COMMANDS table of rblmirror/cli/__init__.py (the
one-line summaries `rblmirror --help` prints): every command, once, in order, with its
summary."""
from __future__ import annotations

import re
from pathlib import Path

from rblmirror.cli import COMMANDS

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[tuple[str, str]]:
    text = README.read_text()
    at = text.index("<!-- commands:")
    rows = []
    for line in text[at:].splitlines()[3:]:
        m = re.fullmatch(r"\| `([a-z-]+)` \| (.+) \|", line)
        if m is None:
            break
        rows.append((m.group(1), m.group(2)))
    return rows


def test_readme_lists_every_command_with_its_summary():
    assert readme_commands() == [(n, COMMANDS[n][1]) for n in sorted(COMMANDS)]
    assert ("explain", COMMANDS["explain"][1]) in readme_commands()
