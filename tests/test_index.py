"""The compiled index held to a plain `ipaddress` reference, with hypothesis.

The references below implement the rbldnsd rules from DESIGN.md directly, per address,
without building any index:
- ip4set: of the /32, /24, /16, /8 levels, the most specific one holding an entry that
  covers the address wins (a range is stored as the largest aligned level blocks that
  fit); at that level an exclusion beats a listing; every distinct value answers.
- ip4trie / ip6trie / plain: the longest covering prefix wins; of identical prefixes the
  first in the file is kept (an exclusion included).
"""
from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rblmirror import _index
from rblmirror.data.dataset import Dataset
from rblmirror.data.index import MAX4, MAX6, IPIndex
from rblmirror.data.values import Listing
from rblmirror.data.formats import fast4, get as get_format
from rblmirror.data.formats.base import EXCL, Collector, file_lines, load_lines
from support.reference import flatten_py

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
DEFAULT = Listing("127.0.0.2", None)
VALUES = [("127.0.0.3", "three"), ("127.0.0.4", "four"), ("127.0.0.5", None)]

# ------------------------------------------------------------------ address strategies
# a small universe, so that entries overlap, nest and share level blocks
octet_hi = st.sampled_from([10, 11, 200])
octet_mid = st.sampled_from([0, 1, 2, 255])
ip4 = st.builds(lambda a, b, c, d: (a << 24) | (b << 16) | (c << 8) | d,
                octet_hi, octet_mid, octet_mid, st.integers(0, 255))


@st.composite
def cidr4(draw, lo=8, hi=32):
    bits = draw(st.integers(lo, hi))
    ip = draw(ip4)
    net = ip & ((MAX4 << (32 - bits)) & MAX4)
    return net, net | ((1 << (32 - bits)) - 1), bits


@st.composite
def range4(draw):
    a, b = sorted((draw(ip4), draw(ip4)))
    assume(b - a < 1 << 20)
    return a, b


def text4(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


def edges(blocks, top):
    """Every block edge +-1 (the places where an off-by-one would show)."""
    out = set()
    for s, e in blocks:
        for x in (s - 1, s, s + 1, e - 1, e, e + 1):
            if 0 <= x <= top:
                out.add(x)
    return sorted(out)


# ---------------------------------------------------------------------- references
_LEVELS = (1, 1 << 8, 1 << 16, 1 << 24)  # /32, /24, /16, /8 block sizes


def ip4set_level(a: int, b: int, x: int) -> int | None:
    """Size of the largest aligned level block containing x that fits in [a, b]."""
    if not a <= x <= b:
        return None
    best = None
    for size in _LEVELS:
        lo = x - x % size
        if lo >= a and lo + size - 1 <= b:
            best = size
    return best


def ref_ip4set(entries, x: int) -> set[Listing]:
    """entries: (start, end, Listing or None for an exclusion) in file order."""
    by_level: dict[int, list] = {}
    for a, b, v in entries:
        lv = ip4set_level(a, b, x)
        if lv is not None:
            by_level.setdefault(lv, []).append(v)
    for size in _LEVELS:
        vals = by_level.get(size)
        if vals:
            return set() if None in vals else set(vals)
    return set()


def ref_trie(entries, x: ipaddress.IPv4Address | ipaddress.IPv6Address) -> set[Listing]:
    """Longest prefix; entries (network, Listing or None) in file order, first kept."""
    best = None
    for net, v in entries:
        if x in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, v)
    if best is None or best[1] is None:
        return set()
    return {best[1]}


# ------------------------------------------------------------------ zone file builder
@st.composite
def value_st(draw):
    """None: the default in force; else an explicit (A, TXT)."""
    i = draw(st.integers(-1, len(VALUES) - 1))
    return None if i < 0 else VALUES[i]


def value_text(v) -> str:
    a, txt = v
    return f":{a}:{txt}" if txt else f":{a}:"


def listing(v) -> Listing:
    return Listing(v[0], v[1])


