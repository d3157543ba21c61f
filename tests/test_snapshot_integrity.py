"""Snapshot integrity (issue 12 item 8): every snapshot carries an xxh3_64 checksum of all
its bytes after the checksum field and its file length; it is verified when it is made,
before fetch swaps it in, and whenever it is opened. A corrupted snapshot is refused with
a SnapshotError naming the file and what failed, and the server keeps the previous data.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from rblmirror.mirror import fetch as fetch_mod
from rblmirror.data import snapshot as snapshot_mod
from rblmirror.mirror.config import load_config
from rblmirror.data.dataset import Dataset
from rblmirror.errors import SnapshotError
from rblmirror.dns.reload import Zones
from rblmirror.mirror.zones import MirroredZones
from rblmirror.mirror.state import SourceDir
from support.cli import cli
from support.mirror import write_config

SEED = 812
T_A = 1
HLEN_AT, NARR_AT, TABLE_AT = 24, 28, 32
HEADER_AT = TABLE_AT + 16 * len(snapshot_mod._DTYPES)
#: every refusal says what failed, in one of these words
WHAT = ("checksum mismatch", "truncated", "trailing bytes", "not an rblmirror snapshot",
        "unknown snapshot format", "format 1 has no checksum")


# ------------------------------------------------------------------ the snapshots
def _zone_texts(rnd: random.Random) -> dict[str, str]:
    ip4 = [":127.0.0.2:Listed $", "$SOA 600 ns.test. hm.test. 5 600 60 86400 60"]
    for _ in range(2000):
        v = rnd.randrange(1 << 32)
        if rnd.random() < 0.8:
            ip4.append(str(ipaddress.IPv4Address(v)))
        else:
            bits = rnd.randrange(16, 30)
            net = ipaddress.IPv4Network((v >> (32 - bits) << (32 - bits), bits))
            ip4.append(f"{net} :127.0.0.{rnd.randrange(3, 9)}:net $")
    ip6 = []
    for _ in range(301):  # an odd count: the uint64 arrays end in padding
        bits = rnd.randrange(32, 129)
        v = (0x20010DB8 << 96) | rnd.randrange(1 << 96)
        ip6.append(f"{ipaddress.IPv6Network((v >> (128 - bits) << (128 - bits), bits))}"
                   f" :5:six $")
    names = [":127.0.0.2:name $"] + [f"{rnd.choice(['', '*.'])}host{i}.example.test"
                                      for i in range(300)]
    return {"ip4set": "\n".join(ip4) + "\n", "ip6trie": "\n".join(ip6) + "\n",
            "dnset": "\n".join(names) + "\n"}


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("integrity")
    out = {}
    for fmt, text in _zone_texts(random.Random(SEED)).items():
        z = d / f"{fmt}.zone"
        z.write_text(text)
        ds = Dataset.from_file(z, fmt)
        assert ds.entries > 100
        ds.save(d / f"{fmt}.snap")
        out[fmt] = (d / f"{fmt}.snap").read_bytes()
    return out


def layout(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(end of the JSON header, [(offset, byte size)] of each array), as the reader
    computes them."""
    (hlen,) = struct.unpack_from("<I", data, HLEN_AT)
    hend = HEADER_AT + hlen
    pos = hend + (-hend) % 16
    arrays = []
    for i, t in enumerate(snapshot_mod._DTYPES):
        (n,) = struct.unpack_from("<Q", data, TABLE_AT + 16 * i + 8)
        size = n * np.dtype(t).itemsize
        arrays.append((pos, size))
        pos += size + (-size) % 16
    assert pos == len(data)
    return hend, arrays


