"""Benchmark fixtures: the generated ip4set (once a session), rbldnsd on loopback, and the
markdown table of medians and ratios printed at the end of the run.

    python -m pytest benchmarks -q                      # timings + the ratio table
    python -m pytest benchmarks --benchmark-disable -q  # CI: every assert, one round each
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402

N32 = 1_000_000
NCIDR = 50_000
ZONE = "bench.test"

#: name -> (value, unit, note); filled by the benchmarks, printed by the summary hook
RESULTS: dict[str, tuple[float, str, str]] = {}


def record(name: str, value: float, unit: str, note: str = "") -> None:
    RESULTS[name] = (value, unit, note)


def median_of(benchmark, fallback: float) -> float:
    """The benchmark's median in seconds; with --benchmark-disable, the one measured run."""
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.rounds:
        return stats.stats.median
    return fallback


class Timed:
    """Wrap a callable and remember how long its last call took (works when disabled)."""

    def __init__(self, fn):
        self.fn, self.last = fn, None

    def __call__(self, *a, **k):
        t = time.perf_counter()
        r = self.fn(*a, **k)
        self.last = time.perf_counter() - t
        return r


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    path = d / "bench.ip4set"
    truth = gen.generate(path, N32, NCIDR)
    return path, truth


@pytest.fixture(scope="session")
def rbldnsd_bin():
    exe = shutil.which("rbldnsd") or ("/usr/sbin/rbldnsd" if os.path.exists("/usr/sbin/rbldnsd") else None)
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("rbldnsd is required in CI (Debian package rbldnsd)")
        pytest.skip("rbldnsd not installed (Debian package rbldnsd)")
    return exe


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dns_query(port: int, name: str, qtype: int = 16, timeout: float = 0.2):
    """One UDP query; returns (rcode, [rdata bytes...]) or None on timeout."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.1", port))
        try:
            r = s.recv(4096)
        except OSError:
            return None
    rcode = r[3] & 15
    an = struct.unpack(">H", r[6:8])[0]
    pos = len(q)
    out = []
    for _ in range(an):
        while r[pos] and r[pos] < 192:
            pos += r[pos] + 1
        pos += 2 if r[pos] >= 192 else 1
        typ, _, _, rdlen = struct.unpack(">HHIH", r[pos:pos + 10])
        pos += 10
        out.append((typ, r[pos:pos + rdlen]))
        pos += rdlen
    return rcode, out


class Rbldnsd:
    """rbldnsd serving one ip4set (or `fmt`) file on a loopback port, started and measured."""

    def __init__(self, exe: str, path: Path, fmt: str = "ip4set"):
        self.exe, self.path, self.fmt = exe, path, fmt
        self.proc = None

    def start(self) -> dict:
        """Start and wait for the first answer. Load time is measured two ways: rbldnsd's
        own log line ('zones reloaded, time <elapsed>e/<user>u sec') and the wall time
        from exec until it answers a UDP query on loopback."""
        self.port = _free_port()
        self._log = tempfile.TemporaryFile("w+")  # a file, not a pipe: rbldnsd buffers a pipe
        # rbldnsd drops root for its own user and must still read the file
        for d in [self.path.parent, *self.path.parent.parents]:
            if str(d).startswith(tempfile.gettempdir() + "/") and d.is_dir():
                os.chmod(d, os.stat(d).st_mode | 0o055)
        os.chmod(self.path, 0o644)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [self.exe, "-n", "-b", f"127.0.0.1/{self.port}", "-w", str(self.path.parent),
             f"{ZONE}:{self.fmt}:{self.path.name}"],
            stdout=self._log, stderr=subprocess.STDOUT, text=True)  # it logs to stdout
        probe = f"1.0.0.127.{ZONE}"
        while True:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"rbldnsd exited: {self._log.read()}")
            if dns_query(self.port, probe, timeout=0.02) is not None:
                break
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("rbldnsd did not answer within 60 s")
        wall = time.perf_counter() - t0
        return {"wall_to_first_answer": wall}

    def log_times(self) -> dict:
        """rbldnsd's own load time, from its log (read after stop(), once it has flushed
        its stdout)."""
        self._log.seek(0)
        log = self._log.read()
        m = re.search(r"zones reloaded, time ([\d.]+)e/([\d.]+)u sec", log)
        return {"log_elapsed": float(m.group(1)) if m else None,
                "log_user": float(m.group(2)) if m else None, "log": log}

    def rss_kb(self) -> int:
        return _vmrss(self.proc.pid)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def status_kb(pid: int, key: str = "VmRSS") -> int:
    """A kB field (VmRSS, VmHWM, ...) of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key}")


