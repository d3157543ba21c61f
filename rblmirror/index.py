"""The Python face of the compiled index (the only importer of the ext modules for lookups).

`IPIndex` holds an IPv4 and an IPv6 segment index. It is built from CIDR-shaped blocks
(start, end, group id) where blocks are nested or disjoint and the innermost block wins;
a group id of -1 is an exclusion. It saves to and loads from a snapshot file that opens
by mmap without re-parsing.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from . import _index
from .errors import SnapshotError

MAX4 = (1 << 32) - 1
MAX6 = (1 << 128) - 1
M64 = (1 << 64) - 1


def range_to_cidrs(start: int, end: int, bits: int) -> list[tuple[int, int]]:
    """Split [start, end] into the fewest aligned CIDR blocks, as (start, end) pairs."""
    out = []
    while start <= end:
        size = start & -start if start else 1 << bits
        while start + size - 1 > end:
            size >>= 1
        out.append((start, start + size - 1))
        start += size
    return out


def sort_blocks4(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Stable order of IPv4 blocks by (start ascending, end descending), as int64 indexes."""
    return _index.sort_blocks4(np.ascontiguousarray(starts, dtype=np.uint32),
                               np.ascontiguousarray(ends, dtype=np.uint32))


def group_blocks4(starts: np.ndarray, ends: np.ndarray, vals: np.ndarray, excl: int):
    """Sort IPv4 blocks as sort_blocks4() and group identical ones (see _index.group_blocks4)."""
    return _index.group_blocks4(np.ascontiguousarray(starts, dtype=np.uint32),
                                np.ascontiguousarray(ends, dtype=np.uint32),
                                np.ascontiguousarray(vals, dtype=np.int32), excl)


def finish_groups4(gid: np.ndarray, flags: np.ndarray, excl: int, set_mode: bool) -> np.ndarray:
    """group_blocks4's values made final in place (see _index.finish_groups4)."""
    return _index.finish_groups4(gid, np.ascontiguousarray(flags, dtype=np.uint8), excl, set_mode)


def flatten_py(blocks: list[tuple[int, int, int]], top: int) -> tuple[list[int], list[int]]:
    """Pure-Python flatten (used for IPv6 and as the reference for flatten4).

    blocks: (start, end, gid), sorted by (start, -end), nested or disjoint, unique.
    Returns segment starts (first is 0) and values, adjacent equal values merged.
    """
    starts: list[int] = []
    vals: list[int] = []

    def emit(s: int, v: int) -> None:
        if vals and vals[-1] == v:
            return
        starts.append(s)
        vals.append(v)

    stack: list[tuple[int, int]] = []
    cur = 0
    for s, e, g in [*blocks, (top + 1, top + 1, -1)]:
        while stack and stack[-1][0] < s:
            te, tg = stack.pop()
            if cur <= te:
                emit(cur, tg)
                cur = te + 1
        if cur < s:
            emit(cur, stack[-1][1] if stack else -1)
            cur = s
        if s <= top:
            stack.append((e, g))
    return starts, vals


