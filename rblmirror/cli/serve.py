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
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--user", metavar="NAME", help="Bind as root, then run as this user "
              "(setgroups/setgid/setuid); zone files and state_dir must be readable by it.")
@mirror_options
@library_errors
def serve(zone_specs: tuple[str, ...], config_path: str | None, listen: tuple[str, ...],
          workers: int | None, minimal_any: bool, verbose: bool, user: str | None,
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
    minimal_any = minimal_any or (cfg.minimal_any if cfg else False)
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
                              minimal_any=minimal_any)
    except OSError as e:
        fail(str(e))
    sys.exit(rc)
