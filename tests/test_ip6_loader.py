"""The compiled IPv6 loader (ext/loader6.pyx + zonefmt/fast6.py) held to two references:

- a plain-Python rbldnsd model written here (regular expressions and `ipaddress`, value
  texts from a table whose meaning is spelled out), which says for every address which
  entry answers: ip6trie: the longest prefix, the first of two identical ones, `!`
  excludes, a CIDR with host bits set or a bad value is skipped; ip6tset: /64 listings
  of exactly four groups and /128 exclusions with the dataset's first default value;
- the old Python parser (the formats' own line(), fed by base.file_lines()), which must
  give the same warnings (file, line, message), entries, values and index, also on
  files full of bad lines, CRLF endings, specials and odd value texts, read in pieces
  of any size.
"""
from __future__ import annotations

import gzip
import ipaddress
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rblmirror import _index, _loader6
from rblmirror.data.dataset import Dataset
from rblmirror.errors import ZoneFileError
from rblmirror.data.index import MAX6, IPIndex
from rblmirror.data.values import Listing
from rblmirror.data.formats import fast6
from rblmirror.data.formats import get as get_format
from rblmirror.data.formats.base import Collector, file_lines, load_lines
from rblmirror.data.formats.ipparse import ip6cidr

from support.reference import flatten_py

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
M64 = (1 << 64) - 1
DEFAULT = Listing("127.0.0.2", None)

# ------------------------------------------------------------------ the reference model
#: value texts after a subject (stripped) -> the Listing, given the default in force
VALUES = {
    ":3:t6 $": lambda d: Listing("127.0.0.3", "t6 $"),
    ":4:": lambda d: Listing("127.0.0.4", None),
    ":5": lambda d: Listing("127.0.0.5", d.txt),          # keeps the default TXT
    "bare $ text": lambda d: Listing(d.a, "bare $ text"),  # the default A, this TXT
    ":127.0.0.9:full $ x": lambda d: Listing("127.0.0.9", "full $ x"),
    ":10.1.2:short": lambda d: Listing("10.1.0.2", "short"),  # rbldnsd's short A
    ":6:# not a comment": lambda d: Listing("127.0.0.6", "# not a comment"),
}
#: value texts rbldnsd refuses: the entry is skipped
BAD_VALUES = [":0:", ":5 # c", ":300:x", ":x:"]
#: default lines -> the default they set
DEFAULTS = {":2:def $": Listing("127.0.0.2", "def $"), ":7:": Listing("127.0.0.7", None),
            ":8:other $ text": Listing("127.0.0.8", "other $ text")}
_SUBJECT = re.compile(r"[0-9A-Fa-f:.]*")


def ref_cidr(s: str):
    """rbldnsd's IPv6 subject at the start of s: (network int, bits, rest) or None. The
    subject runs over hex digits, ':' and '.'; a dotted-quad tail is refused; without
    '::' the groups given set the length (2001:db8:1 is a /48)."""
    m = _SUBJECT.match(s)
    assert m is not None  # (the pattern matches the empty string too)
    text = m.group(0)
    rest = s[len(text):]
    if "." in text or ":" not in text:
        return None
    bits = 128
    if "::" not in text and text.count(":") < 7:
        bits = 16 * (text.count(":") + 1)
        text += "::"
    try:
        net = int(ipaddress.IPv6Address(text))
    except ValueError:
        return None
    m = re.match(r"/([0-9]+)", rest)
    if rest.startswith("/"):
        if m is None or int(m.group(1)) > 128:
            return None
        bits, rest = int(m.group(1)), rest[m.end():]
    return net, bits, rest


def ref_trie(files: list[str]) -> dict[tuple[int, int], Listing | None]:
    """{(network, bits): Listing, or None for an exclusion} as rbldnsd's ip6trie keeps them."""
    out: dict[tuple[int, int], Listing | None] = {}
    for text in files:
        default = DEFAULT
        for raw in text.split("\n"):
            line = raw.strip(" \t")
            if not line or line[0] in "#;":
                continue
            if line[0] == ":" and line[:2] != "::":
                default = DEFAULTS[line]
                continue
            excl = line[0] == "!"
            s = line[1:].lstrip(" \t") if excl else line
            r = ref_cidr(s)
            if r is None or (r[2] and r[2][0] not in " \t#;:"):
                continue
            net, bits, rest = r
            if net & ((1 << (128 - bits)) - 1):
                continue  # host bits set
            if excl:
                val = None
            else:
                rest = rest.strip(" \t")
                if not rest or rest[0] in "#;":
                    val = default
                elif rest in BAD_VALUES:
                    continue
                else:
                    val = VALUES[rest](default)
            out.setdefault((net, bits), val)
    return out