def _vmrss(pid: int) -> int:
    return status_kb(pid, "VmRSS")


def median(xs):
    return sorted(xs)[len(xs) // 2]


def record_load(prefix: str, who: str, runs: list[dict], keys: tuple[str, str, str, str],
                notes: tuple[str, str, str, str] = ("", "", "", "")) -> None:
    """The four load rows of one program (wall s, CPU s, peak RSS MiB, RSS after load
    MiB) as medians over runs; keys name those four figures in each run's dict (RSS in kB)."""
    rows = (("load text", "s", 1), ("load text CPU", "s", 1), ("peak RSS", "MiB", 1024),
            ("RSS after load", "MiB", 1024))
    for (what, unit, div), key, note in zip(rows, keys, notes):
        record(f"{prefix}: {what}: {who}", median([r[key] for r in runs]) / div, unit, note)


@pytest.fixture
def rbldnsd_factory(rbldnsd_bin):
    started = []

    def make(path: Path, fmt: str = "ip4set") -> Rbldnsd:
        r = Rbldnsd(rbldnsd_bin, path, fmt)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


# ------------------------------------------------------------------------ the table
_PAIRS = [
    # (ours, theirs, label) - ratio = theirs / ours (> 1: we are faster / smaller)
    ("load text: rblmirror", "load text: rbldnsd (log elapsed)", "text load vs rbldnsd"),
    ("load text: rblmirror", "load text: rbldnsd (to first answer)", "text load vs rbldnsd first answer"),
    ("load snapshot: rblmirror", "load text: rbldnsd (log elapsed)", "snapshot load vs rbldnsd"),
    ("lookup int random: Index4.lookup", "lookup int random: pyroaring `in`", "single int lookup vs pyroaring `in`"),
    ("lookup int random: Index4.lookup", "lookup int random: pyroaring __contains__", "single int lookup vs BitMap.__contains__"),
    ("lookup int hot: Index4.lookup", "lookup int hot: pyroaring `in`", "hot int lookup vs pyroaring `in`"),
    ("lookup int random: `in` Index4", "lookup int random: pyroaring `in`", "random `in` vs pyroaring `in`"),
    ("lookup int hot: `in` Index4", "lookup int hot: pyroaring `in`", "hot `in` vs pyroaring `in`"),
    ("lookup str random: Index4.lookup_text", "lookup str random: pytricia get", "str lookup vs pytricia"),
    ("lookup str random: Dataset.lookup", "lookup str random: pytricia get", "Dataset.lookup(str) vs pytricia"),
    ("batch: lookup_many", "batch: numpy.searchsorted", "batch vs numpy.searchsorted"),
    ("RSS: rblmirror (text load)", "RSS: rbldnsd", "RSS text-loaded vs rbldnsd"),
    ("RSS: rblmirror (snapshot)", "RSS: rbldnsd", "RSS snapshot-loaded vs rbldnsd"),
]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    w = terminalreporter.write_line
    w("")
    w("## rblmirror vs rbldnsd / pyroaring / pytricia / numpy (same run)")
    w("")
    w("| measurement | median | unit | note |")
    w("|---|---:|---|---|")
    for k, (v, unit, note) in RESULTS.items():
        w(f"| {k} | {v:,.3f} | {unit} | {note} |")
    w("")
    w("| comparison | ratio (theirs / ours; > 1 = rblmirror better) |")
    w("|---|---:|")
    for ours, theirs, label in _PAIRS:
        if ours in RESULTS and theirs in RESULTS and RESULTS[ours][0]:
            a, b = RESULTS[ours][0], RESULTS[theirs][0]
            if RESULTS[ours][1].endswith("/s"):  # throughput: bigger is better
                a, b = b, a
            w(f"| {label} | {b / a:.2f}x |")
    if config.getoption("benchmark_disable", False):
        w("(--benchmark-disable: single measured runs, not medians)")
