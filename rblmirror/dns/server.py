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
- ANY gets every record (A and TXT; SOA and NS at the apex), as from rbldnsd, unless
  minimal_any (serve --minimal-any, [server] minimal_any): then ANY over UDP is answered
  minimally (RFC 8482: the A records, the SOA at the apex), over TCP still in full;
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
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Callable, Collection, Iterable, NoReturn, TypedDict, Unpack

from dnslib import A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord, EDNS0, NS, RD, RR, SOA, TXT

from ..data.compile import load_isolated, snapshot_name
from ..data.dataset import Dataset
from .answer import (FORMERR, NOTIMP, REFUSED, SERVFAIL, T_A, T_ANY, T_NS, T_TXT, Answer,
                     RR as Record, SOAData)
from .counters import (C_BYTES, C_ERRORS, C_LISTED, C_NOTLISTED, C_QUERIES, C_REFUSED,
                       Counters)
from .. import endpoint
from ..errors import ListenError
from ..zonespec import ZoneSpec
from .zone import ZoneSource, ZoneTable, assemble, load_spec

if TYPE_CHECKING:
    import ctypes

    from .._dnsfast import FastPath, UdpLoop


log = logging.getLogger("rblmirror.dns.server")

EDNS_SIZE = 1232  # what we advertise and the most we send over UDP
IP_MTU_DISCOVER, IP_PMTUDISC_PROBE = 10, 3  # Linux <netinet/in.h> (not in socket)
T_OPT = 41
C_IN, C_ANY = 1, 255


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
    if q is None:
        return None
    if q.flags1 & 0x7E:  # opcode != QUERY, or AA/TC set in a query: rbldnsd says NOTIMP
        out = build_reply(q, NOTIMP, False, None, (), tcp, notimp_flags=True)
        if counters:
            counters.bump("*", C_QUERIES)
            counters.bump("*", C_ERRORS)
            counters.bump("*", C_BYTES, len(out))
        return out
    low = [x.lower() for x in q.labels]
    found = table.find([x.decode("utf-8", "surrogateescape") for x in low])
    zname = "*" if found is None else found[0].name
    ans = None
    apex: tuple[bytes, ...] = ()
    if q.qclass not in (C_IN, C_ANY):
        rcode, aa = REFUSED, False
    elif q.qtype >= 250 and q.qtype != T_ANY:  # AXFR, IXFR, TSIG, types >= 256
        rcode, aa = NOTIMP, False
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
        counters.bump(zname, C_BYTES, len(out))
    return out


# ------------------------------------------------------------------------ loading
def _files_state(specs: list[ZoneSpec]) -> tuple[tuple[str, int | None, int | None], ...]:
    out: list[tuple[str, int | None, int | None]] = []
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

    def __init__(self, specs: list[ZoneSpec], mirrored: ZoneSource | None = None,
                 isolated: bool = True,
                 minimal_any: bool = False):
        self.specs = specs
        #: RFC 8482 minimal ANY over UDP, on both paths
        self.minimal_any = minimal_any
        # local dumps are parsed in a child process into snapshots; this process only
        # maps them, so a reload never holds the GIL for the length of a parse
        self.workdir: str | None = None
        #: rblmirror.mirror.zones.MirroredZones: zones from fetched snapshots (or None)
        self.mirrored = mirrored
        try:  # whatever stops the load (a stop signal too) leaves no scratch folder
            if isolated:
                self.workdir = tempfile.mkdtemp(prefix="rblmirror-snap-")
            self.state = self._state()
            self.table = self._build()
            self.fast = _make_fast(self.table, minimal_any=minimal_any)
        except BaseException:
            self.close()
            raise
        self.generation = 1
        self._lock = threading.Lock()

    def _build(self) -> ZoneTable:
        t0 = time.monotonic()
        zones = assemble(self.specs, self.mirrored, loader=self._load)
        for z in zones:
            for w in z.warnings[:20]:
                log.warning("zone %s: %s", z.name, w)
            log.info("zone %s: %d entries", z.name, z.entries)
        log.info("loaded %d zone(s) in %.2fs", len(zones), time.monotonic() - t0)
        return ZoneTable(zones)

    def _load(self, spec: ZoneSpec) -> Dataset:
        if self.workdir is None:
            return load_spec(spec)
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
                fast = _make_fast(table, self.fast, self.minimal_any)
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

    def _state(self) -> tuple[object, ...]:
        """What a reload depends on: the files' stat, and the mirrored sources' snapshots."""
        if self.mirrored is None:
            return _files_state(self.specs)
        return _files_state(self.specs) + self.mirrored.watched()