def ref_tset(files: list[str]) -> dict[tuple[int, int], Listing | None]:
    """ip6tset as rbldnsd keeps it: a:b:c:d (/64) listings, !address (/128) exclusions,
    every listing with the first default line of the dataset."""
    out: dict[tuple[int, int], str | None] = {}  # "listed", or None: an exclusion
    value = None
    for text in files:
        for raw in text.split("\n"):
            line = raw.strip(" \t")
            if not line or line[0] in "#;":
                continue
            if line[0] == ":" and line[:2] != "::":
                value = value or DEFAULTS[line]
                continue
            if line[0] == "!":
                r = ref_cidr(line[1:].lstrip(" \t"))
                if r and (not r[2] or r[2][0] in " \t#;:") and r[1] == 128:
                    out.setdefault((r[0], 128), None)
                continue
            m = re.fullmatch(r"([0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){3})([ \t#;].*)?", line)
            if m:
                net = int(ipaddress.IPv6Address(m.group(1) + "::"))
                out.setdefault((net, 64), "listed")
    v = value or DEFAULT
    return {k: (v if x == "listed" else None) for k, x in out.items()}


def ref_lookup(entries, x: int):
    best = None
    for (net, bits), v in entries.items():
        if x >> (128 - bits) == net >> (128 - bits) and (best is None or bits > best[0]):
            best = (bits, v)
    return None if best is None else best[1]


# ------------------------------------------------------------------ file generators
_NETS = [0x20010DB8 << 96, (0x20010DB8 << 96) | (0xAB << 80), 0x2A0B_4C00 << 96, 0]


def _groups(v: int) -> list[int]:
    return [(v >> (112 - 16 * i)) & 0xFFFF for i in range(8)]


@st.composite
def form6(draw, v: int, bits: int | None):
    """One textual form of v (with /bits unless None): compressed, exploded, upper case,
    leading zeros, '::' in another zero run, the short form (groups only)."""
    g = _groups(v)
    kind = draw(st.sampled_from(["canon", "exploded", "upper", "zeros", "gap", "short"]))
    if kind == "exploded":
        t = ipaddress.IPv6Address(v).exploded
    elif kind == "upper":
        t = str(ipaddress.IPv6Address(v)).upper()
    elif kind == "zeros":
        t = ":".join(f"{x:0{draw(st.integers(len(f'{x:x}'), 4))}x}" for x in g)
    elif kind == "gap":
        zeros = [i for i in range(8) if g[i] == 0]
        if zeros:
            i = draw(st.sampled_from(zeros))
            j = i
            while j + 1 < 8 and g[j + 1] == 0 and draw(st.booleans()):
                j += 1
            t = ":".join(f"{x:x}" for x in g[:i]) + "::" + ":".join(f"{x:x}" for x in g[j + 1:])
        else:
            t = str(ipaddress.IPv6Address(v))
    elif kind == "short" and bits is not None and bits % 16 == 0 and 16 <= bits < 128 \
            and not v & ((1 << (128 - bits)) - 1):
        return ":".join(f"{x:x}" for x in g[:bits // 16])  # the length from the groups
    else:
        t = str(ipaddress.IPv6Address(v))
    if bits is None or (bits == 128 and draw(st.booleans())):
        return t
    return f"{t}/{bits}"


@st.composite
def trie_line(draw):
    base = draw(st.sampled_from(_NETS))
    bits = draw(st.sampled_from([0, 16, 32, 40, 48, 48, 52, 56, 63, 64, 64, 80, 96, 120, 127, 128]))
    v = (base | draw(st.integers(0, (1 << 96) - 1))) & ~((1 << (128 - bits)) - 1) & MAX6
    if draw(st.integers(0, 9)) == 0:  # host bits set: skipped with a warning
        v |= 1 << draw(st.integers(0, max(0, 127 - bits)))
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.sampled_from(list(DEFAULTS)))
    if kind == 1:
        return draw(st.sampled_from(["# comment", "; comment", "", "garbage", "1.2.3.4/32",
                                     "::ffff:1.2.3.4", "2001:db8::1::2", "12345::/32",
                                     "2001:db8::/129", "2001:db8::/", ":::", "!", "! x"]))
    subject = draw(form6(v & MAX6, bits))
    if kind < 5:
        return "!" + draw(st.sampled_from(["", " ", "\t"])) + subject + \
            draw(st.sampled_from(["", " # c", " ignored text", ":7:"]))
    val = draw(st.sampled_from(["", "", " # comment", " ; c", "\t#c"] +
                               [" " + t for t in VALUES] + [" " + t for t in BAD_VALUES] +
                               [":6:# not a comment"]))
    return subject + val


@st.composite
def tset_line(draw):
    base = draw(st.sampled_from(_NETS))
    v = (base | draw(st.integers(0, (1 << 96) - 1))) & MAX6
    g = _groups(v)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(list(DEFAULTS)))
    if kind == 1:
        return draw(st.sampled_from(["# c", "", "garbage", "2001:db8:1", "2001:db8:1:2::",
                                     "2001:db8:1:2/64", "2001:db8:1:2:3", "!2001:db8:1:2",
                                     "!2001:db8::/128 x", "!::ffff:1.2.3.4", "12345:1:2:3"]))
    if kind < 4:
        return "!" + draw(form6(v, None)) + draw(st.sampled_from(["", " x", " # c"]))
    four = ":".join(draw(st.sampled_from([f"{x:x}", f"{x:04x}", f"{x:X}"])) for x in g[:4])
    return four + draw(st.sampled_from(["", " text ignored", " # c", "\t;c", "x"]))


