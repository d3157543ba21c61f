"""scan: check large address lists (files, mail logs) against every IP zone at once.

    scanner = Scanner(zones)
    stats = scanner.scan(["mail.log"], out=sys.stdout.buffer, fmt="jsonl", extract=True)

Input is read in large chunks of bytes; the compiled parser (rblmirror._scan) turns
each chunk into arrays of addresses without a Python object per line. IPv4 addresses
are looked up once, in a merged index of every dataset of every zone (its value ids
are "combinations": one value id per dataset), so the cost per address does not grow
with the number of lists. IPv6 addresses take a slower numpy path per dataset.

Output rows are the rows of `rblmirror check`: one per (address, zone), with the keys
of `check --json` (address, zone, listed, a, txt), and follow the same rules (the
compiled decision's, see answer.py): a row's text is prepared once per combination with
a placeholder for the address (TXT from values.template_pieces, merged as DNS merges
them), so writing a row is one replace(); what a prepared row cannot say exactly (an
address found as IPv4 inside IPv6, a TXT cut by the 254-byte cap, two TXT templates that
may render alike, a zone with a domain list at its apex or a subzone a reverse name falls
into) is check's own answer for that address.
"""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, TypeAlias

import numpy as np

from .. import _index, _scan
from .check import CheckResult, Row, RowExtra, check
from ..data.dataset import Dataset
from ..errors import ScanInputError, RblmirrorError
from ..data.values import TXT_EMIT_MAX, Listing, render, template_pieces, txt_bytes, txt_str
from ..dns.zone import Found, Zone

FORMATS = ("table", "csv", "jsonl", "addresses")
CHUNK = 4 << 20
CSV_HEADER = "address,zone,listed,a,txt\n"
_PH = "\ue000"       # the address placeholder inside a prepared row (a private-use char)
_LONGEST_ADDR = 39    # an IPv6 address in text, at most
_MISSING = object()
#: a zone's reader (verdict.reader): its A values -> (listed, what the row adds)
Reader: TypeAlias = Callable[[tuple[str, ...]], tuple[bool, RowExtra]]


@dataclass
class ScanStats:
    """What a scan saw. `listed` counts addresses listed in at least one zone; `per_zone`
    the addresses each zone lists (an address seen twice counts twice)."""

    lines: int = 0
    addresses: int = 0
    ipv4: int = 0
    ipv6: int = 0
    skipped: int = 0  # blank and '#' lines; with extract, lines without an address
    bad: int = 0      # lines that are not one address (never with extract)
    listed: int = 0
    per_zone: dict[str, int] = field(default_factory=dict)
    bad_samples: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def ip_zones(zones: Iterable[Zone]) -> list[Zone]:
    """The zones that take addresses (an IP dataset at the zone itself)."""
    return [z for z in zones
            if any(not a.dataset.is_names for a in z.datasets if a.subzone == "")]


