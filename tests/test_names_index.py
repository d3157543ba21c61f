"""The compiled dnset index and loader (ext/names.pyx, zonefmt/dnset.py) held to a
plain-Python statement of rbldnsd's dnset rules, written here from the rules (not from
the production code):

- `name` lists the name, `*.name` its subdomains only, `.name` both; `!` excludes;
- an exact entry for the queried name wins, even an exclusion; else the longest
  wildcard among the name's proper suffixes (an excluded wildcard stops the search);
- letters compare ASCII case-insensitively; trailing dots of the query do not count;
- an entry listed several times answers each distinct value once, in file order, and
  is excluded if any of its lines excludes it (per kind: exact and wildcard);
- `$` in the TXT is the matched entry, lowercased.

And: the compiled loader's warnings (file:line and words) and entry counts are the
Python line parser's on the same files; a forced collision (every hash equal) never
answers wrongly; snapshots round-trip by mmap and a damaged one is refused.
"""
from __future__ import annotations

import functools
import gzip
import random
import struct

import numpy as np
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rblmirror import _names
from rblmirror.data import dataset as dataset_mod
from rblmirror.data import snapshot as snapshot_mod
from rblmirror.data.dataset import Dataset
from rblmirror.errors import SnapshotError
from rblmirror.data.values import Listing
from rblmirror.data.formats import dnset as dnset_mod
from rblmirror.data.formats.base import Collector, file_lines, load_lines

DEFAULT = ("127.0.0.2", "default for $")
HEADER = f":{DEFAULT[0]}:{DEFAULT[1]}\n"
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                           HealthCheck.too_slow])


# ------------------------------------------------------------------ the reference
def ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


class Reference:
    """The rules above over entries (excluded, form, name, value): form is "exact",
    "wild" (`*.name`) or "dot" (`.name`); value (A, TXT) or None for the default."""

    def __init__(self, entries):
        self.exact: dict[str, list] = {}
        self.wild: dict[str, list] = {}
        for excl, form, name, value in entries:
            n = ascii_lower(name).rstrip(".")
            v = "EXCL" if excl else (value or DEFAULT)
            for d in {"exact": [self.exact], "wild": [self.wild],
                      "dot": [self.exact, self.wild]}[form]:
                d.setdefault(n, []).append(v)

    @staticmethod
    def _final(vals):
        return None if "EXCL" in vals else tuple(dict.fromkeys(vals))

    def match(self, q: str):
        """("listed", ((A, TXT), ...), entry) | ("excluded", entry) | ("none",)."""
        n = ascii_lower(q).rstrip(".")
        hit = None
        if n in self.exact:
            hit = self.exact[n], n
        else:
            labels = n.split(".")
            for i in range(1, len(labels)):
                key = ".".join(labels[i:])
                if key in self.wild:
                    hit = self.wild[key], key
                    break
        if hit is None:
            return ("none",)
        vals = self._final(hit[0])
        return ("excluded", hit[1]) if vals is None else ("listed", vals, hit[1])


def answers(ds: Dataset, q: str):
    """The dataset's answer in the reference's terms."""
    vid, matched = ds.match_name(q)
    if vid >= 0:
        return ("listed", tuple((v.a, v.txt) for v in ds.values(vid)), matched)
    return ("excluded", matched) if matched else ("none",)


def check(ds: Dataset, ref: Reference, queries) -> int:
    listed = 0
    for q in queries:
        want = ref.match(q)
        assert answers(ds, q) == want, q
        got = ds.lookup_name(q)
        if want[0] == "listed":
            listed += 1
            assert got == tuple(Listing(a, None if t is None else t.replace("$", want[2]))
                                for a, t in want[1]), q
        else:
            assert got == (), q
        wire = to_wire(q)
        if wire is not None:  # the C call the DNS fast path makes gives the same
            r, at = ds.names.match_wire(wire)
            vid = ds.match_name(q)[0]
            if want[0] == "none":
                assert r == -1, q
            else:
                assert r == (vid if want[0] == "listed" else -2), q
                assert wire_text(wire[at:]) == want[-1], q
    return listed