@st.composite
def dump(draw, line):
    """A file: lines from a small pool (so that prefixes repeat and nest) plus fresh ones."""
    pool = draw(st.lists(line(), min_size=1, max_size=12))
    lines = draw(st.lists(st.one_of(st.sampled_from(pool), line()), max_size=40))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


def _write(tmp_path, texts, tag=""):
    paths = []
    for i, t in enumerate(texts):
        p = tmp_path / f"z{tag}{i}.zone"
        p.write_text(t, newline="")
        paths.append(str(p))
    return paths


def _probes(entries, rnd: random.Random) -> list[int]:
    xs = {0, MAX6, 1}
    for net, bits in entries:
        top = net | ((1 << (128 - bits)) - 1)
        for x in (net - 1, net, net + 1, top - 1, top, top + 1, rnd.randint(net, top)):
            if 0 <= x <= MAX6:
                xs.add(x)
    xs.update(b | rnd.getrandbits(96) for b in _NETS for _ in range(5))
    return sorted(xs)


def _check_against_reference(ds: Dataset, ref) -> None:
    rnd = random.Random(len(ref))
    for x in _probes(ref, rnd):
        want = ref_lookup(ref, x)
        vid = ds.index.lookup6(x)
        got = None if vid < 0 else ds.values(vid)
        assert got == (None if want is None else (want,)), hex(x)


# ------------------------------------------------------------------ the properties
def _slow_dataset(fmt_name: str, files: list[str]) -> Dataset:
    """The old path: each line through the format's own line() (no compiled scanner)."""
    c = Collector()
    fmt_cls = get_format(fmt_name)
    load_lines(c, fmt_cls(), file_lines(files))
    return Dataset._from_collector(fmt_cls.name, tuple(files), c, fmt_cls.mode)


def _same_as_old_parser(fast: Dataset, slow: Dataset) -> None:
    assert fast.warnings == slow.warnings
    assert fast.entries == slow.entries
    assert [fast.values(i) for i in range(fast.value_count)] == \
        [slow.values(i) for i in range(slow.value_count)]
    for name in ("hi_array", "lo_array", "vals_array"):
        assert getattr(fast.index.v6, name).tolist() == getattr(slow.index.v6, name).tolist()
    assert fast.meta == slow.meta


