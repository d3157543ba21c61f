"""Outgrow one host, measured on the lab of tests/test_replicas.py (support.replicalab:
a primary, two replicas and dnsdist in a LAN of network namespaces):

- queries/s through dnsdist balancing two replicas vs one replica asked directly
  (dnsperf, the same questions). On this 2-core machine the two replicas, dnsdist and
  dnsperf share two cores, so balancing cannot add capacity here: the number says what
  dnsdist costs, not what more hosts would bring;
- one replica killed under a steady dnsperf load through dnsdist: the queries lost, the
  time until dnsdist marks it down (its API, polled), the loss inside that window, none
  after it; restarted, the time until it is back up;
- the snapshot transfer for a delta update (one address added upstream): the bytes the
  replica received (rsync --stats) against the snapshot's size.

    python -m pytest benchmarks/test_replicas_bench.py -q -s      # the numbers
    python -m pytest benchmarks/test_replicas_bench.py -q --benchmark-disable   # CI: short
"""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from results import record
from support.poll import until
from support.feeds import listed_in
from support.replicalab import HOSTS, REPLICAS, SOURCE, ZONE, ReplicaLab, rev, write_queries
from support.tools import require_tool

pytestmark = pytest.mark.integration

API_PORT = 8083
API_KEY = "rblmirror-bench"
#: the lab's dnsdist plus its API (the benchmark reads the servers' state from it)
API = (f'webserver("{HOSTS["dnsdist"]}:{API_PORT}")\n'
       f'setWebserverConfig({{apiKey="{API_KEY}", password="{API_KEY}", '
       f'acl="{HOSTS["dnsdist"]}/32"}})\n')
UNLISTED = ["198.51.100.%d" % i for i in range(1, 51)]