def to_wire(q: str) -> bytes | None:
    n = q.rstrip(".")
    labels = [x.encode("utf-8", "surrogateescape") for x in n.split(".")]
    if not n or any(not 0 < len(x) <= 63 for x in labels) or \
            sum(len(x) + 1 for x in labels) > 255:
        return None
    return b"".join(bytes([len(x)]) + x for x in labels)


def wire_text(w: bytes) -> str:
    out, i = [], 0
    while i < len(w):
        out.append(w[i + 1:i + 1 + w[i]])
        i += 1 + w[i]
    return ascii_lower(b".".join(out).decode("utf-8", "surrogateescape"))


def queries_for(names, rnd: random.Random) -> list[str]:
    qs = ["zz.unrelated", "", ".", "com", "a..b", "x" * 70 + ".a"]
    for n in names:
        qs += [n, "x." + n, "y.x." + n, n.upper(), n + ".", n + "..", "." + n, "q..x." + n]
        if "." in n:
            qs.append(n.split(".", 1)[1])
        qs.append("".join(c.upper() if rnd.random() < 0.5 else c for c in n))
    return qs


# ------------------------------------------------------------------ writing dumps
def entry_line(excl, form, name, value, style) -> str:
    pre = "!" if excl else ""
    form_pre = {"exact": "", "wild": "*.", "dot": "."}[form]
    subject = f"{pre}{form_pre}{name}{'.' if style == 1 else ''}"
    if value is None:
        tail = ["", " # a comment", "\t; another", "#x"][style % 4]
    else:
        a, txt = value
        sep = [" ", "\t", "", "  "][style % 4]
        tail = f"{sep}:{a.split('.')[-1]}:{txt or ''}"
    return [" ", "", "\t"][style % 3] + subject + tail + [" ", "", "\t "][style % 2]


def load_compiled(path, collide=False, monkeypatch=None) -> Dataset:
    if collide:
        monkeypatch.setattr(dataset_mod, "NameBuilder",
                            functools.partial(_names.NameBuilder, collide=True))
    try:
        return Dataset.from_file(path, "dnset")
    finally:
        if collide:
            monkeypatch.undo()


def load_python(path) -> Dataset:
    """The Python line parser (DNSet.line, base.file_lines) on the same file."""
    c = Collector()
    load_lines(c, dnset_mod.DNSet(), file_lines([str(path)]))
    return Dataset._from_collector("dnset", (str(path),), c, "set")


# ------------------------------------------------------------------ strategies
LABEL = st.one_of(st.sampled_from(["a", "b", "c", "ab", "mail", "x1", "A", "Mail", "B"]),
                  st.text(alphabet="abAB1-_", min_size=1, max_size=4))
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
VALUE = st.one_of(st.none(), st.tuples(st.sampled_from(["127.0.0.3", "127.0.0.4",
                                                        "127.0.0.5"]),
                                       st.sampled_from(["one $", "two", None])))
ENTRY = st.tuples(st.integers(0, 9).map(lambda x: x < 2),  # excluded: one in five
                  st.sampled_from(["exact", "wild", "dot"]), NAME, VALUE,
                  st.integers(0, 11))


@settings(SETTINGS, max_examples=250)
@given(entries=st.lists(ENTRY, max_size=40), seed=st.integers(0, 2**32))
def test_compiled_index_and_loader_follow_the_rules(tmp_path, monkeypatch, entries, seed):
    rnd = random.Random(seed)
    path = tmp_path / "z.dnset"
    path.write_text(HEADER + "".join(entry_line(*e) + "\n" for e in entries))
    ref = Reference([e[:4] for e in entries])
    names = [e[2] for e in entries]
    qs = queries_for(names, rnd) + ["".join(rnd.choice("abc.") for _ in range(6))
                                    for _ in range(10)]
    ds = load_compiled(path)
    assert ds.entries == len(entries) and not ds.warnings
    check(ds, ref, qs)
    check(load_compiled(path, collide=True, monkeypatch=monkeypatch), ref, qs)
    check(load_python(path), ref, qs)


