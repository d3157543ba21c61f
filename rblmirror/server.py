"""The DNS server: rbldnsd's answers over UDP and TCP (the only importer of dnslib).

`respond(packet, table, tcp=...)` is the reference path: parse the header and question
exactly as rbldnsd does (its parsequery rules), let `Zone.answer` decide, pack with
dnslib. The compiled path (`rblmirror._dnsfast`) answers the common shapes and must
produce identical bytes; anything it does not handle comes here.

Where we answer differently from rbldnsd, on purpose (tests hold each one):
- empty non-terminals are NOERROR/NODATA (zone.py), not NXDOMAIN;
- an OPT record is echoed to every query that had one; the reply honours the client's
  UDP size (at most 1232) and sets TC (answer and authority emptied) when it does not fit,
  where rbldnsd silently drops records and clears AA;
- ANY over UDP is answered minimally (RFC 8482): the A records (the SOA at the apex);
  over TCP ANY gets everything, as rbldnsd gives;
- minimal responses: no NS in the authority of positive answers (rbldnsd -a);
- NS records come in file order (rbldnsd rotates them per query);
- CHAOS version.bind is REFUSED (rbldnsd -vv behaviour).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

from dnslib import A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord, EDNS0, NS, RR, SOA, TXT

from .compile import load_isolated, snapshot_name
from .dataset import Dataset
from .answer import (FORMERR, NOTIMP, REFUSED, SERVFAIL, T_A, T_ANY, T_NS, T_TXT, Answer)
from .zone import Zone, ZoneSpec, ZoneTable

log = logging.getLogger("rblmirror.server")

EDNS_SIZE = 1232  # what we advertise and the most we send over UDP
T_OPT = 41
C_IN, C_ANY = 1, 255


# ------------------------------------------------------------------------ counters
COUNTER_NAMES = ("queries", "listed", "not_listed", "refused", "errors", "bytes")


@dataclass
class Counters:
    """Per-zone counters; the zone "*" collects queries that matched no zone."""

    zones: dict[str, list[int]] = field(default_factory=dict)

    def bump(self, zone: str, what: int, n: int = 1) -> None:
        c = self.zones.get(zone)
        if c is None:
            c = self.zones[zone] = [0] * len(COUNTER_NAMES)
        c[what] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {z: dict(zip(COUNTER_NAMES, c)) for z, c in sorted(self.zones.items())}


Q_QUERIES, Q_LISTED, Q_NOTLISTED, Q_REFUSED, Q_ERRORS, Q_BYTES = range(6)


# ------------------------------------------------------------------------ parsing
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


def _rr(owner: DNSLabel, r) -> RR:
    if r.rtype == T_A:
        rdata = A(r.data)
    elif r.rtype == T_TXT:
        rdata = TXT([r.data])
    elif r.rtype == T_NS:
        rdata = NS(_name(r.data))
    else:
        s = r.data
        rdata = SOA(_name(s.mname), _name(s.rname),
                    (s.serial, s.refresh, s.retry, s.expire, s.minttl))
    return RR(owner, r.rtype, C_IN, r.ttl, rdata)


def build_reply(q: Query, rcode: int, aa: bool, ans: Answer | None, apex_labels,
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
            counters: Counters | None = None, now: float | None = None) -> bytes | None:
    """The reference path: one query packet in, one reply packet (or None: no reply)."""
    q = parse_query(data)
    if q is None:
        return None
    if q.flags1 & 0x7E:  # opcode != QUERY, or AA/TC set in a query: rbldnsd says NOTIMP
        out = build_reply(q, NOTIMP, False, None, (), tcp, notimp_flags=True)
        if counters:
            counters.bump("*", Q_QUERIES)
            counters.bump("*", Q_ERRORS)
            counters.bump("*", Q_BYTES, len(out))
        return out
    low = [x.lower() for x in q.labels]
    found = table.find([x.decode("utf-8", "surrogateescape") for x in low])
    zname = "*" if found is None else found[0].name
    ans = None
    apex = ()
    if q.qclass not in (C_IN, C_ANY):
        rcode, aa = REFUSED, False
    elif q.qtype >= 250 and q.qtype != T_ANY:  # AXFR, IXFR, TSIG, types >= 256
        rcode, aa = NOTIMP, False
    elif found is None:
        rcode, aa = REFUSED, False
    else:
        zone, below = found
        labels = [x.decode("utf-8", "surrogateescape") for x in q.labels[:below]]
        ans = zone.answer(labels, q.qtype, now=now, minimal_any=not tcp)
        rcode = ans.rcode
        aa = ans.aa and q.qclass == C_IN
        apex = q.labels[below:]
    out = build_reply(q, rcode, aa, ans, apex, tcp)
    if counters:
        counters.bump(zname, Q_QUERIES)
        if rcode == REFUSED:
            counters.bump(zname, Q_REFUSED)
        elif rcode in (SERVFAIL, NOTIMP, FORMERR):
            counters.bump(zname, Q_ERRORS)
        elif ans is not None and ans.listed is not None:
            counters.bump(zname, Q_LISTED if ans.listed else Q_NOTLISTED)
        counters.bump(zname, Q_BYTES, len(out))
    return out


# ------------------------------------------------------------------------ loading
def load_zones(config_path: str | None, zone_specs: Iterable[str | ZoneSpec]) -> list[ZoneSpec]:
    """The zone specs to serve: the config file's zones (if any) then the --zone ones."""
    specs: list[ZoneSpec] = []
    if config_path:
        try:
            from .config import load_config  # written by another engineer
        except ImportError as e:  # pragma: no cover - until rblmirror.config lands
            raise RuntimeError(f"--config needs rblmirror.config ({e})") from None
        specs.extend(load_config(config_path).zone_specs)
    for s in zone_specs:
        specs.append(s if isinstance(s, ZoneSpec) else ZoneSpec.parse(s))
    return specs


