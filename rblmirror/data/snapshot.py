"""The snapshot file: a compiled dataset written once and opened by mmap, verified,
without re-parsing. The one home of the file's layout, its checksum and both its
version numbers (the container's MAGIC, the header's HEADER_VERSION); Dataset.save and
Dataset.load fill and read the header (JSON) and hand the arrays to IPIndex and the
name index.
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import xxhash

from ..errors import SnapshotError
from ..files import replacing
from .index import IPIndex, NameArrays

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12 on

#: the JSON header's own version (Dataset.save/load): 2, the 2**18-entry IPv4 table
#: (1: 65537 entries, still read)
HEADER_VERSION = 2

# A snapshot (format 4), all integers little-endian:
#
#     0   8   MAGIC "RBLMSNP4"
#     8   8   u64 checksum: xxh3_64 of every byte from offset 16 to the end of the file
#    16   8   u64 file length (truncation and trailing bytes are caught before hashing)
#    24   4   u32 header length H
#    28   4   u32 array count N
#    32  16N  the array table: per array its dtype (numpy dtype.str, NUL-padded to 8
#             bytes) and its u64 element count
#    ..   H   header (bytes, the caller's format: JSON), zero padding to 16
#    ..       the N arrays, each 16-aligned and zero-padded to 16: the IP index's
#             eleven (IPIndex.arrays(): IPv4 starts, values, table; the compact IPv6
#             index's eight, ext/ip6search.pxd), then the name index's four
#             (ext/names.pxd: params, blob, slots, pairs; empty ones for an IP dataset)
#
# The checksum covers the length fields, the table, the header, every array and the
# padding, so any flipped, zeroed or overwritten byte is refused when the snapshot is
# opened; it is checked again after writing (before the rename) and on every open.
# Format 1 ("RBLMSNP1": no checksum, no file length), format 2 ("RBLMSNP2": the names in
# the JSON header) and format 3 ("RBLMSNP3": IPv6 segments as 20-byte starts and values)
# are refused with a clear message (fetch compiles again: snapshot_format_current).
MAGIC = b"RBLMSNP4"
MAGIC_V1 = b"RBLMSNP1"
MAGIC_V2 = b"RBLMSNP2"
MAGIC_V3 = b"RBLMSNP3"
#: IPv4 starts, values, table; IPv6 params, tab, keys, codes, runj, runoff, runlo, runval
_IP_DTYPES = [np.uint32, np.int32, np.uint32, np.uint64, np.uint32, np.uint8, np.uint8,
              np.uint32, np.uint32, np.uint64, np.int32]
_NAME_DTYPES = [np.uint64, np.uint8, np.uint32, np.int32]
_DTYPES = _IP_DTYPES + _NAME_DTYPES
_FIXED = struct.Struct("<8sQQII")  # magic, checksum, file length, header length, N
_ENTRY = struct.Struct("<8sQ")  # dtype str, element count
_SUMMED_FROM = 16  # the checksum covers the file from here on
#: hash this many bytes of the mapping at a time (memoryview slices, no copy); between
#: chunks other threads (the serving one) get the GIL
HASH_CHUNK = 8 << 20


def snapshot_format_current(path: str | os.PathLike[str]) -> bool:
    """Is the file a snapshot of this format (its magic only: cheap enough to ask each
    time the fetch schedule looks at a source)? False for an older format or junk."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _pad(n: int) -> int:
    return (-n) % 16


def _dtype_code(t: npt.DTypeLike) -> bytes:
    return np.dtype(t).str.encode("ascii").ljust(8, b"\0")


def _checksum(buf: Buffer, start: int = 0) -> int:
    """xxh3_64 of buf[start:], hashed in HASH_CHUNK slices of a memoryview (no copy)."""
    h = xxhash.xxh3_64()
    with memoryview(buf) as mv:
        for i in range(start, len(mv), HASH_CHUNK):
            with mv[i:i + HASH_CHUNK] as part:
                h.update(part)
    return h.intdigest()


def write_snapshot(path: str | os.PathLike[str], header: bytes, index: IPIndex,
                   names: NameArrays) -> None:
    """Write atomically: a temporary file in the same folder, fsync, verify, rename.
    `names`: the name index's arrays (NameIndex.arrays()).

    The checksum is computed from the data in memory as it is written; the written file
    is then opened and verified like any snapshot (read_snapshot) before it is renamed
    into place, so a snapshot that does not read back exactly is never installed."""
    arrs = [np.ascontiguousarray(a, dtype=t)
            for a, t in zip([*index.arrays(), *names], _DTYPES, strict=True)]
    table = b"".join(_ENTRY.pack(_dtype_code(t), len(a)) for a, t in zip(arrs, _DTYPES))
    pos = _FIXED.size + len(table) + len(header)
    pos += _pad(pos)
    for a in arrs:
        pos += a.nbytes + _pad(a.nbytes)
    length = pos
    h = xxhash.xxh3_64()

    def verify(tmp: str) -> None:  # what was written reads back and verifies
        _open_verified(tmp)[2].close()

    with replacing(path, verify=verify) as f:

        def out(b: Buffer) -> None:
            f.write(b)
            h.update(b)

        fixed = _FIXED.pack(MAGIC, 0, length, len(header), len(arrs))  # checksum: later
        f.write(fixed[:_SUMMED_FROM])
        out(fixed[_SUMMED_FROM:])
        out(table)
        out(header)
        out(b"\0" * _pad(f.tell()))
        for a in arrs:
            with a.data.cast("B") as mv:
                for i in range(0, len(mv), HASH_CHUNK):
                    with mv[i:i + HASH_CHUNK] as part:
                        out(part)
            out(b"\0" * _pad(f.tell()))
        if f.tell() != length:  # pragma: no cover - the layout above is wrong
            raise SnapshotError(f"{f.name}: wrote {f.tell()} bytes, expected {length}")
        f.seek(8)
        f.write(struct.pack("<Q", h.intdigest()))