def corruptions(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Deterministic damage of every kind a user (or a disk) can do to a snapshot."""
    rnd = random.Random(seed)
    n = len(data)
    hend, arrays = layout(data)
    out: list[tuple[str, bytes]] = []

    def flip(name: str, at: int, bit: int | None = None) -> None:
        b = bytearray(data)
        bit = rnd.randrange(8) if bit is None else bit
        b[at] ^= 1 << bit
        out.append((f"flip {name} @{at} bit {bit}", bytes(b)))

    def put(name: str, at: int, chunk: bytes) -> None:
        b = bytearray(data)
        b[at:at + len(chunk)] = chunk
        b = b[:n] if len(b) > n else b
        out.append((f"{name} @{at}+{len(chunk)}", bytes(b)))

    # single bit flips in every part of the file
    for at in (0, 3, 7):
        flip("magic", at)
    for at in range(8, 16, 3):
        flip("checksum", at)
    for at in (16, 19, 23):
        flip("file length", at, bit=rnd.randrange(8))
    flip("header length", HLEN_AT)
    flip("header length high", HLEN_AT + 3, bit=7)
    flip("array count", NARR_AT)
    for i in range(len(arrays)):
        flip(f"table dtype {i}", TABLE_AT + 16 * i + 1)
        flip(f"table count {i}", TABLE_AT + 16 * i + 8)
    for at in (HEADER_AT, (HEADER_AT + hend) // 2, hend - 1):
        flip("json header", at)
    if (-hend) % 16:
        flip("header padding", hend)
    for i, (off, size) in enumerate(arrays):
        if not size:  # an empty array (an IP dataset's name index, most pairs arrays)
            continue
        for at in sorted({off, off + size // 2, off + size - 1}):
            flip(f"array {i}", at)
        if (-size) % 16:
            flip(f"array {i} padding", off + size)
    for _ in range(6):
        flip("anywhere", rnd.randrange(n))
    # truncation
    cuts = {0, 1, 7, 8, 15, 16, 24, 31, 32, HEADER_AT, (HEADER_AT + hend) // 2, hend,
            n - 1, n - 8, n - 16, n // 2}
    cuts |= {off for off, _ in arrays} | {off + size // 2 for off, size in arrays}
    cuts |= {rnd.randrange(n) for _ in range(5)}
    for c in sorted(x for x in cuts if 0 <= x < n):
        out.append((f"truncated to {c}", data[:c]))
    # zeroed regions
    for name, at, ln in [("checksum", 8, 8), ("length", 16, 8), ("fixed header", 8, 24),
                         ("table", TABLE_AT, 16 * len(arrays)),
                         ("json", (HEADER_AT + hend) // 2, 16), ("last page", n - 4096, 4096)]:
        put(f"zeroed {name}", max(at, 0), bytes(ln))
    for i, (off, size) in enumerate(arrays):
        if size >= 32:
            put(f"zeroed array {i}", off + size // 3, bytes(16))
    out.append(("all zero", bytes(n)))
    # regions overwritten with random bytes (never the same bytes as before)
    for ln in (1, 8, 64, 1000, 8, 64, 1000, 4096):
        at = rnd.randrange(8, n - ln)
        chunk = bytes(rnd.randrange(256) for _ in range(ln))
        if chunk == data[at:at + ln]:
            chunk = bytes(x ^ 0xFF for x in chunk)
        put("random bytes", at, chunk)
    put("stale checksum", 8, bytes(x ^ 0x5A for x in data[8:16]))
    # bytes appended, inserted, removed, moved
    for tail in (b"\0", bytes(16), bytes(rnd.randrange(256) for _ in range(100)), data):
        out.append((f"{len(tail)} bytes appended", data + tail))
    mid = n // 2
    out.append(("16 bytes inserted", data[:mid] + bytes(16) + data[mid:]))
    out.append(("16 bytes removed", data[:mid] + data[mid + 16:]))
    out.append(("16 bytes removed, 16 zeros appended (same length)",
                data[:mid] + data[mid + 16:] + bytes(16)))
    a, b = arrays[0][0], arrays[1][0]
    out.append(("two 16-byte blocks swapped",
                data[:a] + data[b:b + 16] + data[a + 16:b] + data[a:a + 16] + data[b + 16:]))
    out.append(("the format-1 magic", b"RBLMSNP1" + data[8:]))
    return out


@pytest.mark.parametrize("fmt", ["ip4set", "ip6trie", "dnset"])
def test_no_corrupted_snapshot_ever_loads(snapshots, tmp_path, fmt):
    data = snapshots[fmt]
    assert Dataset.load(_write(tmp_path / "good.snap", data)).entries > 100
    cases = corruptions(data, SEED + len(fmt))
    assert len(cases) >= 60, len(cases)
    loaded, vague = [], []
    for i, (name, bad) in enumerate(cases):
        assert bad != data, name
        path = _write(tmp_path / f"c{i}.snap", bad)
        try:
            Dataset.load(path)
        except SnapshotError as e:
            msg = str(e)
            if str(path) not in msg or not any(w in msg for w in WHAT):
                vague.append((name, msg))
        else:
            loaded.append(name)
        path.unlink()
    assert not loaded, f"{len(loaded)} of {len(cases)} corrupted snapshots loaded: {loaded}"
    assert not vague, vague


def test_the_checksum_covers_every_byte_after_it(snapshots, tmp_path):
    """Every byte of the fixed header and the array table, a stride through the JSON
    header and the arrays (a short one through the name index's, which hold the names):
    one flipped bit anywhere from offset 8 on is refused."""
    data = snapshots["dnset"]
    hend, arrays = layout(data)
    nip = len(snapshot_mod._IP_DTYPES)
    offsets = list(range(8, HEADER_AT)) + list(range(HEADER_AT, hend, 23)) + \
        list(range(hend, arrays[nip][0], 4001)) + \
        list(range(arrays[nip][0], len(data), 29))
    path = tmp_path / "x.snap"
    loaded = []
    for at in offsets:
        b = bytearray(data)
        b[at] ^= 1 << (at % 8)
        path.write_bytes(b)
        try:
            Dataset.load(path)
            loaded.append(at)
        except SnapshotError:
            pass
    assert len(offsets) > 500 and not loaded, loaded


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ when it is made
def test_a_snapshot_that_does_not_read_back_is_never_renamed_into_place(tmp_path,
                                                                          monkeypatch):
    """write_snapshot hashes the data in memory as it writes, then verifies the written
    file before the rename: a write that went wrong keeps the previous snapshot."""
    z = tmp_path / "a.zone"
    z.write_text("192.0.2.1\n198.51.100.0/24\n")
    ds = Dataset.from_file(z, "ip4set")
    path = tmp_path / "a.snap"
    ds.save(path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def bad_write(fd):  # the file on disk is not what was written
        os.pwrite(fd, b"\xff", len(before) - 5)
        real_fsync(fd)

    monkeypatch.setattr(snapshot_mod.os, "fsync", bad_write)
    with pytest.raises(SnapshotError, match="checksum mismatch") as ei:
        ds.save(path)
    assert ".tmp." in str(ei.value)  # names the file that failed
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.snap", "a.zone"]


def test_format_and_fields(snapshots):
    data = snapshots["ip4set"]
    assert data[:8] == b"RBLMSNP4"
    (length,) = struct.unpack_from("<Q", data, 16)
    assert length == len(data)
    import xxhash
    assert struct.unpack_from("<Q", data, 8)[0] == xxhash.xxh3_64_intdigest(data[16:])
    (narr,) = struct.unpack_from("<I", data, NARR_AT)
    assert narr == 15  # the IP index's 3 + 8 arrays, the name index's four
    codes = [data[TABLE_AT + 16 * i:TABLE_AT + 16 * i + 8].rstrip(b"\0") for i in range(15)]
    assert codes == [b"<u4", b"<i4", b"<u4",  # IPv4: starts, values, table
                     # IPv6 (ext/ip6search.pxd): params, tab, keys, codes, runj, runoff,
                     # runlo, runval
                     b"<u8", b"<u4", b"|u1", b"|u1", b"<u4", b"<u4", b"<u8", b"<i4",
                     b"<u8", b"|u1", b"<u4", b"<i4"]
    _, arrays = layout(data)
    assert all(off % 16 == 0 for off, _ in arrays)


def test_hashing_is_chunked_over_the_mapping(snapshots, tmp_path, monkeypatch):
    """The checksum is computed over memoryview slices of the mmap, HASH_CHUNK at a
    time, never over a copy of the whole file."""
    path = _write(tmp_path / "c.snap", snapshots["ip4set"])
    monkeypatch.setattr(snapshot_mod, "HASH_CHUNK", 4096)
    sizes = []
    real = snapshot_mod.xxhash.xxh3_64

    class Spy:
        def __init__(self):
            self.h = real()

        def update(self, b):
            assert isinstance(b, memoryview)
            sizes.append(len(b))
            self.h.update(b)

        def intdigest(self):
            return self.h.intdigest()

    monkeypatch.setattr(snapshot_mod.xxhash, "xxh3_64", Spy)
    assert Dataset.load(path).entries > 100
    assert max(sizes) == 4096 and sum(sizes) == len(snapshots["ip4set"]) - 16


# ------------------------------------------------------------------ before the swap
def _source(tmp_path: Path, lines: list[str]):
    up = tmp_path / "up" / "list.txt"
    up.parent.mkdir(parents=True, exist_ok=True)
    up.write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path, [{"name": "lst", "url": str(up), "format": "plain",
                                   "min_interval": "0s", "max_age": "1h"}],
                       [{"name": "lst.mirror.test", "datasets": ["lst"]}])
    return up, cfg


GOOD = ["192.0.2.1", "192.0.2.2", "198.51.100.0/24"]
NEW = ["192.0.2.2", "198.51.100.0/24", "203.0.113.5"]


@pytest.mark.integration
def test_fetch_refuses_a_snapshot_corrupted_between_compile_and_swap(tmp_path, monkeypatch,
                                                                     caplog):
    up, cfg = _source(tmp_path, GOOD)
    assert cli("fetch", "--config", str(cfg))[0] == 0
    sd = SourceDir(str(tmp_path / "state"), "lst")
    cur = os.readlink(sd.current)
    up.write_text("\n".join(NEW) + "\n")
    real = fetch_mod.compile_isolated

    def compile_then_corrupt(fmt, files, out, **kw):
        r = real(fmt, files, out, **kw)
        with open(out, "r+b") as f:  # one bit, in the middle of the arrays
            f.seek(os.path.getsize(out) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x10]))
        return r

    monkeypatch.setattr(fetch_mod, "compile_isolated", compile_then_corrupt)
    src = load_config(str(cfg)).sources["lst"]
    with caplog.at_level(logging.ERROR, "rblmirror.mirror.fetch"):
        out = fetch_mod.fetch_source(src, str(tmp_path / "state"), force=True)
    assert out.status == fetch_mod.REJECTED, out.line()
    assert "the compiled snapshot does not verify" in out.message
    assert "checksum mismatch" in out.message and ".new-" in out.message
    assert "keeping snapshot" in out.message and "checksum mismatch" in caplog.text
    assert os.readlink(sd.current) == cur  # current unchanged
    assert Dataset.load(_current(sd)).lookup("192.0.2.1")  # the old data
    assert not [f for f in os.listdir(sd.snapshots_dir) if f.startswith(".new-")]
    assert sd.load_state().result == "rejected"
    # the same dump without the corruption goes through
    monkeypatch.setattr(fetch_mod, "compile_isolated", real)
    out = fetch_mod.fetch_source(src, str(tmp_path / "state"), force=True)
    assert out.status == fetch_mod.FETCHED, out.line()
    assert Dataset.load(_current(sd)).lookup("203.0.113.5")


@pytest.mark.integration
def test_unchanged_dump_with_a_corrupt_current_snapshot_is_compiled_again(tmp_path):
    """A fetch that finds upstream unchanged keeps `current` only if it verifies: a
    corrupted (or format-1) current snapshot is replaced from the same dump."""
    up, cfg = _source(tmp_path, GOOD)
    assert cli("fetch", "--config", str(cfg))[0] == 0
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "unchanged" in out
    sd = SourceDir(str(tmp_path / "state"), "lst")
    bad = _current(sd)
    data = bytearray(Path(bad).read_bytes())
    data[:8] = b"RBLMSNP1"  # what an upgrade finds
    Path(bad).write_bytes(data)
    with pytest.raises(SnapshotError, match="format 1 has no checksum"):
        Dataset.load(bad)
    code, out, err = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "fetched" in out and "unchanged" not in out, out + err
    assert sd.current_snapshot() != bad
    assert Dataset.load(_current(sd)).lookup("192.0.2.1")


# ------------------------------------------------------------------ when it is opened
def _corrupt_copy_as_current(sd: SourceDir, lines: list[str], tmp_path: Path,
                             corrupt: bool = True) -> str:
    """A snapshot of other data made current, with one bit flipped (or not)."""
    z = tmp_path / f"other-{len(os.listdir(sd.snapshots_dir))}.txt"
    z.write_text("\n".join(lines) + "\n")
    name = f"other-{len(os.listdir(sd.snapshots_dir))}.snap"
    path = os.path.join(sd.snapshots_dir, name)
    Dataset.from_file(z, "plain").save(path)
    if corrupt:
        data = bytearray(Path(path).read_bytes())
        data[len(data) - 40] ^= 4
        Path(path).write_bytes(data)
    sd.point_current(name)
    return path


def _current(sd: SourceDir) -> str:
    """The source's current snapshot (there is one)."""
    path = sd.current_snapshot()
    assert path is not None
    return path


def _answers(zones: Zones, ip: str) -> int:
    found = zones.table.find(["lst", "mirror", "test"])
    assert found is not None
    z, _ = found
    rev = ".".join(reversed(ip.split("."))) + ".lst.mirror.test"
    return z.answer(rev, T_A).rcode


@pytest.mark.integration
def test_reload_with_a_corrupt_current_keeps_the_previous_table(tmp_path, caplog):
    up, cfg = _source(tmp_path, GOOD)
    assert cli("fetch", "--config", str(cfg))[0] == 0
    c = load_config(str(cfg))
    sd = SourceDir(str(tmp_path / "state"), "lst")
    zones = Zones([], MirroredZones(c, str(tmp_path / "state")), isolated=False)
    assert _answers(zones, "192.0.2.1") == 0 and _answers(zones, "203.0.113.5") == 3
    table = zones.table
    bad = _corrupt_copy_as_current(sd, NEW, tmp_path)
    assert zones.changed()
    with caplog.at_level(logging.ERROR):
        assert zones.reload("test") is False
    assert zones.table is table  # the previous data keeps serving
    assert _answers(zones, "192.0.2.1") == 0 and _answers(zones, "203.0.113.5") == 3
    assert "reload (test) failed, keeping the previous data" in caplog.text
    assert bad in caplog.text and "checksum mismatch" in caplog.text
    assert "`rblmirror rollback lst`" in caplog.text
    assert not zones.changed()  # no retry loop until something changes again
    # a good snapshot of the new data is taken
    _corrupt_copy_as_current(sd, NEW, tmp_path, corrupt=False)
    assert zones.reload("test") is True
    assert _answers(zones, "192.0.2.1") == 3 and _answers(zones, "203.0.113.5") == 0


@pytest.mark.integration
def test_startup_with_a_corrupt_current_has_no_data(tmp_path, caplog):
    """No previous table to keep: the zone answers SERVFAIL (test points excepted), and
    the log names the file and suggests the rollback that brings the data back."""
    up, cfg = _source(tmp_path, GOOD)
    assert cli("fetch", "--config", str(cfg))[0] == 0
    up.write_text("\n".join(NEW) + "\n")
    assert cli("fetch", "--config", str(cfg))[0] == 0
    sd = SourceDir(str(tmp_path / "state"), "lst")
    bad = _current(sd)
    data = bytearray(Path(bad).read_bytes())
    data[len(data) // 3] ^= 0x80
    Path(bad).write_bytes(data)  # corrupted in place, before any server maps it
    with caplog.at_level(logging.ERROR, "rblmirror.mirror.zones"):
        zones = Zones([], MirroredZones(load_config(str(cfg)), str(tmp_path / "state")),
                      isolated=False)
    assert _answers(zones, "192.0.2.1") == 2 and _answers(zones, "203.0.113.5") == 2
    assert _answers(zones, "127.0.0.2") == 0  # the RFC 5782 test point
    assert "source lst: cannot open snapshot" in caplog.text and bad in caplog.text
    assert "checksum mismatch" in caplog.text and "`rblmirror rollback lst`" in caplog.text
    code, out, err = cli("rollback", "lst", "--config", str(cfg))
    assert code == 0, out + err
    assert zones.changed() and zones.reload("rollback") is True
    assert _answers(zones, "192.0.2.1") == 0 and _answers(zones, "203.0.113.5") == 3


@pytest.mark.integration
def test_serve_keeps_answering_the_old_data_when_current_is_corrupted(tmp_path):
    """End to end: `rblmirror serve --no-fetch` on loopback, `current` replaced by a
    corrupted snapshot of other data: the refusal is logged, the old data answered."""
    import time

    from support.serve import Serve
    up, cfg = _source(tmp_path, GOOD)
    assert cli("fetch", "--config", str(cfg))[0] == 0
    sd = SourceDir(str(tmp_path / "state"), "lst")
    probe = tmp_path / "probe.zone"
    probe.write_text("192.0.2.1\n")
    s = Serve([f"probe.test:ip4set:{probe}"], extra=["--config", str(cfg), "--no-fetch"],
              log_dir=tmp_path).start()

    def a(ip):
        r = s.query(".".join(reversed(ip.split("."))) + ".lst.mirror.test")
        return r.header.rcode, sorted(str(x.rdata) for x in r.rr)

    def until(pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pred():
            time.sleep(0.05)
        return pred()

    try:
        assert a("192.0.2.1") == (0, ["127.0.0.2"]) and a("203.0.113.5") == (3, [])
        bad = _corrupt_copy_as_current(sd, NEW, tmp_path)
        assert until(lambda: "keeping the previous data" in s.log), s.log
        assert bad in s.log and "checksum mismatch" in s.log
        assert "`rblmirror rollback lst`" in s.log
        for _ in range(3):
            assert a("192.0.2.1") == (0, ["127.0.0.2"]) and a("203.0.113.5") == (3, [])
        # the server is still alive to changes: a good snapshot is loaded
        _corrupt_copy_as_current(sd, NEW, tmp_path, corrupt=False)
        assert until(lambda: a("203.0.113.5") == (0, ["127.0.0.2"])), s.log
        assert a("192.0.2.1") == (3, [])
    finally:
        s.stop()
