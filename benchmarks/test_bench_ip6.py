"""IPv6 at compiled speed: rblmirror's ip6trie load, snapshot and lookups side by side
with rbldnsd on one generated ip6trie, every figure checked against the generator's own
statement of the ip6trie rules (longest prefix wins, the first of two identical prefixes
is kept, `!` excludes), written here, independent of rblmirror.

    python -m pytest benchmarks/test_bench_ip6.py -q -s                  # 2M prefixes
    RBLMIRROR_BENCH_IP6=1000000 python -m pytest benchmarks/test_bench_ip6.py -q -s
    python -m pytest benchmarks/test_bench_ip6.py --benchmark-disable    # CI: 50k

The dump: $SOA, a `:A:TXT` default line, then in shuffled order 73 % prefixes /48../64
anywhere in 2000::/3, 20 % prefixes nested inside those of /56 and shorter (1-8 bits
longer), 5 % exclusions (a /64 inside a shorter prefix, or a /128), 0.01 % repeats of
earlier prefixes with another value (rbldnsd keeps the first and warns); one entry in ten
carries its own value (four different ones), one in fifty a `# comment`; written in
compressed, exploded, upper-case, `a:b:c:d::` and short (`a:b:c` = /48) forms.

Text loads and RSS are measured in a fresh process each (ours: `Dataset.from_file`;
rbldnsd: its own log line; both: VmHWM and VmRSS from /proc), three rounds, medians.
rbldnsd's answers for a sample are checked over DNS, ours for the whole sample.
`serve` from a snapshot: see serve_start.py (five starts, medians).
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import numpy as np
import pytest

import serve_start
from gen import ZONE
from results import (Timed, median_of, record, record_load, record_rbldnsd_load,
                     record_snapshot_rss)
from support.dns import query
from support.processes import status_kb
from rblmirror.data.dataset import Dataset

FULL = 2_000_000
SMALL = 50_000  # --benchmark-disable (CI): the asserts, not the speed
NSAMPLE = 4000  # addresses whose answers are checked
NROUNDS = 3
NLOOP = 20_000  # single lookups per timed call
NBATCH = 1_000_000
SEED = 20261202
DEFAULT = ("127.0.0.2", "Listed by the IPv6 benchmark generator, see http://example.test/?ip=$")
VALUES = [("127.0.0.3", "Network listed: $"), ("127.0.0.4", "Spam source $"),
          ("127.0.0.5", None), ("127.0.0.10", "Dynamic range $ (policy)")]
ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def _size(config) -> int:
    env = os.environ.get("RBLMIRROR_BENCH_IP6")
    if env:
        return int(env)
    return SMALL if config.getoption("benchmark_disable", False) else FULL


def _mask(bits: np.ndarray) -> np.ndarray:
    return ONES << (np.uint64(64) - bits.astype(np.uint64))  # bits 48..64 only


# ------------------------------------------------------------------ the dump
@dataclass
class Truth6:
    """The entries in file order and rbldnsd's ip6trie rule over them."""

    hi: np.ndarray  # uint64 high halves of the networks
    lo: np.ndarray  # uint64 low halves (non-zero only for /128 exclusions)
    bits: np.ndarray  # prefix lengths
    val: np.ndarray  # -1 exclusion, 0 the default, k > 0 VALUES[k - 1]

    def __post_init__(self):
        self.by_bits = {}  # longest first: {bits: (sorted networks, their first value)}
        for b in sorted(set(self.bits.tolist()), reverse=True):
            sel = np.flatnonzero(self.bits == b)
            if b == 128:
                d: dict[int, int] = {}
                for i in sel.tolist():
                    d.setdefault((int(self.hi[i]) << 64) | int(self.lo[i]), int(self.val[i]))
                self.by_bits[b] = d
            else:
                keys, first = np.unique(self.hi[sel], return_index=True)  # first in the file
                self.by_bits[b] = (keys, self.val[sel][first])

    def value(self, x: int) -> tuple[str, str | None] | None:
        """(A, TXT template) for address x, None when not listed (or excluded)."""
        h = np.uint64(x >> 64)
        for b, t in self.by_bits.items():
            if b == 128:
                v = t.get(x)
            else:
                k = h & (ONES << np.uint64(64 - b))
                i = int(np.searchsorted(t[0], k))
                v = int(t[1][i]) if i < len(t[0]) and t[0][i] == k else None
            if v is not None:
                return None if v < 0 else (DEFAULT if v == 0 else VALUES[v - 1])
        return None


