"""Snapshots: Dataset.save / Dataset.load round trips, mmap, corruption, atomic writes."""
from __future__ import annotations

import ipaddress
import os
import random
import struct

import numpy as np
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rblmirror.data import snapshot as snapshot_mod
from rblmirror.data.dataset import Dataset
from rblmirror.errors import SnapshotError

SEED = 4242


def _ip4set_text(rnd: random.Random) -> str:
    lines = ["$SOA 3600 snap.example. hm.snap.example. 7 3600 600 86400 60", "$TTL 300",
             ":127.0.0.2:Listed: $ (see http://example.test/?$)", "this is not an address"]
    for _ in range(3000):
        v = rnd.randrange(1 << 32)
        r = rnd.random()
        if r < 0.6:
            lines.append(str(ipaddress.IPv4Address(v)))
        elif r < 0.7:
            lines.append("!" + str(ipaddress.IPv4Address(v)))
        elif r < 0.85:
            bits = rnd.randrange(16, 31)
            net = ipaddress.IPv4Network((v >> (32 - bits) << (32 - bits), bits))
            lines.append(f"{net} :127.0.0.{rnd.randrange(3, 9)}:net {rnd.randrange(100)} $")
        elif r < 0.95:
            lines.append(f"{ipaddress.IPv4Address(v)} :4:four")
        else:
            lines.append(f":127.0.0.{rnd.randrange(2, 12)}:default {rnd.randrange(5)}")
    lines.append("127.0.0.2")
    return "\n".join(lines) + "\n"


def _ip6trie_text(rnd: random.Random) -> str:
    lines = []
    for _ in range(500):
        bits = rnd.randrange(32, 129)
        v = (0x20010DB8 << 96) | rnd.randrange(1 << 96)
        net = ipaddress.IPv6Network((v >> (128 - bits) << (128 - bits), bits))
        lines.append(("!" if rnd.random() < 0.2 else "") + f"{net} :5:six $")
    return "\n".join(lines) + "\n"


def _dnset_text(rnd: random.Random) -> str:
    lines = [":127.0.0.2:name $ listed"]
    for i in range(400):
        name = f"host{i}.example{rnd.randrange(20)}.test"
        lines.append(rnd.choice(["", "*.", "."]) + name + rnd.choice(["", " :3:three"]))
        if rnd.random() < 0.1:
            lines.append("!" + name)
    lines.append("bad..name")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("snap")
    rnd = random.Random(SEED)
    out = {}
    for fmt, text in (("ip4set", _ip4set_text(rnd)), ("ip6trie", _ip6trie_text(rnd)),
                      ("dnset", _dnset_text(rnd))):
        p = d / f"{fmt}.zone"
        p.write_text(text)
        out[fmt] = Dataset.from_file(p, fmt)
    return d, out


def _probes(fmt: str, ds: Dataset, rnd: random.Random) -> list:
    if fmt == "dnset":
        names = [n for n, _, _ in ds.names.names()]
        out = []
        for n in names[:800]:
            out += [n, "x." + n, "a.b." + n, n.upper()]
        return out + [f"nope{i}.test" for i in range(50)]
    if fmt == "ip6trie":
        starts6, _ = ds.index.segments6()
        ips: list[int] = []
        for s in starts6:
            ips += [s, max(s - 1, 0), s + 1]
        ips += [(0x20010DB8 << 96) | rnd.randrange(1 << 96) for _ in range(2000)]
        ips += [0xFFFF7F000002, 0xFFFF7F000001]  # v4-mapped fall back to IPv4
        return [str(ipaddress.IPv6Address(x)) for x in ips]
    starts4, _ = ds.index.segments4()
    ips = []
    for s in starts4.tolist():
        ips += [s, max(s - 1, 0), min(s + 1, (1 << 32) - 1)]
    ips += [rnd.randrange(1 << 32) for _ in range(3000)]
    return [str(ipaddress.IPv4Address(x)) for x in ips] + ["::ffff:127.0.0.2", "2001:db8::1"]


@pytest.mark.parametrize("fmt", ["ip4set", "ip6trie", "dnset"])
def test_round_trip_same_answers_and_metadata(datasets, fmt):
    d, dss = datasets
    ds = dss[fmt]
    path = d / f"{fmt}.snap"
    ds.save(path)
    got = Dataset.load(path)
    assert got.format == ds.format and got.files == ds.files
    assert got.entries == ds.entries and got.entries > 0
    assert got.warnings == ds.warnings and len(ds.warnings) >= (0 if fmt == "ip6trie" else 1)
    assert got.meta == ds.meta
    assert got.value_count == ds.value_count
    probes = _probes(fmt, ds, random.Random(SEED + 1))
    assert len(probes) >= 1000
    listed = 0
    for q in probes:
        want = ds.lookup(q)
        assert got.lookup(q) == want, q
        listed += bool(want)
    assert listed > 50  # the probes reach listed and unlisted addresses alike
    if fmt == "ip4set":
        arr = np.array([int(ipaddress.IPv4Address(q)) for q in probes if ":" not in q], np.uint32)
        assert (got.lookup_many(arr) == ds.lookup_many(arr)).all()


