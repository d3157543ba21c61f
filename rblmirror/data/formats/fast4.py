"""The compiled fast path for IPv4 dump files, kept out of the format modules.

`file_items(c, fmt, files)` yields the same (path, lineno, text) items as
`base.file_lines()`, except that the lines of the one common shape (a bare dotted quad,
maybe `!`-excluded, maybe `/bits`; see ext/loader.pyx) never become Python strings:
the compiled scanner turns them into block arrays, and in their place the generator
yields a `_Chunk` item. `base.load_lines()` calls a chunk with the collector and the
default value in force at that point of the file, which is exactly what the format's
own `line()` would have used. When the whole input is consumed the fast blocks are
merged into the collector at the positions they would have had, so value ids, entry
order (first-of-duplicates, value order), entry counts and warnings are the same as
with the pure-Python path. ip6trie and ip6tset go to fast6.py (the same chunk protocol);
formats without a fast path get `file_lines()` unchanged.
"""
from __future__ import annotations

import os
import re
import stat
from array import array
from collections.abc import Iterable, Iterator
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ... import _loader
from ..values import Listing
from . import fast6
from .base import EXCL, Collector, Format, Item, LineWarning, entry_value, file_lines, read_data
from .ip6trie import IP6Trie
from .ip6tset import IP6TSet

U8: TypeAlias = npt.NDArray[np.uint8]
U32: TypeAlias = npt.NDArray[np.uint32]
I32: TypeAlias = npt.NDArray[np.int32]

DROP = -3  # a value line whose value is invalid: rbldnsd skips the entry

# format name -> (cidr mode for ext/loader.pyx, '!' exclusions accepted). Only formats
# whose line() turns such a line into its block(s) with the default value (or EXCL), one
# entry and no warning, keeping no other state (ip4trie warns on duplicates: not here).
_SHAPES = {"ip4set": (2, True), "plain": (1, True), "ip4tset": (0, False)}
_MAXRANGE = re.compile(r"(?i)maxrange4")


class _Chunk:
    """Fast blocks [b0, b1) of the merged arrays, covering `lines` lines of which
    `listed` are not exclusions; called by load_lines with the current default."""

    __slots__ = ("st", "b0", "b1", "lines", "listed")

    def __init__(self, st: _State, b0: int, b1: int, lines: int, listed: int):
        self.st, self.b0, self.b1, self.lines, self.listed = st, b0, b1, lines, listed

    def __call__(self, c: Collector, default: Listing) -> None:
        st = self.st
        vid = c.value_id(default) if self.listed else EXCL
        st.chunks.append((len(c.s4), self.b1 - self.b0, vid))
        c.entries += self.lines


class _ValueLine:
    """An ip4set entry with its own value whose blocks [b0, b1) the scanner produced:
    parsed with the default in force, as IP4Set.line() would (entry_value)."""

    __slots__ = ("st", "b0", "b1", "path", "no", "rest")

    def __init__(self, st: _State, b0: int, b1: int, path: str, no: int, rest: str):
        self.st, self.b0, self.b1, self.path, self.no, self.rest = st, b0, b1, path, no, rest

    def __call__(self, c: Collector, default: Listing) -> None:
        # entry_value() is a pure function of (text, default), and dumps repeat values
        key = (self.rest, default)
        r = self.st.values.get(key)
        if r is None:
            r = self.st.values[key] = entry_value(self.rest, default)
        v, warn = r
        if v is None:
            vid = DROP
        else:
            vid = c.value_id(v)
            c.entries += 1
        if warn:
            c.warnings.append(LineWarning(self.path, self.no, warn))
        self.st.chunks.append((len(c.s4), self.b1 - self.b0, vid))


