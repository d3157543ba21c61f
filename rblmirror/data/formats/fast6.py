"""The compiled load path for IPv6 dumps (ip6trie, ip6tset): ext/loader6.pyx.

`file_items(c, fmt, files)` yields what `base.file_lines()` yields, except that the entry
lines the scanner takes (every CIDR form ip6cidr() accepts, `!` exclusions, any value text
after the subject) never become Python strings: each run of them is one `_Chunk6` item,
which `base.load_lines()` calls with the default value in force there, as it calls
fast4's chunks. A chunk resolves the distinct value texts of its entries once each
(`base.entry_value()` with that default, in order of first appearance, so value ids and
their order are those of the Python path) and maps its entries' codes to value ids in C.
The lines the scanner leaves (specials, default lines, bad lines) reach the format's own
`line()` as before, which hands the entries it accepts back here (`fmt.defer`) instead of
to the collector.

Memory: a first pass over the files (`_count`, `_loader6.count6`) counts per bucket (the
top 16 bits of a start) how many /64-and-shorter entries there can be, so the scan's
entries go straight into one array of 12-byte records cut into those buckets
(`_loader6.Store6`); the scanner keeps only the entries of the piece in hand (`commit`
after each). Longer prefixes (and anything past its bucket's room) are 25-byte records.

When all files are in, each bucket is sorted in place; ip6trie's duplicates (the first
in the file is kept, the others warn) and the warnings that depend on them (an entry's
own value warning gives way to the duplicate warning, as in `IP6Trie.line()`; an entry
dropped for its value is no duplicate) are settled then and merged into `c.warnings` in
file order. The collector ends up with the store (`c.blocks6`), which IPIndex.build
flattens a bucket at a time, giving each bucket's pages back: no Python object per
entry, and never a second copy of them.

Files are read in CHUNK pieces (a gzip file, a pipe or an unreadable file through
`base.read_data()`, whole, with its errors; those once, by the first pass), so the text
never sits in memory at once.
"""
from __future__ import annotations

import io
import ipaddress
import os
import stat
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ... import _loader6
from ...errors import ZoneFileError
from ..values import Listing
from .base import EXCL, Collector, Item, LineWarning, Place, entry_value, read_data
from .ip6trie import IP6Trie
from .ip6tset import IP6TSet

DROP = -3  # value id of an entry whose value is invalid: rbldnsd skips the entry
CHUNK = 1 << 18  # the scanner holds the entries of one piece (about 9k lines)
M64 = (1 << 64) - 1
_MODES = {"ip6trie": _loader6.TRIE_MODE, "ip6tset": _loader6.TSET_MODE}
FORMATS = frozenset(_MODES)
#: what Scan6.feed gives back per line it leaves, or per run of entries it took
Item6: TypeAlias = "tuple[int, str] | tuple[int, int, list[int]]"
#: Scan6.feed, count6: (bytes, final) -> (bytes consumed, items)
Feed: TypeAlias = "Callable[[memoryview | bytes, bool], tuple[int, Sequence[Item6]]]"


class _Chunk6:
    """Scanned entries [e0, e1) using the value-text codes `codes` (first appearances)."""

    __slots__ = ("st", "e0", "e1", "codes")

    def __init__(self, st: _State6, e0: int, e1: int, codes: list[int]):
        self.st, self.e0, self.e1, self.codes = st, e0, e1, codes

    def __call__(self, c: Collector, default: Listing) -> None:
        self.st.resolve(c, default, self.e0, self.e1, self.codes)