def _make_fast(table: ZoneTable, previous: FastPath | None = None,
               minimal_any: bool = False) -> FastPath | None:
    """The compiled fast path for `table` (None: dnslib answers everything). `previous`:
    the fast path being replaced, whose counters carry over."""
    if os.environ.get("RBLMIRROR_NO_FAST"):
        return None
    try:
        from .. import _dnsfast
    except ImportError:
        return None
    # every zone is compiled (the zones' answers decide there too): what it cannot hold
    # fails the load (a reload keeps the previous data)
    return _dnsfast.FastPath(table, previous, minimal_any=minimal_any)


# ------------------------------------------------------------------------ serving
def make_socket(host: str, port: int, kind: int, reuseport: bool) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, kind)
    try:
        if kind == socket.SOCK_STREAM:  # (for UDP it would let a second server share the port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


@dataclass
class Listener:
    """One --listen address's bound sockets (UDP and TCP)."""

    host: str
    port: int
    udp: socket.socket
    tcp: socket.socket

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def bind_listeners(listen: list[str], reuseport: bool = False) -> list[Listener]:
    """UDP and TCP sockets bound on every address now; ListenError (nothing left open)
    when one cannot be: "cannot listen on 1.2.3.4:5353 (udp): [Errno 99] ..."."""
    out: list[Listener] = []
    try:
        for addr in listen:
            host, port = endpoint.parse(addr)
            socks: list[socket.socket] = []
            for kind, proto in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
                try:
                    socks.append(make_socket(host, port, kind, reuseport))
                except OSError as e:
                    for sk in socks:
                        sk.close()
                    raise ListenError(
                        f"cannot listen on {endpoint.format(host, port)} ({proto}): {e}") from None
            out.append(Listener(host, port, socks[0], socks[1]))
    except BaseException:
        for x in out:
            x.close()
        raise
    return out


def bind_worker_sets(listen: list[str], workers: int) -> list[list[Listener]]:
    """One set of listeners per worker, SO_REUSEPORT, so the kernel spreads queries and
    connections over the workers. The address is first bound once without SO_REUSEPORT
    (then closed) so that a port held by another program, even another rblmirror with
    SO_REUSEPORT, is an error rather than silently shared."""
    for x in bind_listeners(listen, reuseport=False):
        x.close()
    sets: list[list[Listener]] = []
    try:
        for _ in range(workers):
            sets.append(bind_listeners(listen, reuseport=True))
    except BaseException:
        for one in sets:
            for x in one:
                x.close()
        raise
    return sets