@SETTINGS
@given(texts=st.lists(dump(trie_line), min_size=1, max_size=3), chunk=st.sampled_from([5, 64, 1 << 20]))
def test_ip6trie_equals_reference_and_old_parser(tmp_path, monkeypatch, texts, chunk):
    monkeypatch.setattr(fast6, "CHUNK", chunk)  # pieces of any size, lines split anywhere
    files = _write(tmp_path, texts)
    ds = Dataset.from_files(files, "ip6trie")
    _check_against_reference(ds, ref_trie(texts))
    _same_as_old_parser(ds, _slow_dataset("ip6trie", files))


@SETTINGS
@given(texts=st.lists(dump(tset_line), min_size=1, max_size=3), chunk=st.sampled_from([5, 1 << 20]))
def test_ip6tset_equals_reference_and_old_parser(tmp_path, monkeypatch, texts, chunk):
    monkeypatch.setattr(fast6, "CHUNK", chunk)
    files = _write(tmp_path, texts)
    ds = Dataset.from_files(files, "ip6tset")
    _check_against_reference(ds, ref_tset(texts))
    _same_as_old_parser(ds, _slow_dataset("ip6tset", files))


_ODD = ["$SOA 60 ns.x. admin.x. 7 1h 1h 1w 5m", "$TTL 35m", "$BOGUS x", "#$1 v1", ":$2 two",
        "$TIMESTAMP 2020:01:02", "$MAXRANGE4 /20", ":bad default", ":3:t $1 $2", "\r",
        "2001:db8::/32\r", "2001:db8::/32 :3:cr\r", "!2001:db8::1\r", "2001:db8::/32 \xe9t\xe9 $",
        "2001:db8::/33 " + "x" * 300, "2001:db8::/34 :9:" + "y" * 300, "2001:db8::5:",
        "!!2001:db8::1", "2001:db8:0:0:0:0:0:1:2", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7",
        "::/0 :3:all", "  \t2001:db8::/35\t :4:", "2001:db8::/036", "2001:db8::/00000000048"]


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(["ip6trie", "ip6tset"]),
       eol=st.sampled_from(["\n", "\r\n"]), chunk=st.sampled_from([3, 17, 1 << 20]))
def test_odd_lines_equal_old_parser(tmp_path, monkeypatch, data, fmt, eol, chunk):
    """Specials, CRLF, bad bytes, long TXT, odd values: warnings and data as before."""
    monkeypatch.setattr(fast6, "CHUNK", chunk)
    line = trie_line() if fmt == "ip6trie" else tset_line()
    texts = data.draw(st.lists(st.lists(st.one_of(line, st.sampled_from(_ODD)), max_size=30)
                               .map(eol.join), min_size=1, max_size=2))
    files = _write(tmp_path, texts)
    _same_as_old_parser(Dataset.from_files(files, fmt), _slow_dataset(fmt, files))


def test_warnings_wording(zone_file):
    """The messages as rbldnsd words them, file and line each (test_zonefmt has more)."""
    p = zone_file(":3:t $\n2001:db8::/32\n2001:db8::1/32\n2001:db8::/32 :4:dup\nxx\n"
                  "2001:db8:1::/48 :0:\n::ffff:1.2.3.4\n!2001:db8::/32\n2001:db8:2::/48 :5 # c\n")
    d = Dataset.from_file(p, "ip6trie")
    assert [tuple(w) for w in d.warnings] == [
        (str(p), 3, "invalid range (non-zero host part)"),
        (str(p), 4, "duplicated entry for 2001:db8::/32"),
        (str(p), 5, "invalid address"),
        (str(p), 6, "invalid A RR"),
        (str(p), 7, "invalid address"),
        (str(p), 8, "duplicated entry for 2001:db8::/32"),
        (str(p), 9, "unrecognized value for an entry")]
    assert d.entries == 1 and d.lookup("2001:db8::9") == (Listing("127.0.0.3", "t 2001:db8::9"),)


def test_truncated_txt_gives_way_to_duplicate(zone_file):
    long = "z" * 300
    p = zone_file(f"2001:db8::/32 :3:{long}\n2001:db8::/32 :4:{long}\n2001:db9::/32 :4:{long}\n")
    d = Dataset.from_file(p, "ip6trie")
    assert [(w.line, w.message) for w in d.warnings] == [
        (1, "TXT RR truncated to 255 bytes"), (2, "duplicated entry for 2001:db8::/32"),
        (3, "TXT RR truncated to 255 bytes")]
    assert d.lookup("2001:db8::1")[0].a == "127.0.0.3"


