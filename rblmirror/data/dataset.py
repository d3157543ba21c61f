"""Dataset: one list loaded from its dump files, answering lookups from the compiled index.

    ds = Dataset.from_file(path, format="ip4set")
    ds.lookup("192.0.2.1")      # -> tuple[Listing, ...], () when not listed
    ds.lookup_many(uint32_arr)  # -> int32 value ids, -1 when not listed
    ds.value(i) / ds.values(i)  # the Listing template(s) behind a value id ($ unrendered)
"""
from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict
from typing import Any, Callable, Iterable, TypeAlias

import numpy as np
import numpy.typing as npt

from .. import _index, _loader
from .._loader6 import Store6
from . import addr, formats
from ..errors import AddressError, SnapshotError, ZoneFileError
from .index import Blocks6, IPIndex, blocks6_arrays, finish_groups4, group_blocks4
from .snapshot import HEADER_VERSION, read_snapshot, write_snapshot
from .values import Listing, finish_template, render
from .formats.base import (EXCL, NS, SOA, Collector, Meta, LineWarning, TextItem,
                           file_lines, load_lines)
from .formats import fast4
from .formats import dnset as dnset_fmt
from .formats import generic as generic_fmt
from .._names import NameBuilder, NameIndex
from .formats.combined import split_sections

_READABLE = (1, 2)
#: a value set's id for its value ids, in order (one value: that value's own id)
SetId: TypeAlias = Callable[[tuple[int, ...]], int]


def _finish_template(v: Listing, meta: Meta) -> Listing:
    """Apply the $= base template and the $n variables, leaving only `$` and `$$`."""
    txt = finish_template(v.txt, meta.variables, meta.base)
    return v if txt == v.txt else Listing(v.a, txt)


