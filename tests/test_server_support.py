"""Helpers for the server tests: run `rblmirror serve` as a real process on loopback."""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import dnslib

sys.path.insert(0, str(Path(__file__).parent))
from rbldnsd_oracle import free_udp_port, require_tool  # noqa: E402,F401


def until(pred, timeout: float = 15.0, step: float = 0.1):
    """pred()'s first true value within timeout seconds (polled every step), else its
    last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 a moment ago."""
    for _ in range(50):
        p = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


class Serve:
    """`rblmirror serve --zone ... --listen 127.0.0.1:PORT` as a subprocess."""

    def __init__(self, zones: list[str], extra: list[str] = (), workers: int = 1,
                 log_dir: Path | None = None, probe: str | None = None):
        self.zones = zones
        #: the zone whose SOA tells that the server is up (default: the first --zone's)
        self.probe = probe or zones[0].split(":")[0]
        self.extra = list(extra)
        self.workers = workers
        self.log_path = (log_dir or Path("/tmp")) / f"rblmirror-serve-{os.getpid()}-{id(self)}.log"
        self.proc = None
        self.port = None

    def start(self, timeout: float = 60.0) -> Serve:
        self.port = free_port()
        cmd = [sys.executable, "-c", "import sys; from rblmirror.cli import main; sys.exit(main())",
               "serve", "--listen", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        for z in self.zones:
            cmd += ["--zone", z]
        cmd += self.extra
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        probe = dnslib.DNSRecord.question(self.probe, "SOA").pack()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rblmirror serve exited:\n{self.log}")
            if self.raw(probe, timeout=0.2, tries=1) is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rblmirror serve did not answer:\n{self.log}")

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def raw(self, packet: bytes, timeout: float = 2.0, tries: int = 3) -> bytes | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            for _ in range(tries):
                s.sendto(packet, ("127.0.0.1", self.port))
                try:
                    while True:
                        data = s.recv(65535)
                        if data[:2] == packet[:2]:
                            return data
                except socket.timeout:
                    continue
        return None

    def query(self, name: str, qtype="A", rd: int = 0, edns: int | None = None):
        q = dnslib.DNSRecord.question(name, qtype)
        q.header.rd = rd
        if edns:
            q.add_ar(dnslib.EDNS0(udp_len=edns))
        data = self.raw(q.pack())
        if data is None:
            raise TimeoutError(f"no reply for {name} {qtype}")
        return dnslib.DNSRecord.parse(data)

    def tcp(self, packets: list[bytes], timeout: float = 3.0) -> list[bytes]:
        out = []
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            for p in packets:
                s.sendall(struct.pack("!H", len(p)) + p)
            for _ in packets:
                n = struct.unpack("!H", _recv(s, 2))[0]
                out.append(_recv(s, n))
        return out

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        rc = self.proc.returncode
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


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