def generate(path, n: int, seed: int = SEED) -> Truth6:
    rng = np.random.default_rng(seed)
    n_inner, n_excl, n_dup = n * 20 // 100, n * 5 // 100, max(1, n // 10000)
    n_outer = n - n_inner - n_excl - n_dup
    ob = rng.choice(np.array([48, 48, 48, 52, 56, 56, 60, 64, 64, 64]), n_outer)
    oh = (rng.integers(0, 1 << 61, n_outer, dtype=np.uint64) | np.uint64(1 << 61)) & _mask(ob)
    wide = np.flatnonzero(ob <= 56)
    par = rng.choice(wide, n_inner)
    ib = ob[par] + rng.integers(1, 9, n_inner)
    ih = (oh[par] | (rng.integers(0, 1 << 62, n_inner, dtype=np.uint64) & ~_mask(ob[par]))) \
        & _mask(ib)
    epar = rng.integers(0, n_outer, n_excl)
    eb = np.where((rng.random(n_excl) < 0.2) | (ob[epar] == 64), 128, 64)
    eh = np.where(eb == 64, oh[epar] | (rng.integers(0, 1 << 62, n_excl, dtype=np.uint64)
                                         & ~_mask(ob[epar])), oh[epar])
    el = np.where(eb == 128, rng.integers(1, 1 << 62, n_excl, dtype=np.uint64), np.uint64(0))
    dpar = rng.integers(0, n_outer, n_dup)
    hi = np.concatenate([oh, ih, eh, oh[dpar]])
    lo = np.concatenate([np.zeros(n_outer + n_inner, np.uint64), el, np.zeros(n_dup, np.uint64)])
    bits = np.concatenate([ob, ib, eb, ob[dpar]]).astype(np.int64)
    nv = n_outer + n_inner
    val = np.zeros(n, np.int64)
    val[:nv] = np.where(rng.random(nv) < 0.10, rng.integers(1, len(VALUES) + 1, nv), 0)
    val[nv:nv + n_excl] = -1
    val[nv + n_excl:] = rng.integers(1, len(VALUES) + 1, n_dup)
    order = rng.permutation(n - n_dup)  # the repeats last, after what they repeat
    order = np.concatenate([order, np.arange(n - n_dup, n)])
    hi, lo, bits, val = hi[order], lo[order], bits[order], val[order]
    form = rng.random(n)
    comment = rng.random(n) < 0.02
    H, Lo, B, V = hi.tolist(), lo.tolist(), bits.tolist(), val.tolist()
    out = ["# rblmirror benchmark ip6trie (benchmarks/test_bench_ip6.py)",
           "$SOA 3600 bench.example. hostmaster.bench.example. 1 3600 600 86400 60",
           f":{DEFAULT[0]}:{DEFAULT[1]}"]
    for k in range(n):
        h, b, v, fm = H[k], B[k], V[k], form[k]
        g = (h >> 48, (h >> 32) & 0xFFFF, (h >> 16) & 0xFFFF, h & 0xFFFF)
        if b == 128:
            text = str(ipaddress.IPv6Address((h << 64) | Lo[k]))
        elif fm < 0.05 and b in (48, 64):  # the short form: the groups given set the length
            text = ":".join(f"{x:x}" for x in g[:b // 16])
        elif fm < 0.10:
            text = ":".join(f"{x:04x}" for x in g) + f":0000:0000:0000:0000/{b}"
        elif fm < 0.15:
            text = f"{ipaddress.IPv6Address(h << 64)}/{b}".upper()
        elif fm < 0.20:
            text = f"{ipaddress.IPv6Address(h << 64)}/{b}"
        else:
            text = f"{g[0]:x}:{g[1]:x}:{g[2]:x}:{g[3]:x}::/{b}"
        if v < 0:
            out.append("!" + text)
        elif v > 0:
            a, t = VALUES[v - 1]
            out.append(f"{text} :{a}:{t or ''}")
        elif comment[k]:
            out.append(text + " # listed 2026-12-02")
        else:
            out.append(text)
    with open(path, "w") as f:
        f.write("\n".join(out))
        f.write("\n")
    return Truth6(hi, lo, bits, val)


def sample_addresses(t: Truth6, n: int, seed: int = SEED + 1) -> list[int]:
    """Inside listed prefixes, at their edges (first, last, one below, one above), in
    exclusions, and random in 2000::/3."""
    rng = np.random.default_rng(seed)
    k = n // 5
    pick = rng.integers(0, len(t.hi), k)
    out: list[int] = []
    for i in pick.tolist():
        b = int(t.bits[i])
        net = (int(t.hi[i]) << 64) | int(t.lo[i])
        top = net | ((1 << (128 - b)) - 1)
        out += [net + int(rng.integers(0, 1 << 62)) % (top - net + 1), net, top, net - 1, top + 1]
    out = out[:n - k]
    out += [(int(x) << 64) | int(y) for x, y in zip(
        rng.integers(0, 1 << 61, n - len(out), dtype=np.uint64) | np.uint64(1 << 61),
        rng.integers(0, 1 << 63, n - len(out), dtype=np.uint64))]
    return out


@pytest.fixture(scope="session")
def ip6_data(tmp_path_factory, request):
    n = _size(request.config)
    d = tmp_path_factory.mktemp("ip6")
    path = d / "bench.ip6trie"
    truth = generate(path, n)
    xs = sample_addresses(truth, NSAMPLE)
    want = [truth.value(x) for x in xs]
    listed = sum(w is not None for w in want)
    assert NSAMPLE // 4 < listed < NSAMPLE - NSAMPLE // 10  # listed and unlisted alike
    assert any(w is not None and w != DEFAULT for w in want)  # own values were checked
    return path, n, xs, want


def _render(w, x: int):
    return None if w is None else [w[0], None if w[1] is None else
                                   w[1].replace("$", str(ipaddress.IPv6Address(x)))]


def _same(got: list, xs: list[int], want: list) -> None:
    for g, x, w in zip(got, xs, want):
        assert g == _render(w, x), ipaddress.IPv6Address(x)


# ------------------------------------------------------------------ text load
_CHILD = textwrap.dedent("""
    import json, sys, time
    from rblmirror.data.dataset import Dataset
    t, c = time.perf_counter(), time.process_time()
    ds = Dataset.from_file(sys.argv[1], "ip6trie")
    load, cpu = time.perf_counter() - t, time.process_time() - c
    # VmHWM, not ru_maxrss: that one carries the forking parent's size over the exec
    st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status')
          if l.startswith(('VmHWM:', 'VmRSS:'))}
    xs = json.loads(sys.stdin.read())
    ans = []
    for x in xs:
        got = ds.lookup(x)
        assert len(got) <= 1
        ans.append([got[0].a, got[0].txt] if got else None)
    print(json.dumps({"load": load, "cpu": cpu, "peak_kb": st['VmHWM'], "rss_kb": st['VmRSS'],
                      "entries": ds.entries, "warnings": len(ds.warnings),
                      "dup_warnings": sum(w.message.startswith("duplicated entry")
                                          for w in ds.warnings),
                      "segments": ds.index.v6.n, "answers": ans}))
""")


@pytest.mark.integration
def test_ip6_load_text_rblmirror(benchmark, ip6_data):
    path, n, xs, want = ip6_data
    runs = []

    def run():
        r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], input=json.dumps(xs),
                           capture_output=True, text=True, check=True)
        runs.append(json.loads(r.stdout))

    benchmark.pedantic(run, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    out = runs[-1]
    # every warning is a duplicate (the generated repeats, and prefixes drawn twice)
    assert out["warnings"] == out["dup_warnings"] >= n // 10000
    assert out["entries"] + out["warnings"] == n
    _same(out["answers"], xs, want)
    record_load(f"ip6 {n}", "rblmirror", runs, ("load", "cpu", "peak_kb", "rss_kb"),
                ("Dataset.from_file in a fresh process", "",
                 "VmHWM of that process (interpreter and numpy included)", f"{out['segments']:,} segments"))


def _rev6(x: int) -> str:
    return ".".join(reversed(f"{x:032x}")) + "." + ZONE


@pytest.mark.integration
def test_ip6_load_text_rbldnsd(benchmark, ip6_data, rbldnsd_factory):
    path, n, xs, want = ip6_data
    runs = []

    def start_stop():
        r = rbldnsd_factory(path, "ip6trie")
        r.start(timeout=60)
        m = {"wall_to_first_answer": r.started_in}
        m["hwm_kb"] = status_kb(r.proc.pid, "VmHWM")
        m["rss_kb"] = status_kb(r.proc.pid, "VmRSS")
        for x, w in list(zip(xs, want))[:400]:  # its answers are the truth's
            ans = query(r.port, _rev6(x), "A", timeout=2)
            assert ans is not None, ipaddress.IPv6Address(x)
            rcode, rrs = ans.header.rcode, ans.rr
            assert rcode == (0 if w else 3), ipaddress.IPv6Address(x)
            assert [str(rr.rdata) for rr in rrs] == ([w[0]] if w else [])
        r.stop()
        m.update(r.load_times())
        runs.append(m)

    benchmark.pedantic(start_stop, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    record_rbldnsd_load(f"ip6 {n}", runs)


# ------------------------------------------------------------------ snapshot, lookups
@pytest.fixture(scope="session")
def ip6_snapshot(ip6_data, tmp_path_factory):
    snap = tmp_path_factory.mktemp("ip6-snap") / "bench.snap"
    Dataset.from_file(ip6_data[0], "ip6trie").save(snap)
    return snap


def _check(ds: Dataset, xs, want) -> None:
    got = []
    for x in xs:
        r = ds.lookup(x)
        got.append([r[0].a, r[0].txt] if r else None)
    _same(got, xs, want)


def test_ip6_snapshot_open(benchmark, ip6_data, ip6_snapshot):
    path, n, xs, want = ip6_data
    fn = Timed(lambda: Dataset.load(ip6_snapshot))
    ds = benchmark(fn)
    assert not any(a.flags.owndata for a in ds.index.v6.arrays())  # mapped, not read
    _check(ds, xs, want)
    record(f"ip6 {n}: snapshot open (checksum, Index6 table)", median_of(benchmark, fn.last) * 1e3,
           "ms", f"Dataset.load, page cache warm, {os.path.getsize(ip6_snapshot) / 2**20:.0f} MiB")


@pytest.mark.integration
def test_ip6_rss_snapshot(ip6_data, ip6_snapshot):
    record_snapshot_rss(f"ip6 {ip6_data[1]}", ip6_snapshot, 6)


@pytest.fixture(scope="session")
def ip6_lookups(ip6_data, ip6_snapshot):
    """NLOOP addresses, half of them segment starts of listed segments, and the snapshot."""
    ds = Dataset.load(ip6_snapshot)
    v6 = ds.index.v6
    rng = np.random.default_rng(7)
    listed = np.flatnonzero(v6.vals_array >= 0)
    pick = rng.choice(listed, NLOOP // 2)
    his = np.concatenate([v6.hi_array[pick],
                          rng.integers(0, 1 << 61, NLOOP - len(pick), dtype=np.uint64)
                          | np.uint64(1 << 61)])
    los = np.concatenate([v6.lo_array[pick], rng.integers(0, 1 << 63, NLOOP - len(pick),
                                                          dtype=np.uint64)])
    perm = rng.permutation(NLOOP)
    return ds, his[perm], los[perm]


def _per_lookup(benchmark, fn, name, n, note="", count=NLOOP):
    """fn: `count` lookups, returning how long they took (the fallback when disabled)."""
    t = benchmark(fn)
    record(f"ip6 {n}: {name}", median_of(benchmark, t) / count * 1e9, "ns", note)


def test_ip6_lookup_single(benchmark, ip6_data, ip6_lookups):
    n = ip6_data[1]
    ds, his, los = ip6_lookups
    f = ds.index.v6.lookup
    H, L = his.tolist(), los.tolist()
    want = ds.index.v6.lookup_many(his, los).tolist()
    assert [f(h, x) for h, x in zip(H, L)] == want
    assert NLOOP // 2 <= sum(v >= 0 for v in want) < NLOOP

    def loop():
        t = time.perf_counter()
        for h, x in zip(H, L):
            f(h, x)
        return time.perf_counter() - t

    _per_lookup(benchmark, loop, "lookup: Index6.lookup(hi, lo), random", n,
                "half listed; the working set is the whole index")


def test_ip6_lookup_dataset_text(benchmark, ip6_data, ip6_lookups):
    n = ip6_data[1]
    ds, his, los = ip6_lookups
    texts = [str(ipaddress.IPv6Address((int(h) << 64) | int(x))) for h, x in zip(his, los)]
    ids = ds.index.v6.lookup_many(his, los).tolist()
    got = [ds.lookup(t) for t in texts]
    assert [bool(g) for g in got] == [v >= 0 for v in ids]
    f = ds.lookup

    def loop():
        t = time.perf_counter()
        for s in texts:
            f(s)
        return time.perf_counter() - t

    _per_lookup(benchmark, loop, "lookup: Dataset.lookup(str), random", n,
                "full API: parse, look up, render the TXT")


def test_ip6_lookup_many(benchmark, ip6_data, ip6_lookups):
    n = ip6_data[1]
    ds, _, _ = ip6_lookups
    v6 = ds.index.v6
    rng = np.random.default_rng(11)
    idx = rng.integers(0, v6.n, NBATCH)
    his = np.where(rng.random(NBATCH) < 0.5, v6.hi_array[idx],
                   rng.integers(0, 1 << 61, NBATCH, dtype=np.uint64) | np.uint64(1 << 61))
    los = rng.integers(0, 1 << 63, NBATCH, dtype=np.uint64)
    f = Timed(v6.lookup_many)
    got = benchmark(f, his, los)
    # the reference: numpy over the same segments (the last start <= the address, as
    # 128-bit keys compared in two steps), for a sample
    hs, ls, vs = v6.hi_array, v6.lo_array, v6.vals_array
    for i in rng.integers(0, NBATCH, 2000).tolist():
        b = int(np.searchsorted(hs, his[i], side="left"))
        c = int(np.searchsorted(hs, his[i], side="right"))
        j = b + int(np.searchsorted(ls[b:c], los[i], side="right")) - 1
        assert got[i] == vs[j], i
    assert (got >= 0).any() and (got < 0).any()
    record(f"ip6 {n}: lookup_many", median_of(benchmark, f.last) / NBATCH * 1e9, "ns",
           f"{NBATCH:,} random addresses, C without the GIL")


# ------------------------------------------------------------------ serve from a snapshot
@pytest.mark.integration
def test_ip6_serve_from_snapshot(benchmark, ip6_data, tmp_path):
    """`rblmirror serve` on a mirrored source's current snapshot: exec to the first
    correct answer from dig; then sampled addresses, listed and not, answer as the truth."""
    path, n, xs, want = ip6_data
    cfg = serve_start.mirrored_state(tmp_path, path, "ip6trie", ZONE)

    def q(x, w) -> tuple[str, str, list[str]]:
        return _rev6(x), "NOERROR" if w else "NXDOMAIN", [w[0]] if w else []

    first = next(q(x, w) for x, w in zip(xs, want) if w)
    checks = [q(x, w) for x, w in list(zip(xs, want))[::len(xs) // 20]]
    assert {c[1] for c in checks} == {"NOERROR", "NXDOMAIN"}
    times = serve_start.time_starts(benchmark, cfg, tmp_path / "serve.log", first[0], first[2],
                                    checks, serve_start.ROUNDS)
    serve_start.record_starts(f"ip6 {n}", times)
