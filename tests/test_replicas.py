"""Outgrow one host: one primary fetching upstream and exporting its compiled snapshots,
two replicas pulling them, dnsdist in front with the health checks `rblmirror snippets
dnsdist` prints, each on its own address in a private LAN of network namespaces
(support.replicalab), with the real rsync, `rblmirror serve` and dnsdist.

The tests run in order on one lab (each starts by checking what it needs): propagation,
a damaged snapshot refused, a replica killed under load and restarted, a replica gone
stale drained. The loss and the drain time are measured in
benchmarks/test_replicas_bench.py; here the bounds are generous."""
from __future__ import annotations

import json
import os
import re

import pytest
from support.poll import until
from support.feeds import listed_in
from support.replicalab import (HOSTS, REPLICAS, SOURCE, ZONE, ReplicaLab, dnsdist_snippet, rev,
                                write_queries)
from support.tools import require_tool

pytestmark = pytest.mark.integration

ADDED = "203.0.113.9"      # added upstream by the first test
UNLISTED = ["198.51.100.%d" % i for i in range(1, 21)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with ReplicaLab(tmp_path_factory.mktemp("replicas")).start() as lab:
        yield lab


def answers_everywhere(lab: ReplicaLab, name: str, want: list[str]) -> bool:
    return all(lab.dig(r, name)[1] == want for r in REPLICAS) and \
        lab.ask_dnsdist(name)[1] == want


def primary_snapshots(lab: ReplicaLab) -> list[str]:
    st = json.loads((lab.work / "primary" / "state" / SOURCE / "state.json").read_text())
    return [h["snapshot"] for h in st["history"]]


def test_address_added_upstream_reaches_both_replicas_through_dnsdist(lab):
    assert (lab.work / "dnsdist.conf").read_text() == dnsdist_snippet(lab.configs["replica1"])
    listed = listed_in(lab.feed, 1)[0]
    assert answers_everywhere(lab, rev(listed), ["127.0.0.2"])
    assert lab.ask_dnsdist(f"2.0.0.127.{ZONE}") == ("NOERROR", ["127.0.0.2"])
    assert lab.ask_dnsdist(rev(ADDED))[0] == "NXDOMAIN"
    before = primary_snapshots(lab)
    # upstream adds an address: one fetch cycle of the primary brings it
    entries = lab.status("primary")["entries"]
    lab.feed.write_text(lab.feed.read_text("latin-1") + f"{ADDED}\n", "latin-1")
    assert until(lambda: answers_everywhere(lab, rev(ADDED), ["127.0.0.2"]), 60), \
        (lab.log("primary"), lab.log("replica1"))
    assert len(primary_snapshots(lab)) == len(before) + 1  # compiled once, on the primary
    for r in REPLICAS:
        s = lab.status(r)
        assert s["entries"] == entries + 1 and s["upstream_success"] is not None, s
    # upstream was asked by the primary only: the replicas never went there
    clients = lab.upstream_clients()
    assert clients and set(clients) == {HOSTS["primary"]}, clients
    # the export refuses hosts outside hosts_allow (dnsdist's host here)
    r = lab.lan["dnsdist"].run("rsync", "--contimeout=5",
                               f"rsync://{HOSTS['primary']}:8873/rblmirror/{SOURCE}/state.json",
                               str(lab.work / "stolen.json"))
    assert r.returncode != 0 and "access denied" in r.stdout + r.stderr, r
    assert not (lab.work / "stolen.json").exists()


def test_corrupt_snapshot_on_the_primary_is_refused_by_the_replicas(lab):
    served = {r: lab.status(r)["snapshot"] for r in REPLICAS}
    # the primary held still (it would publish a good copy again at its next fetch),
    # its exported snapshot damaged: one byte flipped, the length and state unchanged
    lab.pause("primary")
    try:
        snap = lab.work / "primary" / "state" / "export" / SOURCE / "snapshot"
        data = bytearray(snap.read_bytes())
        data[len(data) // 2] ^= 0x55
        os.unlink(snap)  # (a new file: the primary's own snapshot, linked, stays good)
        snap.write_bytes(bytes(data))
        for r in REPLICAS:
            assert until(lambda r=r: lab.status(r)["state"] == "rejected", 30), lab.log(r)
            s = lab.status(r)
            assert "corrupt: sha256" in s["last_error"] and s["snapshot"] == served[r], s
        # they keep serving the last good snapshot, directly and through dnsdist
        assert answers_everywhere(lab, rev(ADDED), ["127.0.0.2"])
    finally:
        lab.resume("primary")
    # the primary's next fetch publishes its snapshot again; the replicas take it as the
    # one they serve (unchanged) and are fresh again
    for r in REPLICAS:
        assert until(lambda r=r: lab.status(r)["state"] == "fresh", 30), lab.log(r)
        assert lab.status(r)["snapshot"] == served[r]


def test_replica_killed_under_load_then_back_in_the_pool(lab):
    require_tool("dnsperf")
    queries = lab.work / "queries.txt"
    write_queries(queries, listed_in(lab.feed, 20), UNLISTED, 2000)
    for r in REPLICAS:
        assert until(lambda r=r: lab.status(r)["state"] == "fresh", 30)
    perf = lab.dnsperf(queries, seconds=8, rate=400)
    import time
    time.sleep(2.5)
    lab.kill("replica1")
    res = lab.report(perf)
    # queries kept being answered: replica2 took them (generous bound here; the
    # benchmark measures the loss and the drain time)
    assert res["sent"] > 1000 and res["lost"] / res["sent"] < 0.05, res
    assert res["rcodes"].get("SERVFAIL", 0) == 0, res
    # drained: every query through dnsdist answered now
    for _ in range(10):
        assert lab.ask_dnsdist(rev(ADDED))[1] == ["127.0.0.2"]
    # restarted, it answers from its state dir at once and comes back into the pool
    lab.start_serve("replica1")

    def back() -> bool:
        for _ in range(10):
            lab.ask_dnsdist(rev(ADDED))
        return lab.listed_answers("replica1") > 0
    assert until(back, 30, step=0.5), lab.log("dnsdist")


def test_stale_replica_answers_servfail_and_is_drained(lab):
    for r in REPLICAS:
        assert until(lambda r=r: lab.status(r)["state"] == "fresh", 30)
    # upstream stops answering: the primary keeps its data, but its age grows; replica2
    # (max_age 12s) turns stale, replica1 (1h) does not
    assert lab.upstream is not None
    lab.upstream.kill()
    assert until(lambda: lab.dig("replica2", rev(ADDED))[0] == "SERVFAIL", 60), \
        lab.log("replica2")
    s = lab.status("replica2")
    assert s["state"] == "stale" and s["age"] > 12 and s["pull_age"] < 10, s
    m = lab.metrics("replica2")
    assert m[f'rblmirror_zone_servfail{{zone="{ZONE}"}}'] == 1.0
    assert m[f'rblmirror_source_age_seconds{{source="{SOURCE}"}}'] > 12
    assert m[f'rblmirror_source_pull_age_seconds{{source="{SOURCE}"}}'] < 10
    assert lab.status("replica1")["state"] == "fresh"
    # the test point still answers on the stale replica; the health check's name does not
    assert lab.dig("replica2", f"2.0.0.127.{ZONE}") == ("NOERROR", ["127.0.0.2"])
    assert lab.dig("replica2", f"0.0.127.{ZONE}")[0] == "SERVFAIL"
    # dnsdist drains it: every answer through it comes from replica1's data
    before = lab.listed_answers("replica2")

    def drained() -> bool:
        return all(lab.ask_dnsdist(rev(ADDED)) == ("NOERROR", ["127.0.0.2"])
                   for _ in range(20))
    assert until(drained, 30, step=0.5), lab.log("dnsdist")
    assert lab.listed_answers("replica2") == before
    assert "replica2" in lab.log("dnsdist") and "'down'" in lab.log("dnsdist")


def test_readme_shows_the_dnsdist_lines_the_lab_runs(tmp_path):
    """The README's dnsdist block is what the lab's dnsdist runs (ReplicaLab writes the
    snippet as dnsdist.conf), and its primary and replica configs are valid ones."""
    import tomllib

    from support.mailzones import README, readme_block
    from support.replicalab import replica_config

    from rblmirror.mirror.config import parse_config
    cfg = tmp_path / "replica.toml"
    cfg.write_text(replica_config("replica1", tmp_path / "state"))
    assert readme_block("dnsdist") == dnsdist_snippet(cfg)
    text = README.read_text()
    for role in ("primary", "replica"):
        m = re.search(rf"<!-- config: {role} -->\n```toml\n(.*?)```", text, re.S)
        assert m, f"README has no block marked <!-- config: {role} -->"
        parsed = parse_config(tomllib.loads(m.group(1)), f"README {role}")
        assert (parsed.export is not None) == (role == "primary")
        assert all(s.is_replica == (role == "replica") for s in parsed.sources.values())
