"""`rblmirror serve` with mirrored sources: background fetch from a real rsync daemon,
reload on a new snapshot, old data kept when upstream fails, staleness (SERVFAIL or
serve, RFC 5782 test points still answered), never-fetched zones, Prometheus metrics."""
from __future__ import annotations

import re
import time
import urllib.request

import pytest
from support.cli import cli, status_json
from support.feeds import copy_feed
from support.mirror import write_config
from support.poll import until
from support.ports import free_tcp_port
from support.rsyncd import Rsyncd
from support.serve import Serve
from support.tools import require_tool

from rblmirror.data.dataset import Dataset

pytestmark = pytest.mark.integration

FEED = "psbl.txt"
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def _found(rx: str, text: str) -> str:
    """The first group of `rx` in `text` (fails when it is not there)."""
    m = re.search(rx, text)
    assert m is not None, (rx, text)
    return m.group(1)


def rev(ip: str, zone: str) -> str:
    return ".".join(reversed(ip.split("."))) + "." + zone


def serve(tmp_path, cfg, *extra) -> Serve:
    probe = tmp_path / "probe.zone"
    probe.write_text("192.0.2.1\n")
    return Serve([f"probe.test:ip4set:{probe}"], extra=["--config", str(cfg), *extra],
                 log_dir=tmp_path).start()



def rcode(s: Serve, name: str, qtype="A") -> int:
    return s.query(name, qtype).header.rcode


def a_of(s: Serve, name: str) -> list[str]:
    return sorted(str(r.rdata) for r in s.query(name, "A").rr)


def test_serve_fetches_in_background_and_reloads(tmp_path):
    d = Rsyncd(tmp_path / "upstream")
    up = copy_feed(FEED, d.folder / FEED)
    d.start()
    cfg = write_config(tmp_path, [{"name": "psbl", "url": d.url(FEED), "format": "plain",
                                   "min_interval": "1s", "max_age": "1h"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])
    listed = up.read_text().split()[0]
    s = serve(tmp_path, cfg)
    try:
        # the first background fetch lands and the server reloads it
        assert until(lambda: rcode(s, rev(listed, "psbl.mirror.test")) == NOERROR), s.log
        assert a_of(s, rev(listed, "psbl.mirror.test")) == ["127.0.0.2"]
        assert rcode(s, rev("198.51.100.7", "psbl.mirror.test")) == NXDOMAIN
        # upstream changes: one address removed, one added
        up.write_text(up.read_text().replace(f"{listed}\n", "", 1) + "198.51.100.7\n")
        assert Dataset.from_file(up, "plain").lookup(listed) == ()
        assert until(lambda: rcode(s, rev("198.51.100.7", "psbl.mirror.test")) == NOERROR), \
            s.log
        assert rcode(s, rev(listed, "psbl.mirror.test")) == NXDOMAIN
        # upstream dies: the old data is still served, status says failing
        d.kill()
        assert until(lambda: status_json(cfg)["sources"][0]["state"] == "failing"), s.log
        assert a_of(s, rev("198.51.100.7", "psbl.mirror.test")) == ["127.0.0.2"]
        assert "failed: rsync exit" in s.log
    finally:
        s.stop()
        d.stop()


@pytest.mark.parametrize("on_stale", ["servfail", "serve"])
def test_staleness(tmp_path, on_stale):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    cfg = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                   "min_interval": "0s", "max_age": "3s"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"],
                         "on_stale": on_stale}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    listed = up.read_text().split()[0]
    q = rev(listed, "psbl.mirror.test")
    s = serve(tmp_path, cfg, "--no-fetch")
    try:
        assert rcode(s, q) == NOERROR and a_of(s, q) == ["127.0.0.2"]
        assert until(lambda: status_json(cfg)["sources"][0]["state"] == "stale", 6)
        if on_stale == "servfail":
            assert until(lambda: rcode(s, q) == SERVFAIL, 3), s.log
            assert rcode(s, q, "TXT") == SERVFAIL
            assert rcode(s, rev("198.51.100.9", "psbl.mirror.test")) == SERVFAIL
            # RFC 5782 test points keep answering
            assert a_of(s, "2.0.0.127.psbl.mirror.test") == ["127.0.0.2"]
            assert rcode(s, "1.0.0.127.psbl.mirror.test") == NXDOMAIN
            v6 = ".".join("200000f7ffff" + "0" * 20) + ".psbl.mirror.test"
            assert a_of(s, v6) == ["127.0.0.2"]
            # a successful fetch (unchanged data) makes it fresh again: reload, answers
            code, out, _ = cli("fetch", "--config", str(cfg))
            assert code == 0 and "unchanged" in out
            assert until(lambda: rcode(s, q) == NOERROR, 5), s.log
        else:
            time.sleep(0.5)
            assert rcode(s, q) == NOERROR and a_of(s, q) == ["127.0.0.2"]
            assert status_json(cfg)["zones"][0]["answers"] == "data"
        assert rcode(s, "1.2.0.192.probe.test") == NOERROR  # local zones unaffected
    finally:
        s.stop()


