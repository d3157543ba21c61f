"""The DNS wire format: a query parsed exactly as rbldnsd parses it, a reply packed with
dnslib (the only importer of dnslib), and `respond()`, the reference path between them.

`respond(packet, table, tcp=...)` parses the header and question (rbldnsd's parsequery
rules), lets `Zone.answer` decide and packs the reply. The compiled path
(`rblmirror._dnsfast`) answers the common shapes and must produce identical bytes;
anything it does not handle comes here.

Where we answer differently from rbldnsd, on purpose (tests hold each one):
- empty non-terminals are NOERROR/NODATA (zone.py), not NXDOMAIN;
- an OPT record is echoed to every query that had one; the reply honours the client's
  UDP size (at most 1232) and sets TC (answer and authority emptied) when it does not fit,
  where rbldnsd silently drops records and clears AA;
- ANY gets every record (A and TXT; SOA and NS at the apex), as from rbldnsd, unless
  minimal_any (serve --minimal-any, [server] minimal_any): then ANY over UDP is answered
  minimally (RFC 8482: the A records, the SOA at the apex), over TCP still in full;
- minimal responses: no NS in the authority of positive answers (rbldnsd -a);
- NS records come in file order (rbldnsd rotates them per query);
- CHAOS version.bind is REFUSED (rbldnsd -vv behaviour).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable

from dnslib import A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord, EDNS0, NS, RD, RR, SOA, TXT

from .answer import (FORMERR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, T_A, T_ANY, T_NS, T_TXT, Answer,
                     RR as Record, SOAData)
from .counters import (C_BYTES, C_ERRORS, C_LISTED, C_NOTLISTED, C_NXDOMAIN, C_QBYTES,
                       C_QUERIES, C_REFUSED, Counters)
from .zone import ZoneTable

EDNS_SIZE = 1232  # what we advertise and the most we send over UDP
T_OPT = 41
C_IN, C_ANY = 1, 255


@dataclass(frozen=True, slots=True)
class Query:
    qid: int
    flags1: int
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int
    end: int  # offset after the question
    edns_size: int | None  # client's UDP size when the query carried an OPT


def parse_query(data: bytes) -> Query | None:
    """rbldnsd's parsequery(): None means no reply at all (short packet, QR set,
    QDCOUNT != 1, a label over 63 bytes (also compression pointers), or a name running
    past the packet). A query with additional records that dnslib cannot parse is also
    dropped (rbldnsd drops it too); an OPT there gives the client's UDP size."""
    n = len(data)
    if n < 17 or data[2] & 0x80 or data[4] != 0 or data[5] != 1:
        return None
    last = min(n - 5, 12 + 255 - 1)  # last possible position of the name's terminator
    pos = 12
    labels = []
    while True:
        ln = data[pos]
        if ln == 0:
            break
        end = pos + ln + 1
        if ln > 63 or end > last:
            return None
        labels.append(data[pos + 1:end])
        pos = end
    qtype, qclass = struct.unpack_from("!HH", data, pos + 1)
    edns = None
    if data[10] or data[11]:
        try:
            rec = DNSRecord.parse(data)
        except Exception:
            return None
        for rr in rec.ar:
            if rr.rtype == T_OPT:
                edns = max(512, rr.rclass)
                break
    return Query(struct.unpack_from("!H", data)[0], data[2], tuple(labels), qtype, qclass,
                 pos + 5, edns)


def _udp_limit(q: Query, tcp: bool) -> int:
    if tcp:
        return 65535
    return 512 if q.edns_size is None else min(q.edns_size, EDNS_SIZE)


def _label(labels: Iterable[bytes]) -> DNSLabel:
    return DNSLabel(list(labels))


def _name(s: str) -> DNSLabel:
    return DNSLabel([x.encode("utf-8", "surrogateescape") for x in s.split(".") if x])


def _rr(owner: DNSLabel, r: Record) -> RR:
    d = r.data
    rdata: RD
    if r.rtype == T_A and isinstance(d, str):
        rdata = A(d)
    elif r.rtype == T_TXT and isinstance(d, bytes):
        rdata = TXT([d])
    elif r.rtype == T_NS and isinstance(d, str):
        rdata = NS(_name(d))
    elif isinstance(d, SOAData):
        rdata = SOA(_name(d.mname), _name(d.rname),
                    (d.serial, d.refresh, d.retry, d.expire, d.minttl))
    else:  # (answer.RR says what each type's data is)
        raise TypeError(f"record type {r.rtype} with data {d!r}")
    return RR(owner, r.rtype, C_IN, r.ttl, rdata)