def _open_verified(path: str | os.PathLike[str]
                   ) -> tuple[bytes, list[tuple[int, int, np.dtype[Any]]], mmap.mmap]:
    """Map a snapshot and verify it: magic, recorded length, checksum, then the layout.

    Returns (header, [(offset, count, dtype)] per array, the mapping)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SnapshotError(f"{path}: not an rblmirror snapshot (empty file)")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except SnapshotError:
        raise
    except (OSError, ValueError) as e:
        raise SnapshotError(f"cannot open snapshot {path}: {e}") from None
    try:
        size = len(mm)
        magic = mm[:8]
        if magic == MAGIC_V1:
            raise SnapshotError(f"{path}: snapshot format 1 has no checksum: re-fetch or "
                                f"recompile (rblmirror fetch --force SOURCE)")
        if magic == MAGIC_V2:
            raise SnapshotError(f"{path}: snapshot format 2 is older than this version "
                                f"(names are now an index of their own): re-fetch or "
                                f"recompile (rblmirror fetch --force SOURCE)")
        if magic == MAGIC_V3:
            raise SnapshotError(f"{path}: snapshot format 3 is older than this version "
                                f"(the IPv6 index has a new layout): re-fetch or "
                                f"recompile (rblmirror fetch --force SOURCE)")
        if magic != MAGIC:
            what = "unknown snapshot format" if magic[:7] == MAGIC[:7] else \
                "not an rblmirror snapshot"
            raise SnapshotError(f"{path}: {what} (starts with {bytes(magic)!r})")
        if size < _FIXED.size:
            raise SnapshotError(f"{path}: truncated snapshot ({size} bytes, shorter than "
                                f"its {_FIXED.size}-byte header)")
        _, stored, length, hlen, narr = _FIXED.unpack_from(mm, 0)
        if length != size:
            what = "truncated snapshot" if size < length else "trailing bytes after snapshot"
            raise SnapshotError(f"{path}: {what} ({size} bytes, the header records {length})")
        got = _checksum(mm, _SUMMED_FROM)
        if got != stored:
            raise SnapshotError(f"{path}: corrupt snapshot: checksum mismatch (stored "
                                f"{stored:016x}, contents hash to {got:016x})")
        # the checksum matched: now the layout must be what this version writes
        if narr != len(_DTYPES):
            raise SnapshotError(f"{path}: corrupt snapshot: {narr} arrays, expected "
                                f"{len(_DTYPES)}")
        pos = _FIXED.size + narr * _ENTRY.size + hlen
        if pos > size:
            raise SnapshotError(f"{path}: corrupt snapshot: header length {hlen} runs past "
                                f"the end of the file")
        header = bytes(mm[_FIXED.size + narr * _ENTRY.size:pos])
        pos += _pad(pos)
        layout = []
        for i, t in enumerate(_DTYPES):
            code, n = _ENTRY.unpack_from(mm, _FIXED.size + i * _ENTRY.size)
            dt = np.dtype(t)
            if code != _dtype_code(dt):
                raise SnapshotError(f"{path}: corrupt snapshot: array {i} has dtype "
                                    f"{code.rstrip(bytes(1))!r}, expected {dt.str!r}")
            nbytes = n * dt.itemsize
            if pos + nbytes > size:
                raise SnapshotError(f"{path}: corrupt snapshot: array {i} ({n} entries) "
                                    f"runs past the end of the file")
            layout.append((pos, n, dt))
            pos += nbytes + _pad(nbytes)
        if pos != size:
            raise SnapshotError(f"{path}: corrupt snapshot: the arrays end at {pos}, the "
                                f"file at {size}")
        return header, layout, mm
    except BaseException:
        mm.close()
        raise


def read_snapshot(path: str | os.PathLike[str]
                  ) -> tuple[bytes, IPIndex, NameArrays]:
    """Open a snapshot by mmap and verify it (length, checksum over every byte after the
    checksum field, layout); the arrays point into the mapping (no copy, no parse).
    Returns (header, the IP index, the name index's arrays for NameIndex()).

    Raises SnapshotError naming the file and what failed."""
    header, layout, mm = _open_verified(path)
    try:
        arrs = [np.frombuffer(mm, dtype=dt, count=n, offset=off) for off, n, dt in layout]
        nip = len(_IP_DTYPES)
        params, blob, slots, pairs = arrs[nip:]  # of the dtypes _open_verified checked
        return header, IPIndex.from_arrays(arrs[:nip], owner=mm), (params, blob, slots, pairs)
    except (ValueError, struct.error) as e:
        raise SnapshotError(f"{path}: corrupt snapshot ({e})") from None
