"""The mirror beside a running server: the zones served from fetched snapshots, the
socket of the /metrics endpoint (bound up front, with the DNS sockets, before anything
loads), the [export] rsync daemon (started up front too: it ends with serve) and the
`background` callback that dns.supervisor.serve starts once the zones
are loaded (the fetch Scheduler and the metrics server, their threads with the held
signals blocked)."""
from __future__ import annotations

import logging
import signal
import socket
from typing import TYPE_CHECKING

from .. import endpoint
from ..dns.signals import SIGNALS
from ..errors import ConfigError, ListenError
from .config import resolve_state_dir

if TYPE_CHECKING:  # (the zones' modules: loaded when serve runs, not on import)
    from ..dns.server import Server
    from ..dns.supervisor import Background
    from .zones import MirroredZones
    from .zoneset import ZoneSelection


def setup(sel: ZoneSelection, state_dir: str | None, no_fetch: bool, metrics: str | None
          ) -> tuple[MirroredZones | None, Background | None, list[socket.socket]]:
    """(MirroredZones or None, background(server) callable or None, the parent's
    sockets) for dns.supervisor.serve. The `metrics` socket (ADDR:PORT; needs the config:
    ConfigError) is bound here, before anything loads (ListenError when it cannot be);
    the parent's sockets list it (workers close it)."""
    cfg = sel.config
    if cfg is None:
        if metrics:
            raise ConfigError("--metrics needs the config (give --config)")
        return None, None, []
    sdir = resolve_state_dir(cfg, state_dir)
    mirrored = sel.mirrored(state_dir)
    msock = None
    if metrics:
        from ..dns.sockets import make_socket
        host, port = endpoint.parse(metrics)
        try:
            msock = make_socket(host, port, socket.SOCK_STREAM, reuseport=False)
        except OSError as e:
            raise ListenError(f"cannot listen on {endpoint.format(host, port)} (metrics): "
                              f"{e}") from None
    fetch = bool(cfg.sources) and not no_fetch
    if cfg.export is not None:  # the replicas' rsync daemon, started before privileges
        from .export import Daemon, prepare  # drop (a port below 1024, the chroot)
        Daemon(prepare(cfg, sdir), cfg, sdir).start()

    def background(server: Server | None) -> None:
        # threads inherit this mask: the signals stay with the main thread, which takes
        # them (dns.supervisor.serve holds them blocked already; this is for any other
        # caller)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            _start(server)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _start(server: Server | None) -> None:
        log = logging.getLogger("rblmirror.serve")
        if fetch:
            from .fetch import Scheduler
            Scheduler(cfg, sdir).start()
            log.info("fetching %s in the background (state dir %s)",
                     ", ".join(cfg.sources), sdir)
        if metrics:
            from . import metrics as m
            m.start(metrics, cfg, sdir, server, sock=msock)
            log.info("metrics on http://%s/metrics", metrics)

    return (mirrored, (background if fetch or metrics else None),
            [msock] if msock is not None else [])