@dataclass
class IPIndex:
    """IPv4 + IPv6 segment indexes answering a value id (or -1) per address."""

    v4: _index.Index4
    v6: _index.Index6

    # ---- building -------------------------------------------------------------------
    @classmethod
    def build(cls, v4: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
              v6: list[tuple[int, int, int]] | None) -> IPIndex:
        """v4: (starts uint32, ends uint32, gids int32) unique blocks, any order.
        v6: list of (start, end, gid) unique blocks, any order."""
        if v4 is not None and len(v4[0]):
            s, e, g = (np.ascontiguousarray(a) for a in v4)
            s, e = s.astype(np.uint32, copy=False), e.astype(np.uint32, copy=False)
            g = g.astype(np.int32, copy=False)
            if not _index.blocks_sorted4(s, e):
                order = sort_blocks4(s, e)
                s, e, g = s[order], e[order], g[order]
            seg_s, seg_v = _index.flatten4(s, e, g)
        else:
            seg_s, seg_v = np.zeros(1, np.uint32), np.full(1, -1, np.int32)
        blocks6 = sorted(v6 or (), key=lambda b: (b[0], -b[1]))
        st6, va6 = flatten_py(blocks6, MAX6)
        hi = np.array([x >> 64 for x in st6], dtype=np.uint64)
        lo = np.array([x & M64 for x in st6], dtype=np.uint64)
        return cls(_index.Index4(seg_s, seg_v), _index.Index6(hi, lo, np.array(va6, np.int32)))

    @classmethod
    def empty(cls) -> IPIndex:
        return cls.build(None, None)

    # ---- lookups --------------------------------------------------------------------
    def lookup4(self, ip: int) -> int:
        return self.v4.lookup(ip)

    def lookup6(self, ip: int) -> int:
        return self.v6.lookup(ip >> 64, ip & M64)

    def lookup_many4(self, ips: np.ndarray) -> np.ndarray:
        return self.v4.lookup_many(np.ascontiguousarray(ips, dtype=np.uint32))

    def segments4(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, vals) of the IPv4 segments: what compare/coverage build bitmaps from."""
        return self.v4.starts_array, self.v4.vals_array

    def segments6(self) -> tuple[list[int], np.ndarray]:
        hi, lo = self.v6.hi_array, self.v6.lo_array
        return [(int(h) << 64) | int(l) for h, l in zip(hi, lo)], self.v6.vals_array

    def has_v4(self) -> bool:
        return self.v4.n > 1 or self.v4.vals_array[0] >= 0

    def has_v6(self) -> bool:
        return self.v6.n > 1 or self.v6.vals_array[0] >= 0

    # ---- snapshots ------------------------------------------------------------------
    def arrays(self) -> list[np.ndarray]:
        return [self.v4.starts_array, self.v4.vals_array, self.v4.table_array,
                self.v6.hi_array, self.v6.lo_array, self.v6.vals_array]

    def value_range(self) -> tuple[int, int]:
        """(smallest, largest) value id over all segments, for validating a snapshot."""
        v6 = self.v6.vals_array
        return (min(self.v4.min_value(), int(v6.min())), max(self.v4.max_value(), int(v6.max())))

    @classmethod
    def from_arrays(cls, arrs: list[np.ndarray], owner: object = None) -> IPIndex:
        s4, v4, b4, hi, lo, v6 = arrs
        return cls(_index.Index4(s4, v4, b4, owner), _index.Index6(hi, lo, v6, owner))


# A snapshot: MAGIC, u32 header length, header (bytes, caller's format: JSON), padding
# to 16, then the six arrays, each 16-aligned. The array table lives in a fixed block.
MAGIC = b"RBLMSNP1"
_DTYPES = [np.uint32, np.int32, np.uint32, np.uint64, np.uint64, np.int32]
_TABLE = struct.Struct("<6Q")


def _pad(n: int) -> int:
    return (-n) % 16


def write_snapshot(path: str | os.PathLike, header: bytes, index: IPIndex) -> None:
    """Write atomically: a temporary file in the same folder, fsync, rename."""
    arrs = [np.ascontiguousarray(a, dtype=t) for a, t in zip(index.arrays(), _DTYPES)]
    tmp = f"{os.fspath(path)}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<I", len(header)))
            f.write(_TABLE.pack(*(len(a) for a in arrs)))
            f.write(header)
            f.write(b"\0" * _pad(f.tell()))
            for a in arrs:
                f.write(memoryview(a).cast("B"))
                f.write(b"\0" * _pad(f.tell()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_snapshot(path: str | os.PathLike) -> tuple[bytes, IPIndex]:
    """Open a snapshot by mmap; the arrays point into the mapping (no copy, no parse)."""
    try:
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise SnapshotError(f"cannot open snapshot {path}: {e}") from None
    try:
        if mm[:8] != MAGIC:
            raise SnapshotError(f"{path}: not an rblmirror snapshot")
        (hlen,) = struct.unpack_from("<I", mm, 8)
        counts = _TABLE.unpack_from(mm, 12)
        pos = 12 + _TABLE.size
        header = bytes(mm[pos:pos + hlen])
        pos += hlen
        pos += _pad(pos)
        arrs = []
        for n, t in zip(counts, _DTYPES):
            size = n * np.dtype(t).itemsize
            if pos + size > len(mm):
                raise SnapshotError(f"{path}: truncated snapshot")
            arrs.append(np.frombuffer(mm, dtype=t, count=n, offset=pos))
            pos += size + _pad(size)
        if pos != len(mm):
            raise SnapshotError(f"{path}: truncated snapshot or trailing bytes "
                                f"({len(mm)} bytes, expected {pos})")
        return header, IPIndex.from_arrays(arrs, owner=mm)
    except SnapshotError:
        raise
    except (ValueError, struct.error) as e:
        raise SnapshotError(f"{path}: corrupt snapshot ({e})") from None
