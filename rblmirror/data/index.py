"""The Python face of the compiled IP index (ext/index.pyx, ext/loader6.pyx).

`IPIndex` holds an IPv4 and an IPv6 segment index. It is built from CIDR-shaped blocks
(start, end, group id) where blocks are nested or disjoint and the innermost block wins;
a group id of -1 is an exclusion. Its arrays are what a snapshot file stores
(data/snapshot.py), which opens by mmap without re-parsing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from .. import _index, _loader6


def _small_pages() -> None:
    """numpy advises the kernel to back arrays of 4 MiB and more with 2 MiB pages (with
    transparent huge pages in 'madvise' mode, Debian's default): then the first byte
    written costs 2 MiB, and the loaders' page-by-page release (MADV_DONTNEED of what
    they have read, ext/loader*.pyx) gives back less, which raised the peak of a 2M
    ip6trie load by 2 MiB. Our arrays are written once and read at random: 4 KiB pages.
    (numpy's own switch, private but stable since 1.20; without it, nothing changes.)"""
    import importlib
    for where in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy 2.x, 1.x
        try:
            switch = getattr(importlib.import_module(where), "_set_madvise_hugepage")
        except (ImportError, AttributeError):
            continue
        switch(False)
        return


_small_pages()

MAX4 = (1 << 32) - 1
MAX6 = (1 << 128) - 1
M64 = (1 << 64) - 1

U8: TypeAlias = npt.NDArray[np.uint8]
U32: TypeAlias = npt.NDArray[np.uint32]
I32: TypeAlias = npt.NDArray[np.int32]
I64: TypeAlias = npt.NDArray[np.int64]
U64: TypeAlias = npt.NDArray[np.uint64]
#: integers of any width (converted on the way in)
Ints: TypeAlias = npt.NDArray[np.integer[Any]]
#: a name index's arrays as a snapshot stores them (NameIndex.arrays(), ext/names.pxd):
#: params, blob, slots, pairs
NameArrays: TypeAlias = tuple[U64, U8, U32, I32]


def sort_blocks4(starts: Ints, ends: Ints) -> I64:
    """Stable order of IPv4 blocks by (start ascending, end descending), as int64 indexes."""
    return _index.sort_blocks4(np.ascontiguousarray(starts, dtype=np.uint32),
                               np.ascontiguousarray(ends, dtype=np.uint32))


def group_blocks4(starts: Ints, ends: Ints, vals: Ints, excl: int
                  ) -> tuple[U32, U32, I32, U8, I32, I64]:
    """Sort IPv4 blocks as sort_blocks4() and group identical ones (see _index.group_blocks4)."""
    return _index.group_blocks4(np.ascontiguousarray(starts, dtype=np.uint32),
                                np.ascontiguousarray(ends, dtype=np.uint32),
                                np.ascontiguousarray(vals, dtype=np.int32), excl)


def finish_groups4(gid: I32, flags: Ints, excl: int, set_mode: bool) -> I64:
    """group_blocks4's values made final in place (see _index.finish_groups4)."""
    return _index.finish_groups4(gid, np.ascontiguousarray(flags, dtype=np.uint8), excl, set_mode)


class Blocks6(NamedTuple):
    """IPv6 CIDR blocks for IPIndex.build: starts (hi, lo uint64), prefix lengths (uint8),
    group ids (int32, -1 an exclusion); any order, of identical blocks the first wins.
    owned: build may destroy the arrays (it gives their memory back as it reads them)."""

    hi: U64
    lo: U64
    bits: U8
    gid: I32
    owned: bool = False


def blocks6_arrays(blocks: list[tuple[int, int, int]]) -> Blocks6:
    """IPv6 CIDR blocks given as (start, end, gid) ints -> Blocks6 (owned)."""
    n = len(blocks)
    hi = np.empty(n, np.uint64)
    lo = np.empty(n, np.uint64)
    bits = np.empty(n, np.uint8)
    gid = np.empty(n, np.int32)
    for i, (s, e, g) in enumerate(blocks):
        size = e - s + 1
        if size <= 0 or size & (size - 1) or s & (size - 1):
            raise ValueError(f"IPv6 block {s:#x}-{e:#x} is not a CIDR block")
        hi[i], lo[i], bits[i], gid[i] = s >> 64, s & M64, 129 - size.bit_length(), g
    return Blocks6(hi, lo, bits, gid, owned=True)


@dataclass
class IPIndex:
    """IPv4 + IPv6 segment indexes answering a value id (or -1) per address."""

    v4: _index.Index4
    v6: _index.Index6

    # ---- building -------------------------------------------------------------------
    @classmethod
    def build(cls, v4: tuple[Ints, Ints, Ints] | None,
              v6: Blocks6 | tuple[Ints, Ints, Ints, Ints] | list[tuple[int, int, int]]
              | _loader6.Store6 | None,
              seg4: tuple[U32, I32] | None = None) -> IPIndex:
        """v4: (starts uint32, ends uint32, gids int32) unique blocks, any order; or seg4:
        the IPv4 segments flatten4 makes of them, already made (see dataset._segments4).
        v6: Blocks6 (or its four arrays: not owned), a sorted Store6 (the compiled
        load's: flattened and emptied here), or a list of (start, end, gid)
        CIDR blocks; any order, of identical blocks the first wins."""
        if seg4 is not None:
            seg_s, seg_v = seg4
        elif v4 is not None and len(v4[0]):
            s = np.ascontiguousarray(v4[0], np.uint32)
            e = np.ascontiguousarray(v4[1], np.uint32)
            g4 = np.ascontiguousarray(v4[2], np.int32)
            if not _index.blocks_sorted4(s, e):
                order = sort_blocks4(s, e)
                s, e, g4 = s[order], e[order], g4[order]
            seg_s, seg_v = _index.flatten4(s, e, g4)
        else:
            seg_s, seg_v = np.zeros(1, np.uint32), np.full(1, -1, np.int32)
        if isinstance(v6, list):
            v6 = blocks6_arrays(v6)
        if isinstance(v6, _loader6.Store6):  # the compiled load's, sorted
            arrs6 = v6.flatten(consume=True)
        elif v6 is not None and len(v6[0]):
            owned = isinstance(v6, Blocks6) and v6.owned
            hi6, lo6, bits6, gid6 = v6[:4]
            del v6
            h = np.ascontiguousarray(hi6, np.uint64)
            l = np.ascontiguousarray(lo6, np.uint64)  # noqa: E741
            b = np.ascontiguousarray(bits6, np.uint8)
            g = np.ascontiguousarray(gid6, np.int32)
            del hi6, lo6, bits6, gid6
            # None: in order already (a sorted dump); owned: hi sorted in place
            perm = _loader6.sort6(h, l, b, inplace=owned)
            if perm is not None:
                if not owned:
                    h = _loader6.take(h, perm)
                if not owned or l.any():  # (an owned lo of zeros stays as it is)
                    l = _loader6.take(l, perm)  # noqa: E741
                b, g = _loader6.take(b, perm), _loader6.take(g, perm)
                owned = True
                del perm
            arrs6 = _loader6.flatten6(h, l, b, g, consume=owned)
            del h, l, b, g
        else:
            arrs6 = _loader6.Build6().arrays()  # one segment, not listed
        return cls(_index.Index4(seg_s, seg_v), _index.Index6(*arrs6))

    @classmethod
    def empty(cls) -> IPIndex:
        return cls.build(None, None)

    # ---- lookups --------------------------------------------------------------------
    def lookup4(self, ip: int) -> int:
        return self.v4.lookup(ip)

    def lookup6(self, ip: int) -> int:
        return self.v6.lookup(ip >> 64, ip & M64)

    def lookup_addr6(self, ip: int) -> tuple[int, int]:
        """rbldnsd's rule for an IPv6 address (ext/ipsearch.pxd v6_asks: mapped asks the
        IPv4 data, 6to4 the IPv6 data then the IPv4 inside): (value id or -1, the IPv4
        address it was found as, or -1)."""
        return _index.lookup_addr6(self.v4, self.v6, ip >> 64, ip & M64)

    def lookup_many_addr6(self, hi: Ints, lo: Ints) -> I32:
        return _index.lookup_many_addr6(self.v4, self.v6, np.ascontiguousarray(hi, np.uint64),
                                        np.ascontiguousarray(lo, np.uint64))

    def lookup_many4(self, ips: Ints) -> I32:
        return self.v4.lookup_many(np.ascontiguousarray(ips, dtype=np.uint32))

    def segments4(self) -> tuple[U32, I32]:
        """(starts, vals) of the IPv4 segments: what compare/coverage build bitmaps from."""
        return self.v4.starts_array, self.v4.vals_array

    def segments6(self) -> tuple[list[int], I32]:
        hi, lo, vals = self.v6.segments()  # a copy: the index keeps no segment arrays
        return [(int(h) << 64) | int(l) for h, l in zip(hi.tolist(), lo.tolist())], vals

    def has_v4(self) -> bool:
        return self.v4.n > 1 or self.v4.vals_array[0] >= 0

    def has_v6(self) -> bool:
        return self.v6.n > 1 or self.v6.lookup(0, 0) >= 0

    # ---- snapshots ------------------------------------------------------------------
    def arrays(self) -> tuple[npt.NDArray[Any], ...]:
        """The IPv4 index's three arrays, then the IPv6 index's eight (ext/ip6search.pxd)."""
        return (self.v4.starts_array, self.v4.vals_array, self.v4.table_array,
                *self.v6.arrays())

    def value_range(self) -> tuple[int, int]:
        """(smallest, largest) value id over all segments, for validating a snapshot."""
        lo6, hi6 = self.v6.value_range()
        return (min(self.v4.min_value(), lo6), max(self.v4.max_value(), hi6))

    @classmethod
    def from_arrays(cls, arrs: Sequence[npt.NDArray[Any]], owner: object = None) -> IPIndex:
        s4, v4, b4, params, tab, keys, codes, runj, runoff, runlo, runval = arrs
        return cls(_index.Index4(s4, v4, b4, owner),
                   _index.Index6(params, tab, keys, codes, runj, runoff, runlo, runval,
                                 owner=owner))
