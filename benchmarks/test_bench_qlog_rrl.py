"""What the query log and response rate limiting cost: `rblmirror serve` on one ip4set
zone under dnsperf (-c 1, half the questions listed, A), side by side: off, the query
log (buffered; +PATH, a write per batch), RRL on (a rate no client reaches, so every
reply is accounted and sent: the check's cost, not the limiting). Rounds alternate the
setups; the medians of q/s and of the server's CPU µs per query are printed and
recorded. `python -m pytest benchmarks/test_bench_qlog_rrl.py -q -s` (200k entries,
5 s runs, 3 rounds); under --benchmark-disable (CI) 20k entries, 1 s, 1 round."""
from __future__ import annotations

import statistics

import dnsperf_harness as h
import pytest
from results import record
from support.serve import Serve
from support.tools import require_tool

pytestmark = pytest.mark.integration

SETUPS = {
    "off": [],
    "query log": ["--query-log", "{dir}/q.log"],
    "query log +": ["--query-log", "+{dir}/qp.log"],
    "rrl": ["--public", "--rrl-rate", "100000000"],
}


def test_query_log_and_rrl_cost(tmp_path, request):
    require_tool("dnsperf")
    small = request.config.getoption("benchmark_disable", False)
    entries, seconds, rounds = (20_000, 1, 1) if small else (200_000, 5, 3)
    zone = tmp_path / "zone"
    listed = h.write_zone(zone, entries, entries // 20)
    queries = tmp_path / "queries"
    h.write_queries(queries, listed, "A", 100_000)
    runs: dict[str, list[dict]] = {k: [] for k in SETUPS}
    for _ in range(rounds):
        for name, extra in SETUPS.items():
            srv = Serve([f"{h.ZONE}:ip4set:{zone}"], [x.format(dir=tmp_path) for x in extra],
                        probe=f"2.0.0.127.{h.ZONE}", probe_type="A", noerror=True,
                        log_dir=tmp_path).start(timeout=120)
            try:
                r = h.dnsperf(srv.port, queries, seconds, clients=1, pid=srv.proc.pid)
            finally:
                srv.stop()
            assert r["completed"] > 0 and r["lost"] <= r["sent"] * 0.001, (name, r)
            r["cpu_us"] = r["cpu"] / r["completed"] * 1e6
            runs[name].append(r)
    logged = (tmp_path / "q.log").read_text().count("\n")
    assert logged >= runs["query log"][-1]["completed"]  # every reply logged
    base = statistics.median(r["qps"] for r in runs["off"])
    base_cpu = statistics.median(r["cpu_us"] for r in runs["off"])
    print("\n| setup | q/s | vs off | CPU µs/query | vs off |\n|---|---|---|---|---|")
    for name, rs in runs.items():
        qps = statistics.median(r["qps"] for r in rs)
        cpu = statistics.median(r["cpu_us"] for r in rs)
        print(f"| {name} | {qps:.0f} | {qps / base:.2f}x | {cpu:.2f} | {cpu / base_cpu:.2f}x |")
        record(f"serve {name}: q/s", qps, "q/s", f"{entries} entries, dnsperf -c 1")
        record(f"serve {name}: CPU per query", cpu, "µs")