@st.composite
def ip4set_file(draw):
    """(zone text, reference entries) for an ip4set with singles, CIDRs, ranges,
    exclusions, per-entry values and `:A:TXT` default lines."""
    lines, entries = [], []
    default = DEFAULT
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["ip", "ip", "cidr", "range", "default", "comment"]))
        if kind == "default":
            v = draw(st.sampled_from(VALUES))
            lines.append(value_text(v))
            default = listing(v)
            continue
        if kind == "comment":
            lines.append(draw(st.sampled_from(["# comment", "", "; semicolon", "   "])))
            continue
        excl = draw(st.booleans()) and draw(st.booleans())
        if kind == "ip":
            a = b = draw(ip4)
            subj = text4(a)
        elif kind == "cidr":
            a, b, bits = draw(cidr4())
            subj = f"{text4(a)}/{bits}"
        else:
            a, b = draw(range4())
            subj = f"{text4(a)}-{text4(b)}"
        v = None if excl else draw(value_st())
        sep = draw(st.sampled_from([" ", "\t", "  "]))
        tail = "" if v is None else sep + value_text(v)
        if not tail and draw(st.booleans()):
            tail = sep + "# trailing comment"
        lines.append(("!" if excl else "") + subj + tail)
        entries.append((a, b, None if excl else (listing(v) if v else default)))
    return "\n".join(lines) + "\n", entries


@st.composite
def trie4_file(draw, fmt):
    lines, entries = [], []
    default = DEFAULT
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 7)) == 0:
            v = draw(st.sampled_from(VALUES))
            lines.append(value_text(v))
            default = listing(v)
            continue
        excl = draw(st.integers(0, 3)) == 0
        if fmt == "plain" and draw(st.integers(0, 4)) == 0:
            a, b = draw(range4())
            lines.append(("!" if excl else "") + f"{text4(a)}-{text4(b)}")
            for net in ipaddress.summarize_address_range(ipaddress.IPv4Address(a),
                                                         ipaddress.IPv4Address(b)):
                entries.append((net, None if excl else default))
            continue
        a, b, bits = draw(cidr4())
        v = None if excl or fmt == "plain" else draw(value_st())
        subj = text4(a) if bits == 32 and draw(st.booleans()) else f"{text4(a)}/{bits}"
        lines.append(("!" if excl else "") + subj + ("" if v is None else " " + value_text(v)))
        entries.append((ipaddress.IPv4Network(f"{text4(a)}/{bits}"),
                        None if excl else (listing(v) if v else default)))
    return "\n".join(lines) + "\n", entries


ip6_base = st.sampled_from([0x20010DB8 << 96, (0x20010DB8 << 96) | (1 << 80), 0xFE80 << 112])


@st.composite
def ip6trie_file(draw):
    lines, entries = [], []
    for _ in range(draw(st.integers(0, 20))):
        bits = draw(st.integers(16, 128))
        v = draw(ip6_base) | draw(st.integers(0, (1 << 96) - 1))
        net = ipaddress.IPv6Network((v & ~((1 << (128 - bits)) - 1) & MAX6, bits))
        excl = draw(st.integers(0, 3)) == 0
        val = None if excl else draw(value_st())
        lines.append(("!" if excl else "") + f"{net.network_address}/{bits}"
                     + ("" if val is None else " " + value_text(val)))
        entries.append((net, None if excl else (listing(val) if val else DEFAULT)))
    return "\n".join(lines) + "\n", entries


def probes4(draw, blocks, n=40):
    xs = edges(blocks, MAX4)
    xs += draw(st.lists(ip4, max_size=n))
    xs += draw(st.lists(st.integers(0, MAX4), max_size=5))
    return sorted(set(xs))


def check_dataset(ds: Dataset, ref, xs, to_text=text4):
    got_many = ds.lookup_many(np.array([x for x in xs if x <= MAX4], dtype=np.uint32)) \
        if xs and max(xs) <= MAX4 else None
    for k, x in enumerate(xs):
        want = ref(x)
        got = ds.lookup(to_text(x))
        assert len(got) == len(set(got)), (to_text(x), got)
        assert set(got) == want, (to_text(x), got, want)
        assert set(ds.lookup(x)) == want
        if got_many is not None:
            vid = int(got_many[k])
            assert (vid >= 0) == bool(want), to_text(x)
            if vid >= 0:
                assert set(ds.values(vid)) == want


