"""`rblmirror compare` of the six real feeds side by side with `iprange --compare`
(Debian package iprange). iprange reads ranges only (it tries to resolve anything else
as a host name), so it gets each list's listed space as range files made beforehand;
rblmirror parses the raw dumps itself. Both must agree on every pairwise overlap.

Goal: the comparison of the six feeds in under 0.5 s.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rblmirror import _scan
from rblmirror.tools.coverage import compare
from rblmirror.dns.zone import Zone

from results import record
from support.feeds import FEEDS, SPECS
from support.tools import require_tool


@pytest.fixture(scope="module")
def specs():
    if not FEEDS.is_dir():
        pytest.skip(f"real feeds not found at {FEEDS}")
    return [f"{z}:{fmt}:{FEEDS / f}" for z, fmt, f in SPECS]


def test_compare_library(specs, benchmark):
    """Load the six dumps and compare them, in process."""
    def run():
        return compare(Zone.from_specs(specs))

    t = time.perf_counter()
    cmp = benchmark.pedantic(run, rounds=3, iterations=1)
    took = (time.perf_counter() - t) / 3
    j = cmp.as_json()
    assert list(j["lists"]) == [z for z, _, _ in SPECS]
    for a in j["overlap"]:
        assert j["overlap"][a][a] == j["lists"][a]["addresses"]
        for b in j["overlap"]:
            assert j["overlap"][a][b] == j["overlap"][b][a] <= j["lists"][a]["addresses"]
    assert max(c["addresses"] for c in j["lists"].values()) <= j["union"] \
        <= sum(c["addresses"] for c in j["lists"].values())
    record("compare: load + compare six feeds (library)", took, "s", "goal < 0.5 s")


@pytest.mark.integration
def test_compare_cli_vs_iprange(specs, benchmark, tmp_path):
    iprange = require_tool("iprange")
    zones = Zone.from_specs(specs)
    files = []
    for z in zones:  # the listed space of each zone as ranges, for iprange
        ds = z.datasets[0].dataset
        s, v = ds.index.segments4()
        s = s.astype(np.int64)
        e = np.append(s[1:], 1 << 32) - 1
        m = v >= 0
        lo = _scan.format_ip4_many(s[m].astype(np.uint32))
        hi = _scan.format_ip4_many(e[m].astype(np.uint32))
        p = tmp_path / z.name
        p.write_text("".join(f"{a}-{b}\n" for a, b in zip(lo, hi)))
        files.append(str(p))
    zargs = [a for s in specs for a in ("--zone", s)]
    timing = {}

    def ours():
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "rblmirror", "compare", "--json", *zargs],
                           capture_output=True, text=True, timeout=300)
        timing["ours"] = time.perf_counter() - t
        return r

    r = benchmark.pedantic(ours, rounds=1, iterations=1)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    t = time.perf_counter()
    ip = subprocess.run([iprange, "--compare", *files], capture_output=True, text=True,
                        timeout=300)
    timing["iprange"] = time.perf_counter() - t
    assert ip.returncode == 0, ip.stderr
    rows = [x.split(",") for x in ip.stdout.split()]
    assert len(rows) == 15
    for n1, n2, _e1, _e2, ips1, ips2, _comb, common in rows:
        a, b = Path(n1).name, Path(n2).name
        assert int(common) == got["overlap"][a][b]
        assert (int(ips1), int(ips2)) == (got["lists"][a]["addresses"],
                                          got["lists"][b]["addresses"])
    print(f"\ncompare six feeds: rblmirror compare (process, parses the dumps) "
          f"{timing['ours']:.2f} s, iprange --compare (pre-made range files) "
          f"{timing['iprange']:.2f} s")
    record("compare: rblmirror compare --json (process)", timing["ours"], "s",
           "parses the six raw dumps")
    record("compare: iprange --compare", timing["iprange"], "s", "on pre-made range files")
