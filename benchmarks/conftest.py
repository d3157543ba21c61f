"""Benchmark fixtures: the generated ip4set (once a session), rbldnsd on loopback, and the
markdown table of medians and ratios printed at the end of the run (results.py).

    python -m pytest benchmarks -q                      # timings + the ratio table
    python -m pytest benchmarks --benchmark-disable -q  # CI: every assert, one round each

The helpers shared with tests/ (ports, tools, DNS client, daemons) are tests/support/,
on pytest's pythonpath for both runs (pyproject.toml).
"""
from __future__ import annotations

from pathlib import Path

import gen
import pytest
from results import RESULTS
from support.rbldnsd import Rbldnsd, world_readable

N32 = 1_000_000
NCIDR = 50_000
ZONE = gen.ZONE


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    path = d / "bench.ip4set"
    truth = gen.generate(path, N32, NCIDR)
    return path, truth


@pytest.fixture
def rbldnsd_factory():
    """make(path, fmt="ip4set") -> an Rbldnsd (not started) serving the one file as ZONE,
    ready when it answers 1.0.0.127.ZONE (asked without a pause, so r.started_in is the
    wall time from exec to its first answer); all cleaned up at teardown."""
    started = []

    def make(path: Path, fmt: str = "ip4set") -> Rbldnsd:
        r = Rbldnsd([(ZONE, fmt, [world_readable(path)])], args=(),
                    probe=(f"1.0.0.127.{ZONE}", "A"), poll=0)
        started.append(r)
        return r

    yield make
    for r in started:
        r.cleanup()


# ------------------------------------------------------------------------ the table
_PAIRS = [
    # (ours, theirs, label) - ratio = theirs / ours (> 1: we are faster / smaller)
    ("load text: rblmirror", "load text: rbldnsd (log elapsed)", "text load vs rbldnsd"),
    ("load text: rblmirror", "load text: rbldnsd (to first answer)", "text load vs rbldnsd first answer"),
    ("load snapshot: rblmirror", "load text: rbldnsd (log elapsed)", "snapshot load vs rbldnsd"),
    ("lookup int random: Index4.lookup", "lookup int random: pyroaring `in`", "single int lookup vs pyroaring `in`"),
    ("lookup int random: Index4.lookup", "lookup int random: pyroaring __contains__", "single int lookup vs BitMap.__contains__"),
    ("lookup int hot: Index4.lookup", "lookup int hot: pyroaring `in`", "hot int lookup vs pyroaring `in`"),
    ("lookup int random: `in` Index4", "lookup int random: pyroaring `in`", "random `in` vs pyroaring `in`"),
    ("lookup int hot: `in` Index4", "lookup int hot: pyroaring `in`", "hot `in` vs pyroaring `in`"),
    ("lookup str random: Index4.lookup_text", "lookup str random: pytricia get", "str lookup vs pytricia"),
    ("lookup str random: Dataset.lookup", "lookup str random: pytricia get", "Dataset.lookup(str) vs pytricia"),
    ("batch: lookup_many", "batch: numpy.searchsorted", "batch vs numpy.searchsorted"),
    ("RSS: rblmirror (text load)", "RSS: rbldnsd", "RSS text-loaded vs rbldnsd"),
    ("RSS: rblmirror (snapshot)", "RSS: rbldnsd", "RSS snapshot-loaded vs rbldnsd"),
]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    w = terminalreporter.write_line
    w("")
    w("## rblmirror vs rbldnsd / pyroaring / pytricia / numpy (same run)")
    w("")
    w("| measurement | median | unit | note |")
    w("|---|---:|---|---|")
    for k, (v, unit, note) in RESULTS.items():
        w(f"| {k} | {v:,.3f} | {unit} | {note} |")
    w("")
    w("| comparison | ratio (theirs / ours; > 1 = rblmirror better) |")
    w("|---|---:|")
    for ours, theirs, label in _PAIRS:
        if ours in RESULTS and theirs in RESULTS and RESULTS[ours][0]:
            a, b = RESULTS[ours][0], RESULTS[theirs][0]
            if RESULTS[ours][1].endswith("/s"):  # throughput: bigger is better
                a, b = b, a
            w(f"| {label} | {b / a:.2f}x |")
    if config.getoption("benchmark_disable", False):
        w("(--benchmark-disable: single measured runs, not medians)")