def test_an_entry_dropped_for_its_value_is_no_duplicate(zone_file):
    p = zone_file("2001:db8::/32 :0:\n2001:db8::/32 :4:second\n")
    d = Dataset.from_file(p, "ip6trie")
    assert [(w.line, w.message) for w in d.warnings] == [(1, "invalid A RR")]
    assert d.lookup("2001:db8::1") == (Listing("127.0.0.4", "second"),)


def test_pieces_long_lines_and_file_ends(tmp_path, monkeypatch):
    """Lines longer than the read buffer, a file that is an exact multiple of it, no
    final newline, several files (line numbers per file, defaults per file)."""
    monkeypatch.setattr(fast6, "CHUNK", 16)
    a = tmp_path / "a.zone"
    a.write_text(":3:" + "t" * 40 + "\n2001:db8::/32\n2001:db8:1::/48 " + "v" * 50 + "\nbad")
    b = tmp_path / "b.zone"
    b.write_text("2001:db9::/32\nbad\n")  # 18 bytes
    c = tmp_path / "c.zone"
    c.write_text("2001:dba::/32:4\n")  # exactly 16 bytes; the default TXT is this file's
    d = Dataset.from_files([a, b, c], "ip6trie")
    assert [(w.file, w.line) for w in d.warnings] == [(str(a), 4), (str(b), 2)]
    assert d.lookup("2001:db8::1") == (Listing("127.0.0.3", "t" * 40),)
    assert d.lookup("2001:db8:1::1") == (Listing("127.0.0.3", "v" * 50),)
    assert d.lookup("2001:db9::1") == (Listing("127.0.0.2", None),)
    assert d.lookup("2001:dba::1") == (Listing("127.0.0.4", None),)
    assert d.entries == 4


def test_gzip_and_unreadable(tmp_path):
    p = tmp_path / "z.gz"
    p.write_bytes(gzip.compress(b"2001:db8::/32 :3:gz\n!2001:db8::1\n"))
    d = Dataset.from_file(p, "ip6trie")
    assert d.lookup("2001:db8::2") == (Listing("127.0.0.3", "gz"),) and not d.lookup("2001:db8::1")
    with pytest.raises(ZoneFileError, match="cannot read .*missing: No such file"):
        Dataset.from_file(tmp_path / "missing", "ip6trie")
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"2001:db8::/32\n" * 100)[:-9])
    with pytest.raises(ZoneFileError, match="cannot read"):
        Dataset.from_file(bad, "ip6trie")


def test_snapshot_of_an_ip6_dataset(tmp_path, zone_file):
    p = zone_file(":3:t $\n2001:db8::/32\n2001:db8:5::/48 :4:in\n!2001:db8:5::7\n")
    d = Dataset.from_file(p, "ip6trie")
    d.save(tmp_path / "s.snap")
    e = Dataset.load(tmp_path / "s.snap")
    for a in ("2001:db8::1", "2001:db8:5::7", "2001:db8:5::8", "2001:db9::"):
        assert e.lookup(a) == d.lookup(a)
    assert e.index.v6.hi_array.tolist() == d.index.v6.hi_array.tolist()


# ------------------------------------------------------------------ the compiled parts
_TEXT = st.text(alphabet="0123456789abcdefABCDEF:::..//x #", max_size=24)


@settings(max_examples=3000, deadline=None)
@given(t=st.one_of(_TEXT, st.integers(0, MAX6).flatmap(
    lambda v: st.integers(0, 130).flatmap(
        lambda b: form6(v & ~((1 << (128 - min(b, 128))) - 1), b) | form6(v, None)))))
def test_parse6_equals_ip6cidr(t):
    assert _loader6.parse6(t.encode()) == ip6cidr(t)


@st.composite
def cidr_blocks(draw):
    """CIDR blocks in a small space (so they nest), some identical, with group ids."""
    out = []
    for _ in range(draw(st.integers(0, 40))):
        bits = draw(st.integers(0, 128))
        x = draw(st.sampled_from(_NETS)) | draw(st.integers(0, (1 << 96) - 1)) \
            if draw(st.booleans()) else draw(st.integers(0, MAX6))
        s = x & ~((1 << (128 - bits)) - 1) & MAX6
        out.append((s, bits, draw(st.integers(-1, 5))))
    return out