def merge_segments4(datasets: list[Dataset]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One segment index over several datasets' IPv4 segments.

    Returns (starts uint32, combo ids int32, combos int32[n_combos, n_datasets]): segment
    i holds, for dataset j, value id combos[ids[i], j] (-1: not listed)."""
    segs = [ds.index.segments4() for ds in datasets]
    u = np.sort(np.concatenate([s for s, _ in segs]))
    u = u[np.concatenate([[True], u[1:] != u[:-1]])]
    m = np.empty((len(u), len(datasets)), np.int32)
    for j, (s, v) in enumerate(segs):
        m[:, j] = v[np.searchsorted(s, u, side="right") - 1]
    if len(u) > 1:
        keep = np.ones(len(u), bool)
        keep[1:] = (m[1:] != m[:-1]).any(axis=1)
        u, m = u[keep], m[keep]
    ids = _row_ids(m)
    combos = np.empty((int(ids.max()) + 1, m.shape[1]), np.int32)
    combos[ids] = m
    return u.astype(np.uint32), ids.astype(np.int32), combos


def _row_ids(m: np.ndarray) -> np.ndarray:
    """Dense ids of the distinct rows of a matrix of value ids (>= -1), equal rows equal
    ids: a mixed-radix key per row, densified by one sort (np.unique(axis=0) is slow)."""
    key = np.zeros(len(m), np.int64)
    top = 1
    for j in range(m.shape[1]):
        radix = int(m[:, j].max()) + 2 if len(m) else 1
        if top * radix >= 1 << 62:
            _, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.int64)
            top = int(key.max()) + 1
        key = key * radix + (m[:, j].astype(np.int64) + 1)
        top *= radix
    _, ids = np.unique(key, return_inverse=True)
    return ids.reshape(-1)


class Scanner:
    """Bulk lookups of addresses against zones, as `check` answers them."""

    def __init__(self, zones: Iterable[Zone],
                 readers: dict[str, Reader] | None = None):
        """readers: zone name -> reader(A values) -> (listed, extra row keys), for zones
        whose answers need reading (verdict.reader: a catalogued list's error codes are
        not listings)."""
        self.zones = ip_zones(zones)
        if not self.zones:
            raise RblmirrorError("no IP zone configured to scan against")
        #: per zone: its rows come from the exact path only (a domain dataset at the
        #: zone itself, or a subzone a reverse name can fall into: the merged IP index
        #: cannot answer those as DNS does); such a zone has one column, its answer's id
        self._exact = [_needs_exact(z) for z in self.zones]
        self.datasets: list[Dataset] = []
        self.zone_cols: list[list[int]] = []  # per zone: its dataset columns
        for z, exact in zip(self.zones, self._exact):
            cols = []
            for ds in ([] if exact else z.ip_datasets()):
                cols.append(len(self.datasets))
                self.datasets.append(ds)
            self.zone_cols.append(cols)
        self._exact_zones = [zi for zi, e in enumerate(self._exact) if e]
        for k, zi in enumerate(self._exact_zones):
            self.zone_cols[zi] = [len(self.datasets) + k]
        if self.datasets:
            starts, ids, combos = merge_segments4(self.datasets)
        else:
            starts, ids = np.zeros(1, np.uint32), np.zeros(1, np.int32)
            combos = np.zeros((1, 0), np.int32)
        if self._exact_zones:  # not listed there until the exact lookup says so
            combos = np.concatenate(
                [combos, np.full((len(combos), len(self._exact_zones)), -1, np.int32)], axis=1)
        self.index4 = _index.Index4(starts, ids)
        self.combos: list[tuple[int, ...]] = list(map(tuple, combos.tolist()))
        self._combo_id: dict[tuple[int, ...], int] | None = None  # built for IPv6 rows
        listed = combos >= 0
        self._zone_listed = np.stack([listed[:, cols].any(axis=1) for cols in self.zone_cols],
                                     axis=1)
        #: the exact zones' answers (Found), and each one's id (its column's value)
        self._found: list[Found] = []
        self._answers: dict[Found, int] = {}
        self._templates: dict[tuple[str, bool], _Templates] = {}
        self._zone_rows: dict[tuple[str, int, tuple[int, ...]], tuple[str | None, int | None]] = {}
        self.readers = {zi: (readers or {})[z.name] for zi, z in enumerate(self.zones)
                        if z.name in (readers or {})}
        self._reads: dict[tuple[int, tuple[int, ...]], tuple[bool, RowExtra]] = {}
        self._apply_readers(range(len(self.combos)))

    # ---- combinations ---------------------------------------------------------------
    def combo_id(self, combo: tuple[int, ...]) -> int:
        if self._combo_id is None:
            self._combo_id = {c: i for i, c in enumerate(self.combos)}
        i = self._combo_id.get(combo)
        if i is None:
            i = self._combo_id[combo] = len(self.combos)
            self.combos.append(combo)
            row = np.array([[any(combo[j] >= 0 for j in cols) for cols in self.zone_cols]])
            self._zone_listed = np.concatenate([self._zone_listed, row])
            self._apply_readers([i])
        return i

    def _apply_readers(self, combos: Iterable[int]) -> None:
        """A zone whose reader says "not listed" (an error code) is not listed."""
        for zi in self.readers:
            for c in combos:
                if self._zone_listed[c, zi] and not self._read(c, zi)[0]:
                    self._zone_listed[c, zi] = False

    def _read_result(self, r: CheckResult) -> Row:
        """check's row for a CheckResult, read by its zone's reader (if any)."""
        row = r.as_json()
        zi = next((i for i in self.readers if self.zones[i].name == r.zone), None)
        if zi is not None and r.listed:
            listed, extra = self.readers[zi](tuple(r.a))
            if not listed:
                row["listed"], row["a"], row["txt"] = False, [], []
            row = {**row, **extra}
        return row

    def _read(self, combo: int, zi: int) -> tuple[bool, RowExtra]:
        """(listed, extra row keys) of a zone that has a reader, for a combination."""
        key = (zi, tuple(self.combos[combo][j] for j in self.zone_cols[zi]))
        got = self._reads.get(key)
        if got is None:
            if self._exact[zi]:  # its column: the id of its answer, or -1
                v = self.combos[combo][self.zone_cols[zi][0]]
                a = self._found[v].a if v >= 0 else ()
            else:
                a = tuple(dict.fromkeys(x.a for x in self.zone_listings(combo, zi)))
            got = self._reads[key] = self.readers[zi](a) if a else (False, {})
        return got

    def listed_mask(self) -> np.ndarray:
        """bool per combination: listed in at least one zone."""
        mask: np.ndarray = np.any(self._zone_listed, axis=1)  # (numpy types it Any)
        return mask

    def zone_listings(self, combo: int, zone_i: int) -> list[Listing]:
        """The zone's Listing templates for a combination, in dataset order (each once)."""
        out: list[Listing] = []
        for j in self.zone_cols[zone_i]:
            vid = self.combos[combo][j]
            if vid >= 0:
                out.extend(x for x in self.datasets[j].values(vid) if x not in out)
        return out

    # ---- lookups --------------------------------------------------------------------
    def lookup(self, fam: np.ndarray, v4: np.ndarray, hi: np.ndarray,
               lo: np.ndarray) -> np.ndarray:
        """Combination id (int32) for each parsed address."""
        out = self._lookup_ip(fam, v4, hi, lo)
        if self._exact_zones:  # the exact zones' columns: their answer per address
            d = len(self.datasets)
            ans = self._answers
            for i, subject in enumerate(address_texts(fam, v4, hi, lo)):
                col = []
                for zi in self._exact_zones:
                    found = self.zones[zi].lookup(subject)
                    if found.listed and found not in ans:
                        ans[found] = len(self._found)
                        self._found.append(found)
                    col.append(ans[found] if found.listed else -1)
                out[i] = self.combo_id(self.combos[out[i]][:d] + tuple(col))
        return out

    def _lookup_ip(self, fam: np.ndarray, v4: np.ndarray, hi: np.ndarray,
                   lo: np.ndarray) -> np.ndarray:
        out = np.empty(len(fam), np.int32)
        is6 = fam == 6
        if not is6.any():
            return self.index4.lookup_many(v4, out)
        w4 = np.flatnonzero(~is6)
        out[w4] = self.index4.lookup_many(np.ascontiguousarray(v4[w4]))
        w6 = np.flatnonzero(is6)
        h, l = np.ascontiguousarray(hi[w6]), np.ascontiguousarray(lo[w6])
        m = np.full((len(w6), len(self.combos[0])), -1, np.int32)
        for j, ds in enumerate(self.datasets):  # rbldnsd's mapped/6to4 rule, as DNS asks
            m[:, j] = ds.index.lookup_many_addr6(h, l)
        rows, inv = np.unique(m, axis=0, return_inverse=True)
        ids = np.array([self.combo_id(tuple(int(x) for x in r)) for r in rows], np.int32)
        out[w6] = ids[inv.reshape(-1)]
        return out

    # ---- output rows ----------------------------------------------------------------
    def rows(self, subject: str, listed_only: bool = False) -> list[Row]:
        """The check --json rows for one address, the exact way: check's own (the
        compiled decision for the address's name in every zone), read by the zones'
        readers."""
        return [x for x in map(self._read_result, check([subject], self.zones))
                if x["listed"] or not listed_only]

    def _template(self, combo: int, fmt: str, listed_only: bool) -> tuple[str | None, int]:
        """The output text for a combination with _PH where the address goes, and the
        longest address text it holds (a longer one would push a TXT past rbldnsd's
        254-byte cap, which render() applies after substitution). (None, -1) when it
        cannot be prepared (the placeholder itself inside a TXT)."""
        if fmt == "addresses":  # the listed addresses only, one a line (as grepcidr)
            return (_PH + "\n" if self._zone_listed[combo].any() else ""), 1 << 30
        out = []
        maxlen = 1 << 30
        cache = self._zone_rows
        for zi, cols in enumerate(self.zone_cols):
            key = (fmt, zi, tuple(self.combos[combo][j] for j in cols))
            got = cache.get(key)
            if got is None:
                got = cache[key] = self._zone_template(combo, zi, fmt)
            text, m = got
            if text is None:
                return None, -1
            if listed_only and m is None:
                continue
            out.append(text)
            if m is not None:
                maxlen = min(maxlen, m)
        return "".join(out), maxlen

    def _zone_template(self, combo: int, zi: int, fmt: str) -> tuple[str | None, int | None]:
        """One zone's row for a combination: (text, longest address; None when the zone
        does not list it), or (None, -1) when only the exact path can say. The row is
        DNS's answer for ANY as check gives it: the A values once each, the TXT records
        rendered (values.template_pieces, with _PH for the subject), an identical TXT once;
        so two different templates that could render alike (a prefix or suffix of one
        is the other's) leave the combination to the exact path."""
        if self._exact[zi]:  # (its column: -1 not listed, else the exact path)
            if self.combos[combo][self.zone_cols[zi][0]] >= 0:
                return None, -1
            return format_row({"address": _PH, "zone": self.zones[zi].name, "listed": False,
                               "a": [], "txt": []}, fmt), None
        ls = self.zone_listings(combo, zi)
        listed, extra = self._read(combo, zi) if zi in self.readers else (bool(ls), {})
        ls = ls if listed else []
        maxlen = 1 << 30
        txts: list[str] = []
        shapes: list[tuple[bytes, bytes]] = []  # (literal prefix, literal suffix) per TXT
        for x in ls:
            if not x.txt:  # no TXT record (as decide() reads a value)
                continue
            if _PH in x.txt:
                return None, -1
            pieces = template_pieces(x.txt)
            nsubj = pieces.count(None)
            if nsubj == 0:  # no subject inside: a constant
                t = render(x.txt, "")
                shape = (txt_bytes(t), txt_bytes(t))
            else:
                t = "".join(_PH if pc is None else txt_str(pc) for pc in pieces)
                fixed = sum(len(pc) for pc in pieces if pc is not None)
                maxlen = min(maxlen, (TXT_EMIT_MAX - fixed) // nsubj)
                first, last = pieces.index(None), len(pieces) - 1 - pieces[::-1].index(None)
                shape = (b"".join(pc for pc in pieces[:first] if pc is not None),
                         b"".join(pc for pc in pieces[last + 1:] if pc is not None))
            if t in txts:
                continue
            if any(_may_coincide(shape, other) for other in shapes):
                return None, -1
            txts.append(t)
            shapes.append(shape)
        row: Row = {"address": _PH, "zone": self.zones[zi].name, "listed": listed,
               "a": list(dict.fromkeys(x.a for x in ls)), "txt": txts, **extra}
        return format_row(row, fmt), (maxlen if listed else None)

    def templates(self, fmt: str, listed_only: bool, ids: np.ndarray) -> _Templates:
        """Prepared rows per combination (built on first use, for the ids given)."""
        key = (fmt, listed_only)
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = _Templates(
                "backslashreplace" if fmt == "jsonl" else "surrogateescape")
        t.grow(len(self.combos))
        missing = np.unique(ids[~t.ready[ids]]).tolist()
        t.add({c: self._template(c, fmt, listed_only) for c in missing})
        return t

    # ---- the scan -------------------------------------------------------------------
    def scan(self, inputs: Iterable[str | os.PathLike[str] | BinaryIO], out: BinaryIO | None,
             fmt: str = "table", listed_only: bool = False, extract: bool = False,
             progress: Callable[[int, int, int], None] | None = None,
             chunk_size: int = CHUNK) -> ScanStats:
        """Scan every input (a path, '-' for stdin, or a binary stream) and write rows
        to out (None: count only). progress(bytes_done, bytes_total, lines) is called
        after each chunk (bytes_total 0 when unknown)."""
        if fmt not in FORMATS:
            raise RblmirrorError(f"unknown output format {fmt!r} (known: {', '.join(FORMATS)})")
        t0 = time.perf_counter()
        st = ScanStats(per_zone={z.name: 0 for z in self.zones})
        counts = np.zeros(len(self.combos), np.int64)
        inputs = list(inputs)
        total = sum(_size(x) for x in inputs)
        done = 0
        if out is not None and fmt == "csv":
            out.write(CSV_HEADER.encode())
        listed_mask = self.listed_mask()
        for src in inputs:
            name, f, close = _open(src)
            try:
                base_line = 0
                leftover = b""
                while True:
                    try:
                        data = f.read(chunk_size)
                    except OSError as e:
                        raise ScanInputError(f"cannot read {name}: {e.strerror or e}") from None
                    final = not data
                    block = leftover + data if leftover else data
                    r = _scan.parse_chunk(block, final, extract)
                    leftover = block[r["consumed"]:]
                    done += len(data)
                    fam = r["fam"]
                    st.lines += r["lines"]
                    st.skipped += r["skipped"]
                    st.bad += r["bad"]
                    for ln, text in r["bad_samples"]:
                        if len(st.bad_samples) < 5:
                            st.bad_samples.append(
                                (name, base_line + ln + 1, text.decode("utf-8", "replace")))
                    base_line += r["lines"]
                    if len(fam):
                        ids = self.lookup(fam, r["v4"], r["hi"], r["lo"])
                        if len(self.combos) > len(counts):  # new IPv6 combinations
                            counts = np.concatenate(
                                [counts, np.zeros(len(self.combos) - len(counts), np.int64)])
                            listed_mask = self.listed_mask()
                        counts += np.bincount(ids, minlength=len(counts))
                        n6 = int(np.count_nonzero(fam == 6))
                        st.ipv6 += n6
                        st.ipv4 += len(fam) - n6
                        if out is not None:
                            self._emit(out, fam, r, ids, listed_mask, fmt, listed_only)
                    if progress is not None:
                        progress(done, total, st.lines)
                    if final:
                        break
            finally:
                if close:
                    f.close()
        st.addresses = st.ipv4 + st.ipv6
        listed_mask = self.listed_mask()
        st.listed = int(counts[listed_mask].sum())
        for zi, z in enumerate(self.zones):
            st.per_zone[z.name] = int(counts[self._zone_listed[:, zi]].sum())
        st.seconds = time.perf_counter() - t0
        return st

    def _emit(self, out: BinaryIO, fam: np.ndarray, r: _scan._Chunk, ids: np.ndarray,
              listed_mask: np.ndarray, fmt: str, listed_only: bool) -> None:
        v4, hi, lo = r["v4"], r["hi"], r["lo"]
        if listed_only or fmt == "addresses":
            sel = np.flatnonzero(listed_mask[ids])
            if not len(sel):
                return
            fam, v4, hi, lo, ids = fam[sel], v4[sel], hi[sel], lo[sel], ids[sel]
        t = self.templates(fmt, listed_only, ids)
        w6 = np.flatnonzero(fam == 6)
        texts6 = [str(ipaddress.IPv6Address((int(hi[i]) << 64) | int(lo[i]))).encode()
                  for i in w6.tolist()]
        # an IPv6 address found as IPv4 (mapped, 6to4) has the IPv4 address for `$` in a
        # TXT, as DNS and check render it: such listed rows take check's own path
        force = None
        if len(w6) and fmt != "addresses":
            special = _index.asks_v4_many(np.ascontiguousarray(hi[w6], np.uint64),
                                          np.ascontiguousarray(lo[w6], np.uint64))
            if special.any():
                force = np.zeros(len(fam), np.uint8)
                force[w6] = special & listed_mask[ids[w6]]

        def slow(i: int) -> bytes:  # the exact, per-address path (rare)
            subject = address_texts(fam[i:i + 1], v4[i:i + 1], hi[i:i + 1], lo[i:i + 1])[0]
            rows = self.rows(subject, listed_only)
            return "".join(format_row(x, fmt) for x in rows).encode("utf-8", t.errors)

        out.write(_scan.emit_rows(np.ascontiguousarray(fam), np.ascontiguousarray(v4),
                                  np.ascontiguousarray(ids, dtype=np.int32), texts6,
                                  t.blob, t.start, t.end, t.nph, t.maxlen, slow, force).data)


class _Templates:
    """Prepared rows of one output format, encoded, NUL where the address goes: template
    c is blob[start[c]:end[c]] with nph[c] NULs, good for addresses up to maxlen[c]."""

    _PHB = _PH.encode()

    def __init__(self, errors: str):
        self.errors = errors
        self.blob = b""
        self.start = np.zeros(0, np.int64)
        self.end = np.zeros(0, np.int64)
        self.nph = np.zeros(0, np.int32)
        self.maxlen = np.zeros(0, np.int32)
        self.ready = np.zeros(0, bool)

    def grow(self, n: int) -> None:
        k = n - len(self.ready)
        if k > 0:
            self.start = np.concatenate([self.start, np.zeros(k, np.int64)])
            self.end = np.concatenate([self.end, np.zeros(k, np.int64)])
            self.nph = np.concatenate([self.nph, np.zeros(k, np.int32)])
            self.maxlen = np.concatenate([self.maxlen, np.zeros(k, np.int32)])
            self.ready = np.concatenate([self.ready, np.zeros(k, bool)])

    def add(self, prepared: dict[int, tuple[str | None, int]]) -> None:
        if not prepared:
            return
        parts = [self.blob]
        pos = len(self.blob)
        for c, (text, maxlen) in prepared.items():
            b = b""
            if text is not None:
                b = text.encode("utf-8", self.errors)
                if b"\0" in b:  # a NUL of its own: every row takes the exact path
                    b, maxlen = b"", -1
                else:
                    b = b.replace(self._PHB, b"\0")
            self.start[c] = pos
            pos += len(b)
            self.end[c] = pos
            self.nph[c] = b.count(0)
            self.maxlen[c] = max(min(maxlen, 1 << 30), -1)
            self.ready[c] = True
            parts.append(b)
        self.blob = b"".join(parts)


def _needs_exact(z: Zone) -> bool:
    """A zone the merged IP index cannot answer as DNS does: a domain dataset of the
    lists' own at the zone itself (a reverse name is a domain name to it), or a subzone
    a reverse name can fall into."""
    return any(a.dataset.is_names and not a.synthetic for a in z.datasets if a.subzone == "") \
        or any(_reverse_like(a.subzone) for a in z.datasets)


def _reverse_like(subzone: str) -> bool:
    """A subzone whose labels could end a reverse name (octets or single nibbles)."""
    labels = subzone.split(".") if subzone else []
    return bool(labels) and all(
        (x.isascii() and x.isdigit() and len(x) <= 3) or (len(x) == 1 and x in _HEX)
        for x in labels)


_HEX = frozenset("0123456789abcdefABCDEF")


def _may_coincide(a: tuple[bytes, bytes], b: tuple[bytes, bytes]) -> bool:
    """Could two TXT templates (literal prefix, literal suffix) render the same text for
    some subject? Not when their prefixes, or their suffixes, disagree."""
    (pa, sa), (pb, sb) = a, b
    return (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa))


def address_texts(fam: np.ndarray, v4: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """Normalized text of each address (as addr.to_text writes it)."""
    is6 = fam == 6
    if not is6.any():
        return _scan.format_ip4_many(np.ascontiguousarray(v4, dtype=np.uint32))
    texts = [""] * len(fam)
    w4 = np.flatnonzero(~is6)
    for i, s in zip(w4.tolist(),
                    _scan.format_ip4_many(np.ascontiguousarray(v4[w4], dtype=np.uint32))):
        texts[i] = s
    for i in np.flatnonzero(is6).tolist():
        texts[i] = str(ipaddress.IPv6Address((int(hi[i]) << 64) | int(lo[i])))
    return texts


def format_row(row: Row, fmt: str) -> str:
    """One check row as a line of output (with its newline)."""
    if fmt == "addresses":
        return f"{row['address']}\n" if row["listed"] else ""
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False) + "\n"
    if fmt == "csv":  # an error goes in the txt column
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(
            [row["address"], row["zone"], int(row["listed"]), " ".join(row["a"]),
             row.get("error") or "; ".join(row["txt"])])
        return buf.getvalue()
    if row.get("error"):
        return f"{row['address']}\t{row['zone']}\tERROR\t{row['error']}\n"
    if row["listed"]:
        txt = "; ".join(row["txt"])
        a = ",".join(row["a"])
        if "meaning" in row:  # a catalogued list's answers with what they mean
            a = ", ".join(f"{v} ({m or 'not in the catalogue of ' + row['list']})"
                          for v, m in row["meaning"].items())
        return (f"{row['address']}\t{row['zone']}\tLISTED\t{a}"
                + (f"\t{txt}" if txt else "") + "\n")
    return f"{row['address']}\t{row['zone']}\tnot listed\n"


def _size(src: str | os.PathLike[str] | BinaryIO) -> int:
    if isinstance(src, (str, os.PathLike)) and os.fspath(src) != "-":
        try:
            return os.path.getsize(src)
        except OSError:
            return 0
    return 0


def _open(src: str | os.PathLike[str] | BinaryIO) -> tuple[str, BinaryIO, bool]:
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        if name == "-":
            return "<stdin>", sys.stdin.buffer, False
        try:
            return name, open(name, "rb", buffering=0), True
        except OSError as e:
            raise ScanInputError(f"cannot read {name}: {e.strerror or e}") from None
    return getattr(src, "name", "<stream>"), src, False
