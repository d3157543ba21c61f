"""Domain lists (dnset) at compiled speed: rblmirror's name index and loader side by side
with rbldnsd on one generated dnset, every figure checked against a plain-Python
statement of the dnset rules (written here, independent of rblmirror).

    python -m pytest benchmarks/test_bench_names.py -q -s               # 5M domains
    RBLMIRROR_BENCH_NAMES=2000000 python -m pytest benchmarks/test_bench_names.py -q -s
    python -m pytest benchmarks/test_bench_names.py --benchmark-disable # CI: 100k

The dump: $SOA/$NS, a `:A:TXT` default line, N domains (random 3-12 character labels
under ten TLDs, one in ten one label deeper), of which 10 % are `.name` (the name and
its subdomains), 2 % `*.name`, 1 % exclusions (`!sub.name` under an earlier `.name`),
0.5 % with their own `:A:TXT`, and 0.2 % listed again with another value.

Text loads and RSS are measured in a fresh process each (ours: `Dataset.from_file`;
rbldnsd: its own log line; both: VmHWM and VmRSS from /proc), three rounds, medians.
rbldnsd's answers for a sample are checked over DNS, ours for the whole sample.
`serve` from a snapshot: see serve_start.py (five starts, medians).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

import serve_start
from gen import ZONE
from results import Timed, median_of, record, record_load, record_rbldnsd_load
from support.dns import query
from support.processes import status_kb
from rblmirror.data.dataset import Dataset

FULL = 5_000_000
SMALL = 100_000  # --benchmark-disable (CI): the asserts, not the speed
NSAMPLE = 4000  # names whose answers are checked (each asked four ways)
NSPREAD = 200_000  # names of the random lookups over the whole index
NROUNDS = 3
DEFAULT = ("127.0.1.2", "Listed, see https://example.test/q?d=$")
TLDS = ["com", "net", "org", "info", "ru", "cn", "de", "top", "xyz", "co.uk"]
ALPHA = b"abcdefghijklmnopqrstuvwxyz0123456789"


def _size(config) -> int:
    env = os.environ.get("RBLMIRROR_BENCH_NAMES")
    if env:
        return int(env)
    return SMALL if config.getoption("benchmark_disable", False) else FULL


# ------------------------------------------------------------------ the dump
def generate(path, n: int, seed: int = 20261201) -> list[tuple[bool, str, str, tuple | None]]:
    """Write the dump; returns its entries (excluded, form, name, value or None for
    the default) in file order, form "exact" | "wild" | "dot"."""
    rnd = random.Random(seed)
    table = bytes(ALPHA[i % len(ALPHA)] for i in range(256))
    pool = rnd.randbytes(n * 16).translate(table).decode()
    entries: list[tuple[bool, str, str, tuple | None]] = []
    dots: list[str] = []
    out = ["$SOA 3600 ns.bench.test. hm.bench.test. 1 3600 600 86400 300",
           "$NS 3600 ns.bench.test.", f":{DEFAULT[0]}:{DEFAULT[1]}"]
    for i in range(n):
        k = 3 + (i * 7919) % 10
        name = f"{pool[16 * i:16 * i + k]}.{TLDS[i % 10]}"
        r = rnd.random()
        if r < 0.10:
            name = f"{pool[16 * i + 12:16 * i + 16]}.{name}"
        r = rnd.random()
        if r < 0.10:
            e = (False, "dot", name, None)
            dots.append(name)
        elif r < 0.12:
            e = (False, "wild", name, None)
        elif r < 0.13 and dots:
            e = (True, "exact", "ex." + rnd.choice(dots), None)
        elif r < 0.135:
            e = (False, "exact", name, (f"127.0.1.{3 + i % 7}", f"Own reason {i % 20} for $"))
        elif r < 0.137 and entries:
            old = entries[rnd.randrange(len(entries))]
            e = (False, old[1], old[2], ("127.0.1.9", "Listed again: $"))
        else:
            e = (False, "exact", name, None)
        entries.append(e)
        excl, form, nm, v = e
        line = ("!" if excl else "") + {"exact": "", "wild": "*.", "dot": "."}[form] + nm
        if v is not None:
            line += f" :{v[0]}:{v[1]}"
        out.append(line)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return entries


class Truth:
    """rbldnsd's dnset rules over the generated entries: an exact entry wins (even an
    exclusion), else the longest wildcard among the proper suffixes; duplicates answer
    each distinct value once, an exclusion among them wins; `$` is the matched entry."""

    def __init__(self, entries, keep: set[str]):
        self.exact: dict[str, list] = {}
        self.wild: dict[str, list] = {}
        for excl, form, name, v in entries:
            if name not in keep:
                continue
            v = "EXCL" if excl else (v or DEFAULT)
            if form in ("exact", "dot"):
                self.exact.setdefault(name, []).append(v)
            if form in ("wild", "dot"):
                self.wild.setdefault(name, []).append(v)

    def answer(self, q: str):
        """(matched entry or "", ((A, TXT rendered), ...)); () when not listed."""
        n = q.lower().rstrip(".")
        hit = (self.exact[n], n) if n in self.exact else None
        if hit is None:
            labels = n.split(".")
            for i in range(1, len(labels)):
                key = ".".join(labels[i:])
                if key in self.wild:
                    hit = self.wild[key], key
                    break
        if hit is None:
            return "", ()
        vals, m = hit
        if "EXCL" in vals:
            return m, ()
        return m, tuple((a, t.replace("$", m)) for a, t in dict.fromkeys(vals))


def _suffixes(q: str) -> list[str]:
    labels = q.lower().split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


@pytest.fixture(scope="session")
def names_data(tmp_path_factory, request):
    n = _size(request.config)
    d = tmp_path_factory.mktemp("names")
    path = d / "bench.dnset"
    entries = generate(path, n)
    rnd = random.Random(5)
    picked = [entries[i][2] for i in rnd.sample(range(len(entries)), min(NSAMPLE, n))]
    queries = []
    for name in picked:
        queries += [name, "www." + name, "a.b." + name.upper(), "nx" + name]
    keep = {s for q in queries for s in _suffixes(q)}
    truth = Truth(entries, keep)
    want = [truth.answer(q) for q in queries]
    listed = sum(bool(w[1]) for w in want)
    assert len(queries) // 5 < listed < len(queries)  # listed and unlisted alike
    # lookups spread over the whole index: names listed exactly (and never excluded),
    # and names under a TLD no entry has (never listed)
    excluded = {e[2] for e in entries if e[0]}
    plain = [i for i in rnd.sample(range(len(entries)), min(NSPREAD, n))
             if entries[i][1] in ("exact", "dot") and entries[i][2] not in excluded]
    spread = [entries[i][2] for i in plain] + \
        [entries[i][2].replace(".", "-") + ".invalid" for i in plain]
    rnd.shuffle(spread)
    return path, n, queries, want, spread


def _same(got_answers, want) -> None:
    for (m, vals), (wm, wvals), in zip(got_answers, want):
        assert tuple(map(tuple, vals)) == wvals
        if wvals:
            assert m == wm


# ------------------------------------------------------------------ text load
_CHILD = textwrap.dedent("""
    import json, sys, time
    from rblmirror.data.dataset import Dataset
    t, c = time.perf_counter(), time.process_time()
    ds = Dataset.from_file(sys.argv[1], "dnset")
    load, cpu = time.perf_counter() - t, time.process_time() - c
    # VmHWM, not ru_maxrss: that one carries the forking parent's size over the exec
    st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status')
          if l.startswith(('VmHWM:', 'VmRSS:'))}
    peak, rss = st['VmHWM'], st['VmRSS']
    qs = json.loads(sys.stdin.read())
    ans = []
    for q in qs:
        m = ds.match_name(q)[1]
        ans.append([m, [[v.a, v.txt] for v in ds.lookup_name(q)]])
    print(json.dumps({"load": load, "cpu": cpu, "peak_kb": peak, "rss_kb": rss,
                      "entries": ds.entries, "names": len(ds.names),
                      "warnings": len(ds.warnings), "answers": ans}))
