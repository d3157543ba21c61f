"""Our server, `rblmirror serve`, as a real process on loopback.

    with Serve(["bl.test:ip4set:/path/zone"]) as s:
        s.query("2.0.0.127.bl.test", "TXT")     # a whole dnslib.DNSRecord
        s.raw(packet), s.tcp([packet, ...])      # raw replies
        s.counters()["fast"]                     # its SIGUSR1 counter dump
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import dnslib

from support.cli import RBLMIRROR
from support.dns import DNSClient, question, send_raw, tcp, wait_answer
from support.ports import free_port
from support.processes import stop


class Serve:
    """`rblmirror serve --zone ... --listen 127.0.0.1:PORT` as a subprocess."""

    def __init__(self, zones: Sequence[str], extra: Sequence[str] = (), workers: int = 1,
                 log_dir: Path | None = None, probe: str | None = None,
                 probe_type: str = "SOA", noerror: bool = False, name: str | None = None,
                 env: dict | None = None):
        self.zones = list(zones)
        #: the name whose answer tells that the server is up (default: the first --zone's
        #: SOA); noerror: only a NOERROR answer does (its data is loaded)
        self.probe = probe or zones[0].split(":")[0]
        self.probe_type, self.noerror = probe_type, noerror
        self.extra = list(extra)
        self.env = {**os.environ, **env} if env else None
        self.workers = workers
        self.name = name or f"rblmirror x{workers}"
        self.log_path = (log_dir or Path("/tmp")) / f"rblmirror-serve-{os.getpid()}-{id(self)}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: its UDP and TCP port on 127.0.0.1 (0 until started)
        self.port = 0

    def start(self, timeout: float = 60.0) -> Serve:
        self.port = port = free_port()
        cmd = [*RBLMIRROR, "serve", "--listen", f"127.0.0.1:{port}",
               "--workers", str(self.workers)]
        for z in self.zones:
            cmd += ["--zone", z]
        cmd += self.extra
        self._log = open(self.log_path, "wb")
        self.proc = proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env)
        if wait_answer(port, self.probe, self.probe_type, timeout=timeout,
                       alive=lambda: proc.poll() is None, noerror=self.noerror):
            return self
        if proc.poll() is not None:
            self._log.close()
            raise RuntimeError(f"rblmirror serve exited:\n{self.log}")
        self.stop()
        raise RuntimeError(f"rblmirror serve did not answer:\n{self.log}")

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def raw(self, packet: bytes, timeout: float = 2.0, tries: int = 3) -> bytes | None:
        return send_raw(self.port, packet, timeout, tries)

    def query(self, name: str, qtype="A", rd: int = 0, edns: int | None = None):
        with DNSClient(self.port) as c:
            data = c.send_raw(question(name, qtype, rd=bool(rd), edns=edns).pack())
        if data is None:
            raise TimeoutError(f"no reply for {name} {qtype}")
        return dnslib.DNSRecord.parse(data)

    def tcp(self, packets: list[bytes], timeout: float = 3.0) -> list[bytes]:
        return tcp(self.port, packets, timeout)

    def signal(self, sig: int) -> None:
        assert self.proc is not None, "Serve.start() first"
        self.proc.send_signal(sig)

    def counters(self, timeout: float = 10.0) -> dict:
        """Its counters, from the JSON line a SIGUSR1 makes it log ("counters", "fast")."""
        before = self.log.count('"fast"')
        self.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.log.count('"fast"') == before and time.monotonic() < deadline:
            time.sleep(0.02)
        line = [x for x in self.log.splitlines() if x.startswith("{") and '"fast"' in x][-1]
        return json.loads(line)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        rc = stop(self.proc, 10)
        self._log.close()
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
