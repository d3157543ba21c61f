"""The side-by-side DNS harness, run small: both servers up on the same zone, the same
answers for a sample of queries, dnsperf finishing with nothing lost.

The full run (1M entries, 10 s per server) is `python benchmarks/dnsperf_harness.py`.
"""
from __future__ import annotations

import io

import dnsperf_harness as h
from support import need


def test_harness_small_run():
    need("rbldnsd")
    need("dnsperf")
    out = io.StringIO()
    rows = h.run(entries=20_000, cidrs=1_000, seconds=1, workers=[1], qtypes=["A", "TXT"], out=out)
    assert {(r["server"], r["qtype"]) for r in rows} == {
        ("rbldnsd", "A"), ("rbldnsd", "TXT"), ("rblmirror x1", "A"), ("rblmirror x1", "TXT")}
    for r in rows:
        assert r["completed"] > 0, r
        if r["server"].startswith("rblmirror"):  # rbldnsd's own drops are reported, not judged
            assert r["lost"] <= r["sent"] * 0.001, r
    assert "| rblmirror x1 | A |" in out.getvalue()
