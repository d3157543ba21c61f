"""The real rbldnsd as a test oracle: start it on loopback, ask it by DNS, stop it.

    with Rbldnsd([("bl.test", "ip4set", [path])]) as r:
        reply = r.query("2.0.0.127.bl.test", "TXT")      # a whole dnslib.DNSRecord
        r.warnings                                          # [(file, line, message), ...]

`Rbldnsd` takes any zone specs (name, dataset type, files) and extra command-line
options, so it serves DNS-level differential tests of our own server too. The fixture
factory lives in tests/conftest.py (`rbldnsd_server`). Only loopback is used.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

import dnslib
import pytest

#: a load warning on rbldnsd's stderr: "rbldnsd: file z2(2): invalid address"
_WARN_RE = re.compile(r"^rbldnsd: file (?P<file>.+?)\((?P<line>\d+)\): (?P<msg>.*)$")


def require_tool(name: str) -> str:
    """Path of an external program; a missing one skips the test (fails it when CI=true)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name!r} is not installed (needed by this integration test)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (the caller retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _qtype(qtype: str | int) -> int:
    return qtype if isinstance(qtype, int) else getattr(dnslib.QTYPE, qtype.upper())


class DNSClient:
    """A UDP client on one socket; query() sends one question and returns the whole reply."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 2.0):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self._id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DNSClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, packet: bytes, tries: int = 3) -> bytes | None:
        """Send a packet, return the raw reply with the same ID (None on timeout)."""
        qid = int.from_bytes(packet[:2], "big")
        for _ in range(tries):
            self.sock.sendto(packet, self.addr)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    if int.from_bytes(data[:2], "big") == qid:
                        return data
            except socket.timeout:
                continue
        return None

    def query(self, name: str, qtype: str | int = "A", rd: bool = False,
              edns: int | None = None) -> dnslib.DNSRecord:
        """One question; edns=N adds an OPT record advertising an N-byte UDP payload
        (rbldnsd honours it; without it, RRs past 512 bytes are dropped silently)."""
        self._id = (self._id + 1) & 0xFFFF
        q = dnslib.DNSRecord(dnslib.DNSHeader(id=self._id, rd=int(rd)),
                             q=dnslib.DNSQuestion(name, _qtype(qtype)))
        if edns is not None:
            q.add_ar(dnslib.EDNS0(udp_len=edns))
        data = self.send_raw(q.pack())
        if data is None:
            raise TimeoutError(f"no reply from {self.addr} for {name} {qtype}")
        return dnslib.DNSRecord.parse(data)


def query(port: int, name: str, qtype: str | int = "A", host: str = "127.0.0.1",
          timeout: float = 2.0, edns: int | None = None) -> dnslib.DNSRecord:
    """One UDP query to host:port; the whole dnslib reply."""
    with DNSClient(port, host, timeout) as c:
        return c.query(name, qtype, edns=edns)


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


ZoneSpec = tuple[str, str, Sequence[str | os.PathLike]]


class Rbldnsd:
    """One rbldnsd process on 127.0.0.1:port, serving `zones` (name, type, files).

    Relative file names are resolved against the caller's cwd; all are passed absolute.
    rbldnsd drops root to its own user, so files must be world-readable; write()
    puts generated zone files into a world-readable scratch directory for that.
    """

    def __init__(self, zones: Iterable[ZoneSpec] = (), *, args: Sequence[str] = ("-t", "3600"),
                 binary: str = "rbldnsd", workdir: str | os.PathLike | None = None):
        self.binary = binary
        self.zones: list[ZoneSpec] = list(zones)
        self.args = list(args)
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rbldnsd-"))
        os.chmod(self.workdir, 0o755)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._client: DNSClient | None = None

    # ---- files ----------------------------------------------------------------------
    def write(self, name: str, content: str | bytes) -> Path:
        """Write a zone file into the world-readable workdir; returns its path."""
        p = self.workdir / name
        p.write_bytes(content.encode("utf-8", "surrogateescape") if isinstance(content, str)
                      else content)
        os.chmod(p, 0o644)
        return p

    def add_zone(self, name: str, dstype: str, files: Sequence[str | os.PathLike]) -> None:
        self.zones.append((name, dstype, files))

    # ---- process --------------------------------------------------------------------
    def command(self, port: int) -> list[str]:
        specs = [f"{name}:{t}:{','.join(str(Path(f).resolve()) for f in files)}"
                 for name, t, files in self.zones]
        return [self.binary, "-n", "-b", f"127.0.0.1/{port}", "-w", str(self.workdir),
                *self.args, *specs]

    def start(self, timeout: float = 20.0) -> Rbldnsd:
        if shutil.which(self.binary) is None:
            require_tool(self.binary)
        if not self.zones:
            raise ValueError("rbldnsd needs at least one zone")
        for _attempt in range(5):
            port = free_udp_port()
            self._stdout = open(self.workdir / "rbldnsd.stdout", "wb")
            self._stderr = open(self.workdir / "rbldnsd.stderr", "wb")
            self.proc = subprocess.Popen(self.command(port), stdout=self._stdout,
                                         stderr=self._stderr, stdin=subprocess.DEVNULL)
            self.port = port
            if self._wait_ready(timeout):
                self._client = DNSClient(port)
                return self
            self._kill()
            if "Address already in use" not in self.stderr:
                raise RuntimeError(f"rbldnsd did not start:\n{self.stdout}\n{self.stderr}")
        raise RuntimeError("rbldnsd: no free port after 5 attempts")

    def _wait_ready(self, timeout: float) -> bool:
        """Ready when it answers anything for its first zone (loading happens before that)."""
        deadline = time.monotonic() + timeout
        with DNSClient(self.port, timeout=0.2) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    c.send_raw(dnslib.DNSRecord.question(self.zones[0][0], "SOA").pack(),
                               tries=1)
                except OSError:
                    pass
                else:
                    if "started (" in self.stdout:
                        return True
                time.sleep(0.05)
        return False

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (getattr(self, "_stdout", None), getattr(self, "_stderr", None)):
            if f is not None and not f.closed:
                f.close()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._kill()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Rbldnsd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ---- output ---------------------------------------------------------------------
    def _read(self, name: str) -> str:
        p = self.workdir / name
        return p.read_bytes().decode("utf-8", "replace") if p.exists() else ""

    @property
    def stdout(self) -> str:
        return self._read("rbldnsd.stdout")

    @property
    def stderr(self) -> str:
        return self._read("rbldnsd.stderr")

    @property
    def log(self) -> str:
        """Everything rbldnsd printed (progress on stdout, warnings on stderr)."""
        return self.stdout + self.stderr

    @property
    def warnings(self) -> list[tuple[str, int, str]]:
        """Load warnings as (file as given to rbldnsd, line, message)."""
        out = []
        for line in self.stderr.splitlines():
            m = _WARN_RE.match(line)
            if m:
                out.append((m["file"], int(m["line"]), m["msg"]))
        return out

    # ---- queries --------------------------------------------------------------------
    def query(self, name: str, qtype: str | int = "A",
              edns: int | None = None) -> dnslib.DNSRecord:
        if self._client is None:
            raise RuntimeError("rbldnsd is not running")
        return self._client.query(name, qtype, edns=edns)

    def raw(self, packet: bytes) -> bytes | None:
        if self._client is None:
            raise RuntimeError("rbldnsd is not running")
        return self._client.send_raw(packet)
