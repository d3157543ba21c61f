"""Snapshots: Dataset.save / Dataset.load round trips, mmap, corruption, atomic writes."""
from __future__ import annotations

import ipaddress
import os
import random
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rblmirror import index as index_mod
from rblmirror.dataset import Dataset
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
        names = list(ds._exact) + list(ds._wild)
        out = []
        for n in names[:800]:
            out += [n, "x." + n, "a.b." + n, n.upper()]
        return out + [f"nope{i}.test" for i in range(50)]
    if fmt == "ip6trie":
        starts, _ = ds.index.segments6()
        out = []
        for s in starts:
            out += [s, max(s - 1, 0), s + 1]
        out += [(0x20010DB8 << 96) | rnd.randrange(1 << 96) for _ in range(2000)]
        out += [0xFFFF7F000002, 0xFFFF7F000001]  # v4-mapped fall back to IPv4
        return [str(ipaddress.IPv6Address(x)) for x in out]
    starts, _ = ds.index.segments4()
    out = []
    for s in starts.tolist():
        out += [s, max(s - 1, 0), min(s + 1, (1 << 32) - 1)]
    out += [rnd.randrange(1 << 32) for _ in range(3000)]
    return [str(ipaddress.IPv4Address(x)) for x in out] + ["::ffff:127.0.0.2", "2001:db8::1"]


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


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 11, 30, 100, "header", "half", -1])
def test_truncated_snapshot_is_a_snapshot_error(datasets, tmp_path, cut):
    data = _snap_bytes(datasets)
    (hlen,) = struct.unpack_from("<I", data, 8)
    n = {"header": 12 + 48 + hlen // 2, "half": len(data) // 2, -1: len(data) - 1}.get(cut, cut)
    path = tmp_path / "t.snap"
    path.write_bytes(data[:n])
    with pytest.raises(SnapshotError) as ei:
        Dataset.load(path)
    assert str(path) in str(ei.value)


def test_wrong_magic(datasets, tmp_path):
    data = _snap_bytes(datasets)
    _expect_error(tmp_path / "m.snap", b"NOTASNAP" + data[8:], "not an rblmirror snapshot")
    _expect_error(tmp_path / "z.snap", b"\0" * 4096, "not an rblmirror snapshot")


def test_missing_file(tmp_path):
    with pytest.raises(SnapshotError, match="cannot open snapshot"):
        Dataset.load(tmp_path / "absent.snap")


def test_corrupted_header(datasets, tmp_path):
    data = bytearray(_snap_bytes(datasets))
    (hlen,) = struct.unpack_from("<I", data, 8)
    hdr = 12 + 48
    bad = bytearray(data)
    bad[hdr:hdr + 1] = b"["  # JSON no longer parses
    _expect_error(tmp_path / "a.snap", bytes(bad), "corrupt")
    bad = bytearray(data)
    struct.pack_into("<I", bad, 8, hlen + 1000)  # header length off
    _expect_error(tmp_path / "b.snap", bytes(bad), "snapshot")
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 12, 1 << 40)  # absurd array length
    _expect_error(tmp_path / "c.snap", bytes(bad), "truncated")
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 12 + 8, 3)  # v4 starts and vals no longer match
    _expect_error(tmp_path / "d.snap", bytes(bad), "corrupt")
    bad = bytearray(data)
    i = bytes(bad).index(b'"version":2')
    bad[i:i + 11] = b'"version":9'
    _expect_error(tmp_path / "e.snap", bytes(bad), "version")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10**9), val=st.integers(0, 255), n=st.integers(1, 8))
def test_random_corruption_never_crashes(datasets, tmp_path, pos, val, n):
    """Flipping bytes anywhere gives a SnapshotError or a dataset that answers without
    crashing (array contents carry no checksum; the bucket table and value ids are
    checked so that a lookup never reads outside the arrays)."""
    data = bytearray(_snap_bytes(datasets))
    rnd = random.Random(pos)
    for _ in range(n):
        data[rnd.randrange(len(data))] = val
    path = tmp_path / "r.snap"
    path.write_bytes(bytes(data))
    try:
        ds = Dataset.load(path)
    except SnapshotError:
        return
    qs = np.array([rnd.randrange(1 << 32) for _ in range(2000)], np.uint32)
    ids = ds.lookup_many(qs)
    assert ((ids >= -1) & (ids < ds.value_count)).all()
    for q in qs[:200].tolist():
        ds.lookup(q)


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

    monkeypatch.setattr(index_mod.os, "replace", checking_replace)
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

    monkeypatch.setattr(index_mod.os, "fsync", boom)
    with pytest.raises(OSError):
        dss["ip4set"].save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["k.snap"]
