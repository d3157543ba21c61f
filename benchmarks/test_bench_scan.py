"""`rblmirror scan` side by side with `grepcidr -f LIST` (Debian package grepcidr).

10M addresses (a fifth inside listed ranges, the rest uniform) against the six real
feeds. grepcidr gets the same question as a pattern file: every IPv4 range listed by
at least one of the six zones, so both must report the very same lines.

    python -m pytest benchmarks/test_bench_scan.py -q -s          # 10M lines, timings
    python -m pytest benchmarks --benchmark-disable -q            # 200k lines, asserts only
RBLMIRROR_BENCH_SCAN_LINES overrides the number of lines.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from rblmirror import _scan
from rblmirror.tools.scan import Scanner
from rblmirror.dns.zone import Zone

from results import record
from support.feeds import FEEDS, SPECS
from support.tools import require_tool


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    if not FEEDS.is_dir():
        pytest.skip(f"real feeds not found at {FEEDS}")
    disabled = request.config.getoption("benchmark_disable", False)
    n = int(os.environ.get("RBLMIRROR_BENCH_SCAN_LINES", 200_000 if disabled else 10_000_000))
    specs = [f"{z}:{fmt}:{FEEDS / f}" for z, fmt, f in SPECS]
    zones = Zone.from_specs(specs)
    sc = Scanner(zones)
    starts = sc.index4.starts_array.astype(np.int64)
    listed_seg = sc.listed_mask()[sc.index4.vals_array]
    ends = np.append(starts[1:], 1 << 32) - 1
    d = tmp_path_factory.mktemp("scanbench")
    with open(d / "list.txt", "w") as f:  # grepcidr's patterns: the listed ranges
        lo = _scan.format_ip4_many(starts[listed_seg].astype(np.uint32))
        hi = _scan.format_ip4_many(ends[listed_seg].astype(np.uint32))
        f.write("".join(f"{a}-{b}\n" for a, b in zip(lo, hi)))
    rng = np.random.default_rng(2026)
    x = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    k = n // 5
    seg = rng.choice(np.flatnonzero(listed_seg), k)
    off = (rng.random(k) * (ends[seg] - starts[seg] + 1)).astype(np.int64)
    x[rng.choice(n, k, replace=False)] = (starts[seg] + off).astype(np.uint32)
    with open(d / "addrs.txt", "wb") as f:
        for i in range(0, n, 1_000_000):
            f.write(("\n".join(_scan.format_ip4_many(x[i:i + 1_000_000])) + "\n").encode())
    # reference: which lines are listed, by a binary search on the listed ranges
    want = listed_seg[np.searchsorted(starts, x.astype(np.int64), side="right") - 1]
    return {"dir": d, "n": n, "x": x, "want": want, "specs": specs, "zones": zones}


def _run(cmd, out_path):
    with open(out_path, "wb") as out:
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, timeout=600)
        return time.perf_counter() - t, r


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["addresses", "table"])
def test_scan_cli_vs_grepcidr(world, benchmark, fmt):
    """--format addresses prints what grepcidr prints (the listed lines); table prints
    a check row (zone, A, TXT) per listing zone: 10x the bytes."""
    grepcidr = require_tool("grepcidr")
    d, n = world["dir"], world["n"]
    zargs = [a for s in world["specs"] for a in ("--zone", s)]
    ours = [sys.executable, "-m", "rblmirror", "scan", "--listed-only", "-q", "--format", fmt,
            *zargs, str(d / "addrs.txt")]
    timing = {}

    def run_ours():
        timing["ours"], r = _run(ours, d / "ours.txt")
        return r

    r = benchmark.pedantic(run_ours, rounds=1, iterations=1)
    assert r.returncode == 1, r.stderr.decode()[-2000:]
    timing["grepcidr"], g = _run([grepcidr, "-f", str(d / "list.txt"), str(d / "addrs.txt")],
                                 d / "grepcidr.txt")
    assert g.returncode == 0, g.stderr.decode()
    # the same lines, in the same order
    got = [line.split(b"\t", 1)[0] for line in (d / "ours.txt").read_bytes().splitlines()]
    expect = _scan.format_ip4_many(world["x"][world["want"]])
    grep_lines = (d / "grepcidr.txt").read_bytes().decode().split()
    assert grep_lines == expect
    if fmt == "addresses":
        assert [a.decode() for a in got] == expect
    else:  # one row per listing zone: compare runs
        assert [a.decode() for a in _dedupe_runs(got)] == _dedupe_runs(expect)
    rate = n / timing["ours"]
    print(f"\nscan {n:,} lines x 6 feeds, --format {fmt}: rblmirror {timing['ours']:.2f} s "
          f"({rate / 1e6:.1f}M lines/s, including load), grepcidr {timing['grepcidr']:.2f} s; "
          f"ratio {timing['grepcidr'] / timing['ours']:.2f}x")
    record(f"scan: rblmirror scan --listed-only --format {fmt}, 6 feeds", n / timing["ours"] / 1e6,
           "M lines/s",
           f"{n:,} lines, process wall time incl. loading the feeds")
    record("scan: grepcidr -f LIST", n / timing["grepcidr"] / 1e6, "M lines/s",
           f"same {n:,} lines, LIST = the listed ranges")
    if os.environ.get("RBLMIRROR_BENCH_STRICT") == "1" and fmt == "addresses":
        assert timing["ours"] <= timing["grepcidr"] and rate >= 5e6


def _dedupe_runs(xs):
    return [a for i, a in enumerate(xs) if i == 0 or xs[i - 1] != a]


class _Null:
    def write(self, b):
        return len(b)


@pytest.mark.parametrize("fmt", ["count", "table", "jsonl"])
def test_scan_library_throughput(world, benchmark, fmt):
    sc = Scanner(world["zones"])
    path = world["dir"] / "addrs.txt"
    out = None if fmt == "count" else _Null()
    stats = benchmark.pedantic(lambda: sc.scan([path], out, fmt="table" if fmt == "count" else fmt,
                                               listed_only=True), rounds=1, iterations=1)
    assert stats.lines == stats.addresses == world["n"] and stats.bad == 0
    assert stats.listed == int(world["want"].sum())
    record(f"scan: Scanner.scan ({fmt}, listed only)", world["n"] / stats.seconds / 1e6,
           "M lines/s", "in-process, feeds loaded")