# --------------------------------------------------------------------- through files
@SETTINGS
@given(data=st.data())
def test_ip4set_file_matches_reference(tmp_path, data):
    text, entries = data.draw(ip4set_file())
    p = tmp_path / "z.txt"
    p.write_text(text)
    ds = Dataset.from_file(p, "ip4set")
    assert not ds.warnings, ds.warnings
    assert ds.entries == len(entries)
    xs = probes4(data.draw, [(a, b) for a, b, _ in entries])
    check_dataset(ds, lambda x: ref_ip4set(entries, x), xs)


@SETTINGS
@pytest.mark.parametrize("fmt", ["ip4trie", "plain"])
@given(data=st.data())
def test_trie4_file_matches_reference(tmp_path, fmt, data):
    text, entries = data.draw(trie4_file(fmt))
    p = tmp_path / "z.txt"
    p.write_text(text)
    ds = Dataset.from_file(p, fmt)
    assert all("duplicated entry" in w.message for w in ds.warnings), ds.warnings
    xs = probes4(data.draw, [(int(n.network_address), int(n.broadcast_address))
                             for n, _ in entries])
    check_dataset(ds, lambda x: ref_trie(entries, ipaddress.IPv4Address(x)), xs)


@SETTINGS
@given(data=st.data())
def test_ip6trie_file_matches_reference(tmp_path, data):
    text, entries = data.draw(ip6trie_file())
    p = tmp_path / "z.txt"
    p.write_text(text)
    ds = Dataset.from_file(p, "ip6trie")
    assert all("duplicated entry" in w.message for w in ds.warnings), ds.warnings
    xs = edges([(int(n.network_address), int(n.broadcast_address)) for n, _ in entries], MAX6)
    xs += data.draw(st.lists(st.builds(lambda b, v: b | v, ip6_base,
                                       st.integers(0, (1 << 96) - 1)), max_size=30))
    xs = [x for x in xs if x >> 32 != 0xFFFF]  # v4-mapped falls back to IPv4 by design
    for x in sorted(set(xs)):
        want = ref_trie(entries, ipaddress.IPv6Address(x))
        assert set(ds.lookup(str(ipaddress.IPv6Address(x)))) == want, ipaddress.IPv6Address(x)
        assert set(ds.lookup(ipaddress.IPv6Address(x))) == want


# ------------------------------------------------- fast path == pure-Python parser
LINE_SHAPES = [
    "{ip}", "{ip}", "{ip}", "!{ip}", "! {ip}", "!\t{ip}", "{ip} # note", "{ip}\t; note",
    "{ip}#x", "  {ip}  ", "{ip}\r", "{net}/{bits}", "!{net}/{bits}", "{ip}/{bits}",
    "{net}/{bits} # c", "{ip} :127.0.0.9:with value", "{ip} bare txt", "{ip}:3:",
    ":127.0.0.7:default seven", ":8:", "# comment", "#$TTL 60", ";$1 semi", "#$2 hash", ":$3 c", "{ip} $1$2$3", "; c", "", "   ",
    "{ip}-{ip2}", "{p3}", "{p2}/16", "0{ip}", "{ip}.", "{ip}/33", "{ip}/024", "1.2.3.256",
    "{ip} junk", "$MAXRANGE4 /20", "!{ip} :2:excluded value", "2001:db8::/32", "{ip}/",
    # CIDRs with their own value (ip4set: expanded by the scanner, value parsed in Python)
    "{net}/{bits} :127.0.0.9:net value $", "{net}/{bits}:5:", "{net}/{bits}\tbare net txt",
    "{net}/{bits} :0:invalid A", "{net}/{bits} :5 junk", "{net}/{bits} " + "t" * 300,
    "!{net}/{bits} :2:excluded net", "{net}/{bits} :6", "{net}/{bits}x",
    # every ip4range form (ip4set: parsed by the scanner), with values, exclusions, junk
    "{ip}-{ip2} :127.0.0.9:range value", "!{ip}-{ip2}", "{ip}-{o}", "{ip}-{o} # c",
    "{p3}-{o}", "{p2}-{o}", "{p3}-{q3}", "{p2}-{q2}", "{p3}-{q3}:4:", "!{p3}", "{p3} txt",
    "{p2}", "{p1}/8", "{p1}-{o}", "{p2}/{bits}", "{p3}/{bits} :2:", "{ip2}-{ip}",
    "{ip}-{q3}", "{p3}-{ip2}", "{ip}-{ip2}x", "{ip}-", "{p1}", "0/0", "{ip}/0",
    "!{p2} junk", "{p3}\r", "{ip}-{ip2} :0:bad A", "{p3}.{o}0000", "00{p3}",
]