class _State6:
    def __init__(self, fmt_name: str, counts: npt.NDArray[np.uint32]):
        self.trie = fmt_name == "ip6trie"
        self.sc = _loader6.Scan6(_MODES[fmt_name])
        self.store = _loader6.Store6(counts)
        self.lut = np.zeros(1024, np.int32)
        self.lut[_loader6.CODE_EXCL] = EXCL
        self.flag = np.zeros(1024, np.uint8)
        # (code, default) -> entry_value(): dumps repeat a few values on many lines
        self.values: dict[tuple[int, Listing], tuple[Listing | None, str | None]] = {}
        #: (ordinals, codes) of the entries whose value warns, and the warnings by code
        self.pending: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32],
                                 dict[int, str]]] = []
        self.slow_pending: list[tuple[int, str]] = []
        self.bases: list[int] = []  # per file: ordinal of its line 0
        self.marks: list[int] = []  # per file: len(c.warnings) when it started

    # ---- during the load
    def resolve(self, c: Collector, default: Listing, e0: int, e1: int,
                codes: list[int]) -> None:
        sc = self.sc
        if not self.trie:  # ip6tset: one value for all (Collector.one_value)
            self.lut[_loader6.CODE_DEFAULT] = 0
            sc.apply(e0, e1, self.lut)
            c.entries += e1 - e0
            return
        top = _loader6.CODE_DEFAULT + 1 + sc.ntexts
        if top > len(self.lut):
            self.lut = np.resize(self.lut, max(top, 2 * len(self.lut)))
            self.flag = np.zeros(len(self.lut), np.uint8)
        warns: dict[int, str] | None = None
        for code in codes:
            key = (code, default)
            r = self.values.get(key)
            if r is None:
                text = "" if code == _loader6.CODE_DEFAULT else sc.text(code)
                r = self.values[key] = entry_value(text, default)
            v, warn = r
            self.lut[code] = DROP if v is None else c.value_id(v)
            if warn:
                if warns is None:
                    warns = {}
                warns[code] = warn
        if warns:
            sel = list(warns)
            self.flag[sel] = 1
            ords, got = sc.select(e0, e1, self.flag)
            self.flag[sel] = 0
            self.pending.append((ords, got, warns))
        sc.apply(e0, e1, self.lut)

    def defer(self, c: Collector, value: int, bits: int, vid: int, where: Place,
              warn: str | None) -> None:
        """An entry the format's line() accepted (fmt.defer while this path runs)."""
        o = self.bases[-1] + where.line
        self.sc.add(value >> 64, value & M64, bits, vid, o)  # committed with its chunk
        if warn:
            self.slow_pending.append((o, warn))

    # ---- when every file is in
    def finish(self, c: Collector, files: list[str]) -> None:
        self.sc.commit(self.store)
        del self.sc  # its value texts: not needed any more
        # each bucket sorted in place; of identical blocks all but the first (in the
        # file) are dead: ip6trie warns about them
        dup_ord, dup_hi, dup_lo, dup_bits = self.store.sort()
        if self.trie:
            c.entries += self.store.count - len(dup_ord)
            later: list[tuple[int, str]] = []
            dup_ords = set(dup_ord.tolist())
            for o, h, lo, b in zip(dup_ord.tolist(), dup_hi.tolist(), dup_lo.tolist(),
                                   dup_bits.tolist()):
                net = ipaddress.IPv6Address((h << 64) | lo)
                later.append((o, f"duplicated entry for {net}/{b}"))
            for ords, codes, warns in self.pending:
                for o, code in zip(ords.tolist(), codes.tolist()):
                    if o not in dup_ords:
                        later.append((o, warns[code]))
            later += [(o, w) for o, w in self.slow_pending if o not in dup_ords]
            if later:
                self._merge_warnings(c, files, later)
        c.blocks6 = self.store  # IPIndex.build flattens it, a bucket at a time

    def _merge_warnings(self, c: Collector, files: list[str],
                        later: list[tuple[int, str]]) -> None:
        """c.warnings (file order) and the late ones (by ordinal), merged in file order."""
        keyed: list[tuple[int, LineWarning]] = []
        for k, base in enumerate(self.bases):
            end = self.marks[k + 1] if k + 1 < len(self.marks) else len(c.warnings)
            keyed += [(base + w.line, w) for w in c.warnings[self.marks[k]:end]]
        for o, msg in later:
            k = bisect_right(self.bases, o) - 1
            keyed.append((o, LineWarning(files[k], o - self.bases[k], msg)))
        keyed.sort(key=lambda kw: kw[0])
        c.warnings[:] = [w for _, w in keyed]


