"""Shared fixtures: the real-feed folder, inline zone writing, and the rbldnsd oracle
(the helpers behind them live in tests/support/)."""
from __future__ import annotations

from pathlib import Path

import pytest
from support import feeds
from support.rbldnsd import Rbldnsd
from support.tools import require_tool


@pytest.fixture(scope="session")
def feeds_dir() -> Path:
    """The real dumps, outside the repo (never copied in); a skip without them."""
    return feeds.feeds_dir()


@pytest.fixture
def zone_file(tmp_path):
    """zone_file(text_or_bytes, name="zone.txt") -> Path, written under tmp_path."""
    counter = iter(range(1_000_000))

    def write(content: str | bytes, name: str | None = None) -> Path:
        p = tmp_path / (name or f"zone{next(counter)}.txt")
        p.write_bytes(content.encode("utf-8", "surrogateescape") if isinstance(content, str)
                      else content)
        return p

    return write


def _rbldnsd_factory():
    """Yield start(zones, **kw) -> a started Rbldnsd; stop every one started afterwards."""
    require_tool("rbldnsd")
    started: list[Rbldnsd] = []

    def start(zones, **kw) -> Rbldnsd:
        r = Rbldnsd(zones, **kw)
        started.append(r)
        return r.start()

    yield start
    for r in started:
        r.cleanup()


@pytest.fixture
def rbldnsd_server():
    """Factory: rbldnsd_server(zones, args=...) -> a started Rbldnsd; all stopped at teardown.

    zones: [(zone name, dataset type, [files])]. Files are passed as absolute paths and
    must be world-readable (Rbldnsd.write() or Rbldnsd(workdir=...) helps with that)."""
    yield from _rbldnsd_factory()


@pytest.fixture(scope="module")
def rbldnsd_module():
    """Like rbldnsd_server, but module-scoped (one daemon for many tests)."""
    yield from _rbldnsd_factory()