@st.composite
def mixed_file(draw):
    out = []
    for _ in range(draw(st.integers(0, 40))):
        shape = draw(st.sampled_from(LINE_SHAPES))
        ip = draw(ip4)
        bits = draw(st.integers(8, 32))
        net = ip & ((MAX4 << (32 - bits)) & MAX4)
        ip2 = min(MAX4, ip + draw(st.one_of(st.integers(0, 300), st.integers(0, 1 << 20))))
        out.append(shape.format(ip=text4(ip), ip2=text4(ip2),
                                net=text4(net), bits=bits, p3=text4(ip).rsplit(".", 1)[0],
                                p2=".".join(text4(ip).split(".")[:2]),
                                p1=text4(ip).split(".")[0], o=draw(st.integers(0, 255)),
                                q3=text4(ip2).rsplit(".", 1)[0],
                                q2=".".join(text4(ip2).split(".")[:2])))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return eol.join(out) + draw(st.sampled_from(["", eol]))


def blocks6(c):
    """A collector's IPv6 blocks as {(start, end): value id}, the first of identical ones
    kept: Python format code appends them to c.b6, the compiled path (fast6) leaves them
    sorted in its store, c.blocks6 (identical blocks but the first gone)."""
    out: dict[tuple[int, int], int] = {}
    if c.blocks6 is not None:
        for h, lo, b, v in zip(*(a.tolist() for a in c.blocks6.blocks())):
            v = EXCL if v == -1 else v
            s = (h << 64) | lo
            out.setdefault((s, s | ((1 << (128 - b)) - 1)), v)
    for s, e, v in c.b6:
        out.setdefault((s, e), v)
    return out


def collect(fmt_name, files, fast):
    fmt = get_format(fmt_name)()
    c = Collector()
    items = fast4.file_items(c, fmt, files) if fast else file_lines(files)
    load_lines(c, fmt, items)
    return c


@SETTINGS
@pytest.mark.parametrize("fmt", ["ip4set", "plain", "ip4trie", "ip4tset", "ip6trie"])
@given(texts=st.lists(mixed_file(), min_size=1, max_size=3))
def test_fast_path_equals_python_parser(tmp_path, fmt, texts):
    files = []
    for i, t in enumerate(texts):
        p = tmp_path / f"f{i}.txt"
        p.write_text(t, newline="")
        files.append(str(p))
    slow, fast = collect(fmt, files, False), collect(fmt, files, True)
    assert fast.values == slow.values
    assert fast.entries == slow.entries
    assert fast.warnings == slow.warnings
    assert fast.meta == slow.meta
    assert blocks6(fast) == blocks6(slow)
    for name, f, s in zip(("starts", "ends", "values"), fast.arrays4(), slow.arrays4()):
        assert f.tolist() == s.tolist(), name


@SETTINGS
@given(texts=st.lists(mixed_file(), min_size=1, max_size=2), piece=st.integers(1, 64))
def test_fast_path_in_small_pieces(tmp_path, texts, piece):
    """The scanner reads a file in pieces of whole lines (fast4.PIECE bytes at a time,
    more for a longer line): tiny pieces split every line, value and $MAXRANGE4 rescan."""
    files = []
    for i, t in enumerate(texts):
        p = tmp_path / f"f{i}.txt"
        p.write_text(t, newline="")
        files.append(str(p))
    slow = collect("ip4set", files, False)
    old, fast4.PIECE = fast4.PIECE, piece
    try:
        fast = collect("ip4set", files, True)
    finally:
        fast4.PIECE = old
    assert (fast.values, fast.entries, fast.warnings, fast.meta) == \
        (slow.values, slow.entries, slow.warnings, slow.meta)
    for f, s in zip(fast.arrays4(), slow.arrays4()):
        assert f.tolist() == s.tolist()


WIDE_SHAPES = ["{net}/{bits}", "{p1}.0.0.0/7", "{p1}.0.0.0/1", "!{p1}.128.0.0/9",
               "{p1}.0.0.0-{p1}.255.255.255"]