def _open(path: str) -> io.FileIO | bytes:
    """A regular, uncompressed file opened for reading in pieces; else its whole bytes
    from read_data() (gunzipped), or read_data()'s error."""
    try:
        f = open(path, "rb", buffering=0)
    except OSError:
        return read_data(path)
    try:
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode) and os.pread(f.fileno(), 2, 0) != b"\x1f\x8b":
            return f
    except OSError:
        pass
    f.close()
    return read_data(path)


def _pieces(src: io.FileIO | bytes, feed: Feed) -> Iterator[Item6]:
    """feed(bytes, final) -> (consumed, items) over a file's bytes, piece by piece."""
    if isinstance(src, bytes):
        yield from feed(src, True)[1]
        return
    with src:
        buf = bytearray(CHUNK)
        have = 0
        while True:
            with memoryview(buf) as mv:
                while have < len(buf):
                    k = src.readinto(mv[have:])
                    if not k:
                        break
                    have += k
                final = have < len(buf)
                used, items = feed(mv[:have], final)
            yield from items
            if final:
                return
            if used == 0:  # one line longer than the buffer
                buf.extend(bytes(len(buf)))
            else:
                buf[:have - used] = buf[used:have]
                have -= used


def _count(paths: list[str]) -> tuple[npt.NDArray[np.uint32], dict[str, bytes]]:
    """The first pass: per bucket, an upper bound of the /64-and-shorter entries
    (_loader6.count6). Files that are not plain regular files (gzip, pipes, unreadable:
    read_data()) are read whole once, here, and their bytes kept for the scan."""
    counts = np.zeros(65536, np.uint32)
    whole: dict[str, bytes] = {}

    def feed(b: memoryview | bytes, final: bool) -> tuple[int, tuple[()]]:
        return _loader6.count6(b, final, counts), ()

    for path in paths:  # a file named twice: counted twice, as it is scanned twice
        try:
            src = whole[path] if path in whole else _open(path)
        except ZoneFileError:
            continue  # the scan reports it, in its turn
        if isinstance(src, bytes):
            whole[path] = src
        for _ in _pieces(src, feed):
            pass
    return counts, whole


def file_items(c: Collector, fmt: IP6Trie | IP6TSet, files: Iterable[str]) -> Iterator[Item]:
    """(path, lineno, text-or-chunk) items for load_lines(c, fmt, ...); see the module doc."""
    files = list(files)
    counts, whole = _count(files)
    st = _State6(fmt.name, counts)
    del counts
    fmt.defer = st.defer

    def feed(b: memoryview | bytes, final: bool) -> tuple[int, Sequence[Item6]]:
        # every chunk of the pieces before is resolved by now (load_lines calls each as
        # it comes) and the entries of their lines added: into the store with them,
        # and the scanner starts over at entry 0
        st.sc.commit(st.store)
        return st.sc.feed(b, final)

    try:
        for k, path in enumerate(files):
            st.bases.append(st.sc.new_file())
            st.marks.append(len(c.warnings))
            yield path, 0, None
            src: io.FileIO | bytes
            if path in whole:  # read whole by the first pass (kept while named again)
                src = whole[path] if path in files[k + 1:] else whole.pop(path)
            else:
                src = _open(path)
            for item in _pieces(src, feed):
                if len(item) == 2:
                    yield path, item[0], item[1]
                else:
                    yield path, 0, _Chunk6(st, *item)
            del src
            st.sc.commit(st.store)
        st.finish(c, files)
    finally:
        fmt.defer = None