class _State:
    def __init__(self) -> None:
        self.parts: list[tuple[U32, U32, U8]] = []  # (starts, ends, excluded) per file
        self.nblocks = 0
        self.chunks: list[tuple[int, int, int]] = []  # (collector position, blocks, vid)
        self.values: dict[tuple[str, Listing], tuple[Listing | None, str | None]] = {}

    def merge(self, c: Collector) -> None:
        if not self.nblocks:
            return
        if len(self.parts) == 1:  # one file: its arrays as they are, no copy
            s, e, x = self.parts[0]
        else:
            s, e, x = (np.concatenate([p[k] for p in self.parts]) for k in range(3))
        ch = np.array(self.chunks, dtype=np.int64).reshape(-1, 3)
        v = np.repeat(ch[:, 2].astype(np.int32), ch[:, 1])
        v[x.view(np.bool_)] = EXCL
        self.parts.clear()
        drop = bool((ch[:, 2] == DROP).any())
        if drop:
            keep = v != DROP
            s, e, v = s[keep], e[keep], v[keep]
        merged: tuple[U32, U32, U32 | I32]
        if len(c.s4) == 0:  # nothing parsed by the format itself: no positions needed
            merged = (s, e, v)
        else:
            at = np.repeat(ch[:, 0], ch[:, 1])
            if drop:
                at = at[keep]
            merged = (_loader.insert_at(np.frombuffer(c.s4, np.uint32), at, s),
                      _loader.insert_at(np.frombuffer(c.e4, np.uint32), at, e),
                      _loader.insert_at(np.frombuffer(c.v4, np.uint32), at, v.view(np.uint32)))
        for name, code, arr in zip(("s4", "e4", "v4"), "IIi", merged):
            a = array(code)
            a.frombytes(arr.data.cast("B"))
            setattr(c, name, a)


def _read(path: str) -> bytes | U8:
    """read_data() for the scanner, into a numpy buffer instead of a bytes object (one
    copy, and its pages fault in much faster: a third of the time for a big dump).
    Anything but a plain regular file (gzip, a pipe, an error) goes through read_data."""
    try:
        with open(path, "rb", buffering=0) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return read_data(path)
            size = st.st_size
            buf = np.empty(size + 1, np.uint8)
            mv = buf.data
            n = 0
            while n <= size:
                k = f.readinto(mv[n:])
                if not k:
                    break
                n += k
            del mv
    except OSError:
        return read_data(path)  # the loader's own error for an unreadable file
    if n > size or bytes(buf[:min(n, 2)]) == b"\x1f\x8b":  # grew while read, or gzip
        return read_data(path)
    return buf[:n]


def file_items(c: Collector, fmt: Format, files: Iterable[str]) -> Iterator[Item]:
    """(path, lineno, text-or-chunk) items for load_lines(c, fmt, ...); see the module doc."""
    if isinstance(fmt, (IP6Trie, IP6TSet)):  # ext/loader6.pyx
        yield from fast6.file_items(c, fmt, files)
        return
    shape = _SHAPES.get(fmt.name)
    if shape is None:
        yield from file_lines(files)
        return
    st = _State()
    for path in files:
        yield path, 0, None
        data = _read(path)
        # $MAXRANGE4 caps CIDR sizes with a warning: leave CIDRs to the parser then
        cidr = 0 if c.meta.maxrange4 is not None else shape[0]
        s, e, x, slow, (nb, nl, nlisted) = _loader.scan4(data, cidr, shape[1])
        if cidr and any(_MAXRANGE.search(t) for _, t, *_ in slow if "$" in t[:2]):
            s, e, x, slow, (nb, nl, nlisted) = _loader.scan4(data, 0, shape[1])
        base = st.nblocks
        st.parts.append((s, e, x))
        st.nblocks += nb
        pb = pl = pn = 0
        for item in slow:
            no, text, b, l, n = item[:5]
            if l > pl:
                yield path, no, _Chunk(st, base + pb, base + b, l - pl, n - pn)
                pb, pl, pn = b, l, n
            if len(item) == 6:  # an entry with its own value, blocks already scanned
                yield path, no, _ValueLine(st, base + b, base + b + item[5], path, no, text)
                pb = b + item[5]
            else:
                yield path, no, text
        if nl > pl:
            yield path, 0, _Chunk(st, base + pb, base + nb, nl - pl, nlisted - pn)
    st.merge(c)