@SETTINGS
@pytest.mark.parametrize("fmt", ["ip4set", "plain"])
@given(texts=st.lists(mixed_file(), min_size=1, max_size=2),
       wide=st.lists(st.tuples(st.sampled_from(WIDE_SHAPES), ip4, st.integers(1, 32)),
                     max_size=4))
def test_segments_per_bucket_equal_whole(tmp_path, fmt, texts, wide):
    """The compiled path groups and flattens one /8 at a time (dataset._segments4), or
    all at once when a block reaches past its /8 (plain's wide CIDRs); the Python
    parser's blocks go through the same grouping in one bucket: same segments, values."""
    files = []
    for i, t in enumerate(texts):
        p = tmp_path / f"f{i}.txt"
        extra = [sh.format(net=text4(ip & ((MAX4 << (32 - b)) & MAX4)), bits=b,
                           p1=ip >> 24) for sh, ip, b in wide]
        p.write_text(t + "\n" + "\n".join(extra) + "\n", newline="")
        files.append(str(p))
    fmt_cls = get_format(fmt)
    fast = Dataset.from_files(files, fmt)
    c = Collector()
    load_lines(c, fmt_cls(), file_lines(files))
    slow = Dataset._from_collector(fmt, tuple(files), c, fmt_cls.mode)
    for f, s in zip(fast.index.segments4(), slow.index.segments4()):
        assert f.tolist() == s.tolist()
    assert fast._sets == slow._sets and fast.warnings == slow.warnings


def test_fast_path_on_real_feeds(feeds_dir):
    for name, fmt in [("dnsbl-1.uceprotect.net", "ip4set"), ("psbl.txt", "plain"),
                      ("ips.backscatterer.org", "ip4set")]:
        files = [str(feeds_dir / name)]
        slow, fast = collect(fmt, files, False), collect(fmt, files, True)
        assert fast.values == slow.values and fast.entries == slow.entries
        assert fast.warnings == slow.warnings
        for f, s in zip(fast.arrays4(), slow.arrays4()):
            assert f.tobytes() == s.tobytes()


# -------------------------------------------------------------- the compiled core
@st.composite
def nested_blocks(draw, top, lo_bits, bits):
    """Unique CIDR blocks (always nested or disjoint) with group ids (-1: exclusion)."""
    n = draw(st.integers(0, 30))
    out: dict[tuple[int, int], int] = {}
    for _ in range(n):
        b = draw(st.integers(lo_bits, bits))
        x = draw(st.integers(0, top)) if draw(st.booleans()) else draw(ip4) if bits == 32 else \
            draw(st.builds(lambda a, v: a | v, ip6_base, st.integers(0, (1 << 96) - 1)))
        s = x & ~((1 << (bits - b)) - 1) & top
        out.setdefault((s, s | ((1 << (bits - b)) - 1)), draw(st.integers(-1, 5)))
    return [(s, e, g) for (s, e), g in out.items()]


def ref_blocks(blocks, x):
    best = None
    for s, e, g in blocks:
        if s <= x <= e and (best is None or e - s < best[1] - best[0]):
            best = (s, e, g)
    return -1 if best is None else best[2]


@SETTINGS
@given(blocks=nested_blocks(MAX4, 0, 32), data=st.data())
def test_flatten4_equals_flatten_py_and_reference(blocks, data):
    blocks.sort(key=lambda b: (b[0], -b[1]))
    s = np.array([b[0] for b in blocks], np.uint32)
    e = np.array([b[1] for b in blocks], np.uint32)
    g = np.array([b[2] for b in blocks], np.int32)
    cs, cv = _index.flatten4(s, e, g)
    ps, pv = flatten_py(blocks, MAX4)
    assert cs.tolist() == ps and cv.tolist() == pv
    assert cs[0] == 0 and (np.diff(cs.astype(np.int64)) > 0).all()
    assert (cv[1:] != cv[:-1]).all()  # adjacent equal values merged
    # build from shuffled input: the index sorts for itself
    perm = np.array(data.draw(st.permutations(range(len(blocks)))), dtype=np.int64)
    idx = IPIndex.build((s[perm] if len(perm) else s, e[perm] if len(perm) else e,
                         g[perm] if len(perm) else g), None)
    xs = edges([(b[0], b[1]) for b in blocks], MAX4) + data.draw(st.lists(st.integers(0, MAX4)))
    for x in xs:
        assert idx.lookup4(x) == ref_blocks(blocks, x), hex(x)
    if xs:
        many = idx.lookup_many4(np.array(xs, np.uint32))
        assert many.tolist() == [idx.lookup4(x) for x in xs]
        assert idx.v4.count_listed(np.array(xs, np.uint32)) == sum(v >= 0 for v in many)


