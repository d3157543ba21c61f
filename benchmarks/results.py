"""What the benchmark files share: the results table (filled by the benchmarks, printed
by conftest.py's summary hook), medians, and a timed call."""
from __future__ import annotations

import time

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


def record_rbldnsd_load(prefix: str, runs: list[dict]) -> None:
    """record_load() for rbldnsd's runs: its own 'zones reloaded' log line (each run must
    have one) and its /proc status after the load."""
    assert all(m["log_elapsed"] is not None for m in runs), runs[-1]["log"]
    record_load(prefix, "rbldnsd", runs, ("log_elapsed", "log_user", "hwm_kb", "rss_kb"),
                ("rbldnsd's 'zones reloaded' log line (elapsed)", "the same line's user time",
                 "VmHWM after load", "VmRSS after load"))


_SNAPSHOT_RSS_CHILD = """
import sys, json
from rblmirror.data.dataset import Dataset
ds = Dataset.load(sys.argv[1])
if sys.argv[2] == "4":
    ix = ds.index.v4
    ids = ix.lookup_many(ix.starts_array)  # touch every page, as a server does
else:
    ix = ds.index.v6
    ids = None
same = bool((ids == ix.vals_array).all()) if ids is not None else ix.self_check()
del ids
rss = int([l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1])
print(json.dumps({"rss_kb": rss, "same": same}))
"""


def record_snapshot_rss(prefix: str, snapshot, family: int) -> None:
    """Open a snapshot in a fresh interpreter, look up every segment's own start (which
    must answer its own value: asserted) and record that process's RSS."""
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _SNAPSHOT_RSS_CHILD, str(snapshot), str(family)],
                       capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert out["same"]  # each segment's own start answers its own value
    record(f"{prefix}: RSS after snapshot open: rblmirror", out["rss_kb"] / 1024, "MiB",
           "every page touched")