def test_loaded_arrays_are_mapped_not_copied(datasets):
    d, dss = datasets
    path = d / "mapped.snap"
    dss["ip4set"].save(path)
    ds = Dataset.load(path)
    for arr in ds.index.arrays():
        assert not arr.flags.owndata
        assert not arr.flags.writeable  # read-only mapping
    maps = open("/proc/self/maps").read()
    assert str(path.resolve()) in maps
    # the file really backs the arrays: its size covers them, and nothing was parsed
    assert path.stat().st_size >= sum(a.nbytes for a in ds.index.arrays())


def _snap_bytes(datasets) -> bytes:
    d, dss = datasets
    path = d / "orig.snap"
    dss["ip4set"].save(path)
    return path.read_bytes()


def _expect_error(path, data: bytes, what: str):
    path.write_bytes(data)
    with pytest.raises(SnapshotError) as ei:
        Dataset.load(path)
    msg = str(ei.value)
    assert str(path) in msg, msg
    assert what in msg, msg


# the format-2 layout (rblmirror/data/snapshot.py): 32 fixed bytes, the 16-byte entries of the
# array table, then the JSON header
HLEN_AT, TABLE_AT = 24, 32
HEADER_AT = TABLE_AT + 16 * len(snapshot_mod._DTYPES)


def reseal(data: bytearray) -> bytes:
    """The file with its length field and checksum made right again, so that a test
    reaches the structural checks behind the checksum."""
    struct.pack_into("<Q", data, 16, len(data))
    struct.pack_into("<Q", data, 8, xxhash.xxh3_64_intdigest(bytes(data[16:])))
    return bytes(data)


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 11, 30, 100, "header", "half", -1])
def test_truncated_snapshot_is_a_snapshot_error(datasets, tmp_path, cut):
    data = _snap_bytes(datasets)
    (hlen,) = struct.unpack_from("<I", data, HLEN_AT)
    n = {"header": HEADER_AT + hlen // 2, "half": len(data) // 2, -1: len(data) - 1}.get(cut, cut)
    path = tmp_path / "t.snap"
    path.write_bytes(data[:n])
    with pytest.raises(SnapshotError) as ei:
        Dataset.load(path)
    assert str(path) in str(ei.value)
    if n >= 32:
        assert "truncated" in str(ei.value)


def test_wrong_magic(datasets, tmp_path):
    data = _snap_bytes(datasets)
    _expect_error(tmp_path / "m.snap", b"NOTASNAP" + data[8:], "not an rblmirror snapshot")
    _expect_error(tmp_path / "z.snap", b"\0" * 4096, "not an rblmirror snapshot")
    _expect_error(tmp_path / "f.snap", b"RBLMSNP7" + data[8:], "unknown snapshot format")


def test_format_1_is_refused_clearly(datasets, tmp_path):
    """A snapshot of the format before checksums (RBLMSNP1) is not read."""
    data = _snap_bytes(datasets)
    _expect_error(tmp_path / "v1.snap", b"RBLMSNP1" + data[8:],
                  "snapshot format 1 has no checksum: re-fetch or recompile")


def test_format_3_is_refused_clearly(datasets, tmp_path):
    """A snapshot of the format before the compact IPv6 index (RBLMSNP3: 20-byte IPv6
    segments) is not read as this one (its arrays would be misread)."""
    data = _snap_bytes(datasets)
    _expect_error(tmp_path / "v3.snap", b"RBLMSNP3" + data[8:],
                  "snapshot format 3 is older than this version (the IPv6 index has a new "
                  "layout): re-fetch or recompile")


def test_missing_file(tmp_path):
    with pytest.raises(SnapshotError, match="cannot open snapshot"):
        Dataset.load(tmp_path / "absent.snap")


def test_corrupted_fields_fail_the_checksum(datasets, tmp_path):
    data = bytearray(_snap_bytes(datasets))
    (hlen,) = struct.unpack_from("<I", data, HLEN_AT)
    for i, (at, fmt, val) in enumerate([
            (HLEN_AT, "<I", hlen + 1000),  # header length off
            (TABLE_AT + 8, "<Q", 1 << 40),  # absurd array length
            (TABLE_AT + 16 + 8, "<Q", 3),  # v4 starts and vals no longer match
            (8, "<Q", 12345)]):  # the checksum itself
        bad = bytearray(data)
        struct.pack_into(fmt, bad, at, val)
        _expect_error(tmp_path / f"{i}.snap", bytes(bad), "checksum mismatch")
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 16, len(data) + 1)  # the recorded file length
    _expect_error(tmp_path / "l.snap", bytes(bad), "the header records")
    _expect_error(tmp_path / "t.snap", bytes(data) + b"\0", "trailing bytes")


