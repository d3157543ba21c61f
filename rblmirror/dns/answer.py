"""Answers: what rbldnsd answers for (name, type) in a zone, decided without wire format.

The server (the dnslib reference packing and the compiled packet path) turns an `Answer`
into bytes. Decided here: expiry (SERVFAIL) and the apex (SOA, NS), and the zone's SOA/NS
records. Every name below the apex is decided by the compiled decision, decide() in
ext/dnsfast.pyx (Prepared.below), the one home of those rules for DNS, check and scan;
tests/support/reference_answer.py is its plain test-only reference. Every rule was
measured against rbldnsd 1.0pre (Debian) on loopback; the deliberate improvements (empty
non-terminals, the optional minimal ANY) are marked where they are decided.
"""
from __future__ import annotations

import socket
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._dnsfast import FastPath
    from ..data.dataset import Dataset
    from .zone import Zone

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
T_A, T_NS, T_SOA, T_MX, T_TXT, T_ANY = 1, 2, 6, 15, 16, 255


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
    data: A -> dotted quad str; TXT -> bytes (<= 255); NS -> name str; SOA -> SOAData;
    MX -> its rdata bytes (preference, the exchange uncompressed, as rbldnsd sends it)."""

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
    #: no reply at all (the client's ACL entry says ignore)
    drop: bool = False


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
        #: from when the fast path hands the zone to the reference path (a time stamp)
        self.expires: float | None = min(
            (d.meta.expires for d in every if d.meta.expires), default=None)
        mtime = int(max((d.meta.mtime for d in every), default=0))
        self.soa_rr, self.soa_neg = _soa_records(zone, mtime)
        self.ns_rrs: tuple[RR, ...] = _ns_records(zone)
        #: (FastPath, zone number) holding this zone compiled: the served table's (set
        #: by FastPath), else this zone's own, compiled on first use
        self.compiled: tuple[FastPath, int] | None = None
        self._zone = weakref.ref(zone)  # (no cycle: a dropped table is freed at once)
        self.no_acl = zone.acl is None and zone.global_acl is None

    def fast(self) -> tuple[FastPath, int]:
        """(FastPath, zone number) holding this zone compiled (its own on first use)."""
        if self.compiled is None:
            from .._dnsfast import FastPath
            zone = self._zone()
            assert zone is not None  # (a zone's Prepared lives with it)
            self.compiled = (FastPath([zone]), 0)
        return self.compiled

    def below(self, labels: list[str] | list[bytes], qtype: int, peer: str | None = None
              ) -> tuple[int, list[tuple[int, int, bytes]], bool]:
        """The compiled decision for a name below the zone (ext/dnsfast.pyx decide()):
        (rcode, [(rtype, ttl, rdata)], listed). peer: the client's address (its ACL
        entries' `empty` and values are decided there)."""
        fast, zi = self.fast()
        return fast.below(zi, [x.encode("utf-8", "surrogateescape") if isinstance(x, str)
                               else x for x in labels], qtype, peer=peer)

    def acl_action(self, peer: str | None) -> str | None:
        """What the zone's ACLs (global, then the zone's) say for a client before any
        answer: "ignore" (no reply), "refuse" (REFUSED), or None (answer)."""
        if peer is None or self.no_acl:
            return None
        fast, zi = self.fast()
        return fast.acl_action(zi, peer)

    def global_acl_action(self, peer: str) -> str | None:
        """The global ACL's alone (asked before a packet is parsed)."""
        return self.fast()[0].acl_action(-1, peer)


