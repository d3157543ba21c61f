"""Ask a running DNS server the questions a mail system's monitoring asks of a DNSBL.

For every zone: the RFC 5782 test points (IPv4 127.0.0.2 listed with A and TXT, 127.0.0.1
NXDOMAIN with the SOA; the IPv6 ::FFFF:7F00:2 / ::FFFF:7F00:1 where the zone has IPv6
data; TEST / INVALID for domain zones), the apex SOA, an empty non-terminal above the
test point (NOERROR/NODATA, so QNAME-minimising resolvers reach it), the listed test
point over TCP, and EDNS0 (the reply carries an OPT record). rspamd disables a zone that
answers anything but NXDOMAIN for 127.0.0.1; unbound with QNAME minimisation stops at an
NXDOMAIN for the empty non-terminal.

    results = run(zone_infos, ("127.0.0.1", 5353))
    print(table(results)); ok = all(r.ok for r in results)
"""
from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

import dnslib
from dnslib import QTYPE, RCODE

from .snippets import ZoneInfo

V4_LISTED = "2.0.0.127"
V4_UNLISTED = "1.0.0.127"
V4_ENT = "0.0.127"
V6_LISTED = ".".join(reversed("00000000000000000000ffff7f000002"))
V6_UNLISTED = ".".join(reversed("00000000000000000000ffff7f000001"))


@dataclass(frozen=True)
class Result:
    zone: str
    check: str
    ok: bool
    detail: str