""")


@pytest.mark.integration
def test_names_load_text_rblmirror(benchmark, names_data):
    path, n, queries, want, _ = names_data
    runs = []

    def run():
        r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], input=json.dumps(queries),
                           capture_output=True, text=True, check=True)
        runs.append(json.loads(r.stdout))

    benchmark.pedantic(run, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    out = runs[-1]
    assert out["entries"] == n and out["warnings"] == 0
    _same(out["answers"], want)
    record_load(f"names {n}", "rblmirror", runs, ("load", "cpu", "peak_kb", "rss_kb"),
                ("Dataset.from_file in a fresh process", "",
                 "VmHWM of that process (interpreter and numpy included)", ""))


@pytest.mark.integration
def test_names_load_text_rbldnsd(benchmark, names_data, rbldnsd_factory):
    path, n, queries, want, _ = names_data
    runs = []

    def start_stop():
        r = rbldnsd_factory(path, "dnset")
        r.start(timeout=60)
        m = {"wall_to_first_answer": r.started_in}
        m["hwm_kb"] = status_kb(r.proc.pid, "VmHWM")
        m["rss_kb"] = status_kb(r.proc.pid, "VmRSS")
        for q, (_, w) in list(zip(queries, want))[:400]:  # its answers are the truth's
            ans = query(r.port, f"{q}.{ZONE}", "A", timeout=2)
            assert ans is not None, q
            rcode, rrs = ans.header.rcode, ans.rr
            assert rcode == (0 if w else 3), q
            assert sorted({str(rr.rdata) for rr in rrs}) == sorted({a for a, _ in w})
        r.stop()
        m.update(r.load_times())
        runs.append(m)

    benchmark.pedantic(start_stop, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    record_rbldnsd_load(f"names {n}", runs)


# ------------------------------------------------------------------ snapshot, lookups
@pytest.fixture(scope="session")
def names_loaded(names_data):
    return Dataset.from_file(names_data[0], "dnset")


@pytest.fixture(scope="session")
def names_snapshot(names_loaded, tmp_path_factory):
    snap = tmp_path_factory.mktemp("names-snap") / "bench.snap"
    names_loaded.save(snap)
    return snap


def _check(ds: Dataset, queries, want) -> None:
    _same([(ds.match_name(q)[1], [[v.a, v.txt] for v in ds.lookup_name(q)]) for q in queries],
          want)


def test_names_snapshot_open(benchmark, names_data, names_snapshot):
    path, n, queries, want, _ = names_data
    fn = Timed(lambda: Dataset.load(names_snapshot))
    ds = benchmark(fn)
    for a in ds.names.arrays():
        assert not a.flags.owndata  # mapped, not read
    assert ds.entries == n
    _check(ds, queries, want)
    record(f"names {n}: snapshot open (checksum + structure check)",
           median_of(benchmark, fn.last) * 1e3, "ms", "Dataset.load, page cache warm")


NLOOP = 20_000


def _per_lookup(benchmark, fn, name, n, note="", count=NLOOP):
    """fn: `count` lookups, returning how long they took (the fallback when disabled)."""
    t = benchmark(fn)
    record(f"names {n}: {name}", median_of(benchmark, t) / count * 1e9, "ns", note)


def test_names_lookup_sample(benchmark, names_data, names_snapshot):
    path, n, queries, want, _ = names_data
    ds = Dataset.load(names_snapshot)
    rnd = random.Random(9)
    qs = [rnd.choice(queries) for _ in range(NLOOP)]
    m = ds.match_name
    _check(ds, queries, want)

    def loop():
        import time
        t = time.perf_counter()
        for q in qs:
            m(q)
        return time.perf_counter() - t

    _per_lookup(benchmark, loop, "lookup: Dataset.match_name, the checked sample", n,
                "16k queries of 4k names: entries, www., a.b. (upper case), unrelated")


def test_names_lookup_spread(benchmark, names_data, names_snapshot):
    """Random names over the whole index (working set far beyond the caches)."""
    path, n, queries, want, spread = names_data
    ds = Dataset.load(names_snapshot)
    m = ds.match_name
    for q in spread:
        vid, matched = m(q)
        assert (vid >= 0 and matched == q) if not q.endswith(".invalid") else vid == -1, q
    k = len(spread)

    def loop():
        import time
        t = time.perf_counter()
        for q in spread:
            m(q)
        return time.perf_counter() - t

    _per_lookup(benchmark, loop, "lookup: Dataset.match_name, random over the index", n,
                f"{k:,} names: half entries, half under a TLD no entry has", count=k)


def test_names_lookup_hot(benchmark, names_data, names_loaded):
    path, n, queries, want, _ = names_data
    q = "www." + queries[0]
    assert names_loaded.match_name(q)[1] == want[1][0]
    m = names_loaded.match_name

    def loop():
        import time
        t = time.perf_counter()
        for _ in range(NLOOP):
            m(q)
        return time.perf_counter() - t

    _per_lookup(benchmark, loop, "lookup: Dataset.match_name, one name (hot)", n)


# ------------------------------------------------------------------ serve from a snapshot
@pytest.mark.integration
def test_names_serve_from_snapshot(benchmark, names_data, tmp_path):
    """`rblmirror serve` on a mirrored source's current snapshot: exec to the first
    correct answer from dig; then sampled names, listed and not, answer as the truth."""
    path, n, queries, want, _ = names_data

    def q(name, w) -> tuple[str, str, list[str]]:
        return f"{name}.{ZONE}", "NOERROR" if w[1] else "NXDOMAIN", sorted({a for a, _ in w[1]})

    cfg = serve_start.mirrored_state(tmp_path, path, "dnset", ZONE)
    first = next(q(x, w) for x, w in zip(queries, want) if w[1])
    checks = [q(x, w) for x, w in list(zip(queries, want))[::len(queries) // 20]]
    assert {c[1] for c in checks} == {"NOERROR", "NXDOMAIN"}
    times = serve_start.time_starts(benchmark, cfg, tmp_path / "serve.log", first[0], first[2],
                                    checks, serve_start.ROUNDS)
    serve_start.record_starts(f"names {n}", times)
