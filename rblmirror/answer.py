"""Answers: what rbldnsd answers for (name, type) in a zone, decided without wire format.

The server (the dnslib reference path and the compiled fast path) turns an `Answer` into
bytes. Every rule here was measured against rbldnsd 1.0pre (Debian) on loopback; the
deliberate improvements (empty non-terminals, the optional minimal ANY) are marked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import addr
from .values import render_bytes

if TYPE_CHECKING:
    from .dataset import Dataset
    from .zone import Zone

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


class Prepared:
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
        every = zone._all_datasets() + [a.dataset for a in zone.data]
        self.expires = min((d.meta.expires for d in every if d.meta.expires), default=None)
        mtime = int(max((d.meta.mtime for d in every), default=0))
        self.soa_rr, self.soa_neg = _soa_records(zone, mtime)
        self.ns_rrs: tuple[RR, ...] = _ns_records(zone)


def _soa_records(zone: Zone, mtime: int) -> tuple[RR, RR]:
    """The zone's SOA (at its TTL, and at its minimum for negative answers): the config's
    `soa` when given, else the dump's $SOA, else DEFAULT_SOA. A serial of 0 or none is
    the data's time (the newest dump's mtime: a new snapshot has a new serial)."""
    from .zone import DEFAULT_NS, DEFAULT_SOA
    given = dict(zone.settings.soa) if zone.settings.soa is not None else None
    found = zone.soa if given is None else None
    if found is not None:
        s, ds = found
        f = {"mname": s.origin, "rname": s.person, "serial": s.serial, "refresh": s.refresh,
             "retry": s.retry, "expire": s.expire, "minimum": s.minttl, "ttl": s.ttl}
        ttl_ds = ds
    else:
        ns = zone.settings.ns or (zone.ns[0].names if zone.ns else DEFAULT_NS)
        f = {**DEFAULT_SOA, "mname": ns[0], **(given or {})}
        f["rname"] = f["rname"].format(zone=zone.name)
        real = zone._all_datasets()
        ttl_ds = real[0] if real else None
    ttl = f["ttl"] if f["ttl"] is not None else (
        zone.ttl_of(ttl_ds) if ttl_ds is not None else f["minimum"])
    data = SOAData(f["mname"], f["rname"], int(f.get("serial") or mtime or 1), f["refresh"],
                   f["retry"], f["expire"], f["minimum"])
    return RR(T_SOA, ttl, data, True), RR(T_SOA, f["minimum"], data, True)


def _ns_records(zone: Zone) -> tuple[RR, ...]:
    """The config's `ns` when given, else the dump's $NS, else DEFAULT_NS."""
    from .zone import DEFAULT_NS, DEFAULT_TTL
    found = zone.ns if zone.settings.ns is None else None
    if found is not None:
        n, ds = found
        ttl = n.ttl if n.ttl is not None else zone.ttl_of(ds)
        return tuple(RR(T_NS, ttl, name, True) for name in n.names)
    real = zone._all_datasets()
    ttl = zone.ttl_of(real[0]) if real else DEFAULT_TTL
    return tuple(RR(T_NS, ttl, name, True) for name in (zone.settings.ns or DEFAULT_NS))


def _render_listings(zone: Zone, ds: Dataset, vid: int, subject: str, qtype: int,
                     out: list[RR]) -> None:
    ttl = zone.ttl_of(ds)
    for v in ds.values(vid):
        if qtype in (T_A, T_ANY):
            rr = RR(T_A, ttl, v.a)
            if not any(x.rtype == T_A and x.data == rr.data for x in out):
                out.append(rr)
        if v.txt and qtype in (T_TXT, T_ANY):
            rr = RR(T_TXT, ttl, render_bytes(v.txt, subject))
            if not any(x.rtype == T_TXT and x.data == rr.data for x in out):
                out.append(rr)


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


def answer(zone: Zone, labels: list[str], qtype: int, *, now: float | None,
            minimal_any: bool) -> Answer:
    """labels: the query name's labels below the zone (any case), most specific first."""
    p = zone.prepared()
    if p.expires is not None and (now if now is not None else time.time()) >= p.expires:
        return Answer(SERVFAIL, aa=False)
    if minimal_any and qtype == T_ANY:
        qtype = T_A if labels else T_SOA  # RFC 8482: one RRset over UDP
    low = [x.lower() for x in labels]
    if not labels:  # the apex: SOA and NS only. Every zone has both (_soa_records):
        # rbldnsd REFUSES the apex of a dump without $SOA/$NS
        ans: list[RR] = []
        if qtype in (T_SOA, T_ANY):
            ans.append(p.soa_rr)
        if qtype in (T_NS, T_ANY):
            ans.extend(p.ns_rrs)
        if ans:
            return Answer(NOERROR, answer=tuple(ans))
        return Answer(NOERROR, authority=(p.soa_neg,))
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
        if ip is not None and ip[2] != (4 if ip[0] == addr.V4 else 32):
            ip = None  # a partial reverse name: no address (maybe an empty non-terminal)
        name = ".".join(rel)
        for ds in dss:
            if ds.is_names:
                vid, subj = ds.match_name(name)
            elif ip is not None:
                vid, subj = ds.find_addr(ip[0], ip[1])  # rbldnsd's mapped/6to4 rule
            else:
                continue
            if vid >= 0:
                found = True
                _render_listings(zone, ds, vid, subj, qtype, out)
        if not found and _ip_prefix_listed(dss, orig):
            # better than rbldnsd (its issue #17): an empty non-terminal is NODATA
            return Answer(NOERROR, authority=(p.soa_neg,), listed=False)
        break
    if not found:
        return Answer(NXDOMAIN, authority=(p.soa_neg,), listed=False)
    if not out:
        return Answer(NOERROR, authority=(p.soa_neg,), listed=True)
    return Answer(NOERROR, answer=tuple(out), listed=True)


def labels_below(zone: Zone, qname: str) -> list[str]:
    """The labels of qname below the zone (any case kept), most specific first."""
    labels = [x for x in qname.rstrip(".").split(".") if x] if qname.strip(".") else []
    zl = zone.name.split(".")
    if [x.lower() for x in labels[-len(zl):]] == zl:
        labels = labels[: -len(zl)]
    return labels
