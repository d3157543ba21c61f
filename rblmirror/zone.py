"""Zone: a DNS name served from one or more datasets (their answers merge, as rbldnsd's).

A zone spec is rbldnsd's `NAME:FORMAT:FILE[,FILE...]`; several specs with one NAME form
one zone. A combined dataset attaches its sections to subzones of the zone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import addr
from .dataset import Dataset
from .errors import AddressError, ZoneSpecError
from .values import Listing

DEFAULT_TTL = 2100  # rbldnsd's default (35m)


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    format: str
    files: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str, base_dir: str | None = None) -> ZoneSpec:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ZoneSpecError(f"bad zone spec {spec!r}: expected NAME:FORMAT:FILE[,FILE...]")
        name, fmt, files = parts
        paths = tuple(_resolve(f.strip(), base_dir) for f in files.split(",") if f.strip())
        if not paths:
            raise ZoneSpecError(f"bad zone spec {spec!r}: no file")
        return cls(normalize_name(name), fmt.strip().lower(), paths)

    def load(self) -> Dataset:
        return Dataset.from_files(self.files, format=self.format)


def _resolve(path: str, base_dir: str | None) -> str:
    path = os.path.expanduser(path)
    if base_dir and not os.path.isabs(path):
        return os.path.normpath(os.path.join(base_dir, path))
    return path


def normalize_name(name: str) -> str:
    n = name.strip().rstrip(".").lower()
    if not n or any(not 0 < len(x) <= 63 for x in n.split(".")) or len(n) > 253:
        raise ZoneSpecError(f"bad zone name {name!r}")
    return n


@dataclass(frozen=True)
class Attached:
    """A dataset attached to a zone at a subzone ('' = the zone itself)."""

    subzone: str
    dataset: Dataset


@dataclass
class Zone:
    name: str
    datasets: list[Attached] = field(default_factory=list)
    specs: list[ZoneSpec] = field(default_factory=list)
    #: combined datasets as loaded: their common section holds the zone's $SOA/$NS
    containers: list[Dataset] = field(default_factory=list)

    @classmethod
    def from_specs(cls, specs: Iterable[ZoneSpec | str],
                   loader: Callable[[ZoneSpec], Dataset] | None = None) -> list[Zone]:
        """Load every spec (with `loader`, default ZoneSpec.load); specs sharing a name
        become one zone (order kept)."""
        zones: dict[str, Zone] = {}
        for s in specs:
            spec = s if isinstance(s, ZoneSpec) else ZoneSpec.parse(s)
            z = zones.setdefault(spec.name, cls(spec.name))
            z.add(loader(spec) if loader else spec.load(), spec)
        return list(zones.values())

    @classmethod
    def from_files(cls, name: str, files: Iterable[str], format: str = "ip4set") -> Zone:
        spec = ZoneSpec(normalize_name(name), format, tuple(files))
        z = cls(spec.name)
        z.add(spec.load(), spec)
        return z

    def add(self, ds: Dataset, spec: ZoneSpec | None = None) -> None:
        if ds.children:
            for subzones, child in ds.children:
                for sz in subzones:
                    self.datasets.append(Attached("" if sz == "@" else sz, child))
            self.containers.append(ds)
        else:
            self.datasets.append(Attached("", ds))
        if spec is not None:
            self.specs.append(spec)

    # ---- metadata: taken from the first dataset that has it, in command-line order --
    def _all_datasets(self) -> list[Dataset]:
        out: list[Dataset] = list(self.containers)
        for a in self.datasets:
            if a.subzone == "" and a.dataset not in out:
                out.append(a.dataset)
        return out

    @property
    def soa(self):
        for ds in self._all_datasets():
            if ds.meta.soa is not None:
                return ds.meta.soa, ds
        return None

    @property
    def ns(self):
        for ds in self._all_datasets():
            if ds.meta.ns is not None:
                return ds.meta.ns, ds
        return None

    def ttl_of(self, ds: Dataset) -> int:
        return ds.meta.ttl if ds.meta.ttl is not None else DEFAULT_TTL

    @property
    def warnings(self):
        seen, out = set(), []
        for ds in self._all_datasets() + [a.dataset for a in self.datasets]:
            if id(ds) not in seen:
                seen.add(id(ds))
                out.extend(ds.warnings)
        return out

    @property
    def entries(self) -> int:
        return sum(a.dataset.entries for a in self.datasets)

    @property
    def is_names(self) -> bool:
        return any(a.dataset.is_names for a in self.datasets if a.subzone == "")

    # ---- lookups ------------------------------------------------------------------
    def lookup(self, subject, subzone: str = "") -> tuple[Listing, ...]:
        """Merged listings of every dataset at this (sub)zone for an address or a name."""
        out: list[Listing] = []
        ip = None
        if not isinstance(subject, str) or not _looks_like_name(subject):
            ip = addr.parse(subject)
        for a in self.datasets:
            if a.subzone != subzone:
                continue
            ds = a.dataset
            if ds.is_names:
                if ip is not None:
                    continue
                got = ds.lookup_name(subject)
            else:
                if ip is None:
                    continue
                vid = ds.lookup_id(*ip)
                got = () if vid < 0 else ds.render(vid, addr.to_text(*ip))
            out.extend(x for x in got if x not in out)
        return tuple(out)

    def kind(self) -> str:
        """'ip', 'name' or 'mixed' (what check should expect at the zone itself)."""
        kinds = {"name" if a.dataset.is_names else "ip" for a in self.datasets if a.subzone == ""}
        return kinds.pop() if len(kinds) == 1 else "mixed"


def _looks_like_name(s: str) -> bool:
    """A domain name rather than an address (addresses have only digits, dots, hex, ':')."""
    t = s.strip()
    if ":" in t:
        return False
    try:
        addr.parse(t)
        return False
    except AddressError:
        return any(ch.isalpha() for ch in t)


# ====================================================================================
# Answers: what rbldnsd answers for (name, type), decided without any wire format.
# The server (dnslib reference path and the compiled fast path) turns an Answer into
# bytes. Every rule below was measured against rbldnsd 1.0pre (Debian) on loopback.
# ====================================================================================
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
T_A, T_NS, T_SOA, T_TXT, T_ANY = 1, 2, 6, 16, 255

_V4MAPPED = 0xFFFF << 32
_6TO4 = 0x2002


@dataclass(frozen=True, slots=True)
class SOAData:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minttl: int


@dataclass(frozen=True, slots=True)
class RR:
    """One record. `apex`: owned by the zone apex (else by the query name).
    data: A -> dotted quad str; TXT -> bytes (<= 254); NS -> name str; SOA -> SOAData."""

    rtype: int
    ttl: int
    data: object
    apex: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int
    aa: bool = True
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    #: the subject was listed (for counters): True listed, False not listed, None n/a
    listed: bool | None = None


def v4_inside_v6(value: int) -> int | None:
    """The IPv4 address rbldnsd looks up for an IPv6 query name: ::ffff:a.b.c.d (mapped)
    and 2002:AABB:CCDD::/48 (6to4). Measured: ::a.b.c.d (compatible) is not mapped."""
    if value >> 32 == 0xFFFF:
        return value & 0xFFFFFFFF
    if value >> 112 == _6TO4:
        return (value >> 80) & 0xFFFFFFFF
    return None


class _Prepared:
    """Per-zone data derived once per load (the zone is immutable while served)."""

    def __init__(self, zone: Zone):
        self.subzones: list[tuple[tuple[str, ...], list[Dataset]]] = []
        by_sub: dict[str, list[Dataset]] = {}
        for a in zone.datasets:
            by_sub.setdefault(a.subzone, []).append(a.dataset)
        for sz, dss in by_sub.items():
            labels = tuple(sz.split(".")) if sz else ()
            self.subzones.append((labels, dss))
        self.subzones.sort(key=lambda x: -len(x[0]))
        every = zone._all_datasets() + [a.dataset for a in zone.datasets]
        self.expires = min((d.meta.expires for d in every if d.meta.expires), default=None)
        mtime = int(max((d.meta.mtime for d in every), default=0))
        soa = zone.soa
        self.soa_rr = self.soa_neg = None
        if soa is not None:
            s, ds = soa
            data = SOAData(s.origin, s.person, s.serial or mtime, s.refresh, s.retry,
                           s.expire, s.minttl)
            self.soa_rr = RR(T_SOA, s.ttl if s.ttl is not None else zone.ttl_of(ds), data, True)
            self.soa_neg = RR(T_SOA, s.minttl, data, True)
        ns = zone.ns
        self.ns_rrs: tuple[RR, ...] = ()
        if ns is not None:
            n, ds = ns
            ttl = n.ttl if n.ttl is not None else zone.ttl_of(ds)
            self.ns_rrs = tuple(RR(T_NS, ttl, name, True) for name in n.names)


def _zone_prepared(zone: Zone) -> _Prepared:
    p = zone.__dict__.get("_prepared")
    if p is None or p[0] != len(zone.datasets):
        p = (len(zone.datasets), _Prepared(zone))
        zone.__dict__["_prepared"] = p
    return p[1]


def _render_listings(zone: Zone, ds: Dataset, vid: int, subject: str, qtype: int,
                     out: list[RR]) -> None:
    ttl = zone.ttl_of(ds)
    from .values import render_bytes
    for v in ds.values(vid):
        if qtype in (T_A, T_ANY):
            rr = RR(T_A, ttl, v.a)
            if not any(x.rtype == T_A and x.data == rr.data for x in out):
                out.append(rr)
        if v.txt and qtype in (T_TXT, T_ANY):
            rr = RR(T_TXT, ttl, render_bytes(v.txt, subject))
            if not any(x.rtype == T_TXT and x.data == rr.data for x in out):
                out.append(rr)


def _dnset_match(ds: Dataset, name: str) -> tuple[int, str]:
    """(value id, matched entry) as rbldnsd: an exact entry wins, else the longest
    wildcard; `$` in the TXT is the matched entry (measured: a.foo.example under
    `.foo.example` renders foo.example)."""
    vid = ds._exact.get(name)
    if vid is not None:
        return vid, name
    labels = name.split(".")
    for i in range(1, len(labels)):
        suffix = ".".join(labels[i:])
        vid = ds._wild.get(suffix)
        if vid is not None:
            return vid, suffix
    return -1, ""


def _ip_prefix_listed(dss: list[Dataset], labels: list[str]) -> bool:
    """Empty non-terminal test for a partial reverse name (1-3 octets / <32 nibbles)."""
    n = len(labels)
    if 0 < n < 4 and all(addr._is_octet(x) for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 8) | int(x)
        pfx, bits = v << (8 * (4 - n)), 8 * n
        for ds in dss:
            if not ds.is_names and ds.has_entries_under(addr.V4, pfx, bits):
                return True
    if n == 4 and all(addr._is_octet(x) for x in labels):
        return False  # a complete IPv4 name (even "2.0.0.2") is never a partial IPv6 one
    if 0 < n < 32 and all(len(x) == 1 and x in addr._NIBBLES for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 4) | int(x, 16)
        bits = 4 * n
        pfx = v << (128 - bits)
        for ds in dss:
            if ds.is_names:
                continue
            if ds.index.has_v6() and ds.has_entries_under(addr.V6, pfx, bits):
                return True
            if ds.index.has_v4():
                for base, blen in ((_V4MAPPED, 96), (_6TO4 << 112, 16)):
                    # the part of pfx/bits that maps onto IPv4 space
                    if bits <= blen:
                        if (base >> (128 - bits)) == v:
                            if ds.has_entries_under(addr.V4, 0, 0):
                                return True
                    elif (pfx >> (128 - blen)) == (base >> (128 - blen)):
                        v4bits = min(bits - blen, 32)
                        shift = 128 - blen - 32
                        v4 = (pfx >> shift) & 0xFFFFFFFF
                        v4 &= ~((1 << (32 - v4bits)) - 1) & 0xFFFFFFFF
                        if ds.has_entries_under(addr.V4, v4, v4bits):
                            return True
    return False


def _answer(zone: Zone, labels: list[str], qtype: int, *, now: float | None,
            minimal_any: bool) -> Answer:
    """labels: the query name's labels below the zone (any case), most specific first."""
    import time as _time
    p = _zone_prepared(zone)
    if p.expires is not None and (now if now is not None else _time.time()) >= p.expires:
        return Answer(SERVFAIL, aa=False)
    if minimal_any and qtype == T_ANY:
        qtype = T_A if labels else T_SOA  # RFC 8482: one RRset over UDP
    low = [x.lower() for x in labels]
    if not labels:  # the apex: SOA and NS only (rbldnsd: missing one -> REFUSED)
        ans: list[RR] = []
        if qtype in (T_SOA, T_ANY):
            if p.soa_rr is None:
                return Answer(REFUSED, aa=False)
            ans.append(p.soa_rr)
        if qtype in (T_NS, T_ANY):
            if not p.ns_rrs:
                return Answer(REFUSED, aa=False)
            ans.extend(p.ns_rrs)
        if ans:
            return Answer(NOERROR, answer=tuple(ans))
        return Answer(NOERROR, authority=(p.soa_neg,) if p.soa_neg else ())
    # which (sub)zone: the longest subzone suffix of the name
    found = False
    out: list[RR] = []
    for sz, dss in p.subzones:
        k = len(sz)
        if k and (len(low) < k or tuple(low[len(low) - k:]) != sz):
            continue
        rel = low[: len(low) - k]
        orig = labels[: len(labels) - k]
        if not rel:  # a subzone's own name: measured NOERROR/NODATA with the base SOA
            found = True
            break
        ip = addr.from_reverse_labels(orig)
        q4 = q6 = None
        if ip is not None and ip[2] == (4 if ip[0] == addr.V4 else 32):
            if ip[0] == addr.V4:
                q4 = ip[1]
            else:
                q6 = ip[1]
                q4 = v4_inside_v6(q6)
                if q6 >> 32 == 0xFFFF:  # measured: a v4-mapped name asks only IPv4 data
                    q6 = None
        name = ".".join(rel)
        for ds in dss:
            if ds.is_names:
                vid, subj = _dnset_match(ds, name)
                if vid >= 0:
                    found = True
                    _render_listings(zone, ds, vid, subj, qtype, out)
                continue
            if q6 is not None and ds.index.has_v6():
                vid = ds.index.lookup6(q6)
                if vid >= 0:
                    found = True
                    _render_listings(zone, ds, vid, addr.to_text(addr.V6, q6), qtype, out)
                    continue
            if q4 is not None and ds.index.has_v4():
                vid = ds.index.lookup4(q4)
                if vid >= 0:
                    found = True
                    _render_listings(zone, ds, vid, addr.to_text(addr.V4, q4), qtype, out)
        if not found and _ip_prefix_listed(dss, orig):
            # better than rbldnsd (its issue #17): an empty non-terminal is NODATA
            return Answer(NOERROR, authority=(p.soa_neg,) if p.soa_neg else (), listed=False)
        break
    if not found:
        return Answer(NXDOMAIN, authority=(p.soa_neg,) if p.soa_neg else (), listed=False)
    if not out:
        return Answer(NOERROR, authority=(p.soa_neg,) if p.soa_neg else (), listed=True)
    return Answer(NOERROR, answer=tuple(out), listed=True)


