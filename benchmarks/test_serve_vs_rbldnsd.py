"""The side-by-side DNS harness: both servers up on the same zone, the same answers for a
sample of queries, dnsperf finishing with nothing lost.

test_harness_small_run: the ip4set run with workers, small. test_every_zone_kind: one
zone of each kind (ip4set, ip6trie, dnset, combined), 200k entries each and 10 s per
dnsperf run when timing (`python -m pytest benchmarks/test_serve_vs_rbldnsd.py -q -s`),
20k entries and 1 s under --benchmark-disable (CI); it prints the table (queries/s, CPU
µs per query, the ratios to rbldnsd, the share of the compiled path).

The full runs by hand: `python benchmarks/dnsperf_harness.py` (1M-entry ip4set, workers)
and `python benchmarks/dnsperf_harness.py --kinds ip4set,ip6trie,dnset,combined
--entries 200000 --seconds 10`.
"""
from __future__ import annotations

import io

import dnsperf_harness as h
from support.tools import require_tool

import pytest

pytestmark = pytest.mark.integration


def test_harness_small_run():
    require_tool("rbldnsd")
    require_tool("dnsperf")
    out = io.StringIO()
    rows = h.run(entries=20_000, cidrs=1_000, seconds=1, workers=[1], qtypes=["A", "TXT"], out=out)
    assert {(r["server"], r["qtype"]) for r in rows} == {
        ("rbldnsd", "A"), ("rbldnsd", "TXT"), ("rblmirror x1", "A"), ("rblmirror x1", "TXT")}
    for r in rows:
        assert r["completed"] > 0, r
        if r["server"].startswith("rblmirror"):  # rbldnsd's own drops are reported, not judged
            assert r["lost"] <= r["sent"] * 0.001, r
    assert "| rblmirror x1 | A |" in out.getvalue()


def test_every_zone_kind(request):
    """ip4set, ip6trie, dnset and combined zones: rbldnsd and rblmirror serve give the same
    answers for a sample (run_kinds raises otherwise), both answer under dnsperf, and the
    compiled path answered every query rblmirror got (none went to dnslib)."""
    require_tool("rbldnsd")
    require_tool("dnsperf")
    small = request.config.getoption("benchmark_disable", False)
    entries, seconds = (20_000, 1) if small else (200_000, 10)
    out = io.StringIO()
    rows = h.run_kinds(h.KINDS, entries=entries, seconds=seconds, clients=1,
                       nqueries=50_000 if small else 200_000, out=out)
    print(out.getvalue())
    assert [(r["kind"], r["server"]) for r in rows] == [
        (k, s) for k in h.KINDS for s in ("rbldnsd", "rblmirror x1")]
    for r in rows:
        assert r["completed"] > 0 and r["cpu_us"] > 0, r
        assert set(r["rcodes"]) <= {"NOERROR", "NXDOMAIN"}, r
        if r["server"].startswith("rblmirror"):
            assert r["lost"] <= r["sent"] * 0.001, r
            assert r["compiled"] > 0.999, r  # the compiled path, not dnslib
            # half the questions are listed: both answers occur in quantity
            assert min(r["rcodes"].values()) > r["completed"] * 0.2, r
    assert "| combined | rblmirror x1 |" in out.getvalue()