# ------------------------------------------------------------------ odd lines
ODD = st.sampled_from([
    "$TTL 300", "$TTL x", "$1 var one", "$SOA 60 ns.x. hm.x. 1 1h 1h 1w 5m", "#$TTL 60",
    ";$TTL 20", ":$2 two", "$NS 60 ns1.x.", "$BOGUS", ":3:new default $", ":bad", ":",
    ":127.0.0.9", "::5", "# comment", ";c", "", "  ", "\t", "a..b", "-" * 64 + ".x",
    "x." + "y" * 63, ".", "*.", "!", "! ", "!.", "*.*.x", "..a", "*..a", "a" * 254,
    ".".join(["abcdefgh"] * 28), ".".join(["abcdefg"] * 32), "ÀB.com", "é.Test",
    "name :0:zero", "name :5 # c", "name :127.5:short a", "name :10.1.2:three",
    "name txt words $", "name ; c", "name#c", "name :6:", "name :256:x", "name\t:7:t",
    "name:8:glued", "!name :3:ignored", "! name", "NAME", "name.", "name..", "*.name :4:w $",
    ".name :5:d", "name :3:" + "x" * 300, "name :9:$$ and $", "name\r", "name :4:x\r",
    "x.name\r\n", "a b c", "\x00.nul", "tab\tname", "MiXeD.CaSe :3:m",
])


@settings(SETTINGS, max_examples=200)
@given(lines=st.lists(ODD, max_size=30), crlf=st.booleans(), trailing_nl=st.booleans())
def test_compiled_loader_warns_and_loads_as_the_python_parser(tmp_path, lines, crlf,
                                                              trailing_nl):
    text = ("\r\n" if crlf else "\n").join(lines) + ("\n" if trailing_nl else "")
    path = tmp_path / "odd.dnset"
    path.write_bytes(text.encode("utf-8") + b"\nbad\xff.name :3:raw \xfe\n")
    fast, slow = load_compiled(path), load_python(path)
    assert fast.warnings == slow.warnings
    assert fast.entries == slow.entries
    assert fast.meta == slow.meta
    qs = queries_for(["name", "x.name", "mixed.case", "àb.com", "ÀB.com", "name\r",
                      "bad\udcff.name", "\x00.nul", "a" * 254], random.Random(1))
    for q in qs:
        assert fast.lookup_name(q) == slow.lookup_name(q), q
        assert fast.match_name(q)[1] == slow.match_name(q)[1], q


def test_bad_lines_are_warned_with_file_and_line(tmp_path):
    p = tmp_path / "w.dnset"
    p.write_text(":3:d $\nok.example\n\na..b\nname :0:zero\n*.\n$TTL x\n" + "x" * 254 + "\n"
                 "fine :4:f\nlong :4:" + "t" * 300 + "\n")
    ds = Dataset.from_file(p, "dnset")
    assert [(w.line, w.message) for w in ds.warnings] == [
        (4, "invalid domain name"), (5, "invalid A RR"), (6, "invalid domain name"),
        (7, "invalid or unrecognized special entry"), (8, "invalid domain name"),
        (10, "TXT RR truncated to 255 bytes")]
    assert all(w.file == str(p) for w in ds.warnings)
    assert str(ds.warnings[0]) == f"{p}:4: invalid domain name"
    assert ds.warnings == load_python(p).warnings
    assert ds.entries == 3
    assert ds.lookup("OK.Example") == (Listing("127.0.0.3", "d ok.example"),)
    assert ds.values(ds.match_name("long")[0])[0].txt == "t" * 255  # kept: 255 bytes
    assert ds.lookup("long")[0].txt == "t" * 254  # emitted: 254 (rbldnsd)


# ------------------------------------------------------------------ reading
def _random_dump(rnd: random.Random, n: int) -> tuple[str, list, list[str]]:
    alpha = "abcdefghij0123456789-"
    entries, names = [], []
    for _ in range(n):
        name = ".".join("".join(rnd.choices(alpha, k=rnd.randint(1, 6)))
                        for _ in range(rnd.randint(1, 3))) + rnd.choice([".com", ".org", ""])
        r = rnd.random()
        form = "dot" if r < 0.1 else "wild" if r < 0.15 else "exact"
        excl = rnd.random() < 0.02
        value = ("127.0.0.4", "own $") if rnd.random() < 0.02 else None
        entries.append((excl, form, name, value))
        names.append(name)
    text = HEADER + "".join(entry_line(*e, rnd.randrange(12)) + "\n" for e in entries)
    return text, entries, names


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    rnd = random.Random(77)
    text, entries, names = _random_dump(rnd, 20000)
    d = tmp_path_factory.mktemp("names")
    p = d / "big.dnset"
    p.write_text(text)
    qs = queries_for(rnd.sample(names, 3000), rnd)
    return p, Reference(entries), qs