def _arrays(blocks):
    return (np.array([s >> 64 for s, _, _ in blocks], np.uint64),
            np.array([s & M64 for s, _, _ in blocks], np.uint64),
            np.array([b for _, b, _ in blocks], np.uint8),
            np.array([g for _, _, g in blocks], np.int32))


@settings(max_examples=400, deadline=None)
@given(blocks=cidr_blocks(), data=st.data())
def test_sort_flatten_equal_flatten_py(blocks, data):
    ordn = data.draw(st.permutations(range(len(blocks))))
    hi, lo, bits, gid = _arrays(blocks)
    o = np.array(ordn, np.uint32)
    perm = _loader6.sort6(hi, lo, bits, o)
    want = sorted(range(len(blocks)), key=lambda i: (blocks[i][0], blocks[i][1], ordn[i]))
    got = list(range(len(blocks))) if perm is None else perm.tolist()
    assert got == want
    assert (perm is None) == (want == list(range(len(blocks))))
    # first of identical blocks (by ordinal) kept: flatten_py wants unique blocks
    first: dict[tuple[int, int], int] = {}
    for i in want:
        first.setdefault(blocks[i][:2], blocks[i][2])
    uniq = sorted(((s, s | ((1 << (128 - b)) - 1), g) for (s, b), g in first.items()),
                  key=lambda x: (x[0], -x[1]))
    ps, pv = flatten_py(uniq, MAX6)
    sh, sl, sb, sg = (_loader6.take(a, np.array(want, np.uint32)) for a in (hi, lo, bits, gid))
    ch, cl, cv = _index.Index6(*_loader6.flatten6(sh, sl, sb, sg)).segments()
    assert [(int(h) << 64) | int(x) for h, x in zip(ch, cl)] == ps and cv.tolist() == pv
    # IPIndex.build from any order: the first in the arrays' order wins
    idx = IPIndex.build(None, _arrays(blocks))
    firsts: dict[tuple[int, int], int] = {}
    for s, b, g in blocks:
        firsts.setdefault((s, b), g)
    ref = {k: (None if g < 0 else g) for k, g in firsts.items()}
    rnd = random.Random(len(blocks))
    for x in _probes(ref, rnd):
        w = ref_lookup(ref, x)
        assert idx.lookup6(x) == (-1 if w is None else w), hex(x)


@settings(max_examples=300, deadline=None)
@given(blocks=cidr_blocks(), data=st.data())
def test_store6_equals_reference(blocks, data):
    """Store6 (the compiled load's entries between scan and index) against a plain
    statement: buckets with the counted room, too little room or none (the rest as long
    records), value ids past the 1-byte codes (the escape table), exclusions, entries
    dropped for their value; sorted by (start, prefix length, line), all but the first
    of identical blocks dead (reported), and its index the flatten of what is left."""
    from rblmirror.data.formats.base import EXCL
    n = len(blocks)
    ordn = data.draw(st.permutations(range(10, 10 + n)))
    vids = [data.draw(st.sampled_from([EXCL, fast6.DROP, 0, 1, 253, 254, 300, 70000]))
            for _ in blocks]
    room = data.draw(st.sampled_from(["exact", "none", "some"]))
    counts = np.zeros(65536, np.uint32)
    for s, b, _ in blocks:
        if b <= 64 and (room == "exact" or (room == "some" and s & 1 << 64)):
            counts[s >> 112] += 1
    store = _loader6.Store6(counts)
    for (s, b, _), v, o in zip(blocks, vids, ordn):
        store.add(s >> 64, s & M64, b, v, o)
    dead_o, dead_h, dead_l, dead_b = store.sort()
    live = sorted((s, b, o, -1 if v == EXCL else v) for (s, b, _), v, o in
                  zip(blocks, vids, ordn) if v != fast6.DROP)
    first: dict[tuple[int, int], tuple[int, int]] = {}
    dead = []
    for s, b, o, v in live:
        if (s, b) in first:
            dead.append((s, b, o))
        else:
            first[(s, b)] = (o, v)
    assert store.count == len(live)
    assert sorted(zip(dead_o.tolist(), dead_h.tolist(), dead_l.tolist(), dead_b.tolist())) == \
        sorted((o, s >> 64, s & M64, b) for s, b, o in dead)
    h, lo, bits, v = store.blocks()
    want = sorted(first.items())
    assert [((int(a) << 64) | int(c), int(b)) for a, c, b in zip(h, lo, bits)] == \
        [k for k, _ in want]
    assert v.tolist() == [x for _, (_, x) in want]
    uniq = sorted(((s, s | ((1 << (128 - b)) - 1), x) for (s, b), (_, x) in first.items()),
                  key=lambda t: (t[0], -t[1]))
    ps, pv = flatten_py(uniq, MAX6)
    ch, cl, cv = _index.Index6(*store.flatten()).segments()
    assert [(int(a) << 64) | int(c) for a, c in zip(ch, cl)] == ps and cv.tolist() == pv