class Server:
    def __init__(self, zones: Zones, listen: list[str], *, tcp_idle: float = 10.0,
                 tcp_max: int = 256, check_interval: float = 1.0, reuseport: bool = False,
                 sockets: list[Listener] | None = None):
        self.zones = zones
        self.listen = [endpoint.parse(x) for x in listen]
        #: the listeners bound up front (serve() binds before loading); None: run() binds
        self.sockets = sockets
        self.tcp_idle = tcp_idle
        self.tcp_max = tcp_max
        self.check_interval = check_interval
        self.reuseport = reuseport
        self.counters = Counters()
        self.tcp_open = 0
        self._stop: asyncio.Event | None = None
        self._udp_loops: list[tuple[UdpLoop, threading.Thread]] = []

    # one packet, fast path first
    def answer(self, data: bytes, tcp: bool) -> bytes | None:
        fast = self.zones.fast
        if fast is not None and not tcp:
            out = fast.answer(data)
            if out is not None:
                return out
        try:
            return respond(data, self.zones.table, tcp=tcp, counters=self.counters,
                           minimal_any=self.zones.minimal_any)
        except Exception:  # never let one packet take the server down
            log.exception("error answering a query")
            self.counters.bump("*", C_ERRORS)
            return None

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
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
            return respond(data, self.zones.table, tcp=False, counters=self.counters,
                           minimal_any=self.zones.minimal_any)
        except Exception:
            log.exception("error answering a query")
            self.counters.bump("*", C_ERRORS)
            return None

    def _start_udp_thread(self, sock: socket.socket) -> bool:
        """Serve `sock` from a thread running the compiled recvmmsg/sendmmsg loop (the
        GIL released except to answer what the fast path hands back). False when the
        compiled module is not available (asyncio then reads the socket)."""
        try:
            from .._dnsfast import UdpLoop
        except ImportError:
            return False
        sock.setblocking(True)
        try:  # room for bursts while a batch is being answered (capped by rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        # a receive timeout so the loop sees stop() within ~200 ms
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
        if sock.family == socket.AF_INET and sys.platform.startswith("linux"):
            # DF on replies (at most EDNS_SIZE bytes: never fragmented anyway), the path MTU
            # ignored: Linux then skips the IP ID generator, ~4 % of the CPU per reply
            try:
                sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
            except OSError:
                pass
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
        """Serve until SIGTERM/SIGINT (SIGHUP: reload, SIGUSR1: counters). The signals
        serve() holds (SIGNALS) are unblocked here only once the handlers are in place
        (one noted earlier is acted on now), and blocked again when stopping, the
        handlers left to _note: none ever has its default action. The handlers are
        signal.signal ones with a wakeup fd on the loop (not loop.add_signal_handler,
        which resets them to the default when the loop closes), so a signal taken by
        another thread (numpy's OpenBLAS starts one on import) still wakes the loop."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        listeners = self.sockets
        if listeners is None:
            listeners = bind_listeners([endpoint.format(h, p) for h, p in self.listen],
                                       self.reuseport)
        servers = []
        wake_r, wake_w = socket.socketpair()
        old_wakeup = None
        try:
            for x in listeners:
                if not self._start_udp_thread(x.udp):
                    loop.add_reader(x.udp.fileno(), self._udp_ready, x.udp)
                servers.append(await asyncio.start_server(self._tcp_client, sock=x.tcp))
                log.info("listening on %s port %d (udp, tcp)", x.host, x.port)
            for w in (wake_r, wake_w):
                w.setblocking(False)
            loop.add_reader(wake_r.fileno(), _empty, wake_r)
            old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)

            # (runs in the main thread, between two bytecodes)
            def on_signal(signum: int, _frame: FrameType | None) -> None:
                loop.call_soon_threadsafe(self._on_signal, signum)

            for sig in SIGNALS:
                signal.signal(sig, on_signal)
            while _noted:
                self._on_signal(_noted.pop(0))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            watcher = asyncio.create_task(self._watch())
            await self._stop.wait()
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            log.info("stopping")
            watcher.cancel()
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            for sig in SIGNALS:
                signal.signal(sig, _note)
            if old_wakeup is not None:
                signal.set_wakeup_fd(old_wakeup)
                loop.remove_reader(wake_r.fileno())
            wake_r.close()
            wake_w.close()
            for udp_loop, _ in self._udp_loops:
                udp_loop.stop()
            for _, t in self._udp_loops:
                await loop.run_in_executor(None, t.join, 2.0)
            for srv in servers:  # (closes the TCP socket)
                srv.close()
            for x in listeners:
                if not self._udp_loops:
                    loop.remove_reader(x.udp.fileno())
                x.close()
        self.log_counters()

    def _on_signal(self, signum: int) -> None:
        if signum in STOP_SIGNALS:
            assert self._stop is not None  # (run() made it before any handler)
            self._stop.set()
        elif signum == signal.SIGHUP:
            asyncio.get_running_loop().run_in_executor(None, self.zones.reload, "SIGHUP")
        elif signum == signal.SIGUSR1:
            self.log_counters()

    def log_counters(self) -> None:
        fast = self.zones.fast
        snap = self.counters.merged(fast)
        # "fast": the share the compiled path answered (included in "counters")
        print(json.dumps({"pid": os.getpid(), "counters": snap,
                          "fast": fast.counters() if fast is not None else {}}),
              file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ processes
#: what serve() holds blocked from its start: each is handled once its handler exists
SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1})
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
#: seconds a worker gets to stop after SIGTERM before SIGKILL
WORKER_STOP_TIMEOUT = 5.0
#: seconds between the parent's checks for a worker that ended
POLL = 0.2
PR_SET_PDEATHSIG = 1


class _Stopped(BaseException):
    """SIGTERM/SIGINT while the zones load"""


#: signals _note took before the code that acts on them had its handler in place
_noted: list[int] = []


def _note(signum: int, _frame: FrameType | None = None) -> None:
    _noted.append(signum)


def hold_signals() -> set[int | signal.Signals]:
    """Block SIGNALS in this thread (threads started from here on inherit that) and give
    them a handler that notes them (for a thread started before, which has them
    unblocked): from here on none has its default action, none is lost. serve() begins
    with it; the CLI calls it as early as it can. Returns the previous mask."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    for s in SIGNALS:
        if signal.getsignal(s) is not _note:
            signal.signal(s, _note)
    return old


