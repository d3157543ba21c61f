"""The one DNS client of the tests and benchmarks: UDP and TCP questions to a server on
loopback (whole dnslib replies, or raw packets), a dig wrapper, and a comparable summary
of a reply.

    with DNSClient(port) as c:
        c.query("2.0.0.127.bl.test", "TXT")     # a dnslib.DNSRecord
        c.send_raw(packet, tries=1)              # the raw reply with the same ID, or None
    query(port, name, "A")                       # one question, one socket
    tcp(port, [packet, ...])                     # several questions on one TCP connection
    dig(port, "+norec", name, "TXT")             # real dig's output (ns=NAME: inside it)
"""
from __future__ import annotations

import socket
import struct
import subprocess
import time

import dnslib

from support.tools import require_tool

HOST = "127.0.0.1"


def qtype_code(qtype: str | int) -> int:
    return qtype if isinstance(qtype, int) else getattr(dnslib.QTYPE, qtype.upper())


def question(name: str, qtype: str | int = "A", qid: int | None = None, rd: bool = False,
             edns: int | None = None) -> dnslib.DNSRecord:
    """A question; edns=N adds an OPT record advertising an N-byte UDP payload (rbldnsd
    honours it; without it, RRs past 512 bytes are dropped silently)."""
    hdr = dnslib.DNSHeader(rd=int(rd)) if qid is None else dnslib.DNSHeader(id=qid, rd=int(rd))
    q = dnslib.DNSRecord(hdr, q=dnslib.DNSQuestion(name, qtype_code(qtype)))
    if edns is not None:
        q.add_ar(dnslib.EDNS0(udp_len=edns))
    return q


class DNSClient:
    """A UDP client on one socket; query() sends one question and returns the whole reply."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 2.0,
                 source: str | None = None):
        """source: the local address to ask from (another 127.0.0.x, for the ACLs)."""
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self._id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DNSClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, packet: bytes, tries: int = 3, timeout: float | None = None) -> bytes | None:
        """Send a packet, return the raw reply with the same ID (None on timeout)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        for _ in range(tries):
            self.sock.sendto(packet, self.addr)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    if data[:2] == packet[:2]:
                        return data
            except socket.timeout:
                continue
        return None

    def query(self, name: str, qtype: str | int = "A", rd: bool = False,
              edns: int | None = None, tries: int = 3) -> dnslib.DNSRecord:
        """One question (see question()); the whole reply, TimeoutError without one."""
        self._id = (self._id + 1) & 0xFFFF
        data = self.send_raw(question(name, qtype, self._id, rd, edns).pack(), tries)
        if data is None:
            raise TimeoutError(f"no reply from {self.addr} for {name} {qtype}")
        return dnslib.DNSRecord.parse(data)


def query(port: int, name: str, qtype: str | int = "A", host: str = HOST,
          timeout: float = 2.0, edns: int | None = None, tries: int = 3) -> dnslib.DNSRecord:
    """One UDP question to host:port; the whole dnslib reply (TimeoutError without one)."""
    with DNSClient(port, host, timeout) as c:
        return c.query(name, qtype, edns=edns, tries=tries)


def send_raw(port: int, packet: bytes, timeout: float = 2.0, tries: int = 3,
             host: str = HOST) -> bytes | None:
    """One raw packet over UDP; the raw reply with the same ID, or None."""
    with DNSClient(port, host, timeout) as c:
        return c.send_raw(packet, tries)


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def tcp(port: int, packets: list[bytes], timeout: float = 3.0, host: str = HOST) -> list[bytes]:
    """Several questions on one TCP connection (length-prefixed); the raw replies in order."""
    out = []
    with socket.create_connection((host, port), timeout=timeout) as s:
        for p in packets:
            s.sendall(struct.pack("!H", len(p)) + p)
        for _ in packets:
            n = struct.unpack("!H", _recv(s, 2))[0]
            out.append(_recv(s, n))
    return out


def wait_answer(port: int, name: str, qtype: str | int = "SOA", *, timeout: float = 60.0,
                alive=lambda: True, noerror: bool = False, step: float = 0.05,
                wait: float = 0.2, host: str = HOST) -> bool:
    """Ask until a reply comes (noerror: a NOERROR reply) within timeout seconds, while
    alive() holds, waiting `wait` seconds for each reply and `step` between tries;
    whether one came. A server that is up but still loading can be told apart by noerror
    with a name its data lists."""
    packet = question(name, qtype, qid=0x5782).pack()
    deadline = time.monotonic() + timeout
    with DNSClient(port, host, timeout=wait) as c:
        while time.monotonic() < deadline:
            if not alive():
                return False
            try:
                r = c.send_raw(packet, tries=1)
            except OSError:
                r = None
            if r is not None and (not noerror or r[3] & 15 == 0):
                return True
            if step:
                time.sleep(step)
    return False


def dig_run(port: int, *args: str, ns: str | None = None, time: int = 2, tries: int = 2,
            timeout: float = 30, input: str | None = None) -> subprocess.CompletedProcess:
    """Real dig asking 127.0.0.1:port (ns: inside that network namespace; input: its
    stdin, for `-f -`), run to its end, output captured as text."""
    cmd = [require_tool("dig"), "@127.0.0.1", "-p", str(port), f"+time={time}",
           f"+tries={tries}", *args]
    if ns is not None:
        cmd = [require_tool("ip"), "netns", "exec", ns, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)


def dig(port: int, *args: str, **kw) -> str:
    """dig_run()'s output."""
    return dig_run(port, *args, **kw).stdout


def answer_sets(reply: dnslib.DNSRecord) -> tuple[set[str], set[bytes]]:
    """(A addresses, TXT strings as bytes) in the answer section, as sets."""
    a: set[str] = set()
    txt: set[bytes] = set()
    for rr in reply.rr:
        if rr.rtype == dnslib.QTYPE.A:
            a.add(str(rr.rdata))
        elif rr.rtype == dnslib.QTYPE.TXT:
            txt.add(b"".join(rr.rdata.data))
    return a, txt


def summary(rec: dnslib.DNSRecord) -> dict:
    """A whole answer, comparable between servers: rcode, aa, tc, and the sections as
    sorted (owner lowercased, ttl, type, rdata) tuples (NS order is rbldnsd's rotation)."""
    def rrs(section):
        return sorted((str(r.rname).lower(), r.ttl, r.rtype, r.rclass,
                       tuple(r.rdata.data) if r.rtype == 16 else str(r.rdata).lower())
                      for r in section if r.rtype != 41)
    return {"rcode": rec.header.rcode, "aa": rec.header.aa, "tc": rec.header.tc,
            "rd": rec.header.rd, "qr": rec.header.qr,
            "an": rrs(rec.rr), "ns": rrs(rec.auth)}