def test_count6_bounds_what_the_scanner_takes():
    """The first pass counts every line whose subject parses, per top 16 bits, /64 and
    shorter only; specials, comments and default lines are no entries."""
    text = (b"$SOA 1 a. b. 1 1 1 1 1\n:127.0.0.2:x\n# 2001:db8::/32\n; 2001::/16\n"
            b"2001:db8::/32\n  !2001:db8:1::/48 :3:\n2001:db8::1\n::/0\n::1/128\n"
            b"2002:1:2:3\nnot-an-address\n3fff::/64")
    counts = np.zeros(65536, np.uint32)
    used = _loader6.count6(text, False, counts)
    assert used == text.rindex(b"\n") + 1  # the last line waits for more
    assert {i: int(counts[i]) for i in np.flatnonzero(counts)} == {0x2001: 2, 0: 1, 0x2002: 1}
    _loader6.count6(text[used:], True, counts)
    assert counts[0x3fff] == 1


def test_many_values_through_the_store(tmp_path):
    """More distinct values than 1-byte codes hold (the escape table), some on repeated
    prefixes: the compiled load equals the Python parser's."""
    lines = [":127.0.0.2:default"]
    for i in range(700):
        lines.append(f"2001:db8:{i:x}::/48 :127.0.0.{i % 200 + 1}:value {i}")
        if i % 7 == 0:
            lines.append(f"2001:db8:{i:x}::/48 :127.0.0.9:again {i}")
            lines.append(f"!2001:db8:{i:x}::{i:x}")
    p = tmp_path / "many.ip6trie"
    p.write_text("\n".join(lines) + "\n")
    fast, slow = Dataset.from_file(p, "ip6trie"), _slow_dataset("ip6trie", [str(p)])
    assert fast.value_count > 600
    _same_as_old_parser(fast, slow)


def test_flatten6_refuses_unsorted_blocks():
    hi, lo, bits, gid = _arrays([(1 << 64, 64, 1), (0, 64, 2)])
    with pytest.raises(ValueError, match="not sorted"):
        _loader6.flatten6(hi, lo, bits, gid)


def test_flatten6_edges_of_the_space():
    # ::/0 with the top and bottom addresses carved out: segments right up to the end
    blocks = [(0, 0, 1), (0, 128, 2), (MAX6, 128, 3), ((MAX6 >> 1) + 1, 1, 4)]
    hi, lo, bits, gid = _arrays(sorted(blocks, key=lambda b: (b[0], b[1])))
    idx = _index.Index6(*_loader6.flatten6(hi, lo, bits, gid))
    ch, cl, cv = idx.segments()
    starts = [(int(h) << 64) | int(x) for h, x in zip(ch, cl)]
    assert list(zip(starts, cv.tolist())) == [(0, 2), (1, 1), (1 << 127, 4), (MAX6, 3)]
    for x, v in [(0, 2), (1, 1), (2, 1), (M64, 1), (1 << 64, 1), ((1 << 127) - 1, 1),
                 (1 << 127, 4), (MAX6 - 1, 4), (MAX6, 3)]:
        assert idx.lookup(x >> 64, x & M64) == v, hex(x)


