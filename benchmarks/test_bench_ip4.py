"""A production-size ip4set: rblmirror's text load, snapshot and memory side by side with
rbldnsd on one generated 10M-entry ip4set shaped like the big real lists, every answer
checked against the generator's own statement of the ip4set rules (written here,
independent of rblmirror and of benchmarks/gen.py's smaller file).

    python -m pytest benchmarks/test_bench_ip4.py -q -s                  # 10M entries
    RBLMIRROR_BENCH_IP4=2000000 python -m pytest benchmarks/test_bench_ip4.py -q -s
    python -m pytest benchmarks/test_bench_ip4.py --benchmark-disable    # CI: 100k

The dump (the shapes of ../shared/data/feeds: UCEPROTECT, backscatterer, PSBL): $SOA, a
`:A:TXT` default line with `$`, the private-network exclusions the UCEPROTECT lists start
with (`!10.0.0.0/8` ...), then in shuffled order 86 % single addresses, 8 % CIDRs (the
prefix lengths of uceprotect-3: /24 mostly, /16-/23, a few /12-/15; some /25-/31), 1 %
ranges (`a.b.c.d-e.f.g.h`, `a.b.c.d-e`, `a.b.c` prefixes, `a.b.c-a.b.e` prefix ranges),
5 % exclusions (single addresses inside listed CIDRs and ranges, listed singles excluded
again, /24-/28 holes in wider CIDRs, random ones); 3 % of the listed entries carry their
own value (`:A:TXT`, A only, or a UCEPROTECT-style TXT-only `NET $ is listed because
...`), 1 % a `#`/`;` comment; 151 MB at 10M entries.

The rule (rbldnsd's ip4set): every entry is split into the largest aligned blocks that
fit and stored at the level /8, /16, /24 or /32 at or below its length; an address is
answered by the most specific level holding a block that covers it: not listed when one
of those is an exclusion, else every distinct value there once.

Text loads and RSS are measured in a fresh process each (ours: `Dataset.from_file`;
rbldnsd: its own log line; both: VmHWM and VmRSS from /proc), three rounds, medians.
rbldnsd's answers (A and TXT) for 400 sampled addresses are checked over DNS, ours for
all 4,000. `serve` from a snapshot: see serve_start.py (five starts, medians).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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

FULL = 10_000_000
SMALL = 100_000  # --benchmark-disable (CI): the asserts, not the speed
NSAMPLE = 4000  # addresses whose answers are checked
NDNS = 400  # of them asked of rbldnsd over DNS
NROUNDS = 3
SEED = 20261203
DEFAULT = ("127.0.0.2", "IP $ is listed by the ip4set benchmark, see http://example.test/?ip=$")
#: own values; the last is written TXT-only (its A is the default's)
VALUES = [("127.0.0.3", "Network $ listed"), ("127.0.0.4", "Spam source $ (trap hits)"),
          ("127.0.0.5", None),
          (DEFAULT[0], "NET $ is listed because 6 impacts are seen from AS64500. "
                       "See: http://example.test/rblcheck?ipr=$")]
PRIVATE = [(0x0A000000, 8), (0xAC100000, 12), (0xC0A80000, 16)]
OCTET = [str(i) for i in range(256)]
#: (prefix lengths, weights) of the CIDR entries
CIDR_BITS = ([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31],
             [1, 1, 1, 1, 8, 8, 15, 40, 40, 50, 100, 100, 600, 8, 8, 8, 8, 8, 5, 5])


def _size(config) -> int:
    env = os.environ.get("RBLMIRROR_BENCH_IP4")
    if env:
        return int(env)
    return SMALL if config.getoption("benchmark_disable", False) else FULL


def _mask(bits) -> np.ndarray:
    b = np.asarray(bits, dtype=np.uint64)
    ones = np.uint64(0xFFFFFFFF)
    return ((ones << (np.uint64(32) - b)) & ones).astype(np.uint32)


def _level(bits: int) -> int:
    return 8 if bits <= 8 else 16 if bits <= 16 else 24 if bits <= 24 else 32


def _text(x: int) -> str:
    return f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"


def _cidrs(a: int, b: int) -> list[tuple[int, int]]:
    """[a, b] as the fewest aligned (network, prefix length) blocks."""
    out = []
    while a <= b:
        size = a & -a if a else 1 << 32
        while a + size - 1 > b:
            size >>= 1
        out.append((a, 33 - size.bit_length()))
        a += size
    return out


# ------------------------------------------------------------------ the dump
@dataclass
class Truth4:
    """Every entry as aligned CIDR blocks and rbldnsd's ip4set rule over them."""

    net: np.ndarray  # uint32 block networks
    bits: np.ndarray  # their prefix lengths
    val: np.ndarray  # -1 exclusion, 0 the default, k > 0 VALUES[k - 1]

    def __post_init__(self):
        self.by_bits = {}  # {bits: (sorted networks, their values in that order)}
        for b in sorted(set(self.bits.tolist())):
            sel = np.flatnonzero(self.bits == b)
            o = np.argsort(self.net[sel], kind="stable")
            self.by_bits[b] = (self.net[sel][o], self.val[sel][o])

    def listings(self, xs: np.ndarray) -> list[tuple[tuple[str, str | None], ...]]:
        """For each address: the (A, TXT template) pairs rbldnsd answers, sorted; ()
        when not listed."""
        xs = np.asarray(xs, dtype=np.uint32)
        found: list[list[int] | None] = [None] * len(xs)
        for level in (32, 24, 16, 8):
            hits: dict[int, list[int]] = {}
            for b, (keys, vals) in self.by_bits.items():
                if _level(b) != level:
                    continue
                k = xs & _mask(b)
                lo = np.searchsorted(keys, k, "left")
                hi = np.searchsorted(keys, k, "right")
                for i in np.flatnonzero(hi > lo).tolist():
                    if found[i] is None:
                        hits.setdefault(i, []).extend(vals[lo[i]:hi[i]].tolist())
            for i, vs in hits.items():
                found[i] = vs
        out = []
        for vs in found:
            if vs is None or -1 in vs:
                out.append(())
            else:
                out.append(tuple(sorted({DEFAULT if v == 0 else VALUES[v - 1] for v in vs},
                                        key=lambda p: (p[0], p[1] or ""))))
        return out


