"""Soak: `rblmirror serve` under dnsperf load for 10 minutes while its local zone file is
rewritten every 30 s and its mirrored source changes upstream once a minute (a real
`rsync --daemon` on loopback, fetched by serve's own background scheduler with
min_interval = "1m"). Asserted: 0 queries lost, no SERVFAIL, every reload and fetch
happened and the last data answers, RSS flat (least-squares slope after the warm-up),
no file descriptor growth. Run with --workers 1 and 2 (RBLMIRROR_SOAK_WORKERS="1,2").

    python -m pytest benchmarks/test_soak.py -q -s                       # 10 minutes each
    python -m pytest benchmarks/test_soak.py -q -s --benchmark-disable   # 90 s (CI)
    RBLMIRROR_SOAK_SECONDS=300 RBLMIRROR_SOAK_WORKERS=1 python -m pytest benchmarks/test_soak.py

The data: the harness's ip4set (150k /32 + 7.5k CIDRs) as the local zone, a 50k-entry
ip4set with a $SOA serial as the mirrored dump. Each local rewrite changes one marker
entry's TXT; each upstream version drops 200 entries, puts back the previous 200, bumps
the serial and changes the mirrored marker's TXT.
"""
from __future__ import annotations

import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import dnsperf_harness as h
from support.dns import query
from support.mirror import write_config
from support.poll import until
from support.rsyncd import Rsyncd
from support.serve import Serve
from support.tools import require_tool

from rblmirror.mirror.state import SourceDir

pytestmark = pytest.mark.integration

LOCAL = h.ZONE  # the name h.write_zone puts in its $SOA
MIRROR = "mirror.rblmirror.test"
SOURCE = "soak"
DUMP = "soak.zone"
FULL_SECONDS = 600
SHORT_SECONDS = 90  # --benchmark-disable (CI): 2 local reloads, 1 background fetch
RELOAD_EVERY = 30.0
SAMPLE_EVERY = 2.0
LOCAL_ENTRIES = 150_000
MIRROR_ENTRIES = 50_000
CHURN = 200  # mirrored entries dropped (and the previous ones put back) per version
SERIAL0 = 2026120100
#: marker addresses (TEST-NET-1/2) whose TXT names the data version
LOCAL_MARK, MIRROR_MARK = "192.0.2.99", "198.51.100.99"
#: RSS growth allowed after the warm-up, MiB per minute (least-squares slope). Measured
#: over 10 minutes: +0.008 (x1), +0.014 and +0.018 (x2); 90 s runs: +0.07 to +0.14. One
#: local table kept alive per reload (a leak) would add several MiB a minute.
RSS_SLOPE_MAX = 1.0
FLOOR_EVERY = 10.0  # the slope is fitted to the lowest RSS sample of every 10 s
FD_TOLERANCE = 2


def soak_seconds(disabled: bool) -> float:
    env = os.environ.get("RBLMIRROR_SOAK_SECONDS")
    if env:
        return float(env)
    return SHORT_SECONDS if disabled else FULL_SECONDS


def workers_params() -> list[int]:
    return [int(x) for x in os.environ.get("RBLMIRROR_SOAK_WORKERS", "1,2").split(",")]


# ------------------------------------------------------------------------ /proc
def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def status_kib(pid: int, keys=("VmRSS", "RssAnon")) -> dict[str, int]:
    out = dict.fromkeys(keys, 0)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in out:
                out[k] = int(v.split()[0])
    return out


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss: float  # MiB, VmRSS summed over serve and its workers
    anon: float  # MiB, RssAnon summed
    fds: int  # open descriptors, summed
    quiet: bool  # no fetch or compile child running (no transient descriptors)


def sample(t: float, pids: list[int]) -> Sample:
    rss = anon = fds = 0
    for p in pids:
        st = status_kib(p)
        rss, anon, fds = rss + st["VmRSS"], anon + st["RssAnon"], fds + fd_count(p)
    transient = [c for p in pids for c in children(p) if c not in pids]
    return Sample(t, rss / 1024, anon / 1024, fds, not transient)