@st.composite
def segment_starts(draw):
    """Sorted distinct segment starts (the first ::), with high halves clustered, spread
    over the whole space, repeated (many segments in one /64), at the very top, or on
    /64 boundaries (low half 0) and next to them, where groups and runs meet."""
    shape = draw(st.sampled_from(["cluster", "wide", "one64", "top", "mixed"]))
    n = draw(st.integers(1, 700))
    aligned = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))  # share of low halves 0
    base = draw(st.integers(0, M64))
    out = set()
    for _ in range(n):
        if shape == "cluster":
            h = min(M64, base + draw(st.integers(0, 1 << 20)))
        elif shape == "wide":
            h = draw(st.integers(0, M64))
        elif shape == "one64":
            h = base
        elif shape == "top":
            h = M64 - draw(st.integers(0, 300))
        else:
            h = draw(st.sampled_from([base, 0, M64, base >> 7])) + draw(st.integers(0, 3))
        r = draw(st.floats(0, 1))
        low = 0 if r < aligned else draw(st.sampled_from([1, M64, draw(st.integers(0, M64))]))
        out.add(((min(h, M64)) << 64) | low)
    out.discard(0)
    return [0] + sorted(out)


@settings(max_examples=300, deadline=None)
@given(starts=segment_starts(), data=st.data())
def test_index6_table_lookups_equal_bisect(starts, data):
    """The compact Index6 (groups by high half, runs of low halves, the first-level
    table; value codes of 1, 2 and 4 bytes) against bisect over the segments it was
    built from: every start, its neighbours and random addresses; its segments() give
    them back (adjacent equal values merged); any_listed against a scan."""
    from bisect import bisect_right
    top = data.draw(st.sampled_from([9, 300, 70000]))
    vals = np.array(data.draw(st.lists(st.integers(-1, top), min_size=len(starts),
                                       max_size=len(starts))), np.int32)
    b = _loader6.Build6()
    for x, v in zip(starts, vals.tolist()):
        b.push(x >> 64, x & M64, v)
    idx = _index.Index6(*b.arrays())
    merged = [(x, v) for k, (x, v) in enumerate(zip(starts, vals.tolist()))
              if k == 0 or v != vals[k - 1]]
    sh, sl, sv = idx.segments()
    assert list(zip([(int(h) << 64) | int(x) for h, x in zip(sh, sl)], sv.tolist())) == merged
    assert idx.n == len(merged)
    probe_set = {MAX6, 1}
    for s in starts:
        probe_set.update(x for x in (s - 1, s, s + 1) if 0 <= x <= MAX6)
    probe_set.update(data.draw(st.lists(st.integers(0, MAX6), max_size=50)))
    xs = sorted(probe_set)
    want = [int(vals[bisect_right(starts, x) - 1]) for x in xs]
    assert [idx.lookup(x >> 64, x & M64) for x in xs] == want
    assert idx.lookup_many(np.array([x >> 64 for x in xs], np.uint64),
                           np.array([x & M64 for x in xs], np.uint64)).tolist() == want
    for _ in range(20):
        p, t = sorted(data.draw(st.lists(st.sampled_from(xs), min_size=2, max_size=2)))
        i, j = bisect_right(starts, p) - 1, bisect_right(starts, t) - 1
        assert idx.any_listed(p >> 64, p & M64, t >> 64, t & M64) == \
            int(bool((vals[i:j + 1] >= 0).any()))


def test_index6_refuses_unordered_or_inconsistent_arrays():
    """Build6 takes starts in increasing order only; Index6 refuses arrays whose table,
    runs or codes disagree (no lookup may leave the arrays)."""
    b = _loader6.Build6()
    b.push(0, 0, 1)
    b.push(5, 0, 2)
    with pytest.raises(ValueError, match="increasing order"):
        b.push(4, 7, 3)
    with pytest.raises(ValueError, match="start at ::"):
        _loader6.Build6().push(1, 0, 1)
    b = _loader6.Build6()
    for h, lo, v in [(0, 0, -1), (1 << 60, 0, 1), (1 << 60, 9, -1), (1 << 61, 3, 2)]:
        b.push(h, lo, v)
    arrs = b.arrays()
    assert _index.Index6(*arrs).lookup(1 << 60, 8) == 1
    params, tab, keys, codes, runj, runoff, runlo, runval = arrs
    damaged: list[tuple[int, np.ndarray]] = [
        (1, tab[::-1].copy()), (3, np.zeros_like(codes)), (6, runlo + np.uint64(1)),
        (5, runoff[::-1].copy())]
    for i, bad in damaged:
        broken: list[np.ndarray] = list(arrs)
        broken[i] = bad
        with pytest.raises(ValueError, match="Index6"):
            _index.Index6(*broken)