def test_structure_is_checked_behind_the_checksum(datasets, tmp_path):
    """A file whose checksum matches (written by a buggy or hostile writer) is still
    refused when its layout or contents do not hold together."""
    data = bytearray(_snap_bytes(datasets))
    (hlen,) = struct.unpack_from("<I", data, HLEN_AT)
    _, dss = datasets
    assert Dataset.load(_write(tmp_path / "ok.snap", reseal(bytearray(data)))).entries == \
        dss["ip4set"].entries

    def case(name, what, edit):
        bad = bytearray(data)
        edit(bad)
        _expect_error(tmp_path / f"{name}.snap", reseal(bad), what)

    case("hdr", "corrupt", lambda b: b.__setitem__(slice(HEADER_AT, HEADER_AT + 1), b"["))
    case("hlen", "snapshot", lambda b: struct.pack_into("<I", b, HLEN_AT, hlen + 1000))
    case("count", "runs past the end", lambda b: struct.pack_into("<Q", b, TABLE_AT + 8, 1 << 40))
    case("narr", "arrays, expected", lambda b: struct.pack_into("<I", b, 28, 7))
    case("dtype", "dtype",
         lambda b: b.__setitem__(slice(TABLE_AT, TABLE_AT + 8), b"<f4".ljust(8, b"\0")))
    case("mism", "corrupt", lambda b: struct.pack_into("<Q", b, TABLE_AT + 16 + 8, 3))

    def version(b):
        i = bytes(b).index(b'"version":2')
        b[i:i + 11] = b'"version":9'
    case("ver", "version", version)

    def value_id(b):  # a segment value beyond the value table
        off, n, _ = _layout(bytes(b))[1]
        struct.pack_into("<i", b, off + 4 * (n - 1), 10**6)
    case("vid", "outside the", value_id)

    def bucket(b):  # the bucket table no longer fits the segments
        off, n, _ = _layout(bytes(b))[2]
        struct.pack_into("<I", b, off + 4 * (n - 1), 0xFFFFFFF0)
    case("bucket", "bucket table", bucket)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _layout(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, count, itemsize) of each array, computed as the reader does."""
    (hlen,) = struct.unpack_from("<I", data, HLEN_AT)
    pos = HEADER_AT + hlen
    pos += (-pos) % 16
    out = []
    for i, t in enumerate(snapshot_mod._DTYPES):
        (n,) = struct.unpack_from("<Q", data, TABLE_AT + 16 * i + 8)
        size = n * np.dtype(t).itemsize
        out.append((pos, n, np.dtype(t).itemsize))
        pos += size + (-size) % 16
    assert pos == len(data)
    return out


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10**9), val=st.integers(0, 255), n=st.integers(1, 8))
def test_random_corruption_is_always_refused(datasets, tmp_path, pos, val, n):
    """Overwriting bytes anywhere gives a SnapshotError: the checksum covers every byte
    (only a write that leaves the file as it was loads)."""
    orig = _snap_bytes(datasets)
    data = bytearray(orig)
    rnd = random.Random(pos)
    for _ in range(n):
        data[rnd.randrange(len(data))] = val
    path = tmp_path / "r.snap"
    path.write_bytes(bytes(data))
    if bytes(data) == orig:
        assert Dataset.load(path).entries > 0
        return
    with pytest.raises(SnapshotError):
        Dataset.load(path)


def test_save_is_atomic(datasets, tmp_path, monkeypatch):
    _, dss = datasets
    path = tmp_path / "a.snap"
    seen = []
    real_replace = os.replace

    def checking_replace(src, dst):
        # at the moment of the swap the final name does not exist yet (first save) or
        # still holds the previous complete snapshot; the temp file is complete
        seen.append((os.path.exists(dst), Dataset.load(src).entries))
        if os.path.exists(dst):
            assert Dataset.load(dst).entries == dss["ip6trie"].entries
        return real_replace(src, dst)

    monkeypatch.setattr(snapshot_mod.os, "replace", checking_replace)
    dss["ip6trie"].save(path)
    dss["ip4set"].save(path)
    assert seen == [(False, dss["ip6trie"].entries), (True, dss["ip4set"].entries)]
    assert Dataset.load(path).entries == dss["ip4set"].entries
    assert os.listdir(tmp_path) == ["a.snap"]  # no temp file left behind


def test_failed_save_keeps_old_snapshot_and_no_temp(datasets, tmp_path, monkeypatch):
    _, dss = datasets
    path = tmp_path / "k.snap"
    dss["ip6trie"].save(path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot_mod.os, "fsync", boom)
    with pytest.raises(OSError):
        dss["ip4set"].save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["k.snap"]