def slope_per_min(samples: list[Sample], attr: str, floor: float = 0.0) -> float:
    """Least-squares slope of attr over time, in units per minute. floor > 0: fitted to
    the lowest sample of each `floor` seconds, so a reload's passing peak (the old and
    the new table both mapped for a moment) does not tilt a short fit; a leak raises
    the floor too."""
    if floor:
        low: dict[int, Sample] = {}
        for s in samples:
            k = int(s.t // floor)
            if k not in low or getattr(s, attr) < getattr(low[k], attr):
                low[k] = s
        samples = list(low.values())
    t = np.array([s.t for s in samples]) / 60.0
    y = np.array([getattr(s, attr) for s in samples])
    return float(np.polyfit(t, y, 1)[0])


# ------------------------------------------------------------------------ data
def ip4(x: int) -> str:
    return f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"


def rev(ip: str, zone: str) -> str:
    return ".".join(reversed(ip.split("."))) + "." + zone


def replace_file(path: Path, text: str) -> None:
    """Write beside, then rename over: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Data:
    def __init__(self, tmp: Path, upstream: Path):
        self.local = tmp / "local.zone"
        listed = h.write_zone(self.local, LOCAL_ENTRIES, LOCAL_ENTRIES // 20)
        self.local_base = self.local.read_text()
        self.local_listed = listed
        rng = random.Random(12)
        ips: set[int] = set()
        while len(ips) < MIRROR_ENTRIES:
            x = rng.randrange(1 << 24, 0xDF000000)
            if x >> 24 not in (10, 127, 192, 198):
                ips.add(x)
        self.mirror_ips = sorted(ips)
        self.dump = upstream / DUMP
        self.local_version = self.mirror_version = -1
        self.write_local(0)
        self.write_mirror(0)

    def write_local(self, version: int) -> None:
        replace_file(self.local, self.local_base +
                     f"{LOCAL_MARK} :127.0.0.9:local version {version}\n")
        self.local_version = version

    def mirror_text(self, version: int) -> str:
        n = len(self.mirror_ips) - CHURN  # the dropped slice moves on with each version
        lo = (version * CHURN) % n
        keep = self.mirror_ips[:lo] + self.mirror_ips[lo + CHURN:]
        return (f"$SOA 3600 {MIRROR} hostmaster.{MIRROR} {SERIAL0 + version} 3600 900 "
                f"604800 300\n$TTL 300\n:127.0.0.2:Listed by the soak source: $\n" +
                "".join(f"{ip4(x)}\n" for x in keep) +
                f"{MIRROR_MARK} :127.0.0.4:mirror version {version}\n")

    def write_mirror(self, version: int) -> None:
        replace_file(self.dump, self.mirror_text(version))
        self.mirror_version = version

    def queries(self, path: Path, n: int = 100_000) -> None:
        """Both zones, A and TXT, half listed names, half random (mostly unlisted), drawn
        at random per line (dnsperf spreads consecutive lines over its clients, and SO_REUSEPORT
        pins a client to a worker: a periodic pattern would give each worker one kind)."""
        rng = random.Random(3)
        with open(path, "w") as f:
            for _ in range(n):
                zone, pool = (LOCAL, self.local_listed) if rng.random() < 0.5 else \
                    (MIRROR, self.mirror_ips)
                x = rng.choice(pool) if rng.random() < 0.5 else rng.getrandbits(32)
                f.write(f"{rev(ip4(x), zone)} {rng.choice(('A', 'TXT'))}\n")

    #: listed in every version (never in a dropped slice): probed during the soak
    def steady(self) -> tuple[str, str]:
        return rev(ip4(self.local_listed[0]), LOCAL), rev(ip4(self.mirror_ips[-1]), MIRROR)


# ------------------------------------------------------------------------ DNS
def ask(port: int, name: str, qtype: str = "TXT", timeout: float = 2.0):
    """(rcode, [A or TXT strings]) or None on timeout."""
    try:
        r = query(port, name, qtype, timeout=timeout, tries=1)
    except (OSError, TimeoutError):
        return None
    vals = [b"".join(rr.rdata.data).decode() if rr.rtype == 16 else str(rr.rdata)
            for rr in r.rr]
    return r.header.rcode, vals



# ------------------------------------------------------------------------ the soak
@dataclass
class Result:
    workers: int
    seconds: float
    perf: dict = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    local_changes: int = 0
    fetches_seen: int = 0  # new serials seen in state.json during the load
    probe_failures: list[str] = field(default_factory=list)
    final: Sample | None = None
    log: str = ""
    rc: int | None = None
    state: object = None


def soak(tmp: Path, workers: int, seconds: float) -> Result:
    res = Result(workers, seconds)
    rsyncd = Rsyncd(tmp / "upstream")
    data = Data(tmp, rsyncd.folder)
    qfile = tmp / "queries.txt"
    data.queries(qfile)
    rsyncd.start()
    cfg = write_config(tmp, [{"name": SOURCE, "url": rsyncd.url(DUMP), "format": "ip4set",
                              "min_interval": "1m", "max_age": "1h", "keep": 3,
                              "timeout": "1m"}],
                       [{"name": LOCAL, "datasets": [f"ip4set:{data.local}"]},
                        {"name": MIRROR, "datasets": [SOURCE]}])
    sd = SourceDir(str(tmp / "state"), SOURCE)
    # up once the local zone's test point answers NOERROR; a crash leaves the Python
    # stacks in its log (PYTHONFAULTHANDLER)
    srv = Serve([], extra=["--config", str(cfg)], workers=workers, log_dir=tmp,
                probe=f"2.0.0.127.{LOCAL}", probe_type="A", noerror=True,
                env={"PYTHONFAULTHANDLER": "1"})
    try:
        srv.start(timeout=60)
        proc, port = srv.proc, srv.port
        # serve's first background fetch (the source is new): the mirrored zone answers
        want0 = (0, ["mirror version 0"])
        assert until(lambda: ask(port, rev(MIRROR_MARK, MIRROR)) == want0, 60), srv.log
        pids = [proc.pid]
        if workers > 1:  # the forked workers (same command line; not rsync or a compile)
            pids += until(lambda: [c for c in children(proc.pid)
                                   if cmdline(c) == cmdline(proc.pid)], 10)
        assert len(pids) == workers + (workers > 1), pids
        seen_serial = sd.load_state().serial
        assert seen_serial == SERIAL0
        data.write_mirror(1)  # for the next scheduled fetch, a minute after the first

        perf: dict = {}

        def load() -> None:
            try:
                perf.update(h.dnsperf(port, qfile, seconds))
            except Exception as e:  # reported by the assertions below
                perf["error"] = repr(e)

        t = threading.Thread(target=load, daemon=True)
        t0 = time.monotonic()
        t.start()
        end = t0 + seconds
        next_sample = next_reload = t0
        next_reload += RELOAD_EVERY
        steady_local, steady_mirror = data.steady()
        while t.is_alive() and time.monotonic() < end + 90:
            now = time.monotonic()
            gone = [p for p in pids if not alive(p)]
            assert not gone, (f"serve or a worker ended after {now - t0:.0f}s (pids {gone}):\n"
                              + srv.log[-6000:])
            if now >= next_sample:
                res.samples.append(sample(now - t0, pids))
                for name in (steady_local, steady_mirror):
                    r = ask(port, name, "A")
                    if r is None or r[0] != 0 or not r[1]:
                        res.probe_failures.append(f"{now - t0:.0f}s {name}: {r}")
                next_sample += SAMPLE_EVERY
            st = sd.load_state()
            if st.serial != seen_serial:  # the scheduler fetched the version written last
                seen_serial = st.serial
                res.fetches_seen += 1
                # the next version, only if the scheduler will fetch it before the end
                if st.next_due is not None and st.next_due < time.time() + (end - now) - 10:
                    data.write_mirror(data.mirror_version + 1)
            due = st.next_due - time.time() if st.next_due else 1e9
            # keep a rewrite apart from a fetch (each one its own reload); never in the
            # last 10 s, so the final version has reloaded before the load stops
            since = time.time() - st.last_attempt if st.last_attempt else 1e9
            if now >= next_reload and abs(due) > 5 and since > 5 and end - now > 10:
                data.write_local(data.local_version + 1)
                res.local_changes += 1
                next_reload += RELOAD_EVERY
            time.sleep(0.25)
        t.join(max(0.0, end + 90 - time.monotonic()))
        assert not t.is_alive(), "dnsperf did not finish"
        res.perf = perf

        # the last data answers: the last local rewrite and the last fetched version
        want_local = (0, [f"local version {data.local_version}"])
        want_mirror = (0, [f"mirror version {data.mirror_version}"])
        got = until(lambda: ask(port, rev(LOCAL_MARK, LOCAL)) == want_local and
                    ask(port, rev(MIRROR_MARK, MIRROR)) == want_mirror, 60)
        assert got, (ask(port, rev(LOCAL_MARK, LOCAL)), want_local,
                     ask(port, rev(MIRROR_MARK, MIRROR)), want_mirror)
        # descriptors once no fetch or compile child runs
        res.final = until(lambda: (s := sample(time.monotonic() - t0, pids)).quiet and s, 30)
        res.state = sd.load_state()
    finally:
        res.rc = srv.stop()
        rsyncd.stop()
        res.log = srv.log
    return res


def check(res: Result) -> str:
    """Assert the soak's figures; return the summary line."""
    log = res.log
    perf = res.perf
    assert "error" not in perf and perf["completed"] > 0, perf
    assert perf["lost"] == 0, perf
    assert set(perf["rcodes"]) <= {"NOERROR", "NXDOMAIN"}, perf["rcodes"]
    assert not res.probe_failures, res.probe_failures[:10]
    assert res.rc == 0, f"serve exited {res.rc}:\n{log[-3000:]}"
    for bad in ("Traceback", "failed, keeping the previous data", " ERROR ",
                f"{SOURCE}: failed", f"{SOURCE}: rejected"):
        assert bad not in log, log[-5000:]

    # every rewrite and every fetch reached the server (each its own reload, per process)
    reloads_by_pid: dict[str, int] = {}
    for pid in re.findall(r"\[(\d+)\] INFO reloaded \(", log):
        reloads_by_pid[pid] = reloads_by_pid.get(pid, 0) + 1
    fetched = len(re.findall(rf"{SOURCE}: fetched: ", log))  # serve's scheduler's lines
    assert res.local_changes >= max(2, int(res.seconds // RELOAD_EVERY) - 2), res.local_changes
    assert fetched == 1 + res.fetches_seen >= 2, (fetched, res.fetches_seen)
    assert res.fetches_seen >= max(1, int(res.seconds // 66) - 1), res.fetches_seen
    assert len(reloads_by_pid) == res.workers, reloads_by_pid
    reloads = min(reloads_by_pid.values())
    assert reloads >= res.local_changes + fetched, (reloads_by_pid, res.local_changes, fetched)
    st = res.state
    assert st.result in ("fetched", "unchanged") and st.serial == SERIAL0 + res.fetches_seen, st
    assert [x["serial"] for x in st.history] == \
        list(range(SERIAL0 + max(0, fetched - 3), SERIAL0 + fetched)), st.history  # keep = 3

    # resources after the warm-up (the first local reload and its allocations)
    warm = min(60.0, res.seconds / 3)
    after = [s for s in res.samples if s.t >= warm]
    assert len(after) >= 10, len(res.samples)
    base = next((s for s in after if s.quiet), after[0])
    end = res.final
    assert end is not None and end.quiet, "a fetch or compile child never finished"
    rss_slope = slope_per_min(after, "rss", FLOOR_EVERY)
    raw_slope = slope_per_min(after, "rss")
    anon_slope = slope_per_min(after, "anon", FLOOR_EVERY)
    peak = max(after, key=lambda s: s.rss)
    line = (f"soak x{res.workers} {res.seconds:.0f}s: {perf['qps']:,.0f} queries/s, "
            f"{perf['completed']:,.0f} completed, lost {perf['lost']:.0f}; "
            f"RSS {base.rss:.1f} -> {end.rss:.1f} MiB (max {peak.rss:.1f} at {peak.t:.0f}s), "
            f"slope {rss_slope:+.3f} MiB/min (anon {anon_slope:+.3f}, every sample "
            f"{raw_slope:+.3f}) after {warm:.0f}s; "
            f"fds {base.fds} -> {end.fds} (max {max(s.fds for s in res.samples)}); "
            f"local rewrites {res.local_changes}, fetches {fetched}, "
            f"reloads {'/'.join(str(v) for v in reloads_by_pid.values())}")
    by_min = {}
    for x in res.samples:  # the first sample of each minute
        by_min.setdefault(int(x.t // 60), x)
    print("\n" + line + "\n  RSS MiB by minute: " +
          " ".join(f"{x.rss:.1f}" for x in by_min.values()) + f", end {end.rss:.1f}")
    assert end.fds <= base.fds + FD_TOLERANCE, line
    assert abs(rss_slope) < RSS_SLOPE_MAX, line
    return line


@pytest.mark.parametrize("workers", workers_params(), ids=lambda w: f"x{w}")
def test_soak(benchmark, tmp_path, workers):
    require_tool("dnsperf")
    require_tool("rsync")
    seconds = soak_seconds(benchmark.disabled)
    assert seconds >= 80, "a soak needs at least 80 s (two local reloads and a fetch)"
    res = benchmark.pedantic(soak, args=(tmp_path, workers, seconds), rounds=1, iterations=1)
    check(res)