def build_reply(q: Query, rcode: int, aa: bool, ans: Answer | None, apex_labels: Iterable[bytes],
                tcp: bool, notimp_flags: bool = False) -> bytes:
    """Pack a reply with dnslib (the reference packing the compiled path must match)."""
    rd = 0 if notimp_flags else q.flags1 & 1
    hdr = DNSHeader(id=q.qid, qr=1, aa=int(aa), rd=rd, rcode=rcode)
    rec = DNSRecord(hdr, q=DNSQuestion(_label(q.labels), q.qtype, q.qclass))
    if ans is not None:
        qn = _label(q.labels)
        apex = _label(apex_labels)
        for r in ans.answer:
            rec.add_answer(_rr(apex if r.apex else qn, r))
        for r in ans.authority:
            rec.add_auth(_rr(apex if r.apex else qn, r))
    if q.edns_size is not None:
        rec.add_ar(EDNS0(udp_len=EDNS_SIZE))
    out = rec.pack()
    if len(out) > _udp_limit(q, tcp):
        rec.rr, rec.auth = [], []
        rec.header.tc = 1
        out = rec.pack()
    return out


def respond(data: bytes, table: ZoneTable, *, tcp: bool = False,
            counters: Counters | None = None, now: float | None = None,
            minimal_any: bool = False) -> bytes | None:
    """The reference path: one query packet in, one reply packet (or None: no reply).
    minimal_any: ANY over UDP answered as RFC 8482 suggests (the A records; the SOA at
    the apex); otherwise, and always over TCP, ANY gets everything, as from rbldnsd."""
    q = parse_query(data)
    if q is None:  # dropped: an error of no zone, as rbldnsd counts it
        if counters:
            counters.bump("*", C_QUERIES)
            counters.bump("*", C_ERRORS)
            counters.bump("*", C_QBYTES, len(data))
        return None
    if q.flags1 & 0x7E:  # opcode != QUERY, or AA/TC set in a query: rbldnsd says NOTIMP
        out = build_reply(q, NOTIMP, False, None, (), tcp, notimp_flags=True)
        if counters:
            counters.bump("*", C_QUERIES)
            counters.bump("*", C_ERRORS)
            counters.bump("*", C_BYTES, len(out))
            counters.bump("*", C_QBYTES, len(data))
        return out
    low = [x.lower() for x in q.labels]
    found = table.find([x.decode("utf-8", "surrogateescape") for x in low])
    zname = "*" if found is None else found[0].name
    ans = None
    apex: tuple[bytes, ...] = ()
    if q.qclass not in (C_IN, C_ANY):  # (rbldnsd counts these before it finds the zone)
        rcode, aa, zname = REFUSED, False, "*"
    elif q.qtype >= 250 and q.qtype != T_ANY:  # AXFR, IXFR, TSIG, types >= 256
        rcode, aa, zname = NOTIMP, False, "*"
    elif found is None:
        rcode, aa = REFUSED, False
    else:
        zone, below = found
        labels = [x.decode("utf-8", "surrogateescape") for x in q.labels[:below]]
        ans = zone.answer(labels, q.qtype, now=now, minimal_any=minimal_any and not tcp)
        rcode = ans.rcode
        aa = ans.aa and q.qclass == C_IN
        apex = q.labels[below:]
    out = build_reply(q, rcode, aa, ans, apex, tcp)
    if counters:
        counters.bump(zname, C_QUERIES)
        if rcode == REFUSED:
            counters.bump(zname, C_REFUSED)
        elif rcode in (SERVFAIL, NOTIMP, FORMERR):
            counters.bump(zname, C_ERRORS)
        elif ans is not None and ans.listed is not None:
            counters.bump(zname, C_LISTED if ans.listed else C_NOTLISTED)
        if rcode == NXDOMAIN:
            counters.bump(zname, C_NXDOMAIN)
        counters.bump(zname, C_BYTES, len(out))
        counters.bump(zname, C_QBYTES, len(data))
    return out
