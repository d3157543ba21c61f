"""The supervisor: `serve()` binds, loads and runs the server, in this process or in
forked workers that it watches (signals forwarded, a worker that dies stops the rest),
with the held signals (`signals`) handled at every step."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Callable, Collection, Iterable, NoReturn, TypedDict, Unpack

from .. import endpoint
from ..zonespec import ZoneSpec
from .reload import Zones
from .rrl import RRL
from .server import Server
from .signals import SIGNALS, STOP_SIGNALS, hold_signals, note, noted
from .sockets import Listener, bind_listeners, bind_worker_sets
from .zone import ZoneSource

if TYPE_CHECKING:
    import ctypes


log = logging.getLogger("rblmirror.dns.supervisor")

#: seconds a worker gets to stop after SIGTERM before SIGKILL
WORKER_STOP_TIMEOUT = 5.0
#: seconds between the parent's checks for a worker that ended
POLL = 0.2
PR_SET_PDEATHSIG = 1


class _Stopped(BaseException):
    """SIGTERM/SIGINT while the zones load"""


class ServerOptions(TypedDict, total=False):
    """Server's keyword options, as serve() passes them on."""

    tcp_idle: float
    tcp_max: int
    check_interval: float
    reuseport: bool
    query_log: tuple[str, bool] | None
    stats: tuple[str, bool] | None
    stats_interval: float
    rrl: RRL | None


#: background(server): started once the zones are loaded (server None: the parent of
#: several workers)
Background = Callable[["Server | None"], None]


def serve(specs: list[ZoneSpec], listen: list[str], workers: int = 1, *,
          mirrored: ZoneSource | None = None, background: Background | None = None,
          on_bound: Callable[[list[ZoneSpec]], None] | None = None,
          parent_sockets: Iterable[socket.socket] = (), minimal_any: bool = False,
          public: bool = False, **kw: Unpack[ServerOptions]) -> int:
    """Bind, load the zones and serve until SIGTERM/SIGINT; returns the exit status.

    Order, so that a mistake costs nothing: every socket is bound first (ListenError, before
    anything is loaded, fetched or created), then `on_bound(specs)` runs (serve --user drops
    root there, so zones are parsed and the reload scratch folder made as the user), then
    the zones load, then `background(server)` starts (the fetch schedule, metrics; in the
    parent process, `server` None with several workers).

    Signals (SIGNALS: SIGTERM, SIGINT, SIGHUP, SIGUSR1) are held from the start
    (hold_signals: blocked, so every thread started later inherits that, and noted by
    `note` when a thread started earlier takes one) and unblocked only where their
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
    minimal_any: ANY over UDP answered minimally (RFC 8482), on both DNS paths.
    public: the caller set up public mode (kw's rrl, minimal_any); without it, a listen
    address that is not loopback is warned about."""
    old_mask = hold_signals()
    sets: list[list[Listener]] = []
    try:
        limits = kw.get("rrl")
        if limits is not None:
            limits.limiter()  # (a ConfigError now, not in a worker, when it cannot be made)
        if workers <= 1:
            sets = [bind_listeners(listen)]
        else:
            sets = bind_worker_sets(listen, workers)
        if not public:  # (once bound: an address that cannot be is the one error)
            for a in exposed(listen):
                log.warning("serving on %s, not a loopback address, without public mode: "
                            "consider --public (response rate limiting, minimal ANY)", a)
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
        # stopping anyway: a late one is dropped, and the handlers stay `note`, so that
        # none can kill the process by default while it exits
        _drain(SIGNALS)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def exposed(listen: list[str]) -> list[str]:
    """The listen addresses that are not loopback ones (a wildcard is not)."""
    import ipaddress
    out = []
    for a in listen:
        host, _port = endpoint.parse(a)
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            if host == "localhost":
                continue
        out.append(a)
    return out


def _drain(sigs: Collection[int]) -> None:
    """Take the pending ones of `sigs` (blocked) so that unblocking them does nothing."""
    while set(signal.sigpending()) & set(sigs):
        if signal.sigtimedwait(sigs, 0) is None:
            break


def _load(specs: list[ZoneSpec], mirrored: ZoneSource | None, minimal_any: bool = False) -> Zones | None:
    """Zones(specs, mirrored), with SIGTERM/SIGINT unblocked meanwhile: the first one
    (or one noted before) stops the load: None (subprocess.run kills the compile child;
    else it ends with this process, see compile.py). Called and returns with SIGNALS
    blocked and handled by `note`."""
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
            fired.extend(s for s in noted if s in STOP_SIGNALS)
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
                    signal.signal(s, note)
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
        while noted:
            n = noted.pop(0)
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
            signal.signal(s, note)
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
            signal.signal(s, note)
        del noted[:]
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