#: polls dnsdist's API inside its namespace, prints "MONOTONIC NAME=STATE ..." on change
POLLER = r"""
import json, sys, time, urllib.request
url, key, until_t = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
last = None
while time.monotonic() < until_t:
    try:
        req = urllib.request.Request(url, headers={"X-API-Key": key})
        d = json.load(urllib.request.urlopen(req, timeout=1))
        now = " ".join(f"{s['name']}={s['state']}" for s in d["servers"])
    except Exception as e:
        now = f"error={type(e).__name__}"
    if now != last:
        print(f"{time.monotonic():.3f} {now}", flush=True)
        last = now
    time.sleep(0.05)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with ReplicaLab(tmp_path_factory.mktemp("replicas-bench"), dnsdist_extra=API).start() \
            as lab:
        yield lab


@pytest.fixture
def small(request):
    return request.config.getoption("benchmark_disable", False)


def _queries(lab: ReplicaLab, n: int = 20_000):
    q = lab.work / "bench-queries.txt"
    if not q.exists():
        write_queries(q, listed_in(lab.feed, 50), UNLISTED, n)
    return q


def test_dnsdist_and_two_replicas_vs_one_replica(lab, small):
    require_tool("dnsperf")
    q = _queries(lab)
    seconds = 1 if small else 8
    direct = lab.report(lab.dnsperf(q, seconds, clients=4, at="replica1"))
    balanced = lab.report(lab.dnsperf(q, seconds, clients=4, at="dnsdist"))
    for res in (direct, balanced):
        # correct answers, half listed: NOERROR and NXDOMAIN only, none lost to speak of
        assert res["completed"] > 0 and set(res["rcodes"]) <= {"NOERROR", "NXDOMAIN"}, res
        assert min(res["rcodes"].values()) > res["completed"] * 0.3, res
        assert res["lost"] <= res["sent"] * 0.01, res
    record("replicas: one replica direct", direct["qps"], "queries/s",
           "dnsperf -c 4 -q 200, in the lab LAN")
    record("replicas: dnsdist + 2 replicas", balanced["qps"], "queries/s",
           "2 cores shared by dnsperf, dnsdist and both replicas: no gain possible here")
    record("replicas: dnsdist / direct", balanced["qps"] / direct["qps"], "ratio", "")
    print(f"\none replica direct: {direct['qps']:.0f} q/s; dnsdist + 2 replicas: "
          f"{balanced['qps']:.0f} q/s (2 cores)")


def _poller(lab: ReplicaLab, seconds: float) -> subprocess.Popen:
    url = f"http://{HOSTS['dnsdist']}:{API_PORT}/api/v1/servers/localhost"
    return subprocess.Popen(lab.lan["dnsdist"].argv(sys.executable, "-c", POLLER, url,
                                                    API_KEY, str(seconds)),
                            stdout=subprocess.PIPE, text=True)


def _first(lines: list[str], state: str, after: float) -> float | None:
    for line in lines:
        t, _, rest = line.partition(" ")
        if float(t) >= after and f"replica1={state}" in rest.split():
            return float(t)
    return None


def test_replica_killed_under_load_loss_and_drain_time(lab, small):
    require_tool("dnsperf")
    q = _queries(lab)
    rate, seconds, kill_at = 1000, (6 if small else 12), 2.0
    assert until(lambda: all(lab.status(r)["state"] == "fresh" for r in REPLICAS), 30)
    poll = _poller(lab, seconds + 25)
    time.sleep(0.5)
    perf = lab.dnsperf(q, seconds, rate=rate, clients=2)
    time.sleep(kill_at)
    t_kill = time.monotonic()
    lab.kill("replica1")
    res = lab.report(perf)
    t_restart = time.monotonic()
    lab.start_serve("replica1")
    assert until(lambda: lab.dig("replica1", f"0.0.127.{ZONE}")[0] == "NOERROR", 30)
    time.sleep(4)  # rise=2 good checks, one a second
    poll.terminate()
    lines = poll.communicate(timeout=30)[0].splitlines()
    down = _first(lines, "down", t_kill)
    up = _first(lines, "up", t_restart)
    assert down is not None, lines
    assert up is not None, lines
    drain, back = down - t_kill, up - t_restart
    loss = res["lost"] / res["sent"]
    in_window = res["lost"] / max(1.0, rate * drain)
    # queries kept being answered; the loss stays within the health-check window
    assert res["sent"] > rate * (seconds - 1) * 0.8, res
    assert loss < 0.05 and drain < 5, (res, drain, lines)
    assert res["rcodes"].get("SERVFAIL", 0) == 0, res
    record("replicas: loss, one replica killed", loss * 100, "% of queries",
           f"dnsperf -Q {rate} for {seconds}s through dnsdist")
    record("replicas: loss inside the drain window", in_window * 100, "% of queries",
           "lost / (rate x drain time); none after it")
    record("replicas: drain time", drain, "s", "kill to dnsdist's 'down' (checkInterval 1, "
           "maxCheckFailures 2, checkTimeout 500 ms)")
    record("replicas: back in the pool", back, "s", "restart to 'up' (serve start, rise 2)")
    print(f"\nkilled under load: {res['lost']:.0f} of {res['sent']:.0f} lost ({loss:.3%}), "
          f"{in_window:.2%} of the {drain:.2f}s drain window; back up {back:.2f}s after the "
          f"restart")


def test_snapshot_transfer_for_a_delta_update(lab):
    size = lab.status("replica2")["file_size"]
    entries = lab.status("primary")["entries"]
    lab.feed.write_text(lab.feed.read_text("latin-1") + "203.0.113.10\n", "latin-1")
    assert until(lambda: lab.dig("replica2", rev("203.0.113.10"))[1] == ["127.0.0.2"], 60), \
        lab.log("replica2")
    # the pull that brought it, as the replica's fetch schedule logged it
    rx = (rf"{SOURCE}: fetched: {entries + 1} entries .* (\d+) bytes received "
          r"\(literal (\d+), matched (\d+) of (\d+)\)")
    found = re.findall(rx, lab.log("replica2", tail=None))
    assert found, lab.log("replica2")
    received, literal, matched, total = (int(x) for x in found[-1])
    assert matched > total * 0.5 and received < total * 0.5, found[-1]
    record("replicas: delta pull, bytes received", received, "bytes",
           f"one address added; snapshot {total} bytes (was {size})")
    record("replicas: delta pull, literal / matched", literal / max(1, matched), "ratio",
           "rsync --stats of the replica's pull")
    print(f"\ndelta update: {received} bytes received for a {total}-byte snapshot "
          f"(literal {literal}, matched {matched})")