def _segments4(s: np.ndarray, e: np.ndarray, v: np.ndarray, bounds: np.ndarray,
               per_bucket: bool, mode: str, set_id: SetId, consume: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """The IPv4 blocks as the index's segments: identical blocks merged ('set' keeps
    every value, an exclusion wins; 'trie' keeps the first), then flattened (the
    innermost block wins). The blocks come in address-ordered buckets [bounds[k],
    bounds[k + 1]) (file order inside each), grouped one bucket at a time so that the
    sort's scratch stays small; consume: the input's pages are given back as each bucket
    is done. per_bucket: the buckets are the 256 /8s and no block reaches past its own,
    so each bucket is flattened on its own too (its segments cut to its /8) and the
    groups never all live at once; else the groups are flattened together at the end."""
    parts_s: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        base, top = k << 24, (k << 24) | 0xFFFFFF
        if lo == hi:
            if per_bucket:
                parts_s.append(np.array([base], np.uint32))
                parts_v.append(np.array([-1], np.int32))
            continue
        gs, ge, gid, flags, vsorted, gstart = group_blocks4(s[lo:hi], e[lo:hi], v[lo:hi],
                                                            EXCL)  # sorted, in C
        # in C: -1 for an exclusion (set mode: among the entries), and the mixed groups
        for g in finish_groups4(gid, flags, EXCL, mode == "set").tolist():
            vals = vsorted[gstart[g]:gstart[g + 1]].tolist()  # mixed values: a value set
            gid[g] = set_id(tuple(dict.fromkeys(vals)))
        del flags, vsorted, gstart
        if per_bucket:
            fs, fv = _index.flatten4(gs, ge, gid)
            i = int(np.searchsorted(fs, base, "right")) - 1  # the segment holding base
            j = int(np.searchsorted(fs, top + 1, "left")) if top < 0xFFFFFFFF else len(fs)
            ps = fs[i:j].copy()
            ps[0] = base
            parts_s.append(ps)
            parts_v.append(fv[i:j].copy())
            del fs, fv
        else:  # copies: the sort's scratch buffers go
            groups.append((gs.copy(), ge.copy(), gid.copy()))
        del gs, ge, gid
        if consume:
            for a in (s, e, v):
                _loader.release_pages(a.view(np.uint32), hi)
    if not per_bucket:
        gs, ge, gid = (np.concatenate([g[x] for g in groups]) for x in range(3))
        groups.clear()
        return _index.flatten4(gs, ge, gid)
    seg_s, seg_v = np.concatenate(parts_s), np.concatenate(parts_v)
    keep = np.ones(len(seg_v), bool)
    keep[1:] = seg_v[1:] != seg_v[:-1]  # equal neighbours across /8 edges: one segment
    return seg_s[keep], seg_v[keep]


def _blocks6(c: Collector, mode: str, set_id: SetId) -> Blocks6 | Store6 | None:
    """The collector's IPv6 blocks as IPIndex.build takes them: the compiled path's
    store (fast6.py) as it is, or (hi, lo, bits, gid) arrays, gid -1 for an exclusion,
    of identical blocks the first wins ('trie'; 'set' merges their values: no IPv6
    format has that mode). None when there are none."""
    store = c.blocks6
    arrs: tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]] | None
    arrs = None
    if store is not None:
        if not c.b6 and mode != "set":
            c.blocks6 = None
            return store
        st = store.blocks()  # sorted, duplicates gone; exclusions -1
        st[3][st[3] == -1] = EXCL
        arrs = st
    if c.b6:  # from Python format code (plain, combined sections), after those
        m = blocks6_arrays(c.b6)
        arrs = (m.hi, m.lo, m.bits, m.gid) if arrs is None else (
            np.concatenate([arrs[0], m.hi]), np.concatenate([arrs[1], m.lo]),
            np.concatenate([arrs[2], m.bits]), np.concatenate([arrs[3], m.gid]))
    if arrs is None or not len(arrs[0]):
        return None
    hi, lo, bits, vid = arrs
    if mode == "set":
        by_block: dict[tuple[int, int, int], list[int]] = {}
        for key in zip(hi.tolist(), lo.tolist(), bits.tolist(), vid.tolist()):
            by_block.setdefault(key[:3], []).append(key[3])
        vid = np.array([_merge(by_block[k], mode, set_id) for k in
                        zip(hi.tolist(), lo.tolist(), bits.tolist())], np.int32)
    else:
        vid[vid == EXCL] = -1  # in place: the collector's arrays are done with
    c.blocks6 = None
    return Blocks6(hi, lo, bits, vid, owned=True)  # build may release them as it reads