def _zone_answer(self: Zone, qname, qtype: int, *, now: float | None = None,
                 minimal_any: bool = False) -> Answer:
    """rbldnsd's answer for a name inside this zone. qname: a name (str, any case, with
    or without the zone) or the list of labels below the zone."""
    if isinstance(qname, str):
        labels = [x for x in qname.rstrip(".").split(".") if x] if qname.strip(".") else []
        zl = self.name.split(".")
        if [x.lower() for x in labels[-len(zl):]] == zl:
            labels = labels[: -len(zl)]
    else:
        labels = list(qname)
    return _answer(self, labels, qtype, now=now, minimal_any=minimal_any)


Zone.answer = _zone_answer  # type: ignore[attr-defined]


class ZoneTable:
    """The zones served together; finds the zone of a query name (the longest match)."""

    def __init__(self, zones: Iterable[Zone]):
        self.zones = list(zones)
        self._by_labels = {tuple(z.name.split(".")): z for z in self.zones}
        self._depths = sorted({len(k) for k in self._by_labels}, reverse=True)

    def find(self, labels_lower: list[str]) -> tuple[Zone, int] | None:
        """(zone, number of labels of the name below the zone) or None (not ours)."""
        n = len(labels_lower)
        for d in self._depths:
            if d <= n:
                z = self._by_labels.get(tuple(labels_lower[n - d:]))
                if z is not None:
                    return z, n - d
        return None
