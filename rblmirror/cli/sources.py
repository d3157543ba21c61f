"""Options shared by fetch, status and rollback: --config and --state-dir."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..mirror.config import Config, load_config, resolve_state_dir
from .common import F

if TYPE_CHECKING:  # (the zones' modules: not loaded for status)
    import socket

    from ..dns.server import Server
    from ..dns.supervisor import Background
    from ..mirror.zones import MirroredZones
    from ..mirror.zoneset import ZoneSelection


def source_options(f: F) -> F:
    f = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                     help="Where dumps, snapshots and state live (default: "
                          "$RBLMIRROR_STATE_DIR, the config's state_dir, "
                          "/var/lib/rblmirror).")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config (default: $RBLMIRROR_CONFIG, "
                          "/etc/rblmirror/rblmirror.toml, else the bundled zones/).")(f)
    return f


def user_option(f: F) -> F:
    """--user for the commands that write the state dir (fetch, rollback)."""
    return click.option("--user", "user", metavar="NAME",
                        help="Started as root: switch to this user before touching the "
                             "state dir (default: the config's user, else the state "
                             "dir's owner).")(f)


def source_config(config_path: str | None, state_dir: str | None) -> tuple[Config, str]:
    cfg = load_config(config_path)
    return cfg, resolve_state_dir(cfg, state_dir)


def mirror_options(f: F) -> F:
    """serve's options for mirrored sources: --state-dir, --no-fetch, --metrics."""
    f = click.option("--metrics", "metrics", metavar="ADDR:PORT",
                     help="Serve Prometheus metrics (sources, zones, query counters) "
                          "on http://ADDR:PORT/metrics.")(f)
    f = click.option("--no-fetch", "no_fetch", is_flag=True,
                     help="Do not fetch the config's sources in the background (serve "
                          "what `rblmirror fetch` leaves in the state dir).")(f)
    f = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                     help="Where fetched snapshots live (default: $RBLMIRROR_STATE_DIR, "
                          "the config's state_dir, /var/lib/rblmirror).")(f)
    return f


def mirror_setup(sel: ZoneSelection, state_dir: str | None, no_fetch: bool,
                 metrics: str | None
                 ) -> tuple[MirroredZones | None, Background | None, list[socket.socket]]:
    """(MirroredZones or None, background(server) callable or None, the parent's
    sockets) for supervisor.serve. The --metrics socket is bound here, before anything loads
    (ListenError when it cannot be); the parent's sockets list it (workers close it)."""
    import logging

    cfg = sel.config
    if cfg is None:
        if metrics:
            raise click.UsageError("--metrics needs the config (give --config)")
        return None, None, []
    sdir = resolve_state_dir(cfg, state_dir)
    mirrored = sel.mirrored(state_dir)
    msock = None
    if metrics:
        import socket

        from ..errors import ListenError
        from .. import endpoint
        from ..dns.sockets import make_socket
        try:
            host, port = endpoint.parse(metrics)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--metrics") from None
        try:
            msock = make_socket(host, port, socket.SOCK_STREAM, reuseport=False)
        except OSError as e:
            raise ListenError(f"cannot listen on {endpoint.format(host, port)} (metrics): "
                              f"{e}") from None
    fetch = bool(cfg.sources) and not no_fetch

    def background(server: Server | None) -> None:
        # threads inherit this mask: the signals stay with the main thread, which takes
        # them (supervisor.serve holds them blocked already; this is for any other caller)
        import signal
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT,
                                                        signal.SIGHUP, signal.SIGUSR1})
        try:
            _start(server)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _start(server: Server | None) -> None:
        log = logging.getLogger("rblmirror.serve")
        if fetch:
            from ..mirror.fetch import Scheduler
            Scheduler(cfg, sdir).start()
            log.info("fetching %s in the background (state dir %s)",
                     ", ".join(cfg.sources), sdir)
        if metrics:
            from ..mirror import metrics as m
            m.start(metrics, cfg, sdir, server, sock=msock)
            log.info("metrics on http://%s/metrics", metrics)

    return (mirrored, (background if fetch or metrics else None),
            [msock] if msock is not None else [])