def test_a_larger_dump_against_the_reference(dump):
    p, ref, qs = dump
    ds = Dataset.from_file(p, "dnset")
    assert ds.entries == 20000
    assert check(ds, ref, qs) > 2000


def test_gzip_and_any_chunk_size_give_the_same_index(dump, tmp_path, monkeypatch):
    p, ref, qs = dump
    gz = tmp_path / "big.dnset.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    want = Dataset.from_file(p, "dnset")
    for chunk in (1, 7, 100, 4096):
        monkeypatch.setattr(dnset_mod, "CHUNK", chunk)
        for path in (p, gz):
            ds = Dataset.from_file(path, "dnset")
            assert ds.entries == want.entries and ds.warnings == want.warnings
            assert [a.tobytes() for a in ds.names.arrays()] == \
                [a.tobytes() for a in want.names.arrays()], (chunk, path)
    monkeypatch.undo()
    check(Dataset.from_file(gz, "dnset"), ref, qs[:3000])


def test_a_line_longer_than_a_chunk_and_no_final_newline(tmp_path, monkeypatch):
    monkeypatch.setattr(dnset_mod, "CHUNK", 16)
    p = tmp_path / "l.dnset"
    long_txt = "reason " * 30
    p.write_text(f"a.example :3:{long_txt}\n\n\nb.example :4:$")
    ds = Dataset.from_file(p, "dnset")
    assert ds.lookup("a.example") == (Listing("127.0.0.3", long_txt.rstrip()),)
    assert ds.lookup("b.example") == (Listing("127.0.0.4", "b.example"),)
    assert not ds.warnings and ds.entries == 2


