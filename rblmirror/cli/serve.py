"""`rblmirror serve`: the authoritative DNS server (wiring only; see rblmirror.dns.supervisor
and rblmirror.mirror.runtime)."""
from __future__ import annotations

import logging
import sys

import click

from .. import endpoint
from ..mirror import runtime
from ..mirror.config import resolve_state_dir
from ..mirror.zoneset import ZoneSelection
from .common import fail, library_errors, zone_options
from .sources import mirror_options


@click.command("serve")
@zone_options
@click.option("--listen", "listen", multiple=True, metavar="ADDR:PORT",
              help="Address to answer on, UDP and TCP (repeatable; [v6]:port for IPv6). "
                   "Default: the config's [server] listen, else 127.0.0.1:5353.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes sharing the sockets (SO_REUSEPORT). Default: the "
                   "config's [server] workers, else 1.")
@click.option("--minimal-any", is_flag=True, default=False,
              help="Answer ANY over UDP minimally (RFC 8482: the A records, the SOA at the "
                   "apex) instead of with every record as rbldnsd does; for servers exposed "
                   "to the internet. Default: the config's [server] minimal_any, else off.")
@click.option("--query-log", metavar="[+]PATH", default=None,
              help="Log every reply in rbldnsd's -l format (reopened on SIGHUP; +PATH: "
                   "written at once, else buffered up to 64 KiB or a second). Default: the "
                   "config's [server] query_log.")
@click.option("--stats-file", metavar="[+]PATH", default=None,
              help="Append rbldnsd's -s statistics lines (per zone) at SIGUSR1, every "
                   "--stats-interval and at exit (+PATH: relative counts). Default: the "
                   "config's [server] stats_file.")
@click.option("--stats-interval", type=click.FloatRange(min=1), default=None,
              help="Seconds between statistics lines (default: the config's, else 60).")
@click.option("--public", is_flag=True, default=False,
              help="Public-facing mode: response rate limiting per client prefix and "
                   "minimal ANY. Default: the config's [server] public, else off.")
@click.option("--rrl-rate", type=click.FloatRange(min=0), default=None,
              help="Replies a second per client prefix (turns rate limiting on; 0: off). "
                   "Default with --public: 20.")
@click.option("--rrl-slip", type=click.IntRange(0, 10), default=None,
              help="Every Nth limited reply is sent truncated (TC), the rest dropped "
                   "(0: all dropped). Default 2.")
@click.option("--rrl-window", type=click.FloatRange(1, 3600), default=None,
              help="Seconds of debt a flood builds up at most. Default 15.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--user", metavar="NAME", help="Bind as root, then run as this user "
              "(setgroups/setgid/setuid); zone files and state_dir must be readable by it.")
@mirror_options
@library_errors
def serve(zone_specs: tuple[str, ...], config_path: str | None, listen: tuple[str, ...],
          workers: int | None, minimal_any: bool, query_log: str | None,
          stats_file: str | None, stats_interval: float | None, public: bool,
          rrl_rate: float | None, rrl_slip: int | None, rrl_window: float | None,
          verbose: bool, user: str | None,
          state_dir: str | None, no_fetch: bool, metrics: str | None) -> None:
    """Answer DNSBL queries for the zones as rbldnsd would (plus TCP, EDNS0 and NODATA for
    empty non-terminals). With no --zone/--config it serves the bundled default zones."""
    from ..dns import supervisor
    from ..dns.signals import hold_signals

    # SIGTERM & co. held from here on, each taken once its handler is in place
    hold_signals()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    on_bound = None
    from .. import privileges
    target = privileges.lookup(user) if user else None  # an unknown user fails first
    sel = ZoneSelection.from_options(zone_specs, config_path)
    cfg = sel.config
    if target is None and cfg is not None and cfg.user:
        target = privileges.lookup(cfg.user)
    if target is not None:
        # the state dir (when the config mirrors sources) is handed to the user first
        sdir = resolve_state_dir(cfg, state_dir) if cfg is not None and cfg.sources else None
        on_bound = privileges.on_bound(target, adopt_dir=sdir)
    specs = sel.specs
    addrs = list(listen) or (cfg.listen if cfg else ["127.0.0.1:5353"])
    n = workers or (cfg.workers if cfg else 1)
    public = public or (cfg.public if cfg else False)
    minimal_any = minimal_any or public or (cfg.minimal_any if cfg else False)
    from ..dns import querylog, rrl, stats
    rrl_given: dict[str, float] = dict(cfg.rrl) if cfg else {}
    for k, v in (("rate", rrl_rate), ("slip", rrl_slip), ("window", rrl_window)):
        if v is not None:
            rrl_given[k] = v
    try:
        limits = rrl.settings(public, **rrl_given)
        qlog = query_log or (cfg.query_log if cfg else None)
        qlog_target = querylog.parse_target(qlog) if qlog else None
        sfile = stats_file or (cfg.stats_file if cfg else None)
        stats_target = stats.parse_target(sfile) if sfile else None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    interval = stats_interval or (cfg.stats_interval if cfg else 60.0)
    try:
        for a in addrs:
            endpoint.parse(a)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    if metrics:
        try:
            endpoint.parse(metrics)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--metrics") from None
    # binds --metrics; supervisor.serve binds the DNS sockets, all before anything loads
    mirrored, background, parent_sockets = runtime.setup(sel, state_dir, no_fetch, metrics)
    if not specs and mirrored is None:
        raise click.UsageError("no zones: give --zone NAME:FORMAT:FILE or --config FILE")
    try:
        rc = supervisor.serve(specs, addrs, n, mirrored=mirrored, background=background,
                              on_bound=on_bound, parent_sockets=parent_sockets,
                              minimal_any=minimal_any, public=public, rrl=limits,
                              query_log=qlog_target, stats=stats_target,
                              stats_interval=interval)
    except OSError as e:
        fail(str(e))
    sys.exit(rc)