def _empty(sock: socket.socket) -> None:
    try:
        while sock.recv(512):
            pass
    except OSError:
        pass


class ServerOptions(TypedDict, total=False):
    """Server's keyword options, as serve() passes them on."""

    tcp_idle: float
    tcp_max: int
    check_interval: float
    reuseport: bool


#: background(server): started once the zones are loaded (server None: the parent of
#: several workers)
Background = Callable[["Server | None"], None]


def serve(specs: list[ZoneSpec], listen: list[str], workers: int = 1, *,
          mirrored: ZoneSource | None = None, background: Background | None = None,
          on_bound: Callable[[list[ZoneSpec]], None] | None = None,
          parent_sockets: Iterable[socket.socket] = (), minimal_any: bool = False,
          **kw: Unpack[ServerOptions]) -> int:
    """Bind, load the zones and serve until SIGTERM/SIGINT; returns the exit status.

    Order, so that a mistake costs nothing: every socket is bound first (ListenError, before
    anything is loaded, fetched or created), then `on_bound(specs)` runs (serve --user drops
    root there, so zones are parsed and the reload scratch folder made as the user), then
    the zones load, then `background(server)` starts (the fetch schedule, metrics; in the
    parent process, `server` None with several workers).

    Signals (SIGNALS: SIGTERM, SIGINT, SIGHUP, SIGUSR1) are held from the start
    (hold_signals: blocked, so every thread started later inherits that, and noted by
    _note when a thread started earlier takes one) and unblocked only where their
    handler is in place, so a signal at any moment is never lost and never has its
    default action. SIGTERM/SIGINT during the load stop it and serve() returns 0;
    SIGHUP/SIGUSR1 wait until the server runs.

    workers > 1: the parent binds one SO_REUSEPORT set of sockets per worker (the kernel
    spreads load over the sets), loads once (the workers share the snapshot pages), forks
    the workers, each keeping its own set only, and closes its copies. It then supervises
    (see _supervise): SIGTERM/SIGINT stop all workers (exit 0), SIGHUP/SIGUSR1 are
    forwarded, and a worker that dies on its own stops the others (exit 1: a group with a
    port share missing is not left running; the service manager restarts the whole).
    Each worker dies with the parent, however the parent ends (PR_SET_PDEATHSIG).
    `parent_sockets`: sockets for the parent only (metrics), closed in the workers.

    mirrored: zones from fetched sources (rblmirror.mirror.zones.MirroredZones).
    minimal_any: ANY over UDP answered minimally (RFC 8482), on both DNS paths."""
    old_mask = hold_signals()
    sets: list[list[Listener]] = []
    try:
        if workers <= 1:
            sets = [bind_listeners(listen)]
        else:
            sets = bind_worker_sets(listen, workers)
        if on_bound is not None:
            on_bound(specs)
        zones = _load(specs, mirrored, minimal_any)
        if zones is None:
            return 0
        try:
            if workers <= 1:
                server = Server(zones, listen, sockets=sets[0], **kw)
                if background is not None:
                    background(server)
                asyncio.run(server.run())
                return 0
            return _supervise(zones, listen, sets, background, parent_sockets,
                              {**kw, "reuseport": True})
        finally:
            zones.close()
    finally:
        for one in sets:
            for x in one:
                x.close()
        # stopping anyway: a late one is dropped, and the handlers stay _note, so that
        # none can kill the process by default while it exits
        _drain(SIGNALS)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _drain(sigs: Collection[int]) -> None:
    """Take the pending ones of `sigs` (blocked) so that unblocking them does nothing."""
    while set(signal.sigpending()) & set(sigs):
        if signal.sigtimedwait(sigs, 0) is None:
            break


