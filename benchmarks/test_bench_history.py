"""A year of listing history for the six real feeds: how big STATE/history.sqlite gets,
how long a day's swaps take to record, and how long a lookup takes afterwards.

/work/shared/data holds one dump of each list, not a series, so their churn cannot be
read off them; it is simulated at the rate each list documents or, where it documents
none, at UCEPROTECT Level 1's (entries expire 7 days after the last abuse: a seventh of
the list replaced every day, an upper bound for lists whose entries live longer):

    psbl, ucep1, ucep2, ucep3   1/7 of the listed runs replaced per day
    backscatterer               1/28 (every listed address stays 4 weeks: the catalogue)
    whitelisted                 1/28 (an allowlist; its entries are meant to last)

Each day every list loses that many of its listed runs (the real dump's runs: adjacent
entries merged, exclusions cut out) and gains as many runs of the same sizes at random
unlisted places; each day's data is saved as a snapshot and recorded by
history.record_swap, as a fetch does. Ground truth: a sample of addresses whose listed
state is tracked day by day; the history must give each its exact intervals.

    python -m pytest benchmarks/test_bench_history.py -q           # a year (YEAR days)
    python -m pytest benchmarks/test_bench_history.py --benchmark-disable # CI: CI_DAYS days
"""
from __future__ import annotations

import os
import random
import sqlite3

import numpy as np
import pytest

from rblmirror.data.dataset import Dataset
from rblmirror.data.index import IPIndex
from rblmirror.data.values import Listing
from rblmirror.mirror import history

from results import Timed, median, record
from support.feeds import FEEDS, SPECS

#: days simulated: a year, or HISTORY_DAYS; under --benchmark-disable (CI: asserts, not
#: figures) CI_DAYS unless HISTORY_DAYS is set, so the run stays short
YEAR = 365
CI_DAYS = 10
CHURN = {"psbl": 1 / 7, "ucep1": 1 / 7, "ucep2": 1 / 7, "ucep3": 1 / 7,
         "backscatterer": 1 / 28, "whitelisted": 1 / 28}
DAY = 86400.0
T0 = 1_780_000_000.0  # the first swap (mid 2026)
SPACE = (1 << 24, 224 << 24)  # new runs land in 1.0.0.0 - 223.255.255.255
SAMPLE = 200  # tracked addresses per list


def snapshot(path: str, s: np.ndarray, e: np.ndarray) -> str:
    """The runs as a compiled snapshot (as a fetch's compile would write it)."""
    idx = IPIndex.build((s.astype(np.uint32), e.astype(np.uint32),
                         np.zeros(len(s), np.int32)), None)
    Dataset(format="ip4set", files=(), index=idx, sets=[(Listing("127.0.0.2"),)],
            entries=len(s)).save(path)
    return path


