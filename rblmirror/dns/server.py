"""The server: one asyncio loop answering DNS over UDP and TCP on its listeners, the
compiled path first (a recvmmsg/sendmmsg thread per UDP socket when it is built), the
reference `wire.respond()` for the rest; it watches the zone files, reloads on SIGHUP
and change, logs its counters on SIGUSR1 and stops on SIGTERM/SIGINT. Optional: the
query log (querylog; reopened on SIGHUP), the statistics file (stats; a line at SIGUSR1,
every stats_interval and at exit) and response rate limiting of UDP replies (rrl; on
the compiled loop)."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import struct
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from .. import endpoint
from .counters import C_ERRORS, Counters
from .querylog import QueryLog
from .rrl import RRL
from .stats import StatsFile
from .reload import Zones
from .signals import SIGNALS, STOP_SIGNALS, note, noted
from .sockets import Listener, bind_listeners
from .wire import respond

if TYPE_CHECKING:
    from .._dnsfast import RateLimiter, UdpLoop


log = logging.getLogger("rblmirror.dns.server")

IP_MTU_DISCOVER, IP_PMTUDISC_PROBE = 10, 3  # Linux <netinet/in.h> (not in socket)


def _empty(sock: socket.socket) -> None:
    try:
        while sock.recv(512):
            pass
    except OSError:
        pass



class Server:
    def __init__(self, zones: Zones, listen: list[str], *, tcp_idle: float = 10.0,
                 tcp_max: int = 256, check_interval: float = 1.0, reuseport: bool = False,
                 sockets: list[Listener] | None = None,
                 query_log: tuple[str, bool] | None = None,
                 stats: tuple[str, bool] | None = None, stats_interval: float = 60.0,
                 rrl: RRL | None = None):
        """query_log: (path, unbuffered); stats: (path, relative), opened by run()."""
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
        self.query_log_target = query_log
        self.stats_target = stats
        self.stats_interval = stats_interval
        self.rrl = rrl
        self.qlog: QueryLog | None = None
        self.stats: StatsFile | None = None
        self.limiter: RateLimiter | None = None

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
                if self.qlog is not None:
                    self.qlog.reply(out, writer.get_extra_info("peername")[0])
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
        loop = UdpLoop(sock.fileno(), self.zones, self._answer_slow, log=self.qlog,
                       rrl=self.limiter)
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
                if self.qlog is not None:
                    self.qlog.reply(out, peer[0])
                try:
                    sock.sendto(out, peer)
                except OSError:
                    pass

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_stats = loop.time() + self.stats_interval
        while True:
            await asyncio.sleep(self.check_interval)
            if self.qlog is not None:
                self.qlog.flush()
            if self.stats is not None and loop.time() >= next_stats:
                next_stats = loop.time() + self.stats_interval
                self.write_stats()
            if self.zones.changed():
                await loop.run_in_executor(None, self.zones.reload, "file changed")

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT (SIGHUP: reload, SIGUSR1: counters). The signals
        serve() holds (SIGNALS) are unblocked here only once the handlers are in place
        (one noted earlier is acted on now), and blocked again when stopping, the
        handlers left to `note`: none ever has its default action. The handlers are
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
        if self.rrl is not None:
            self.limiter = self.rrl.limiter()  # (ImportError: no compiled module)
        if self.query_log_target is not None:
            self.qlog = QueryLog(*self.query_log_target)
        if self.stats_target is not None:
            self.stats = StatsFile(*self.stats_target, zones=self.zone_order())
            self.stats.start()
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
            while noted:
                self._on_signal(noted.pop(0))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            watcher = asyncio.create_task(self._watch())
            await self._stop.wait()
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            log.info("stopping")
            watcher.cancel()
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            for sig in SIGNALS:
                signal.signal(sig, note)
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
            if self.qlog is not None:
                self.qlog.close()
            if self.stats is not None:
                self.stats.finish(self.counters.merged(self.zones.fast))
        self.log_counters()

    def _on_signal(self, signum: int) -> None:
        if signum in STOP_SIGNALS:
            assert self._stop is not None  # (run() made it before any handler)
            self._stop.set()
        elif signum == signal.SIGHUP:
            if self.qlog is not None:
                self.qlog.reopen()
            asyncio.get_running_loop().run_in_executor(None, self.zones.reload, "SIGHUP")
        elif signum == signal.SIGUSR1:
            self.write_stats()
            self.log_counters()

    def zone_order(self) -> list[str]:
        """The zones as the statistics list them: the table's order."""
        return [z.name for z in self.zones.table.zones]

    def write_stats(self) -> None:
        if self.stats is not None:
            try:
                self.stats.write(self.counters.merged(self.zones.fast))
            except OSError as e:
                log.warning("statistics file %s: %s", self.stats.path, e)

    def log_counters(self) -> None:
        fast = self.zones.fast
        snap = self.counters.merged(fast)
        # "fast": the share the compiled path answered (included in "counters")
        print(json.dumps({"pid": os.getpid(), "counters": snap,
                          "fast": fast.counters() if fast is not None else {},
                          "rrl": self.limiter.counters() if self.limiter is not None else {}}),
              file=sys.stderr, flush=True)