def _load(specs: list[ZoneSpec], mirrored: ZoneSource | None, minimal_any: bool = False) -> Zones | None:
    """Zones(specs, mirrored), with SIGTERM/SIGINT unblocked meanwhile: the first one
    (or one noted before) stops the load: None (subprocess.run kills the compile child;
    else it ends with this process, see compile.py). Called and returns with SIGNALS
    blocked and handled by _note."""
    fired: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not fired:  # raised once only, so no cleanup below is cut short by a second
            fired.append(signum)
            raise _Stopped(signum)

    zones = None
    try:
        try:
            for s in STOP_SIGNALS:  # (signal.signal() runs a handler that tripped just now)
                signal.signal(s, stop)
            fired.extend(s for s in _noted if s in STOP_SIGNALS)
            if not fired:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                zones = Zones(specs, mirrored, minimal_any=minimal_any)
        except _Stopped:
            pass
    finally:
        while True:  # pthread_sigmask() and signal.signal() run a handler that just tripped
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
                for s in STOP_SIGNALS:
                    signal.signal(s, _note)
                break
            except _Stopped:
                pass
    if not fired:
        return zones
    if zones is not None:
        zones.close()
    log.info("stopped by %s while loading", signal.Signals(fired[0]).name)
    return None


def _libc() -> ctypes.CDLL:
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def _supervise(zones: Zones, listen: list[str], sets: list[list[Listener]],
               background: Background | None, parent_sockets: Iterable[socket.socket],
               kw: ServerOptions) -> int:
    """Fork one worker per listener set, then wait for signals and for the workers.

    The parent keeps SIGNALS blocked and takes them with sigtimedwait(), which also wakes
    it every POLL seconds to reap (waitpid, WNOHANG) a worker that ended: no handler can
    be installed too late, none is lost between two checks. A thread that has SIGNALS
    unblocked (numpy's OpenBLAS starts one on import, before serve could block them) may
    take one instead: the Python handler installed too then runs in this thread, at the
    latest when sigtimedwait() returns. (SIGCHLD is left alone: the fetch threads' rsync
    inherits the mask.)

    SIGTERM/SIGINT: SIGTERM to every worker, SIGKILL to one still there
    WORKER_STOP_TIMEOUT later; exit 0 when every worker exited 0. SIGHUP/SIGUSR1:
    forwarded. A worker that ends unasked (crash, OOM kill): logged, the others stopped,
    exit 1. Restarting it alone would need the parent to keep every set open, and a set
    kept open but unread still gets its share of the queries from the kernel."""
    parent = os.getpid()
    libc = _libc()  # loaded before the fork: the workers need it at once
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # (already, since serve() began)
    live: dict[int, int] = {}  # pid -> worker number
    st = _Supervision()

    def on_signal(signum: int, _frame: FrameType | None = None) -> None:
        if signum in STOP_SIGNALS:
            if st.stop is None:
                st.stop = signum
            return
        for pid in list(live):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    try:
        for s in SIGNALS:
            signal.signal(s, on_signal)
        # noted before: a stop counts now, SIGHUP/SIGUSR1 go to the workers
        later: list[int] = []
        while _noted:
            n = _noted.pop(0)
            if n in STOP_SIGNALS:
                on_signal(n)
            else:
                later.append(n)
        for i, own in enumerate(sets):
            if st.stop is not None:
                break
            pid = os.fork()
            if pid == 0:
                _worker(parent, libc, zones, listen, own, sets, parent_sockets, kw)
            live[pid] = i
        for one in sets:  # the workers hold them now; a set nobody reads must not stay open
            for x in one:
                x.close()
        if background is not None and st.stop is None:
            background(None)  # its threads inherit the blocked mask
        for n in later:
            on_signal(n)
        deadline = None
        while live:
            for pid in list(live):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, status = pid, 0
                if done == 0:
                    continue
                n = live.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                if st.stop is None:
                    log.error("worker %d (pid %d) ended unexpectedly (%s): stopping the "
                              "others", n, pid, _exit_text(code))
                    st.failed = True
                    st.stop = signal.SIGTERM
                elif code != 0:
                    log.error("worker %d (pid %d) %s", n, pid, _exit_text(code))
                    st.failed = True
            if not live:
                break
            if st.stop is not None and deadline is None:
                log.info("stopping %d worker(s)", len(live))
                deadline = time.monotonic() + WORKER_STOP_TIMEOUT
                for pid in live:
                    _kill(pid, signal.SIGTERM)
            if deadline is not None and time.monotonic() > deadline:
                for pid in live:
                    log.error("worker pid %d did not stop: SIGKILL", pid)
                    _kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 2 * WORKER_STOP_TIMEOUT
            info = signal.sigtimedwait(SIGNALS, POLL)
            if info is not None:
                on_signal(info.si_signo)
    finally:
        for pid in live:  # only on an error in this loop
            _kill(pid, signal.SIGKILL)
        for s in SIGNALS:
            signal.signal(s, _note)
    return 1 if st.failed else 0