def churn(rng: np.random.Generator, s: np.ndarray, e: np.ndarray, rate: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """A day: `rate` of the runs removed, as many of the same sizes added where nothing
    is listed (not touching a listed run, so runs stay runs)."""
    n = len(s)
    k = max(1, round(n * rate))
    gone = rng.choice(n, size=k, replace=False)
    keep = np.ones(n, bool)
    keep[gone] = False
    need = (e[gone] - s[gone]).astype(np.int64)
    cur_s, cur_e = s[keep].astype(np.int64), e[keep].astype(np.int64)
    for _ in range(3):  # random places (most land on free space at once)
        if not len(need):
            break
        a = rng.integers(SPACE[0], SPACE[1] - need - 1)
        b = a + need
        order = np.argsort(a)
        a, b, sizes = a[order], b[order], need[order]
        i = np.searchsorted(cur_s, a)
        nxt = np.where(i < len(cur_s), cur_s[np.minimum(i, len(cur_s) - 1)], SPACE[1] + 2)
        prv = np.where(i > 0, cur_e[np.maximum(i - 1, 0)], -2)
        ok = (nxt > b + 1) & (prv < a - 1)
        ok[1:] &= a[1:] > b[:-1] + 1  # nor touching the candidate before it
        cur_s, cur_e = _merge(cur_s, cur_e, a[ok], b[ok])
        need = sizes[~ok]
    todo = need.tolist()
    while todo:  # big runs: a random free gap wide enough (none: placed as two halves)
        size = todo.pop()
        gs = np.concatenate([[SPACE[0]], cur_e + 2])
        ge = np.concatenate([cur_s - 2, [SPACE[1] - 1]])
        fits = np.flatnonzero(ge - gs >= size)
        if not len(fits):
            todo += [size // 2, size - size // 2 - 1]
            continue
        g = int(fits[rng.integers(len(fits))])
        a = int(rng.integers(gs[g], ge[g] - size + 1))
        cur_s, cur_e = _merge(cur_s, cur_e, np.array([a]), np.array([a + size]))
    return cur_s, cur_e


def _merge(s: np.ndarray, e: np.ndarray, a: np.ndarray, b: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    s, e = np.concatenate([s, a]), np.concatenate([e, b])
    o = np.argsort(s, kind="stable")
    return s[o], e[o]


@pytest.fixture(scope="module")
def year(tmp_path_factory, request):
    days = int(os.environ.get("HISTORY_DAYS", CI_DAYS if request.config.getoption(
        "benchmark_disable", False) else YEAR))
    if not FEEDS.is_dir():
        pytest.skip(f"real feeds not found at {FEEDS}")
    work = tmp_path_factory.mktemp("history")
    sd = str(work / "state")
    os.makedirs(sd)
    rng = np.random.default_rng(2026)
    pick = random.Random(7)
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    tracked: dict[str, list[int]] = {}
    truth: dict[tuple[str, int], list[bool]] = {}
    for name, fmt, f in SPECS:
        ds = Dataset.from_files([FEEDS / f], format=fmt)
        s, e = history.runs4(ds)
        state[name] = (s, e)
        # tracked: addresses listed at the start (half) and random ones (half)
        listed = [int(s[i]) for i in pick.sample(range(len(s)), SAMPLE // 2)]
        tracked[name] = listed + [pick.randrange(*SPACE) for _ in range(SAMPLE // 2)]
    olds: dict[str, str | None] = {n: None for n in state}
    record_times = []
    entries0 = {n: len(state[n][0]) for n in state}
    for day in range(days):
        spent = 0.0
        for name in state:
            s, e = state[name]
            if day:
                s, e = churn(rng, s, e, CHURN[name])
                state[name] = (s, e)
            path = snapshot(str(work / f"{name}-{day}.snap"), s, e)
            for x in tracked[name]:
                i = int(np.searchsorted(s, x, side="right")) - 1
                truth.setdefault((name, x), []).append(i >= 0 and int(e[i]) >= x)
            rec = Timed(history.record_swap)
            rec(sd, name, olds[name], path, T0 + day * DAY)
            spent += rec.last or 0.0
            if olds[name] is not None:
                os.unlink(olds[name])
            olds[name] = path
        record_times.append(spent)
    return sd, tracked, truth, record_times, entries0, days


def test_a_year_of_history_is_small_and_exact(year, benchmark):
    sd, tracked, truth, record_times, entries0, days = year
    size = history.size(sd)
    db = sqlite3.connect(history.path_in(sd))
    pages = db.execute("PRAGMA page_count").fetchone()[0] * \
        db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    # exact: every tracked address's intervals are the runs of days it was listed
    checked = 0
    for (name, x), days in truth.items():
        want = []
        for d, on in enumerate(days):
            if on and (d == 0 or not days[d - 1]):
                want.append([d, d, None])
            elif on:
                want[-1][1] = d
            elif d and days[d - 1]:
                want[-1][2] = d
        got = [i for i in history.lookup(sd, str(_ip(x))) if i.list == name]
        assert [(i.first_seen, i.last_seen, i.removed) for i in got] == [
            (T0 + a * DAY, T0 + b * DAY, None if c is None else T0 + c * DAY)
            for a, b, c in want], (name, _ip(x))
        assert [i.since_began for i in got] == [a == 0 for a, _, _ in want]
        checked += 1
    assert checked == SAMPLE * len(SPECS) - _duplicates(tracked)
    assert size["bytes"] == pages
    addrs = [str(_ip(x)) for (_, x) in list(truth)[:: max(1, len(truth) // 50)]]
    it = iter(range(10 ** 9))
    lookup = Timed(lambda: history.lookup(sd, addrs[next(it) % len(addrs)]))
    benchmark.pedantic(lookup, rounds=200, iterations=1)
    lat = getattr(getattr(benchmark, "stats", None), "stats", None)
    per = lat.median if lat is not None and lat.rounds else (lookup.last or 0.0)
    rows = size["ip4"]
    record(f"history: {days} days x 6 feeds: file size", size["bytes"] / 2 ** 20, "MiB",
           f"{rows:,} IPv4 rows, {size['swaps']} swaps; churn 1/7 a day (1/28 backscatterer, "
           f"whitelisted); start {sum(entries0.values()):,} listed runs")
    record(f"history: {days} days: bytes per row", size["bytes"] / max(rows, 1), "B", "")
    record("history: recording one day's six swaps", median(record_times), "s", "median")
    record("history: lookup of one address", per * 1000, "ms", "median, goal: milliseconds")
    assert per < 0.05


def _ip(x: int) -> str:
    return ".".join(str((x >> s) & 255) for s in (24, 16, 8, 0))


def _duplicates(tracked: dict[str, list[int]]) -> int:
    return sum(len(v) - len(set(v)) for v in tracked.values())