class Dataset:
    """A loaded list. Immutable once built; safe to share between threads."""

    def __init__(self, *, format: str, files: tuple[str, ...], index: IPIndex,
                 sets: list[tuple[Listing, ...]], names: NameIndex | None = None,
                 meta: Meta | None = None,
                 warnings: list[LineWarning] | None = None, entries: int = 0,
                 children: list[tuple[tuple[str, ...], Dataset]] | None = None,
                 records: list[tuple[str, int, int, bytes]] | None = None):
        self.format = format
        self.files = files
        self.index = index
        self._sets = sets
        #: the compiled dnset index (ext/names.pyx); empty for the other formats
        self.names = names if names is not None else NameIndex.empty()
        self.meta = meta or Meta()
        self.warnings = warnings or []
        self.entries = entries
        self.children = children or []
        #: generic: its records in file order (name, rtype, ttl, rdata); `groups` are
        #: each name's records in answer order, the compiled name index (`names`, exact
        #: names only) gives a name's group, `apex_group` the zone's own (-1: none)
        self.records = records or []
        self.groups: list[tuple[tuple[int, int, bytes], ...]] = []
        self.apex_group = -1
        if format == "generic":
            by_name, self.groups = generic_fmt.groups(self.records)
            self.apex_group = by_name.pop("", -1)
            nb = NameBuilder()
            for name, gid in by_name.items():
                nb.add(False, name, gid)
            self.names = nb.finish(None)

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str], format: str = "ip4set") -> Dataset:
        return cls.from_files([path], format=format)

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]], format: str = "ip4set") -> Dataset:
        files = tuple(os.fspath(p) for p in paths)
        if not files:
            raise ZoneFileError("no files given")
        fmt_cls = formats.get(format)
        _loader.fix_mmap_threshold()  # big temporaries are mapped, and unmapped when freed
        if fmt_cls is formats.Combined:
            ds = cls._combined(files, file_lines(files))
            _loader.trim_heap()
            return ds
        c = Collector()
        fmt = fmt_cls()
        names = None
        if fmt_cls is formats.DNSet:  # parsed in C, straight into the name index
            names = NameBuilder()
            load_lines(c, fmt, dnset_fmt.file_items(c, names, files))
        else:
            load_lines(c, fmt, fast4.file_items(c, fmt, files))
        ds = cls._from_collector(fmt_cls.name, files, c, fmt_cls.mode, names)
        del c
        _loader.trim_heap()  # what the load freed on the heap goes back to the system
        return ds

    @classmethod
    def _combined(cls, files: tuple[str, ...], items: Iterable[TextItem]) -> Dataset:
        warnings: list[LineWarning] = []
        common, sections = split_sections(items, warnings)
        base = Collector()
        load_lines(base, formats.Plain(), common)  # specials only; entries are not allowed
        if base.entries:
            warnings.append(LineWarning(files[0], 0, "entries before the first $DATASET ignored"))
        children = []
        for sec in sections:
            if sec.type in ("combined", "acl") or sec.type not in formats.REGISTRY:
                warnings.append(LineWarning(files[0], 0, f"unsupported $DATASET type {sec.type!r}"))
                continue
            c = Collector()
            c.meta.ttl = base.meta.ttl
            fmt_cls = formats.get(sec.type)
            load_lines(c, fmt_cls(), sec.items)
            for k, v in base.meta.variables.items():
                c.meta.variables.setdefault(k, v)
            child = cls._from_collector(fmt_cls.name, files, c, fmt_cls.mode)
            children.append((sec.subzones, child))
            warnings.extend(child.warnings)
        warnings = base.warnings + warnings
        return cls(format="combined", files=files, index=IPIndex.empty(), sets=[],
                   meta=base.meta, warnings=warnings,
                   entries=sum(ch.entries for _, ch in children), children=children)

    @classmethod
    def _from_collector(cls, fmt: str, files: tuple[str, ...], c: Collector,
                        mode: str, names: NameBuilder | None = None) -> Dataset:
        """names: the builder the compiled dnset loader filled (else the names are the
        collector's, from the Python parser)."""
        if fmt in formats.REGISTRY and formats.get(fmt).single_value:
            c.one_value()  # ip4tset/ip6tset
        values = [_finish_template(v, c.meta) for v in c.values]
        sets: list[tuple[Listing, ...]] = [(v,) for v in values]
        set_ids: dict[tuple[int, ...], int] = {}

        def set_id(vids: tuple[int, ...]) -> int:
            if len(vids) == 1:
                return vids[0]
            i = set_ids.get(vids)
            if i is None:
                i = set_ids[vids] = len(sets)
                sets.append(tuple(values[x] for x in vids))
            return i

        seg4 = None
        if c.blocks4 is not None:  # the compiled path's: bucketed, consumed as grouped
            s4, e4, vid4, bounds, wide = c.blocks4.take_buckets()
            c.blocks4 = None
            per_bucket, consume = not wide, True
        else:
            s4, e4, vid4 = c.arrays4()
            bounds, per_bucket, consume = np.array([0, len(s4)]), False, False
        if len(s4):
            seg4 = _segments4(s4, e4, vid4, bounds, per_bucket, mode, set_id, consume)
        del s4, e4, vid4
        v6 = _blocks6(c, mode, set_id)
        if c.names:  # Python-parsed names (combined sections): the same compiled index
            names = names if names is not None else NameBuilder()
            for kind, name, v in c.names:
                names.add(kind == "wild", name, v)
        # duplicates merged in C as _merge() does in set mode (dnset's mode)
        name_index = names.finish(set_id) if names is not None else None
        return cls(format=fmt, files=files, index=IPIndex.build(None, v6, seg4), sets=sets,
                   names=name_index, meta=c.meta, warnings=c.warnings,
                   entries=c.entries, records=c.records)

    # ---- lookups --------------------------------------------------------------------
    def __len__(self) -> int:
        return self.entries

    def __repr__(self) -> str:
        return (f"<Dataset {self.format} {','.join(self.files)}: {self.entries} entries, "
                f"{len(self.warnings)} warnings>")

    @property
    def is_names(self) -> bool:
        return self.format == "dnset"

    @property
    def is_generic(self) -> bool:
        """generic: records by name, no listing (no test points, no addresses)."""
        return self.format == "generic"

    @property
    def is_acl(self) -> bool:
        """acl: an action per client address, never a zone's data."""
        return self.format == "acl"

    def value(self, i: int) -> Listing:
        """The (first) Listing template behind a value id; `$` is not yet substituted."""
        return self._sets[i][0]

    def values(self, i: int) -> tuple[Listing, ...]:
        """Every Listing template behind a value id (an address listed twice has two)."""
        return self._sets[i]

    @property
    def value_count(self) -> int:
        return len(self._sets)

    def lookup_id(self, family: int, value: int) -> int:
        """Value id for a parsed address (-1: not listed), by rbldnsd's rule for IPv6
        (IPv4-mapped asks the IPv4 data; 6to4 the IPv6 data, then the IPv4 inside)."""
        return self.find_addr(family, value)[0]

    def find_addr(self, family: int, value: int) -> tuple[int, str]:
        """(value id or -1, the text `$` stands for in its TXT): what DNS, check and scan
        answer for an address (the IPv4 address when an IPv6 one was found as IPv4)."""
        if family == addr.V4:
            vid = self.index.lookup4(value)
            return vid, (addr.to_text(addr.V4, value) if vid >= 0 else "")
        vid, v4 = self.index.lookup_addr6(value)
        if vid < 0:
            return -1, ""
        return vid, addr.to_text(addr.V4, v4) if v4 >= 0 else addr.to_text(addr.V6, value)

    def lookup(self, address: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address
               ) -> tuple[Listing, ...]:
        """Listings for an address (text, int or ipaddress object), TXT rendered; () if none.

        Against a dnset a domain name is looked up instead."""
        if type(address) is str and self.format != "dnset" and not self.children:
            # compiled fast path: a dotted quad is parsed and looked up in C; the result
            # is -1 (not listed), -2 (not a dotted quad: the general path below) or the
            # value id with the canonical address text (what addr.to_text() gives)
            r = self.index.v4.find_text(address)
            if type(r) is tuple:
                return self.render(*r)
            if r == -1:
                return ()
        if self.children:
            out: list[Listing] = []
            for subzones, ch in self.children:
                if "@" in subzones:
                    out.extend(x for x in ch.lookup(address) if x not in out)
            return tuple(out)
        if self.is_names:
            if not isinstance(address, str):
                raise AddressError(f"{address!r} is not a domain name")
            return self.lookup_name(address)
        vid, subject = self.find_addr(*addr.parse(address))
        return () if vid < 0 else self.render(vid, subject)

    def render(self, vid: int, subject: str) -> tuple[Listing, ...]:
        vs = self._sets[vid]
        if len(vs) == 1:  # the common case, without a generator
            v = vs[0]
            t = v.txt
            if t is not None:
                t = render(t, subject)
            return (Listing(v.a, t),)
        return tuple(Listing(v.a, None if v.txt is None else render(v.txt, subject))
                     for v in vs)

    def match_name(self, name: str) -> tuple[int, str]:
        """(value id, matched entry name) for a domain name; (-1, "") when not listed.

        An exact entry wins (even an exclusion), else the longest `*.`/`.` wildcard.
        The matched name is what rbldnsd substitutes for `$` in a dnset TXT: the entry
        itself (lowercased), e.g. `example.com` for `www.example.com` under `*.example.com`.
        Letters compare as DNS compares them (ASCII case-insensitively); answered by the
        compiled index (ext/names.pyx)."""
        return self.names.match(name)

    def lookup_name(self, name: str) -> tuple[Listing, ...]:
        vid, matched = self.match_name(name)
        if vid < 0:
            return ()
        return self.render(vid, matched)

    def lookup_many(self, addrs: np.ndarray) -> np.ndarray:
        """Value ids (int32, -1 not listed) for a uint32 array of IPv4 addresses; runs in C
        without the GIL."""
        return self.index.lookup_many4(addrs)

    # ---- snapshots ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot that Dataset.load() opens by mmap without re-parsing."""
        if self.children:
            raise SnapshotError("combined datasets are not snapshotted; snapshot each section")
        m = self.meta
        header = {
            "version": HEADER_VERSION, "format": self.format, "files": list(self.files),
            "entries": self.entries, "warnings": [list(w) for w in self.warnings],
            "sets": [[[v.a, v.txt] for v in s] for s in self._sets],
            "records": [[n, t, ttl, rd.hex()] for n, t, ttl, rd in self.records],
            "meta": {"soa": asdict(m.soa) if m.soa else None,
                     "ns": asdict(m.ns) if m.ns else None, "ttl": m.ttl,
                     "timestamp": m.timestamp, "expires": m.expires,
                     "maxrange4": m.maxrange4, "mtime": m.mtime},
        }
        data = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
        write_snapshot(path, data.encode("utf-8", "surrogateescape"), self.index,
                       self.names.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        raw, index, name_arrays = read_snapshot(path)
        try:
            h = json.loads(raw.decode("utf-8", "surrogateescape"))
            if h.get("version") not in _READABLE:
                raise SnapshotError(f"{path}: snapshot version {h.get('version')} not supported")
            hm = h["meta"]
            meta = Meta(soa=SOA(**hm["soa"]) if hm["soa"] else None,
                        ns=NS(hm["ns"]["ttl"], tuple(hm["ns"]["names"])) if hm["ns"] else None,
                        ttl=hm["ttl"], timestamp=hm["timestamp"], expires=hm["expires"],
                        maxrange4=hm["maxrange4"], mtime=hm["mtime"])
            sets = [tuple(Listing(a, t) for a, t in s) for s in h["sets"]]
            lo, hi = index.value_range()
            if lo < -1 or hi >= len(sets):
                raise SnapshotError(f"{path}: corrupt snapshot (value id {hi if lo >= -1 else lo} "
                                    f"outside the {len(sets)} values)")
            fields = dict(format=h["format"], files=tuple(h["files"]), index=index, sets=sets,
                          meta=meta, warnings=[LineWarning(*w) for w in h["warnings"]],
                          entries=h["entries"],
                          records=[(n, t, ttl, bytes.fromhex(rd))
                                   for n, t, ttl, rd in h.get("records", [])])
        except (KeyError, TypeError, ValueError) as e:
            raise SnapshotError(f"{path}: corrupt snapshot header ({e})") from None
        if fields["format"] == "generic":  # its name index is rebuilt from the records
            return cls(**fields)
        try:  # its structure checked (records, value ids, slots): in C, over the mapping
            names = NameIndex(*name_arrays, nvalues=len(sets))
        except ValueError as e:
            raise SnapshotError(f"{path}: corrupt snapshot ({e})") from None
        return cls(names=names, **fields)


def _merge(vals: list[int], mode: str, set_id: SetId) -> int:
    if mode == "set":
        if EXCL in vals:
            return -1
        return set_id(tuple(dict.fromkeys(vals)))
    return -1 if vals[0] == EXCL else vals[0]
