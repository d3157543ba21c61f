"""`rblmirror serve`: the authoritative DNS server (wiring only; see rblmirror.server)."""
from __future__ import annotations

import logging
import sys

import click


@click.command("serve")
@click.option("--zone", "zones", multiple=True, metavar="NAME:FORMAT:FILE[,FILE]",
              help="A zone to serve (repeatable; several for one NAME merge, as rbldnsd).")
@click.option("--listen", "listen", multiple=True, metavar="ADDR:PORT",
              help="Address to answer on, UDP and TCP (repeatable; [v6]:port for IPv6). "
                   "Default 127.0.0.1:5353.")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False),
              help="TOML config with [server] and [[zone]] sections.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes sharing the sockets (SO_REUSEPORT).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve(zones, listen, config, workers, verbose):
    """Answer DNSBL queries for the zones, exactly as rbldnsd would (plus TCP and EDNS0)."""
    from .. import server
    from ..errors import ZoneSpecError

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    cfg = None
    if config:
        try:
            from ..config import load_config
            cfg = load_config(config)
        except ImportError:
            raise click.ClickException("--config needs rblmirror.config, which is missing")
        except Exception as e:
            raise click.ClickException(f"cannot read {config}: {e}")
    try:
        specs = server.load_zones(config, zones) if cfg is not None else server.load_zones(None, zones)
    except (ZoneSpecError, RuntimeError) as e:
        raise click.ClickException(str(e))
    if not specs:
        raise click.ClickException("no zones: give --zone NAME:FORMAT:FILE or --config FILE")
    addrs = list(listen) or (list(getattr(cfg, "listen", []) or []) if cfg else []) \
        or ["127.0.0.1:5353"]
    n = workers or (getattr(cfg, "workers", 1) if cfg else 1) or 1
    try:
        for a in addrs:
            server.parse_listen(a)
        rc = server.serve(specs, addrs, n)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e))
    except Exception as e:  # a zone that cannot load at startup
        raise click.ClickException(f"cannot start: {e}")
    sys.exit(rc)