def generate(path, n: int, seed: int = SEED) -> tuple[Truth4, dict]:
    """Write the dump; returns the truth and the entries to sample from."""
    rng = np.random.default_rng(seed)

    def unicast(k):  # 1/8 .. 223/8 without 127/8
        v = rng.integers(1 << 24, 0xE0000000, k, dtype=np.uint64).astype(np.uint32)
        v[(v >> 24) == 127] ^= np.uint32(1 << 24)
        return v

    n_cidr, n_range, n_excl = n * 8 // 100, n // 100, n * 5 // 100
    n_single = n - n_cidr - n_range - n_excl - len(PRIVATE)
    singles = unicast(n_single)
    # prefix lengths as in uceprotect-3-NetworkRanges.txt, plus some /25-/31
    cb = rng.choice(np.array(CIDR_BITS[0]), n_cidr, p=np.array(CIDR_BITS[1]) / sum(CIDR_BITS[1]))
    cnet = unicast(n_cidr) & _mask(cb)
    # ranges: a start and a span of 2..4096 addresses (log-uniform), four ways of writing
    rs = unicast(n_range)
    span = np.exp2(rng.uniform(1, 12, n_range)).astype(np.uint64)
    re_ = np.minimum(rs.astype(np.uint64) + span - np.uint64(1),
                     np.uint64(0xDFFFFFFF)).astype(np.uint32)
    rform = rng.integers(0, 4, n_range)
    same24 = rform == 1  # a.b.c.d-e: within one /24
    re_[same24] = (rs[same24] & np.uint32(0xFFFFFF00)) | np.maximum(
        rs[same24] & np.uint32(255), re_[same24] & np.uint32(255))
    pre = rform == 2  # a.b.c: one /24
    rs[pre] &= np.uint32(0xFFFFFF00)
    re_[pre] = rs[pre] | np.uint32(255)
    prer = rform == 3  # a.b.c-a.b.e: whole /24s
    rs[prer] &= np.uint32(0xFFFFFF00)
    re_[prer] = np.maximum(re_[prer], rs[prer]) | np.uint32(255)
    # exclusions: inside CIDRs (40 %), listed singles again (20 %), holes of /24-/28 in
    # the /16-/23 CIDRs (5 %), inside ranges (15 %), anywhere (the rest)
    k1, k2, k3, k4 = n_excl * 40 // 100, n_excl * 20 // 100, n_excl * 5 // 100, n_excl * 15 // 100
    pick = rng.integers(0, n_cidr, k1)
    ex1 = cnet[pick] + (rng.integers(0, 1 << 62, k1) % (1 << (32 - cb[pick].astype(np.int64)))
                        ).astype(np.uint32)
    ex2 = singles[rng.integers(0, n_single, k2)]
    wide = np.flatnonzero(cb <= 23)
    hp = wide[rng.integers(0, len(wide), k3)]
    hb = rng.integers(24, 29, k3)
    ex3 = (cnet[hp] + (rng.integers(0, 1 << 62, k3) % (1 << (32 - cb[hp].astype(np.int64)))
                       ).astype(np.uint32)) & _mask(hb)
    rp = rng.integers(0, n_range, k4)
    ex4 = rs[rp] + (rng.integers(0, 1 << 62, k4) % (re_[rp].astype(np.int64)
                                                    - rs[rp].astype(np.int64) + 1)
                    ).astype(np.uint32)
    ex5 = unicast(n_excl - k1 - k2 - k3 - k4)
    excl = np.concatenate([ex1, ex2, ex3, ex4, ex5])
    eb = np.concatenate([np.full(k1 + k2, 32), hb, np.full(len(excl) - k1 - k2 - k3, 32)])

    # lines: (kind, index) in shuffled order; kinds 0 single, 1 CIDR, 2 range, 3 exclusion
    kinds = np.concatenate([np.zeros(n_single, np.int8), np.ones(n_cidr, np.int8),
                            np.full(n_range, 2, np.int8), np.full(len(excl), 3, np.int8)])
    idx = np.concatenate([np.arange(n_single), np.arange(n_cidr), np.arange(n_range),
                          np.arange(len(excl))])
    nlist = n_single + n_cidr + n_range
    own = np.zeros(nlist, np.int64)  # by listed line: its own value, 0 the default
    has = rng.random(nlist) < 0.03
    own[has] = rng.integers(1, len(VALUES) + 1, int(has.sum()))
    order = rng.permutation(len(kinds))
    kinds, idx = kinds[order], idx[order]
    lv = np.zeros(len(kinds), np.int64)
    listed = kinds != 3
    lv[listed] = own[order[listed]]
    comment = rng.random(len(kinds))

    def quad(v: int) -> str:
        return f"{OCTET[v >> 24]}.{OCTET[(v >> 16) & 255]}.{OCTET[(v >> 8) & 255]}.{OCTET[v & 255]}"

    S, CN, CB, RS, RE, RF = (singles.tolist(), cnet.tolist(), cb.tolist(), rs.tolist(),
                             re_.tolist(), rform.tolist())
    EX, EB = excl.tolist(), eb.tolist()
    # the own values as written: `:A:TXT` (`:A:` without a TXT), the last TXT-only
    suffix = [""] + [f" :{a}:{t or ''}" for a, t in VALUES[:-1]] + [" " + VALUES[-1][1]]
    out = ["# rblmirror benchmark ip4set (benchmarks/test_bench_ip4.py)",
           "$SOA 3600 bench.example. hostmaster.bench.example. 1 3600 600 86400 60",
           f":{DEFAULT[0]}:{DEFAULT[1]}"]
    out += [f"!{quad(a)}/{b}" for a, b in PRIVATE]
    for kd, i, v, c in zip(kinds.tolist(), idx.tolist(), lv.tolist(), comment.tolist()):
        if kd == 0:
            t = quad(S[i])
        elif kd == 1:
            t = f"{quad(CN[i])}/{CB[i]}"
        elif kd == 2:
            a, b, f = RS[i], RE[i], RF[i]
            if f == 0:
                t = f"{quad(a)}-{quad(b)}"
            elif f == 1:
                t = f"{quad(a)}-{b & 255}"
            elif f == 2:
                t = quad(a)[:quad(a).rfind(".")]
            else:
                qa, qb = quad(a), quad(b)
                t = f"{qa[:qa.rfind('.')]}-{qb[:qb.rfind('.')]}"
        else:
            t = "!" + quad(EX[i]) + ("" if EB[i] == 32 else f"/{EB[i]}")
            v = 0
        t += suffix[v]
        if v == 0 and c < 0.01:
            t += " # listed 2026-12-01" if c < 0.005 else " ; trap hit"
        out.append(t)
    with open(path, "w") as f:
        f.write("\n".join(out))
        f.write("\n")

    # the truth: every listed line's blocks with its value, every exclusion's with -1
    vals = own  # by listed entry: singles, CIDRs, ranges
    rnet, rbits, rval = [], [], []
    for i, (a, b) in enumerate(zip(RS, RE)):
        for net, bits in _cidrs(a, b):
            rnet.append(net)
            rbits.append(bits)
            rval.append(vals[n_single + n_cidr + i])
    net = np.concatenate([singles, cnet, np.array(rnet, np.uint32), excl,
                          np.array([a for a, _ in PRIVATE], np.uint32)])
    bits = np.concatenate([np.full(n_single, 32), cb, rbits, eb, [b for _, b in PRIVATE]])
    val = np.concatenate([vals[:n_single + n_cidr], rval,
                          np.full(len(excl) + len(PRIVATE), -1)])
    truth = Truth4(net.astype(np.uint32), bits.astype(np.int64), val.astype(np.int64))
    return truth, {"singles": singles, "cnet": cnet, "cb": cb, "rs": rs, "re": re_,
                   "excl": excl, "lines": len(out) - 3}


