"""`rblmirror serve` starting from a snapshot: the state a mirrored source leaves (its dump
fetched from a local path, compiled, `current` pointing at the snapshot) and the time from
the process's exec until `dig` gets the first correct answer from it on loopback.

The DNS sockets are bound before anything loads, so a query sent early waits in the socket
and is answered the moment the server runs; before the bind, dig sees "connection refused"
at once and is run again. Each measured start is a fresh process (`--no-fetch`: the
snapshot as it is, no background fetch), stopped with SIGTERM afterwards.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from results import median, record
from support.dns import dig_run
from support.mirror import write_config
from support.ports import free_port
from support.processes import cpu_seconds, stop

ROUNDS = 5  # starts measured (one under --benchmark-disable)
#: the installed console script, what an operator (or systemd) starts
RBLMIRROR = str(Path(sys.executable).with_name("rblmirror"))


def mirrored_state(tmp: Path, dump: Path, fmt: str, zone: str) -> Path:
    """A config mirroring `dump` (a local path) as source "big" served as `zone`, fetched
    once (so STATE/big/current is its compiled snapshot); returns the config's path."""
    cfg = write_config(tmp, [{"name": "big", "url": str(dump), "format": fmt,
                              "min_interval": "0s", "max_age": "30d", "max_warnings": 0.5}],
                       [{"name": zone, "datasets": ["big"]}])
    r = subprocess.run([RBLMIRROR, "fetch", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0 and "big" in r.stdout, r.stdout + r.stderr
    snaps = list((tmp / "state" / "big" / "snapshots").glob("*.snap"))
    assert (tmp / "state" / "big" / "current").is_symlink() and len(snaps) == 1, snaps
    return cfg


def dig(port: int, name: str, qtype: str = "A", wait: int = 2) -> tuple[str, list[str]]:
    """(status, the answer's rdata) from one `dig`; status "refused" / "timeout" when no
    answer came."""
    r = dig_run(port, "+norecurse", "+noall", "+comments", "+answer", name, qtype,
                time=wait, tries=1)
    out = r.stdout + r.stderr
    if "connection refused" in out:
        return "refused", []
    if "status:" not in out:
        return "timeout", []
    status = out.split("status:", 1)[1].split(",", 1)[0].strip()
    rdata = [ln.split(None, 4)[4] for ln in out.splitlines()
             if ln and not ln.startswith(";") and len(ln.split(None, 4)) == 5]
    return status, sorted(rdata)


class Started:
    """One serve process started on the snapshot, up to its first correct answer."""

    def __init__(self, cfg: Path, log: Path):
        self.cfg, self.log = cfg, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, name: str, want: list[str], timeout: float = 60.0) -> float:
        """Seconds from exec until dig gets `want` (the A records of a listed `name`);
        self.cpu: the CPU seconds (user + system) the server had used by then."""
        with open(self.log, "ab") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                [RBLMIRROR, "serve", "--config", str(self.cfg), "--no-fetch",
                 "--listen", f"127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        seen = []
        while time.perf_counter() - t0 < timeout:
            status, rdata = dig(self.port, name)
            if status == "NOERROR" and rdata == want:
                wall = time.perf_counter() - t0
                self.cpu = cpu_seconds(self.proc.pid)
                return wall
            seen.append((status, rdata))
            if self.proc.poll() is not None:
                break
            if status == "refused":
                time.sleep(0.005)
        raise AssertionError(f"no correct answer for {name} (want {want}; got {seen[-3:]}):\n"
                             f"{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> int | None:
        return stop(self.proc, 10)


def time_starts(benchmark, cfg: Path, log: Path, name: str, want: list[str],
                checks: list[tuple[str, str, list[str]]], rounds: int) -> list[tuple[float, float]]:
    """`rounds` starts (one under --benchmark-disable); after each first answer, `checks`
    (name, status, A rdata) are asked too. Returns (seconds to the first answer, CPU
    seconds the server used until then) of each start."""
    times = []

    def one():
        s = Started(cfg, log)
        try:
            times.append((s.start(name, want), s.cpu))
            for q, status, rdata in checks:
                assert dig(s.port, q) == (status, rdata), q
        finally:
            rc = s.stop()
        assert rc == 0, log.read_text()[-2000:]

    benchmark.pedantic(one, rounds=rounds, iterations=1, warmup_rounds=0)
    return times


def record_starts(prefix: str, times: list[tuple[float, float]]) -> None:
    """The two rows of the starts: wall and CPU to the first answer, medians."""
    record(f"{prefix}: serve from snapshot, exec to first answer", median([t for t, _ in times]),
           "s", f"{len(times)} starts, dig on loopback")
    record(f"{prefix}: serve from snapshot, CPU to first answer", median([c for _, c in times]),
           "s", "utime + stime of the server by then")