def test_several_files_have_their_own_defaults(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(":3:from a $\none.test\n")
    b.write_text("two.test\n:4:from b\nthree.test\n")
    ds = Dataset.from_files([a, b], "dnset")
    assert ds.lookup("one.test") == (Listing("127.0.0.3", "from a one.test"),)
    assert ds.lookup("two.test") == (Listing("127.0.0.2", None),)
    assert ds.lookup("three.test") == (Listing("127.0.0.4", "from b"),)


def test_unreadable_file(tmp_path):
    from rblmirror.errors import ZoneFileError
    with pytest.raises(ZoneFileError, match="cannot read"):
        Dataset.from_file(tmp_path / "absent", "dnset")
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b" + b"junk" * 10)
    with pytest.raises(ZoneFileError, match="cannot read"):
        Dataset.from_file(bad, "dnset")


# ------------------------------------------------------------------ duplicates
def test_duplicates_merge_as_the_set_rule_says(tmp_path):
    lines = ["dup.test :3:a", "dup.test :4:b", "dup.test :3:a",        # both values, once
             "ex.test :3:a", "!ex.test",                                # an exclusion wins
             "pair.test :3:exact", "*.pair.test :4:wild",              # two kinds, two values
             ".both.test :5:b", "both.test :5:b",                       # one record, one value
             ".mix.test :3:m", "!*.mix.test",                           # exact listed, wild not
             "*.w.test :6:w", "*.w.test :7:w2"]
    p = tmp_path / "d.dnset"
    p.write_text("\n".join(lines) + "\n")
    ds = Dataset.from_file(p, "dnset")
    L = Listing
    assert ds.lookup("dup.test") == (L("127.0.0.3", "a"), L("127.0.0.4", "b"))
    assert ds.lookup("ex.test") == ()
    assert ds.lookup("pair.test") == (L("127.0.0.3", "exact"),)
    assert ds.lookup("x.pair.test") == (L("127.0.0.4", "wild"),)
    assert ds.lookup("both.test") == ds.lookup("x.both.test") == (L("127.0.0.5", "b"),)
    assert ds.lookup("mix.test") == (L("127.0.0.3", "m"),)
    assert ds.lookup("a.mix.test") == () and ds.match_name("a.mix.test") == (-1, "mix.test")
    assert ds.lookup("q.w.test") == (L("127.0.0.6", "w"), L("127.0.0.7", "w2"))
    assert len(ds.names) == 6
    assert ds.names.arrays()[3].size == 4  # pairs: pair.test (3 / 4), mix.test (3 / -1)
    check(ds, Reference([(x.startswith("!"), "wild" if "*." in x else
                          "dot" if x.lstrip("!").startswith(".") else "exact",
                          x.lstrip("!").lstrip("*").lstrip(".").split(" ")[0],
                          (f"127.0.0.{x.split(':')[1]}", x.split(":")[2]) if ":" in x else None)
                         for x in lines]),
          queries_for(["dup.test", "ex.test", "pair.test", "both.test", "mix.test",
                       "w.test"], random.Random(3)))


@pytest.mark.parametrize("copies", [2, 50])
def test_duplicate_records_kept_or_dropped_answer_the_same(tmp_path, copies):
    """A few merged duplicates stay in the blob (marked, no slot points at them); many
    are dropped and the table built again. Both answer, save and load alike."""
    rnd = random.Random(copies)
    names = [f"n{i}.test" for i in range(200)]
    lines = [n for n in names for _ in range(copies if n.endswith("77.test") else 1)]
    rnd.shuffle(lines)
    p = tmp_path / "d.dnset"
    p.write_text("\n".join(lines) + "\n")
    ds = Dataset.from_file(p, "dnset")
    assert len(ds.names) == 200 and ds.entries == len(lines)
    blob = ds.names.arrays()[1]
    tight = 1 + sum(len(n) + 1 + 5 for n in names)
    assert (blob.size > tight) == (copies == 2)
    ds.save(tmp_path / "d.snap")
    got = Dataset.load(tmp_path / "d.snap")
    for q in queries_for(names, rnd):
        want = (Listing("127.0.0.2"),) if q.lower().rstrip(".") in names else ()
        assert got.lookup(q) == ds.lookup(q) == want, q


# ------------------------------------------------------------------ collisions
def test_a_forced_collision_never_answers_wrongly():
    """Every hash equal (one probe chain for all names, every tag the same): only the
    stored bytes tell the names apart."""
    rnd = random.Random(5)
    words = ["a", "aa", "b", "ab", "ba", "a-", "0"]
    names = sorted({".".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
                    for _ in range(300)})
    entries = [(i % 11 == 0, ["exact", "wild", "dot"][i % 3], n,
                (f"127.0.0.{3 + i % 5}", f"v{i % 5} $")) for i, n in enumerate(names)]
    for collide in (True, False):
        b = _names.NameBuilder(collide=collide)
        values: list[tuple] = []
        for excl, form, n, v in entries:
            if v not in values:
                values.append(v)
            vid = -2 if excl else values.index(v)
            for wild in {"exact": [False], "wild": [True], "dot": [False, True]}[form]:
                b.add(wild, n, vid)
        ix = b.finish(lambda t: pytest.fail("no value sets here"))
        assert ix.arrays()[0][2] == (0 if collide else 2**64 - 1)  # the hash mask
        ref = Reference(entries)
        for q in queries_for(names, rnd) + ["aaa", "a.a.a.a.a", "b.b"]:
            want = ref.match(q)
            vid, matched = ix.match(q)
            if want[0] == "listed":
                assert (values[vid], matched) == (want[1][0], want[2]), q
            else:
                assert vid == -1 and matched == (want[1] if want[0] == "excluded" else ""), q
        # the same through a snapshot's arrays (validated)
        ix2 = _names.NameIndex(*ix.arrays(), nvalues=len(values))
        assert [ix2.match(q) for q in names] == [ix.match(q) for q in names]


# ------------------------------------------------------------------ combined
def test_combined_dnset_sections_use_the_compiled_index(tmp_path):
    p = tmp_path / "c.zone"
    p.write_text("$DATASET dnset:dom dom @\n:3:dom $\nbad.example\n*.wild.example :4:w $\n"
                 "bad..name\n$DATASET ip4set ip @\n1.2.3.4\n")
    ds = Dataset.from_file(p, "combined")
    assert ds.lookup("1.2.3.4") == (Listing("127.0.0.2"),)
    subs = {sz: ch for szs, ch in ds.children for sz in szs}
    dom = subs["dom"]
    assert isinstance(dom.names, _names.NameIndex)
    assert len(dom.names) == 2
    assert dom.lookup("BAD.example") == (Listing("127.0.0.3", "dom bad.example"),)
    assert dom.lookup("a.wild.example") == (Listing("127.0.0.4", "w wild.example"),)
    assert [(w.line, w.message) for w in ds.warnings] == [(5, "invalid domain name")]


# ------------------------------------------------------------------ snapshots
@pytest.fixture(scope="module")
def snap(dump, tmp_path_factory):
    p, ref, qs = dump
    ds = Dataset.from_file(p, "dnset")
    path = tmp_path_factory.mktemp("snap") / "names.snap"
    ds.save(path)
    return ds, path, ref, qs


def test_snapshot_round_trip_maps_the_name_index(snap):
    ds, path, ref, qs = snap
    got = Dataset.load(path)
    for a in got.names.arrays():
        assert not a.flags.owndata and not a.flags.writeable  # views of the mapping
    assert [a.tobytes() for a in got.names.arrays()] == [a.tobytes() for a in ds.names.arrays()]
    assert len(got.names) == len(ds.names) and got.entries == ds.entries
    check(got, ref, qs)
    assert b'"exact"' not in path.read_bytes()[:200_000]  # the header carries no names


def _layout(data: bytes):
    (hlen,) = struct.unpack_from("<I", data, 24)
    pos = 32 + 16 * len(snapshot_mod._DTYPES) + hlen
    pos += (-pos) % 16
    out = []
    for i, t in enumerate(snapshot_mod._DTYPES):
        (n,) = struct.unpack_from("<Q", data, 32 + 16 * i + 8)
        out.append((pos, n))
        pos += n * np.dtype(t).itemsize
        pos += (-pos) % 16
    return out


def _reseal(b: bytearray) -> bytes:
    struct.pack_into("<Q", b, 8, xxhash.xxh3_64_intdigest(bytes(b[16:])))
    return bytes(b)


def test_a_damaged_name_index_is_refused(snap, tmp_path):
    ds, path, _, _ = snap
    data = path.read_bytes()
    lay = _layout(data)
    nip = len(snapshot_mod._IP_DTYPES)
    (params_at, _), (blob_at, blob_n), (slots_at, slots_n), _ = lay[nip:]
    # any flipped byte of the name arrays: the checksum
    for at in (params_at + 8, blob_at + blob_n // 2, slots_at + 4 * (slots_n // 3)):
        b = bytearray(data)
        b[at] ^= 0x10
        bad = tmp_path / f"f{at}.snap"
        bad.write_bytes(b)
        with pytest.raises(SnapshotError, match="checksum mismatch"):
            Dataset.load(bad)
    # behind a matching checksum (a buggy or hostile writer): the structure
    slots = np.frombuffer(data, np.uint32, slots_n, slots_at)
    used = int(np.flatnonzero(slots)[0])
    off = int(slots[used]) & ((1 << (blob_n - 1).bit_length()) - 1)
    L = data[blob_at + off]

    def case(name, what, edit):
        b = bytearray(data)
        edit(b)
        bad = tmp_path / f"{name}.snap"
        bad.write_bytes(_reseal(b))
        with pytest.raises(SnapshotError) as ei:
            Dataset.load(bad)
        assert str(bad) in str(ei.value) and what in str(ei.value), str(ei.value)

    case("vid", "value id outside",
         lambda b: struct.pack_into("<i", b, blob_at + off + 1 + L, 10**6))
    case("len0", "malformed record", lambda b: b.__setitem__(blob_at + off, 0))
    case("len", "malformed record", lambda b: b.__setitem__(blob_at + off, 255))
    case("slot", "points outside",  # a tag and offset 0
         lambda b: struct.pack_into("<I", b, slots_at + 4 * used, 1 << 31))
    case("moved", "do not point at the records", lambda b: struct.pack_into(
        "<I", b, slots_at + 4 * used, int(slots[used]) + 1))
    case("count", "records, the parameters say",
         lambda b: struct.pack_into("<Q", b, params_at + 8, len(ds.names) + 1))
    case("layout", "unknown parameter block", lambda b: struct.pack_into("<Q", b, params_at, 7))
    case("mask", "bad hash mask", lambda b: struct.pack_into("<Q", b, params_at + 16, 5))
    mid = struct.unpack_from("<Q", data, params_at + 24)[0]
    assert 1 < mid < blob_n  # where the second walk of the check starts
    case("mid", "malformed record", lambda b: struct.pack_into("<Q", b, params_at + 24, mid + 1))
    case("mid2", "midpoint is outside",
         lambda b: struct.pack_into("<Q", b, params_at + 24, blob_n))


def test_format_2_snapshot_is_refused_clearly(snap, tmp_path):
    _, path, _, _ = snap
    b = bytearray(path.read_bytes())
    b[:8] = b"RBLMSNP2"
    old = tmp_path / "v2.snap"
    old.write_bytes(b)
    with pytest.raises(SnapshotError, match="snapshot format 2 is older than this version"):
        Dataset.load(old)
    assert not snapshot_mod.snapshot_format_current(old)  # fetch compiles it again


def test_an_ip_dataset_snapshot_has_an_empty_name_index(tmp_path):
    p = tmp_path / "a.zone"
    p.write_text("192.0.2.1\n")
    ds = Dataset.from_file(p, "ip4set")
    ds.save(tmp_path / "a.snap")
    got = Dataset.load(tmp_path / "a.snap")
    assert len(got.names) == 0 and got.match_name("192.0.2.1") == (-1, "")
    assert got.lookup("192.0.2.1") == (Listing("127.0.0.2"),)


def test_the_c_table_is_reachable_for_other_modules(snap):
    ds, _, _, _ = snap
    cap = ds.names.table_capsule()
    assert type(cap).__name__ == "PyCapsule"
    assert "rblmirror._names.NameTable" in repr(cap)


def test_the_check_of_a_big_index_runs_in_two_halves():
    """From 4 MiB of names the open-time check walks the two halves of the blob on two
    threads (from the midpoint in the parameters): damage in either half is found."""
    b = _names.NameBuilder()
    for i in range(300_000):
        b.add(i % 3 == 0, f"host{i}.example{i % 97}.test", i % 5)
    ix = b.finish(None)
    params, blob, slots, pairs = ix.arrays()
    params, blob, slots, pairs = params.copy(), blob.copy(), slots.copy(), pairs.copy()
    assert blob.size >= 1 << 22 and 1 < params[3] < blob.size
    _names.NameIndex(params, blob, slots, pairs, nvalues=5)  # whole: accepted
    with pytest.raises(ValueError, match="value id outside"):
        _names.NameIndex(params, blob, slots, pairs, nvalues=4)
    mask = (1 << (blob.size - 1).bit_length()) - 1
    offs = slots & mask
    for at in (blob.size // 4, blob.size * 3 // 4):  # a record in each half
        off = int(offs[np.flatnonzero(offs >= at)[0]])
        vat = off + 1 + int(blob[off])  # its value
        bad = blob.copy()
        bad[vat:vat + 4] = np.frombuffer(struct.pack("<i", 77), np.uint8)
        with pytest.raises(ValueError, match="value id outside"):
            _names.NameIndex(params, bad, slots, pairs, nvalues=5)
        bad = blob.copy()
        bad[off] = 0
        with pytest.raises(ValueError, match="malformed record"):
            _names.NameIndex(params, bad, slots, pairs, nvalues=5)
    assert [_names.NameIndex(params, blob, slots, pairs, nvalues=5).match(f"x.host{i}.example"
                                                                          f"{i % 97}.test")
            for i in (0, 1)] == [(0, "host0.example0.test"), (-1, "")]