def sample_addresses(ent: dict, n: int, seed: int = SEED + 1) -> np.ndarray:
    """Listed singles, inside CIDRs and ranges, just past their edges, exclusions, in
    the private networks, and random."""
    rng = np.random.default_rng(seed)
    k = n // 8
    cp = rng.integers(0, len(ent["cnet"]), k)
    span = (1 << (32 - ent["cb"][cp].astype(np.int64)))
    c_in = ent["cnet"][cp].astype(np.int64) + rng.integers(0, 1 << 62, k) % span
    c_edge = np.concatenate([ent["cnet"][cp[:k // 2]].astype(np.int64) - 1,
                             ent["cnet"][cp[k // 2:]].astype(np.int64) + span[k // 2:]])
    rp = rng.integers(0, len(ent["rs"]), k)
    r_in = ent["rs"][rp].astype(np.int64) + rng.integers(0, 1 << 62, k) % (
        ent["re"][rp].astype(np.int64) - ent["rs"][rp].astype(np.int64) + 1)
    r_edge = np.concatenate([ent["rs"][rp[:k // 2]].astype(np.int64) - 1,
                             ent["re"][rp[k // 2:]].astype(np.int64) + 1])
    priv = np.array([a for a, _ in PRIVATE], np.int64)[rng.integers(0, 3, k // 4)] + \
        rng.integers(0, 1 << 16, k // 4)
    parts = [rng.choice(ent["singles"], k), c_in, c_edge, r_in, r_edge,
             rng.choice(ent["excl"], k), priv]
    rest = n - sum(len(p) for p in parts)
    parts.append(rng.integers(1 << 24, 0xE0000000, rest))
    return (np.concatenate([np.asarray(p, np.int64) for p in parts]) & 0xFFFFFFFF).astype(np.uint32)


@pytest.fixture(scope="session")
def ip4_data(tmp_path_factory, request):
    n = _size(request.config)
    d = tmp_path_factory.mktemp("ip4")
    path = d / "bench.ip4set"
    truth, ent = generate(path, n)
    xs = sample_addresses(ent, NSAMPLE)
    want = truth.listings(xs)
    listed = sum(bool(w) for w in want)
    assert NSAMPLE // 4 < listed < NSAMPLE - NSAMPLE // 10  # listed and unlisted alike
    assert {p for w in want for p in w} >= {DEFAULT, *VALUES}  # every value was checked
    return path, n, ent["lines"], xs.tolist(), want


def _render(w, x: int) -> list:
    t = _text(x)
    return sorted([a, None if txt is None else txt.replace("$", t)] for a, txt in w)


def _same(got: list, xs: list[int], want: list) -> None:
    for g, x, w in zip(got, xs, want):
        assert sorted(g, key=lambda p: (p[0], p[1] or "")) == \
            sorted(_render(w, x), key=lambda p: (p[0], p[1] or "")), _text(x)


# ------------------------------------------------------------------ text load
_CHILD = textwrap.dedent("""
    import json, sys, time
    from rblmirror.data.dataset import Dataset
    t, c = time.perf_counter(), time.process_time()
    ds = Dataset.from_file(sys.argv[1], "ip4set")
    load, cpu = time.perf_counter() - t, time.process_time() - c
    # VmHWM, not ru_maxrss: that one carries the forking parent's size over the exec
    st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status')
          if l.startswith(('VmHWM:', 'VmRSS:'))}
    xs = json.loads(sys.stdin.read())
    ans = [[[g.a, g.txt] for g in ds.lookup(x)] for x in xs]
    print(json.dumps({"load": load, "cpu": cpu, "peak_kb": st['VmHWM'], "rss_kb": st['VmRSS'],
                      "entries": ds.entries, "warnings": [str(w) for w in ds.warnings[:5]],
                      "nwarnings": len(ds.warnings), "segments": ds.index.v4.n,
                      "answers": ans}))
""")


@pytest.mark.integration
def test_ip4_load_text_rblmirror(benchmark, ip4_data):
    path, n, lines, xs, want = ip4_data
    runs = []

    def run():
        r = subprocess.run([sys.executable, "-c", _CHILD, str(path)], input=json.dumps(xs),
                           capture_output=True, text=True, check=True)
        runs.append(json.loads(r.stdout))

    benchmark.pedantic(run, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    out = runs[-1]
    assert out["nwarnings"] == 0, out["warnings"]
    assert out["entries"] == lines
    _same(out["answers"], xs, want)
    record_load(f"ip4 {n}", "rblmirror", runs, ("load", "cpu", "peak_kb", "rss_kb"),
                ("Dataset.from_file in a fresh process", "",
                 "VmHWM of that process (interpreter and numpy included)",
                 f"{out['segments']:,} segments"))


def _txt(rr) -> str:
    """A TXT record's strings, joined."""
    return "".join(s.decode() for s in rr.rdata.data)


@pytest.mark.integration
def test_ip4_load_text_rbldnsd(benchmark, ip4_data, rbldnsd_factory):
    path, n, lines, xs, want = ip4_data
    runs = []

    def start_stop():
        r = rbldnsd_factory(path, "ip4set").start(timeout=60)
        m = {"wall_to_first_answer": r.started_in}
        m["hwm_kb"] = status_kb(r.proc.pid, "VmHWM")
        m["rss_kb"] = status_kb(r.proc.pid, "VmRSS")
        for x, w in list(zip(xs, want))[::len(xs) // NDNS]:  # its answers are the truth's
            name = ".".join(reversed(_text(x).split("."))) + "." + ZONE
            got = []
            for qtype in (1, 16):
                ans = query(r.port, name, qtype, timeout=2)
                rcode, rrs = ans.header.rcode, ans.rr
                assert rcode == (0 if w else 3), _text(x)
                got.append(sorted({str(rr.rdata) if rr.rtype == 1 else _txt(rr)
                                   for rr in rrs}))
            exp = _render(w, x)
            assert got == [sorted({a for a, _ in exp}),
                           sorted({t for _, t in exp if t is not None})], _text(x)
        r.stop()
        m.update(r.load_times())
        runs.append(m)

    benchmark.pedantic(start_stop, rounds=NROUNDS, iterations=1, warmup_rounds=0)
    record_rbldnsd_load(f"ip4 {n}", runs)


# ------------------------------------------------------------------ snapshot
@pytest.fixture(scope="session")
def ip4_snapshot(ip4_data, tmp_path_factory):
    snap = tmp_path_factory.mktemp("ip4-snap") / "bench.snap"
    Dataset.from_file(ip4_data[0], "ip4set").save(snap)
    return snap


def test_ip4_snapshot_open(benchmark, ip4_data, ip4_snapshot):
    path, n, lines, xs, want = ip4_data
    fn = Timed(lambda: Dataset.load(ip4_snapshot))
    ds = benchmark(fn)
    assert not ds.index.v4.starts_array.flags.owndata  # mapped, not read
    _same([[[g.a, g.txt] for g in ds.lookup(x)] for x in xs], xs, want)
    record(f"ip4 {n}: snapshot open (checksum, Index4 table)", median_of(benchmark, fn.last) * 1e3,
           "ms", f"Dataset.load, page cache warm, {os.path.getsize(ip4_snapshot) / 2**20:.0f} MiB")


@pytest.mark.integration
def test_ip4_rss_snapshot(ip4_data, ip4_snapshot):
    record_snapshot_rss(f"ip4 {ip4_data[1]}", ip4_snapshot, 4)


# ------------------------------------------------------------------ serve from a snapshot
@pytest.mark.integration
def test_ip4_serve_from_snapshot(benchmark, ip4_data, tmp_path):
    """`rblmirror serve` on a mirrored source's current snapshot: exec to the first
    correct answer from dig; then sampled addresses, listed and not, answer as the truth."""
    path, n, lines, xs, want = ip4_data
    cfg = serve_start.mirrored_state(tmp_path, path, "ip4set", ZONE)

    def q(x: int) -> tuple[str, str, list[str]]:
        w = dict(zip(xs, want))[x]
        name = ".".join(reversed(_text(x).split("."))) + "." + ZONE
        return name, "NOERROR" if w else "NXDOMAIN", sorted({a for a, _ in w})

    first = q(next(x for x, w in zip(xs, want) if w))
    checks = [q(x) for x in xs[::len(xs) // 20]]
    assert {c[1] for c in checks} == {"NOERROR", "NXDOMAIN"}
    times = serve_start.time_starts(benchmark, cfg, tmp_path / "serve.log", first[0], first[2],
                                    checks, serve_start.ROUNDS)
    serve_start.record_starts(f"ip4 {n}", times)