@SETTINGS
@given(blocks=nested_blocks(MAX6, 0, 128), data=st.data())
def test_index6_matches_reference(blocks, data):
    idx = IPIndex.build(None, blocks)
    xs = edges([(b[0], b[1]) for b in blocks], MAX6) + data.draw(st.lists(st.integers(0, MAX6)))
    for x in xs:
        assert idx.lookup6(x) == ref_blocks(blocks, x), hex(x)
    if xs:
        his = np.array([x >> 64 for x in xs], np.uint64)
        los = np.array([x & ((1 << 64) - 1) for x in xs], np.uint64)
        assert idx.v6.lookup_many(his, los).tolist() == [idx.lookup6(x) for x in xs]


@SETTINGS
@given(s=st.lists(st.integers(0, 40), max_size=300), data=st.data())
def test_sort_blocks4_is_a_stable_start_then_end_descending_sort(s, data):
    e = [x + data.draw(st.integers(0, 3)) for x in s]
    from rblmirror.data.index import sort_blocks4
    order = sort_blocks4(np.array(s, np.uint32), np.array(e, np.uint32)).tolist()
    assert order == sorted(range(len(s)), key=lambda i: (s[i], -e[i], i))


@settings(max_examples=100, deadline=None)
@given(blocks=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(-2, 3)),
                       max_size=60))
def test_group_blocks4_groups_identical_blocks_in_input_order(blocks):
    s = np.array([b[0] for b in blocks], np.uint32)
    e = s + np.array([b[1] for b in blocks], np.uint32)
    v = np.array([b[2] for b in blocks], np.int32)
    gs, ge, gv, fl, vs, st_ = _index.group_blocks4(s, e, v, -2)
    order = sorted(range(len(blocks)), key=lambda i: (int(s[i]), -int(e[i]), i))
    groups: dict[tuple[int, int], list[int]] = {}
    for i in order:
        groups.setdefault((int(s[i]), int(e[i])), []).append(int(v[i]))
    assert list(zip(gs.tolist(), ge.tolist())) == list(groups)
    assert vs.tolist() == [int(v[i]) for i in order]
    for g, vals in enumerate(groups.values()):
        assert gv[g] == vals[0] and vs[st_[g]:st_[g + 1]].tolist() == vals
        assert fl[g] == (1 if -2 in vals else 2 if len(set(vals)) > 1 else 0)
    assert st_[len(groups)] == len(blocks)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 5000), seed=st.integers(0, 2**32 - 1))
def test_lookup_many_equals_lookup(n, seed):
    rng = np.random.default_rng(seed)
    starts = np.unique(rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32))
    starts = np.concatenate([[0], starts[starts > 0]]).astype(np.uint32)
    vals = rng.integers(-1, 7, size=len(starts)).astype(np.int32)
    idx = _index.Index4(starts, vals)
    qs = np.concatenate([rng.integers(0, 1 << 32, size=2000, dtype=np.uint64).astype(np.uint32),
                         starts, starts - np.uint32(1), np.array([0, MAX4], np.uint32)])
    got = idx.lookup_many(qs)
    want = vals[np.searchsorted(starts, qs, side="right") - 1]
    assert (got == want).all()
    assert [idx.lookup(int(q)) for q in qs[:300]] == want[:300].tolist()


@settings(max_examples=8, deadline=None)
@given(n=st.sampled_from([1, 3, 5000, 300_000]), m=st.sampled_from([70_000, 250_001]),
       seed=st.integers(0, 2**32 - 1))