class Client:
    def __init__(self, host: str, port: int, timeout: float = 2.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def _question(self, name: str, qtype: str, edns: int | None) -> dnslib.DNSRecord:
        q = dnslib.DNSRecord(dnslib.DNSHeader(id=random.randrange(1, 65536), rd=0),
                             q=dnslib.DNSQuestion(name, getattr(QTYPE, qtype)))
        if edns is not None:
            q.add_ar(dnslib.EDNS0(udp_len=edns))
        return q

    def udp(self, name: str, qtype: str = "A", edns: int | None = None) -> dnslib.DNSRecord:
        q = self._question(name, qtype, edns)
        packet = q.pack()
        with socket.socket(self.family, socket.SOCK_DGRAM) as s:
            s.settimeout(self.timeout)
            s.connect((self.host, self.port))  # so an ICMP "port unreachable" is seen
            for _ in range(3):
                try:
                    s.send(packet)
                    while True:
                        data = s.recv(65535)
                        if data[:2] == packet[:2]:
                            return dnslib.DNSRecord.parse(data)
                except socket.timeout:
                    continue
                except ConnectionRefusedError:
                    raise TimeoutError("connection refused (nothing listening)") from None
        raise TimeoutError("no reply over UDP")

    def tcp(self, name: str, qtype: str = "A") -> dnslib.DNSRecord:
        packet = self._question(name, qtype, None).pack()
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            n = struct.unpack("!H", _recv(s, 2))[0]
            return dnslib.DNSRecord.parse(_recv(s, n))


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def _rcode(r: dnslib.DNSRecord) -> str:
    return RCODE.get(r.header.rcode)


def _types(section: list[dnslib.RR]) -> list[str]:
    return [QTYPE.get(rr.rtype) for rr in section if rr.rtype != QTYPE.OPT]


def _txt(r: dnslib.DNSRecord) -> list[str]:
    return [b"".join(rr.rdata.data).decode("utf-8", "replace")
            for rr in r.rr if rr.rtype == QTYPE.TXT and isinstance(rr.rdata, dnslib.TXT)]


def _a(r: dnslib.DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in r.rr if rr.rtype == QTYPE.A]


def _listed(r: dnslib.DNSRecord, want_txt: bool) -> tuple[bool, str]:
    if _rcode(r) != "NOERROR":
        return False, f"{_rcode(r)}, expected NOERROR with an answer"
    got = _a(r) if not want_txt else _txt(r)
    if not got:
        return False, f"NOERROR but no {'TXT' if want_txt else 'A'} record"
    if not want_txt and not all(a.startswith("127.") for a in got):
        return False, f"A {', '.join(got)} outside 127.0.0.0/8"
    if not r.header.aa:
        return False, f"{', '.join(got)} without the AA bit"
    return True, "; ".join(got)[:72]


def _nxdomain(r: dnslib.DNSRecord) -> tuple[bool, str]:
    if _rcode(r) != "NXDOMAIN":
        extra = f" ({', '.join(_a(r))})" if _a(r) else ""
        return False, f"{_rcode(r)}{extra}, expected NXDOMAIN"
    if "SOA" not in _types(r.auth):
        return False, "NXDOMAIN without the SOA in the authority section"
    return True, "NXDOMAIN + SOA"


def _nodata(r: dnslib.DNSRecord) -> tuple[bool, str]:
    if _rcode(r) != "NOERROR":
        return False, f"{_rcode(r)}, expected NOERROR/NODATA (QNAME minimisation breaks)"
    if _types(r.rr):
        return False, f"answer {_types(r.rr)}, expected none"
    if "SOA" not in _types(r.auth):
        return False, "NODATA without the SOA"
    return True, "NOERROR/NODATA + SOA"


def _soa(r: dnslib.DNSRecord) -> tuple[bool, str]:
    if _rcode(r) != "NOERROR" or "SOA" not in _types(r.rr):
        return False, f"{_rcode(r)}, answer {_types(r.rr)}, expected the SOA"
    return True, "SOA"


def _edns(r: dnslib.DNSRecord) -> tuple[bool, str]:
    opt = [rr for rr in r.ar if rr.rtype == QTYPE.OPT]
    if not opt:
        return False, "no OPT record in the reply"
    ok, why = _listed(r, False)
    return ok, f"OPT size {opt[0].rclass}" if ok else why


#: a check's verdict on the reply: (passed, detail)
Judge = Callable[[dnslib.DNSRecord], tuple[bool, str]]


def zone_checks(z: ZoneInfo) -> list[tuple[str, str, str, str, Judge]]:
    """(check name, qname, qtype, transport, judge) for one zone."""
    n = z.name
    out: list[tuple[str, str, str, str, Judge]]
    if z.is_names:
        listed, unlisted = f"test.{n}", f"invalid.{n}"
        out = [("TEST A", listed, "A", "udp", lambda r: _listed(r, False)),
               ("TEST TXT", listed, "TXT", "udp", lambda r: _listed(r, True)),
               ("INVALID", unlisted, "A", "udp", _nxdomain)]
    else:
        listed, unlisted = f"{V4_LISTED}.{n}", f"{V4_UNLISTED}.{n}"
        out = [("127.0.0.2 A", listed, "A", "udp", lambda r: _listed(r, False)),
               ("127.0.0.2 TXT", listed, "TXT", "udp", lambda r: _listed(r, True)),
               ("127.0.0.1", unlisted, "A", "udp", _nxdomain),
               ("empty non-terminal", f"{V4_ENT}.{n}", "A", "udp", _nodata)]
        if z.has_ipv6:
            out += [("::ffff:7f00:2 A", f"{V6_LISTED}.{n}", "A", "udp",
                     lambda r: _listed(r, False)),
                    ("::ffff:7f00:1", f"{V6_UNLISTED}.{n}", "A", "udp", _nxdomain)]
    out += [("apex SOA", n, "SOA", "udp", _soa),
            ("TCP", listed, "A", "tcp", lambda r: _listed(r, False)),
            ("EDNS0", listed, "A", "edns", _edns)]
    return out


def run(zones: list[ZoneInfo], server: tuple[str, int], timeout: float = 2.0) -> list[Result]:
    c = Client(*server, timeout=timeout)
    results = []
    for z in zones:
        for check, qname, qtype, transport, judge in zone_checks(z):
            try:
                if transport == "tcp":
                    r = c.tcp(qname, qtype)
                elif transport == "edns":
                    r = c.udp(qname, qtype, edns=1232)
                else:
                    r = c.udp(qname, qtype)
                ok, detail = judge(r)
            except (OSError, TimeoutError, dnslib.DNSError) as e:
                ok, detail = False, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            results.append(Result(z.name, check, ok, detail))
    return results


def table(results: list[Result]) -> str:
    wz = max([len("ZONE")] + [len(r.zone) for r in results])
    wc = max([len("CHECK")] + [len(r.check) for r in results])
    lines = [f"{'ZONE':<{wz}}  {'CHECK':<{wc}}  RESULT  DETAIL"]
    for r in results:
        lines.append(f"{r.zone:<{wz}}  {r.check:<{wc}}  {'pass' if r.ok else 'FAIL':<6}  {r.detail}")
    bad = sum(not r.ok for r in results)
    lines.append(f"{len(results) - bad} passed, {bad} failed")
    return "\n".join(lines)