def _files_state(specs: list[ZoneSpec]) -> tuple:
    out = []
    for s in specs:
        for f in s.files:
            try:
                st = os.stat(f)
                out.append((f, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((f, None, None))
    return tuple(out)


class Zones:
    """The served zone table; reloads build a new table off the serving path and swap
    the reference (atomic in CPython); a failed load keeps the old table."""

    def __init__(self, specs: list[ZoneSpec], mirrored=None, isolated: bool = True):
        self.specs = specs
        # local dumps are parsed in a child process into snapshots; this process only
        # maps them, so a reload never holds the GIL for the length of a parse
        self.workdir = tempfile.mkdtemp(prefix="rblmirror-snap-") if isolated else None
        #: rblmirror.sourcezone.MirroredZones: zones from fetched snapshots (or None)
        self.mirrored = mirrored
        self.state = self._state()
        self.table = self._build()
        self.fast = _make_fast(self.table)
        self.generation = 1
        self._lock = threading.Lock()

    def _build(self) -> ZoneTable:
        t0 = time.monotonic()
        zones = Zone.from_specs(self.specs, loader=self._load)
        if self.mirrored is not None:
            zones = self.mirrored.merge(zones)
        for z in zones:
            for w in z.warnings[:20]:
                log.warning("zone %s: %s", z.name, w)
            log.info("zone %s: %d entries", z.name, z.entries)
        log.info("loaded %d zone(s) in %.2fs", len(zones), time.monotonic() - t0)
        return ZoneTable(zones)

    def _load(self, spec: ZoneSpec) -> Dataset:
        if self.workdir is None:
            return spec.load()
        ds = load_isolated(spec.format, spec.files, self.workdir)
        try:  # the mapping stays valid; nothing is left behind in the folder
            os.unlink(os.path.join(self.workdir, snapshot_name(spec.format, spec.files)))
        except OSError:
            pass
        return ds

    def for_worker(self) -> Zones:
        """This table in a forked worker: its own folder for the snapshots of its reloads."""
        if self.workdir is not None:
            self.workdir = tempfile.mkdtemp(prefix="rblmirror-snap-")
        self._lock = threading.Lock()
        return self

    def close(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def reload(self, why: str) -> bool:
        with self._lock:
            state = self._state()
            try:
                table = self._build()
                fast = _make_fast(table, self.fast)
            except Exception as e:  # keep serving the last good data
                log.error("reload (%s) failed, keeping the previous data: %s", why, e)
                self.state = state
                return False
            self.table, self.fast, self.state = table, fast, state
            self.generation += 1
            log.info("reloaded (%s), generation %d", why, self.generation)
            return True

    def changed(self) -> bool:
        return self._state() != self.state

    def _state(self) -> tuple:
        """What a reload depends on: the files' stat, and the mirrored sources' snapshots."""
        if self.mirrored is None:
            return _files_state(self.specs)
        return _files_state(self.specs) + self.mirrored.watched()


def _make_fast(table: ZoneTable, previous=None):
    """The compiled fast path for `table` (None: dnslib answers everything). `previous`:
    the fast path being replaced, whose counters carry over."""
    if os.environ.get("RBLMIRROR_NO_FAST"):
        return None
    try:
        from . import _dnsfast
    except ImportError:
        return None
    try:
        fast = _dnsfast.FastPath(table, previous)
        for name, why in fast.skipped:
            log.info("zone %s: answered by the reference path only (%s)", name, why)
        return fast
    except Exception as e:  # the reference path still answers everything
        log.warning("compiled fast path unavailable: %s", e)
        return None


# ------------------------------------------------------------------------ serving
def parse_listen(s: str) -> tuple[str, int]:
    s = s.strip()
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad listen address {s!r}: expected ADDR:PORT or [ADDR6]:PORT")
    return host, int(port)


def make_socket(host: str, port: int, kind: int, reuseport: bool) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    if kind == socket.SOCK_STREAM:
        s.listen(128)
    s.setblocking(False)
    return s


class Server:
    def __init__(self, zones: Zones, listen: list[str], *, tcp_idle: float = 10.0,
                 tcp_max: int = 256, check_interval: float = 1.0, reuseport: bool = False,
                 on_bound=None):
        self.zones = zones
        #: called with the server once every socket is bound (serve --user drops root here)
        self.on_bound = on_bound
        self.listen = [parse_listen(x) for x in listen]
        self.tcp_idle = tcp_idle
        self.tcp_max = tcp_max
        self.check_interval = check_interval
        self.reuseport = reuseport
        self.counters = Counters()
        self.tcp_open = 0
        self._stop: asyncio.Event | None = None
        self._udp_loops: list = []

    # one packet, fast path first
    def answer(self, data: bytes, tcp: bool) -> bytes | None:
        fast = self.zones.fast
        if fast is not None and not tcp:
            out = fast.answer(data)
            if out is not None:
                return out
        try:
            return respond(data, self.zones.table, tcp=tcp, counters=self.counters)
        except Exception:  # never let one packet take the server down
            log.exception("error answering a query")
            self.counters.bump("*", Q_ERRORS)
            return None

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        if self.tcp_open >= self.tcp_max:
            writer.close()
            return
        self.tcp_open += 1
        try:
            while True:
                try:
                    hdr = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle)
                    (n,) = struct.unpack("!H", hdr)
                    data = await asyncio.wait_for(reader.readexactly(n), self.tcp_idle)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    break
                out = self.answer(data, True)
                if out is None:
                    continue
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except Exception:
            log.exception("tcp client error")
        finally:
            self.tcp_open -= 1
            try:
                writer.close()
            except Exception:
                pass

    def _answer_slow(self, data: bytes) -> bytes | None:
        """The UDP loop's callback for what the fast path did not answer."""
        try:
            return respond(data, self.zones.table, tcp=False, counters=self.counters)
        except Exception:
            log.exception("error answering a query")
            self.counters.bump("*", Q_ERRORS)
            return None

    def _start_udp_thread(self, sock: socket.socket) -> bool:
        """Serve `sock` from a thread running the compiled recvmmsg/sendmmsg loop (the
        GIL released except to answer what the fast path hands back). False when the
        compiled module is not available (asyncio then reads the socket)."""
        try:
            from ._dnsfast import UdpLoop
        except ImportError:
            return False
        sock.setblocking(True)
        try:  # room for bursts while a batch is being answered (capped by rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        # a receive timeout so the loop sees stop() within ~200 ms
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
        loop = UdpLoop(sock.fileno(), self.zones, self._answer_slow)
        t = threading.Thread(target=loop.run, name=f"udp-{sock.getsockname()}", daemon=True)
        self._udp_loops.append((loop, t))
        t.start()
        return True

    def _udp_ready(self, sock: socket.socket) -> None:
        for _ in range(64):  # a batch, then let the loop breathe
            try:
                data, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            out = self.answer(data, False)
            if out is not None:
                try:
                    sock.sendto(out, peer)
                except OSError:
                    pass

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.check_interval)
            if self.zones.changed():
                await loop.run_in_executor(None, self.zones.reload, "file changed")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        socks = []
        servers = []
        for host, port in self.listen:
            u = make_socket(host, port, socket.SOCK_DGRAM, self.reuseport)
            socks.append(u)
            if not self._start_udp_thread(u):
                loop.add_reader(u.fileno(), self._udp_ready, u)
            t = make_socket(host, port, socket.SOCK_STREAM, self.reuseport)
            servers.append(await asyncio.start_server(self._tcp_client, sock=t))
            log.info("listening on %s port %d (udp, tcp)", host, port)
        if self.on_bound is not None:
            self.on_bound(self)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: loop.run_in_executor(None, self.zones.reload, "SIGHUP"))
        loop.add_signal_handler(signal.SIGUSR1, self.log_counters)
        watcher = asyncio.create_task(self._watch())
        await self._stop.wait()
        log.info("stopping")
        watcher.cancel()
        for udp_loop, _ in self._udp_loops:
            udp_loop.stop()
        for _, t in self._udp_loops:
            await loop.run_in_executor(None, t.join, 2.0)
        for s in socks:
            if not self._udp_loops:
                loop.remove_reader(s.fileno())
            s.close()
        for srv in servers:
            srv.close()
        self.log_counters()

    def log_counters(self) -> None:
        fast = self.zones.fast
        snap = self.counters.snapshot()
        if fast is not None:
            for z, c in fast.counters().items():
                d = snap.setdefault(z, dict.fromkeys(COUNTER_NAMES, 0))
                for k, v in c.items():
                    d[k] += v
        print(json.dumps({"pid": os.getpid(), "counters": snap}), file=sys.stderr, flush=True)


