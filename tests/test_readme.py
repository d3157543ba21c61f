"""The README's Postfix, postscreen, unbound, SpamAssassin, Exim and rspamd blocks are
exactly what `rblmirror snippets` prints for the zones the mail tests run
(tests/test_mail_*.py), so the manual shows the very lines the tests put in front of real
Postfix, unbound, SpamAssassin, Exim and rspamd. Each block follows a
`<!-- snippet: KIND -->` marker."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.maillab import BL, DBL, L1Z, WL

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[1] / "README.md"
# (kind, zones, --server) as tests/support/maillab.py and tests/test_mail_spamassassin.py use them
CASES = {
    "unbound": (BL + L1Z + DBL + WL, "127.0.0.1:5353"),
    "postfix": (WL + BL + L1Z + DBL, None),  # the allowlisting listener's main.cf
    "postscreen": (WL + BL + L1Z, None),
    "spamassassin": (BL + L1Z + WL, "127.0.0.1:5353"),
    "exim": (WL + BL + L1Z + DBL, None),
    "rspamd": (BL + L1Z + DBL + WL, "127.0.0.1:5353"),
}


def snippet(kind: str) -> str:
    zones, server = CASES[kind]
    cmd = [sys.executable, "-m", "rblmirror", "snippets", kind]
    if server:
        cmd += ["--server", server]
    for z in zones:
        cmd += ["--zone", z]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def readme_block(kind: str) -> str:
    m = re.search(rf"<!-- snippet: {kind} -->\n```[a-z]*\n(.*?)```", README.read_text(), re.S)
    assert m, f"README has no block marked <!-- snippet: {kind} -->"
    return m.group(1)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_readme_shows_the_tested_snippet(kind):
    assert readme_block(kind) == snippet(kind)
