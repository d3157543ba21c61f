"""The real dumps beside the project (../shared/data), read in place, never copied into
the repo; a test that needs one skips without it (fails under CI=true, by ci_rule)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FEEDS = DATA / "feeds"
CORPUS = DATA / "corpus"
#: (zone name, format, file) of the six real feeds
SPECS = [("psbl", "plain", "psbl.txt"), ("ucep1", "ip4set", "dnsbl-1.uceprotect.net"),
         ("ucep2", "ip4set", "dnsbl-2.uceprotect.net"),
         ("backscatterer", "ip4set", "ips.backscatterer.org"),
         ("whitelisted", "ip4set", "ips.whitelisted.org"),
         ("ucep3", "ip4set", "uceprotect-3-NetworkRanges.txt")]


def feeds_dir() -> Path:
    """FEEDS, or a skip when the real feeds are not there."""
    if not FEEDS.is_dir():
        pytest.skip(f"real feeds not found at {FEEDS}")
    return FEEDS


def feed(name: str) -> Path:
    """One real feed's path, or a skip when it is not there."""
    if not (FEEDS / name).is_file():
        pytest.skip(f"real feed {name} not found in {FEEDS}")
    return FEEDS / name


def copy_feed(name: str, dest: Path) -> Path:
    """A copy of one real feed at dest (a test's own folder, never the repo)."""
    src = feed(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def listed_in(feed: Path, n: int) -> list[str]:
    """n single addresses the dump lists."""
    out = []
    for line in feed.read_text("latin-1").splitlines():
        parts = line.strip().split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            out.append(line.strip())
            if len(out) == n:
                break
    return out
