"""The real rbldnsd as a test oracle: start it on loopback, ask it by DNS, stop it.

    with Rbldnsd([("bl.test", "ip4set", [path])]) as r:
        reply = r.query("2.0.0.127.bl.test", "TXT")      # a whole dnslib.DNSRecord
        r.warnings                                          # [(file, line, message), ...]

`Rbldnsd` takes any zone specs (name, dataset type, files) and extra command-line
options, so it serves DNS-level differential tests of our own server too. The fixture
factory lives in tests/conftest.py (`rbldnsd_server`). Only loopback is used.
`synthesized` and `is_partial_ip` are the documented differences of our answers from
rbldnsd's, for the tests that compare the two.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

import dnslib

from support.dns import DNSClient, wait_answer
from support.ports import free_udp_port
from support.processes import stop
from support.tools import require_tool

#: a load warning on rbldnsd's stderr: "rbldnsd: file z2(2): invalid address"
_WARN_RE = re.compile(r"^rbldnsd: file (?P<file>.+?)\((?P<line>\d+)\): (?P<msg>.*)$")
#: its load line on stdout: "zones reloaded, time 1.23e/1.10u sec"
_LOAD_RE = re.compile(r"zones reloaded, time ([\d.]+)e/([\d.]+)u sec")


def world_readable(path: str | os.PathLike) -> Path:
    """rbldnsd drops root for its own user: make a file under the temp folder readable by
    it (the file 0644, its temp parents searchable); returns the path."""
    path = Path(path)
    tmp = tempfile.gettempdir() + "/"
    for d in [path.parent, *path.parent.parents]:
        if str(d).startswith(tmp) and d.is_dir():
            os.chmod(d, os.stat(d).st_mode | 0o055)
    os.chmod(path, 0o644)
    return path


ZoneSpec = tuple[str, str, Sequence[str | os.PathLike]]


class Rbldnsd:
    """One rbldnsd process on 127.0.0.1:port, serving `zones` (name, type, files).

    Relative file names are resolved against the caller's cwd; all are passed absolute.
    rbldnsd drops root to its own user, so files must be world-readable; write()
    puts generated zone files into a world-readable scratch directory for that.
    """

    def __init__(self, zones: Iterable[ZoneSpec] = (), *, args: Sequence[str] = ("-t", "3600"),
                 binary: str = "rbldnsd", workdir: str | os.PathLike | None = None,
                 probe: tuple[str, str] | None = None, noerror: bool = False,
                 poll: float = 0.05):
        """probe: (name, qtype) asked until it is answered (noerror: answered NOERROR, for
        `-q`, which answers before it has loaded), instead of its "started" line and an
        answer for the first zone's SOA; poll: seconds between tries (0: none)."""
        self.binary = binary
        self.name = "rbldnsd"
        self.probe, self.noerror, self.poll = probe, noerror, poll
        #: seconds from exec until it was ready (answering), set by start()
        self.started_in: float | None = None
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
        self.binary = require_tool(self.binary) if "/" not in self.binary else self.binary
        if not self.zones:
            raise ValueError("rbldnsd needs at least one zone")
        for _attempt in range(5):
            port = free_udp_port()
            self._stdout = open(self.workdir / "rbldnsd.stdout", "wb")
            self._stderr = open(self.workdir / "rbldnsd.stderr", "wb")
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.command(port), stdout=self._stdout,
                                         stderr=self._stderr, stdin=subprocess.DEVNULL)
            self.port = port
            if self._wait_ready(timeout):
                self.started_in = time.perf_counter() - t0
                self._client = DNSClient(port)
                return self
            self._kill()
            if "Address already in use" not in self.stderr:
                raise RuntimeError(f"rbldnsd did not start:\n{self.stdout}\n{self.stderr}")
        raise RuntimeError("rbldnsd: no free port after 5 attempts")

    def _wait_ready(self, timeout: float) -> bool:
        """Ready when it answers the probe, or else when it has said "started" and answers
        the first zone's SOA (loading happens before both)."""
        proc, port = self.proc, self.port
        assert proc is not None and port is not None
        alive = lambda: proc.poll() is None  # noqa: E731
        if self.probe is not None:
            return wait_answer(port, *self.probe, timeout=timeout, alive=alive,
                               noerror=self.noerror, step=self.poll,
                               wait=0.2 if self.poll else 0.02)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if "started (" in self.stdout and wait_answer(
                    port, self.zones[0][0], "SOA", timeout=0.3, alive=alive, step=0):
                return True
            time.sleep(self.poll)
        return False

    def _kill(self) -> None:
        stop(self.proc, 5)
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

    def load_times(self) -> dict:
        """Its own load time from its 'zones reloaded, time <e>e/<u>u sec' line (read after
        stop(), once it has flushed): {"log_elapsed", "log_user"} (None without the line)
        and the whole "log"."""
        log = self.log
        m = _LOAD_RE.search(log)
        return {"log_elapsed": float(m.group(1)) if m else None,
                "log_user": float(m.group(2)) if m else None, "log": log}

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


# ---- the documented differences of our answers from rbldnsd's ----------------------------
def is_partial_ip(name: str, zone: str) -> bool:
    rel = name.lower()[: -len(zone) - 1].split(".")
    if len(rel) == 4 and all(x.isdigit() and len(x) <= 3 and int(x) <= 255 for x in rel):
        return False  # a complete IPv4 name, even one of single digits
    return (len(rel) < 4 and all(x.isdigit() for x in rel)) or \
        (len(rel) < 32 and all(len(x) == 1 and x in "0123456789abcdef" for x in rel))


def synthesized(name: str, t: str, a: dict, b: dict) -> bool:
    """Our deliberate differences for a zone whose dump lacks $SOA/$NS or the RFC 5782
    test point (DESIGN.md, "Every zone answers like a real zone"): where rbldnsd REFUSES
    the apex we answer the synthesized SOA/NS; where its negative answer carries no SOA
    ours carries one; where the data lacks 127.0.0.2 (or TEST) we list it. Anything else
    must still be equal."""
    zone_soa = [r for r in a["ns"] + a["an"] if r[2] == 6]
    apex_types = {6, 2} if t == "ANY" else {dnslib.QTYPE.reverse.get(t)}
    if b["rcode"] == 5 and a["rcode"] == 0 and a["aa"] and t in ("SOA", "NS", "ANY") and \
            a["an"] and all(r[2] in apex_types for r in a["an"]) and \
            all(r[0] == name.lower().rstrip(".") + "." for r in a["an"]):
        return True
    if a["rcode"] == b["rcode"] and a["an"] == b["an"] and not b["ns"] and \
            len(a["ns"]) == 1 and zone_soa and a["rcode"] in (0, 3):
        return True
    test_point = name.lower().split(".")[:4] == ["2", "0", "0", "127"] or \
        name.lower().split(".")[0] == "test"
    if test_point and b["rcode"] == 3 and a["rcode"] == 0 and a["aa"]:
        if t in ("A", "ANY") and not any(r[4] == "127.0.0.2" for r in a["an"] if r[2] == 1):
            return False
        return all(r[2] in (1, 16) for r in a["an"]) and (a["an"] or a["ns"])
    return False