def _soa_records(zone: Zone, mtime: int) -> tuple[RR, RR]:
    """The zone's SOA (at its TTL, and at its minimum for negative answers): the config's
    `soa` when given, else the dump's $SOA, else DEFAULT_SOA. A serial of 0 or none is
    the data's time (the newest dump's mtime: a new snapshot has a new serial)."""
    from ..zonespec import DEFAULT_NS, DEFAULT_SOA
    given = dict(zone.settings.soa) if zone.settings.soa is not None else None
    found = zone.soa if given is None else None
    f: dict[str, Any]  # (the SOA's fields, from the dump or the settings)
    ttl_ds: Dataset | None
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
    ttl = zone.settings.record_ttl(f["ttl"]) if f["ttl"] is not None else (
        zone.ttl_of(ttl_ds) if ttl_ds is not None else f["minimum"])
    data = SOAData(f["mname"], f["rname"], int(f.get("serial") or mtime or 1), f["refresh"],
                   f["retry"], f["expire"], f["minimum"])
    return RR(T_SOA, ttl, data, True), RR(T_SOA, f["minimum"], data, True)


def _ns_records(zone: Zone) -> tuple[RR, ...]:
    """The config's `ns` when given, else the dump's $NS, else DEFAULT_NS."""
    from ..zonespec import DEFAULT_NS
    found = zone.ns if zone.settings.ns is None else None
    if found is not None:
        n, ds = found
        ttl = zone.settings.record_ttl(n.ttl) if n.ttl is not None else zone.ttl_of(ds)
        return tuple(RR(T_NS, ttl, name, True) for name in n.names)
    real = zone._all_datasets()
    ttl = zone.ttl_of(real[0]) if real else zone.settings.record_ttl(None)
    return tuple(RR(T_NS, ttl, name, True) for name in (zone.settings.ns or DEFAULT_NS))


def answer(zone: Zone, labels: list[str] | list[bytes], qtype: int, *, now: float | None,
           minimal_any: bool, peer: str | None = None) -> Answer:
    """labels: the query name's labels below the zone (str or bytes, any case), most
    specific first. The ACL's ignore and refuse (in rbldnsd's order: ignore, then the
    expiry, then refuse), expiry and the apex are decided here; every name below the apex
    by the compiled decision (Prepared.below), which also gives the apex's generic
    records. peer: the client's address, for the ACLs."""
    p = zone.prepared()
    action = p.acl_action(peer)
    if action == "ignore":
        return Answer(NOERROR, aa=False, drop=True)
    if p.expires is not None and (now if now is not None else time.time()) >= p.expires:
        return Answer(SERVFAIL, aa=False)
    if action == "refuse":
        return Answer(REFUSED, aa=False)
    if minimal_any and qtype == T_ANY:
        qtype = T_A if labels else T_SOA  # RFC 8482: one RRset over UDP
    if not labels:  # the apex: SOA and NS, then generic `@` records. Every zone has
        # SOA and NS (_soa_records): rbldnsd REFUSES the apex of a dump without $SOA/$NS
        ans: list[RR] = []
        if qtype in (T_SOA, T_ANY):
            ans.append(p.soa_rr)
        if qtype in (T_NS, T_ANY):
            ans.extend(p.ns_rrs)
        ans.extend(_records(p.below([], qtype, peer)[1]))
        if ans:
            return Answer(NOERROR, answer=tuple(ans))
        return Answer(NOERROR, authority=(p.soa_neg,))
    rcode, records, listed = p.below(labels, qtype, peer)
    if records:
        return Answer(NOERROR, answer=_records(records), listed=listed)
    return Answer(rcode, authority=(p.soa_neg,), listed=listed)


def _records(records: list[tuple[int, int, bytes]]) -> tuple[RR, ...]:
    return tuple(RR(t, ttl, socket.inet_ntoa(data) if t == T_A else data)
                 for t, ttl, data in records)


def labels_below(zone: Zone, qname: str) -> list[str]:
    """The labels of qname below the zone (any case kept), most specific first."""
    labels = [x for x in qname.rstrip(".").split(".") if x] if qname.strip(".") else []
    zl = zone.name.split(".")
    if [x.lower() for x in labels[-len(zl):]] == zl:
        labels = labels[: -len(zl)]
    return labels