def test_never_fetched_source_offline(tmp_path):
    port = free_tcp_port()  # nothing listens there
    cfg = write_config(tmp_path, [{"name": "gone", "url": f"rsync://127.0.0.1:{port}/m/x.txt",
                                   "format": "plain", "min_interval": "1h"}],
                       [{"name": "gone.mirror.test", "datasets": ["gone"],
                         "on_stale": "serve"}])
    s = serve(tmp_path, cfg)
    try:
        assert rcode(s, "1.2.0.192.probe.test") == NOERROR  # serving needs no fetch
        assert rcode(s, "9.2.0.192.gone.mirror.test") == SERVFAIL
        assert a_of(s, "2.0.0.127.gone.mirror.test") == ["127.0.0.2"]
        assert "gone.mirror.test: source(s) gone not fetched yet" in s.log
        assert until(lambda: status_json(cfg)["sources"][0]["state"] == "failing")
        assert rcode(s, "9.2.0.192.gone.mirror.test") == SERVFAIL
    finally:
        s.stop()


def test_metrics(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    cfg = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                   "min_interval": "1h"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    mport = free_tcp_port()
    s = serve(tmp_path, cfg, "--no-fetch", "--metrics", f"127.0.0.1:{mport}")
    listed = up.read_text().split()[0]
    try:
        for _ in range(5):
            assert rcode(s, rev(listed, "psbl.mirror.test")) == NOERROR
        for _ in range(3):
            assert rcode(s, rev("198.51.100.9", "psbl.mirror.test")) == NXDOMAIN
        text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read()
    finally:
        s.stop()
    samples = {(x.name, tuple(sorted(x.labels.items()))): x.value
               for fam in text_string_to_metric_families(text.decode())
               for x in fam.samples}
    st = status_json(cfg)["sources"][0]
    src = (("source", "psbl"),)
    assert samples[("rblmirror_source_state", (("source", "psbl"), ("state", "fresh")))] == 1
    assert samples[("rblmirror_source_state", (("source", "psbl"), ("state", "stale")))] == 0
    assert samples[("rblmirror_source_entries", src)] == st["entries"]
    assert samples[("rblmirror_source_last_success_timestamp_seconds", src)] == \
        st["last_success"]
    zone = (("zone", "psbl.mirror.test"),)
    assert samples[("rblmirror_zone_servfail", zone)] == 0
    assert samples[("rblmirror_dns_queries_total", zone)] == 8
    assert samples[("rblmirror_dns_listed_total", zone)] == 5
    assert samples[("rblmirror_dns_not_listed_total", zone)] == 3
    assert samples[("rblmirror_dns_nxdomain_total", zone)] == 3
    # per zone, as rbldnsd's statistics count them: query and reply bytes
    assert 8 * 17 < samples[("rblmirror_dns_query_bytes_total", zone)] < 8 * 100
    assert samples[("rblmirror_dns_response_bytes_total", zone)] > \
        samples[("rblmirror_dns_query_bytes_total", zone)]


def test_reload_during_load_loses_no_query(tmp_path):
    """dnsperf against serve while a fetch swaps in a 1M-entry snapshot (0.5M before):
    0 queries lost."""
    import random
    import subprocess
    require_tool("dnsperf")
    rng = random.Random(4)
    ips = list({rng.randrange(1 << 24, 0xDF000000) for _ in range(1_000_000)})
    text = lambda xs: "".join(f"{x >> 24}.{x >> 16 & 255}.{x >> 8 & 255}.{x & 255}\n"
                              for x in xs)
    d = Rsyncd(tmp_path / "upstream")
    up = d.folder / "big.txt"
    half = len(ips) // 2
    up.write_text(text(ips[:half]))
    d.start()
    cfg = write_config(tmp_path, [{"name": "big", "url": d.url("big.txt"), "format": "plain",
                                   "min_interval": "1h"}],
                       [{"name": "big.mirror.test", "datasets": ["big"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    qfile = tmp_path / "queries.txt"
    names = [rev(text([x]).strip(), "big.mirror.test") for x in ips[:1000]]
    names += [rev(f"192.0.2.{i}", "big.mirror.test") for i in range(1, 200)]
    qfile.write_text("".join(f"{n} A\n" for n in names))
    s = serve(tmp_path, cfg, "--no-fetch")
    # dnsperf's run must span the fetch and the reload; its length leaves room for a
    # loaded machine (a fetch takes about 2 s idle, 10 s with both cores busy)
    length = 20
    try:
        perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(s.port), "-d",
                                 str(qfile), "-l", str(length), "-c", "2", "-q", "100",
                                 "-t", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t0 = time.monotonic()
        time.sleep(1.0)
        up.write_text(text(ips))  # twice the entries
        code, out, _ = cli("fetch", "--force", "--config", str(cfg))
        assert code == 0 and f"{len(ips)} entries (was {half})" in out, out
        # the swap, and the reload (polled each second), fall inside dnsperf's run
        fetched = time.monotonic() - t0
        assert fetched < length - 1.5
        assert until(lambda: "reloaded (file changed)" in s.log, 5.0), s.log
        reloaded = time.monotonic() - t0
        assert reloaded < length - 0.1
        report = perf.communicate(timeout=60)[0]
        last = text([ips[-1]]).strip()
        assert a_of(s, rev(last, "big.mirror.test")) == ["127.0.0.2"]
    finally:
        s.stop()
        d.stop()
    got = {k: int(_found(rx, report)) for k, rx in
           {"sent": r"Queries sent:\s+(\d+)", "completed": r"Queries completed:\s+(\d+)",
            "lost": r"Queries lost:\s+(\d+)"}.items()}
    print(f"dnsperf during the swap: {got}; fetch done at {fetched:.1f}s, reloaded by "
          f"{reloaded:.1f}s of {length}s")
    assert got["sent"] > 1000 and got["lost"] == 0 and got["completed"] == got["sent"], report


def test_two_workers_serve_the_snapshot_and_stop_on_sigterm(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    cfg = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                   "min_interval": "1h"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    probe = tmp_path / "probe.zone"
    probe.write_text("192.0.2.1\n")
    s = Serve([f"probe.test:ip4set:{probe}"], workers=2, log_dir=tmp_path,
              extra=["--config", str(cfg), "--metrics", f"127.0.0.1:{free_tcp_port()}"]).start()
    listed = up.read_text().split()[0]
    try:
        for _ in range(20):  # SO_REUSEPORT spreads these over both workers
            assert a_of(s, rev(listed, "psbl.mirror.test")) == ["127.0.0.2"]
        # the fetch thread runs in the parent; it must not swallow SIGTERM
    finally:
        t0 = time.monotonic()
        rc = s.stop()
    assert rc == 0 and time.monotonic() - t0 < 5, s.log
    # mapped once before the workers fork: both serve the same pages of the same file
    assert s.log.count("source psbl snapshot") == 1
    assert len(set(re.findall(r'"pid": (\d+), "counters"', s.log))) == 2  # two workers ran


def test_corrupt_snapshot_is_not_served(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    cfg = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                   "min_interval": "1h"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    snap = tmp_path / "state/psbl/current"
    snap.resolve().write_bytes(snap.resolve().read_bytes()[:1000])  # damaged on disk
    s = serve(tmp_path, cfg, "--no-fetch")
    try:
        assert rcode(s, "1.2.0.192.probe.test") == NOERROR
        assert rcode(s, rev(up.read_text().split()[0], "psbl.mirror.test")) == SERVFAIL
        assert "cannot open snapshot" in s.log and "rblmirror rollback psbl" in s.log
    finally:
        s.stop()
