"""The compiled fast path for IPv4 dump files, kept out of the format modules.

`file_items(c, fmt, files)` yields the same (path, lineno, text) items as
`base.file_lines()`, except that the lines the compiled scanner takes (see
ext/loader.pyx: bare dotted quads, maybe `!`-excluded, maybe `/bits`; for ip4set every
ip4range form and entries with their own value) never become Python strings: the
scanner reads each file in pieces of PIECE bytes and turns them into blocks in one
`Blocks4`, and in their place the generator yields a `_Segment` item per run of such
lines. `base.load_lines()` calls a segment with the collector and the default value in
force at that point of the file, which is exactly what the format's own `line()` would
have used; a segment parses its own-value texts (`base.entry_value`, once per distinct
text and default) and hands out value ids in first-use order. When the whole input is
consumed the value ids are filled into the scanned blocks and the Python parser's
blocks inserted at the positions they would have had, in place, so value ids, entry
order (first-of-duplicates, value order), entry counts and warnings are the same as
with the pure-Python path; the result is the collector's `blocks4`. ip6trie and
ip6tset go to fast6.py (the same chunk protocol); formats without a fast path get
`file_lines()` unchanged.
"""
from __future__ import annotations

import os
import re
from array import array
from collections.abc import Generator, Iterable, Iterator
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ... import _loader
from ..values import Listing
from . import fast6
from .base import EXCL, Collector, Format, Item, LineWarning, entry_value, file_lines, open_data
from .ip6trie import IP6Trie
from .ip6tset import IP6TSet

U8: TypeAlias = npt.NDArray[np.uint8]
U32: TypeAlias = npt.NDArray[np.uint32]
I32: TypeAlias = npt.NDArray[np.int32]

DROP = -3  # a value line whose value is invalid: rbldnsd skips the entry (as ext/loader.pyx)

# format name -> (cidr mode for ext/loader.pyx, '!' exclusions accepted). Only formats
# whose line() turns such a line into its block(s) with the default value (or EXCL), one
# entry and no warning, keeping no other state (ip4trie warns on duplicates: not here).
_SHAPES = {"ip4set": (2, True), "plain": (1, True), "ip4tset": (0, False)}
_MAXRANGE = re.compile(r"(?i)maxrange4")


class _Segment:
    """The lines the scanner took between two lines it handed back (or a file's start
    and end): blocks [b0, b1), value lines [v0, v1) of the Blocks4, `lines` default-valued
    lines (`listed` of them not exclusions, the first at block `first`). Called by
    load_lines with the default in force there, it gives out value ids in the order
    the lines would have (first use), and the own-value lines' warnings."""

    __slots__ = ("st", "path", "b1", "v0", "v1", "lines", "listed", "first")

    def __init__(self, st: _State, path: str, end: tuple[int, int, int, int, int],
                 start: tuple[int, int, int, int, int]):
        self.st, self.path = st, path
        self.b1, self.v0, self.v1 = end[0], start[3], end[3]
        self.lines, self.listed, self.first = end[1] - start[1], end[2] - start[2], end[4]

    def __call__(self, c: Collector, default: Listing) -> None:
        st = self.st
        dv = EXCL
        c.entries += self.lines
        if self.v1 > self.v0:
            lineno, tid, b0 = st.out.value_lines(self.v0, self.v1)
            ids, first = np.unique(tid, return_index=True)
            # ids in the order the file first uses them, the default's at its first line
            order = np.argsort(b0[first], kind="stable")
            events = list(zip(b0[first][order].tolist(), ids[order].tolist()))
            if self.listed:
                events.append((self.first, -1))
                events.sort()
            table = np.empty(int(ids[-1]) + 1, np.int32)
            warned = {}
            for _, t in events:
                if t < 0:
                    dv = c.value_id(default)
                    continue
                v, warn = entry_value(st.out.texts[t], default)
                table[t] = DROP if v is None else c.value_id(v)
                if warn:
                    warned[t] = warn
            vid = table[tid]
            st.vl_vids.append(vid)
            c.entries += int((vid != DROP).sum())
            if warned:
                for no, t in zip(lineno.tolist(), tid.tolist()):
                    if t in warned:
                        c.warnings.append(LineWarning(self.path, no, warned[t]))
        elif self.listed:
            dv = c.value_id(default)
        st.segs.append((len(c.s4), self.b1, dv))