@dataclass
class _Supervision:
    """What _supervise's signal handler and its loop share."""

    stop: int | None = None  # the signal that stops the workers (None: not stopping)
    failed: bool = False  # a worker ended unasked or with a failure


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _exit_text(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _worker(parent: int, libc: ctypes.CDLL, zones: Zones, listen: list[str],
            own: list[Listener], sets: list[list[Listener]],
            parent_sockets: Iterable[socket.socket], kw: ServerOptions) -> NoReturn:
    """A forked worker (never returns). The mask from the parent (SIGNALS blocked) stays
    until Server.run has its handlers; SIGTERM comes when the parent ends, however it ends
    (PR_SET_PDEATHSIG; set by a process whose credentials no longer change, as the parent
    dropped privileges before forking), and also if the parent was gone before prctl."""
    code = 1
    try:
        for s in SIGNALS:  # the parent's handler (forwarding) is not ours
            signal.signal(s, _note)
        del _noted[:]
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            import ctypes
            log.warning("prctl(PR_SET_PDEATHSIG): %s", os.strerror(ctypes.get_errno()))
        if os.getppid() != parent:
            log.info("parent %d gone before the worker started", parent)
            os._exit(0)
        for one in sets:
            if one is not own:
                for x in one:
                    x.close()
        for ps in parent_sockets:
            ps.close()
        mine = zones.for_worker()
        try:
            asyncio.run(Server(mine, listen, sockets=own, **kw).run())
        finally:
            mine.close()
        if os.getppid() != parent:
            log.info("parent %d gone: stopped", parent)
        code = 0
    except BaseException:
        log.exception("worker failed")
    finally:
        os._exit(code)