def test_lookup_many_large_batches_split_over_threads(n, m, seed):
    """Batches past the split threshold run on several threads with prefetching; every
    slice (and the pipeline's ends) must still answer like searchsorted."""
    rng = np.random.default_rng(seed)
    starts = np.unique(rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32))
    starts = np.concatenate([[0], starts[starts > 0]]).astype(np.uint32)
    vals = rng.integers(-1, 7, size=len(starts)).astype(np.int32)
    idx = _index.Index4(starts, vals)
    qs = rng.integers(0, 1 << 32, size=m, dtype=np.uint64).astype(np.uint32)
    qs[: len(starts)] = starts[: m]
    want = vals[np.searchsorted(starts, qs, side="right") - 1]
    assert (idx.lookup_many(qs) == want).all()
    out = np.full(m + 5, 99, np.int32)
    assert (idx.lookup_many(qs, out) == want).all() and (out[m:] == 99).all()
    assert idx.count_listed(qs) == int((want >= 0).sum())
    assert [idx.lookup(int(q)) for q in qs[:200]] == want[:200].tolist()
    assert [int(q) in idx for q in qs[:200]] == (want[:200] >= 0).tolist()


def test_index4_tables_coarse_and_fine():
    """The public 65537-entry bucket_array is the coarse view of the lookup table, and an
    Index4 built from a coarse table (older snapshots) answers the same."""
    rng = np.random.default_rng(5)
    starts = np.unique(rng.integers(1, 1 << 32, size=20_000, dtype=np.uint64).astype(np.uint32))
    starts = np.concatenate([[0], starts]).astype(np.uint32)
    vals = rng.integers(-1, 4, size=len(starts)).astype(np.int32)
    idx = _index.Index4(starts, vals)
    coarse = idx.bucket_array
    assert len(coarse) == 65537
    h = np.arange(65537, dtype=np.uint64) << np.uint64(16)
    assert (coarse == np.searchsorted(starts, h, side="left")).all()
    old = _index.Index4(starts, vals, np.ascontiguousarray(coarse))
    qs = rng.integers(0, 1 << 32, size=5000, dtype=np.uint64).astype(np.uint32)
    assert (old.lookup_many(qs) == idx.lookup_many(qs)).all()
    assert (old.table_array == idx.table_array).all()
    bad = np.ascontiguousarray(coarse).copy()
    bad[1:] = 0
    bad[-1] = len(starts)
    with pytest.raises(ValueError):
        _index.Index4(starts, vals, bad)
    with pytest.raises(ValueError):
        _index.Index4(starts, vals, np.zeros(1000, np.uint32))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.integers(0, MAX4).map(text4),
    st.integers(0, MAX4).map(lambda v: ".".join(f"{(v >> s) & 255:03d}" for s in (24, 16, 8, 0))),
    st.text(alphabet="0123456789. \t", max_size=18),
    st.text(max_size=10)), max_size=40))
def test_parse_ip4_many_matches_ipaddress(items):
    def ref(t: str):
        t = t.strip(" \t\r\n")
        parts = t.split(".")
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
            return None
        t = ".".join(str(int(p)) for p in parts)  # rbldnsd accepts leading zeros
        try:
            return int(ipaddress.IPv4Address(t))
        except ValueError:
            return None
    vals, ok = _index.parse_ip4_many(items)
    for i, t in enumerate(items):
        want = ref(t)
        assert bool(ok[i]) == (want is not None), t
        if want is not None:
            assert int(vals[i]) == want
    vals_b, ok_b = _index.parse_ip4_many([t.encode("utf-8") for t in items])
    assert (vals_b == vals).all() and (ok_b == ok).all()


def test_fast_merge_leaves_blocks4(tmp_path):
    """The compiled path's blocks (Python-parsed ones merged in at their place) become
    the collector's blocks4; s4/e4/v4 are left empty, the values writable in place."""
    p = tmp_path / "z.txt"
    p.write_text("1.2.3.4\n5.6.7.8 :3:x\n9.9.9.9/33\n::1\n10.0.0.1-10.0.0.2 :0:\n9.9.9.9\n")
    c = collect("ip4set", [str(p)], True)
    assert c.blocks4 is not None and len(c.s4) == 0
    s, e, v = c.arrays4()
    assert s.tolist() == [0x01020304, 0x05060708, 0x09090909] and e.tolist() == s.tolist()
    assert s.dtype == np.uint32 and v.dtype == np.int32 and v.flags.writeable
    assert [str(w) for w in c.warnings] == [f"{p}:3: invalid address", f"{p}:4: invalid address",
                                            f"{p}:5: invalid A RR"]
