"""rblmirror's index side by side with rbldnsd, pyroaring, pytricia and numpy on one
generated ip4set (1M random /32s + 50k CIDRs /16../29, some with their own TXT, 2k
exclusions; benchmarks/gen.py, fixed seed). Every benchmark checks its answers against
gen.Truth (the rbldnsd rules written out, independent of rblmirror) or against the
other implementation, so speed never hides a wrong answer.

rbldnsd's load time is taken from its own log line ("zones reloaded, time Xe/Yu sec",
X = elapsed) and, as a cross-check, as the wall time from exec until it answers a UDP
query on loopback. RSS is VmRSS from /proc/PID/status of a process holding the data.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import pytricia
from pyroaring import BitMap

import gen
from gen import ZONE
from results import Timed, median_of, record
from support.dns import query
from support.processes import status_kb
from rblmirror.data.dataset import Dataset
from rblmirror.data.values import Listing, render

NSAMPLE = 3000  # addresses checked against the reference
NLOOP = 20_000  # lookups per timed call for the single-lookup benchmarks
NBATCH = 4_000_000


def _text(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


@pytest.fixture(scope="session")
def loaded(bench_data):
    path, _ = bench_data
    return Dataset.from_file(path, "ip4set")


@pytest.fixture(scope="session")
def sample(bench_data):
    _, truth = bench_data
    xs = gen.sample_addresses(truth, NSAMPLE)
    want = [truth.listings(int(x)) for x in xs.tolist()]
    return xs, want


def _check_dataset(ds: Dataset, sample) -> None:
    xs, want = sample
    listed = 0
    for x, w in zip(xs.tolist(), want):
        got = ds.lookup(x)
        exp = tuple(sorted((a, render(t, _text(x))) for a, t in w))
        assert tuple(sorted((g.a, g.txt) for g in got)) == exp, _text(x)
        listed += bool(w)
    assert NSAMPLE // 4 < listed < NSAMPLE  # both listed and unlisted were checked


# --------------------------------------------------------------------------- (a) load
def test_load_text_rblmirror(benchmark, bench_data, sample):
    path, _ = bench_data
    fn = Timed(lambda: Dataset.from_file(path, "ip4set"))
    ds = benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
    assert ds.entries == 1_052_000 and not ds.warnings
    _check_dataset(ds, sample)
    record("load text: rblmirror", median_of(benchmark, fn.last), "s")


@pytest.mark.integration
def test_load_text_rbldnsd(benchmark, bench_data, sample, rbldnsd_factory):
    path, truth = bench_data
    runs = []

    def start_stop():
        r = rbldnsd_factory(path).start(timeout=60)
        m = {"wall_to_first_answer": r.started_in}
        m["rss_kb"] = status_kb(r.proc.pid, "VmRSS")
        # the loaded data answers like the reference (A records for a sample)
        xs, want = sample
        for x, w in list(zip(xs.tolist(), want))[:300]:
            ans = query(r.port, ".".join(_text(x).split(".")[::-1]) + "." + ZONE, "A",
                        timeout=2)
            rcode, rrs = ans.header.rcode, ans.rr
            assert (rcode == 0) == bool(w), _text(x)
            if w:
                got = sorted(str(rr.rdata) for rr in rrs)
                assert got == sorted(a for a, _ in w), _text(x)
        r.stop()
        m.update(r.load_times())
        runs.append(m)
        return m

    benchmark.pedantic(start_stop, rounds=3, iterations=1, warmup_rounds=0)
    assert all(m["log_elapsed"] is not None for m in runs), runs[-1]["log"]
    el = sorted(m["log_elapsed"] for m in runs)[len(runs) // 2]
    wall = sorted(m["wall_to_first_answer"] for m in runs)[len(runs) // 2]
    record("load text: rbldnsd (log elapsed)", el, "s", "rbldnsd's 'zones reloaded' log line")
    record("load text: rbldnsd (to first answer)", wall, "s", "exec -> first UDP answer")
    record("RSS: rbldnsd", runs[-1]["rss_kb"] / 1024, "MiB", "VmRSS after load")


# ---------------------------------------------------------------------- (b) snapshot
def test_load_snapshot(benchmark, loaded, bench_data, sample, tmp_path_factory):
    snap = tmp_path_factory.mktemp("snap") / "bench.snap"
    loaded.save(snap)
    fn = Timed(lambda: Dataset.load(snap))
    ds = benchmark(fn)
    assert not ds.index.v4.starts_array.flags.owndata  # mapped, not read
    assert ds.entries == loaded.entries
    _check_dataset(ds, sample)
    record("load snapshot: rblmirror", median_of(benchmark, fn.last), "s")


# ------------------------------------------------------------------ (c) single lookups
@pytest.fixture(scope="session")
def lookup_sets(bench_data):
    path, truth = bench_data
    rng = np.random.default_rng(7)
    rand = rng.integers(0, 1 << 32, size=NLOOP, dtype=np.uint64).astype(np.uint32)
    rand[::2] = rng.choice(truth.singles, NLOOP // 2)  # half of them listed
    ints = rand.tolist()
    strs = [_text(x) for x in ints]
    bm = BitMap(truth.singles)
    pyt = pytricia.PyTricia(32)
    for x in truth.singles.tolist():
        pyt.insert(x, 32, 1)
    return ints, strs, bm, pyt


def _per_lookup(benchmark, fn, name, note=""):
    t = Timed(fn)
    r = benchmark(t)
    record(name, median_of(benchmark, t.last) / NLOOP * 1e9, "ns/lookup", note)
    return r


def test_lookup_int_random_ours(benchmark, loaded, lookup_sets, bench_data):
    ints, _, _, _ = lookup_sets
    f = loaded.index.v4.lookup
    out = _per_lookup(benchmark, lambda: [f(x) for x in ints], "lookup int random: Index4.lookup",
                      "compiled; value id")
    ref = loaded.lookup_many(np.array(ints, np.uint32)).tolist()
    assert out == ref
    _, truth = bench_data
    singles = set(truth.singles.tolist())
    assert all(v >= 0 for x, v in zip(ints, out) if x in singles and x not in set(truth.excluded.tolist()))


def test_lookup_int_random_ours_in(benchmark, loaded, lookup_sets):
    ints, _, _, _ = lookup_sets
    idx = loaded.index.v4
    out = _per_lookup(benchmark, lambda: [x in idx for x in ints], "lookup int random: `in` Index4")
    assert out == [v >= 0 for v in loaded.lookup_many(np.array(ints, np.uint32)).tolist()]


def test_lookup_int_hot_ours(benchmark, loaded, lookup_sets):
    ints, _, _, _ = lookup_sets
    f = loaded.index.v4.lookup
    x0 = ints[0]
    hot = [x0] * NLOOP
    out = _per_lookup(benchmark, lambda: [f(x) for x in hot], "lookup int hot: Index4.lookup")
    assert out[0] == loaded.index.v4.lookup_many(np.array([x0], np.uint32))[0] and len(set(out)) == 1


def test_lookup_int_hot_ours_in(benchmark, loaded, lookup_sets):
    ints, _, _, _ = lookup_sets
    idx = loaded.index.v4
    hot = [ints[0]] * NLOOP
    out = _per_lookup(benchmark, lambda: [x in idx for x in hot], "lookup int hot: `in` Index4",
                      "same operation as pyroaring `in`")
    assert out == [True] * NLOOP  # ints[0] is one of the listed singles (not excluded)


def test_lookup_int_random_pyroaring_in(benchmark, lookup_sets, bench_data):
    ints, _, bm, _ = lookup_sets
    out = _per_lookup(benchmark, lambda: [x in bm for x in ints], "lookup int random: pyroaring `in`")
    singles = set(bench_data[1].singles.tolist())
    assert out == [x in singles for x in ints]


def test_lookup_int_random_pyroaring_contains(benchmark, lookup_sets, bench_data):
    ints, _, bm, _ = lookup_sets
    f = bm.__contains__
    out = _per_lookup(benchmark, lambda: [f(x) for x in ints], "lookup int random: pyroaring __contains__")
    singles = set(bench_data[1].singles.tolist())
    assert out == [x in singles for x in ints]


def test_lookup_int_hot_pyroaring(benchmark, lookup_sets):
    ints, _, bm, _ = lookup_sets
    hot = [ints[0]] * NLOOP
    out = _per_lookup(benchmark, lambda: [x in bm for x in hot], "lookup int hot: pyroaring `in`")
    assert out == [True] * NLOOP  # ints[0] is one of the listed singles


def test_lookup_str_random_ours_text(benchmark, loaded, lookup_sets):
    ints, strs, _, _ = lookup_sets
    f = loaded.index.v4.lookup_text
    out = _per_lookup(benchmark, lambda: [f(s) for s in strs], "lookup str random: Index4.lookup_text")
    assert out == loaded.lookup_many(np.array(ints, np.uint32)).tolist()


def test_lookup_str_random_dataset(benchmark, loaded, lookup_sets, sample):
    ints, strs, _, _ = lookup_sets
    f = loaded.lookup
    out = _per_lookup(benchmark, lambda: [f(s) for s in strs], "lookup str random: Dataset.lookup",
                      "full API: rendered Listings")
    ids = loaded.lookup_many(np.array(ints, np.uint32)).tolist()
    assert [bool(o) for o in out] == [v >= 0 for v in ids]
    assert all(isinstance(x, Listing) for o in out for x in o)


def test_lookup_str_random_pytricia(benchmark, lookup_sets, bench_data):
    ints, strs, _, pyt = lookup_sets
    f = pyt.get
    out = _per_lookup(benchmark, lambda: [f(s) for s in strs], "lookup str random: pytricia get")
    singles = set(bench_data[1].singles.tolist())
    assert [o is not None for o in out] == [x in singles for x in ints]


# ------------------------------------------------------------------------ (d) batch
@pytest.fixture(scope="session")
def batch(loaded):
    rng = np.random.default_rng(11)
    return rng.integers(0, 1 << 32, size=NBATCH, dtype=np.uint64).astype(np.uint32)


def test_batch_lookup_many(benchmark, loaded, batch):
    f = Timed(loaded.lookup_many)
    got = benchmark(f, batch)
    starts, vals = loaded.index.segments4()
    want = vals[np.searchsorted(starts, batch, side="right") - 1]
    assert (got == want).all() and (got >= 0).any()
    record("batch: lookup_many", NBATCH / median_of(benchmark, f.last) / 1e6, "M lookups/s")


def test_batch_numpy_searchsorted(benchmark, loaded, batch):
    starts, vals = loaded.index.segments4()
    f = Timed(lambda q: vals[np.searchsorted(starts, q, side="right") - 1])
    got = benchmark(f, batch)
    assert (got == loaded.lookup_many(batch)).all()
    record("batch: numpy.searchsorted", NBATCH / median_of(benchmark, f.last) / 1e6, "M lookups/s")


# --------------------------------------------------------------------------- (e) RSS
_HOLDER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from rblmirror.data.dataset import Dataset
    how, path = sys.argv[1], sys.argv[2]
    ds = Dataset.from_file(path, "ip4set") if how == "text" else Dataset.load(path)
    qs = np.array(json.loads(sys.stdin.read()), np.uint32)
    ids = ds.lookup_many(qs).tolist()
    # touch every page of the index, as a server does over time
    ds.lookup_many(ds.index.segments4()[0])
    rss = int([l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1])
    print(json.dumps({"rss_kb": rss, "ids": ids}))
""")


@pytest.mark.integration
@pytest.mark.parametrize("how", ["text", "snapshot"])
def test_rss_holding_dataset(how, loaded, bench_data, tmp_path, sample):
    path, _ = bench_data
    if how == "snapshot":
        path = tmp_path / "rss.snap"
        loaded.save(path)
    xs, want = sample
    r = subprocess.run([sys.executable, "-c", _HOLDER, how, str(path)], input=json.dumps(xs.tolist()),
                       capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert [i >= 0 for i in out["ids"]] == [bool(w) for w in want]
    record(f"RSS: rblmirror ({'text load' if how == 'text' else 'snapshot'})", out["rss_kb"] / 1024,
           "MiB", "VmRSS of a python process holding it")