def serve(specs: list[ZoneSpec], listen: list[str], workers: int = 1, *, mirrored=None,
          background=None, **kw) -> int:
    """Load the zones and serve until SIGTERM/SIGINT. workers > 1: that many processes on
    SO_REUSEPORT sockets, each loading and reloading on its own.

    mirrored: zones from fetched sources (rblmirror.sourcezone.MirroredZones).
    background(server): started once serving is set up (the fetch schedule, metrics), in
    the parent process; `server` is None with several workers."""
    if workers <= 1:
        zones = Zones(specs, mirrored)
        server = Server(zones, listen, **kw)
        if background is not None:
            background(server)
        try:
            asyncio.run(server.run())
        finally:
            zones.close()
        return 0
    kw["reuseport"] = True
    # load once before forking: the workers inherit the same mappings of the same
    # snapshot files (shared pages); afterwards each worker reloads on its own
    loaded = Zones(specs, mirrored)
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                zones = loaded.for_worker()
                try:
                    asyncio.run(Server(zones, listen, **kw).run())
                finally:
                    zones.close()
                os._exit(0)
            except BaseException:
                log.exception("worker failed")
                os._exit(1)
        pids.append(pid)
    if background is not None:
        background(None)

    def forward(sig, _frame):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, forward)
    rc = 0
    for p in pids:
        while True:
            try:
                _, status = os.waitpid(p, 0)
                break
            except InterruptedError:
                continue
        rc = rc or os.waitstatus_to_exitcode(status)
    loaded.close()
    return rc


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m rblmirror.server")
    ap.add_argument("--zone", action="append", default=[])
    ap.add_argument("--listen", action="append", default=[])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--config")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    specs = load_zones(a.config, a.zone)
    return serve(specs, a.listen or ["127.0.0.1:5353"], a.workers)


if __name__ == "__main__":
    sys.exit(main())