class _State:
    def __init__(self) -> None:
        self.out = _loader.Blocks4()
        self.segs: list[tuple[int, int, int]] = []  # (collector position, block end, vid)
        self.vl_vids: list[I32] = []

    def merge(self, c: Collector) -> None:
        """The value ids into the scanned blocks and the Python parser's blocks into their
        places, all in the Blocks4's own arrays; they become the collector's blocks4."""
        out = self.out
        if not out.n:
            return
        sg = np.array(self.segs, dtype=np.int64).reshape(-1, 3)
        vl = np.concatenate(self.vl_vids) if self.vl_vids else np.empty(0, np.int32)
        out.fill(np.ascontiguousarray(sg[:, 1]), sg[:, 2].astype(np.int32), vl)
        if len(c.s4):  # Python-parsed blocks go before the next segment's blocks
            q = np.arange(len(c.s4))
            j = np.searchsorted(sg[:, 0], q, "right") - 1  # the last segment before each
            at = np.where(j >= 0, sg[np.maximum(j, 0), 1], 0)
            out.insert(at, np.frombuffer(c.s4, np.uint32), np.frombuffer(c.e4, np.uint32),
                       np.frombuffer(c.v4, np.int32))
            c.s4, c.e4, c.v4 = array("I"), array("I"), array("i")
        out.drop()
        c.blocks4 = out


PIECE = 8 << 20  # bytes read and scanned at a time


def _pieces(path: str) -> Generator[tuple[U8, bool], int, None]:
    """A file's bytes (gunzipped transparently) as (buffer, last) pieces, read into one
    reused buffer: the scanner takes the whole lines and says how much it consumed."""
    with open_data(path) as stream:
        buf = np.empty(PIECE, np.uint8)
        have = 0
        while True:
            if have == len(buf):  # a line longer than the buffer
                buf = np.concatenate([buf, np.empty(len(buf), np.uint8)])
            k = stream.readinto(buf.data[have:])
            if not k:
                break
            have += k
            used = yield buf[:have], False
            if used:
                rest = have - used
                buf[:rest] = buf[used:have]
                have = rest
        yield buf[:have], True


def _scan(path: str, cidr: int, excl: bool, st: _State) -> list[Item]:
    """One file through the scanner: the items for load_lines (segments and the lines
    handed back), the blocks into st.out."""
    out = st.out
    items: list[Item] = []
    start = out.cut()
    lineno = 0
    pieces = _pieces(path)
    piece, last = next(pieces)
    while True:
        slow, used, lineno = _loader.scan4(piece, cidr, excl, out, lineno, last)
        for item in slow:
            no, text = item[0], item[1]
            cut = (item[2], item[3], item[4], item[5], item[6])
            if cut[1] > start[1] or cut[3] > start[3]:
                items.append((path, no, _Segment(st, path, cut, start)))
            items.append((path, no, text))
            start = cut
        if last:
            break
        piece, last = pieces.send(used)
    end = out.cut()
    if end[1] > start[1] or end[3] > start[3]:
        items.append((path, lineno, _Segment(st, path, end, start)))
    return items


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
    out = st.out
    for path in files:
        yield path, 0, None
        try:
            out.reserve(os.stat(path).st_size // 4 + 16)  # a line makes a block or more
        except OSError:
            pass
        # $MAXRANGE4 caps entry sizes with a warning: leave CIDRs and ranges to the parser
        cidr = 0 if c.meta.maxrange4 is not None else shape[0]
        mark = out.mark()
        items = _scan(path, cidr, shape[1], st)
        if cidr and any(_MAXRANGE.search(t) for _, _, t in items
                        if isinstance(t, str) and "$" in t[:2]):
            out.reset(mark)
            items = _scan(path, 0, shape[1], st)
        yield from items
        del items
    st.merge(c)
