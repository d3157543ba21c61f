"""`rblmirror selftest`: ask a running server the RFC 5782 test points of every zone."""
from __future__ import annotations

import sys

import click

from ..tools import selftest as st
from ..tools.snippets import split_server, zone_infos
from .common import library_errors, zone_options
from .snippets import default_server


@click.command("selftest")
@zone_options
@click.option("--server", metavar="ADDR:PORT",
              help="The server to ask (default: the config's first listen address, else "
                   "127.0.0.1:5353).")
@click.option("--timeout", type=float, default=2.0, show_default=True,
              help="Seconds to wait for each reply.")
@library_errors
def selftest(zone_specs: tuple[str, ...], config_path: str | None, server: str | None,
             timeout: float) -> None:
    """Ask the running server, for every zone, the RFC 5782 test points (listed with A and
    TXT; not listed: NXDOMAIN with the SOA; IPv6 and domain variants where they apply), the
    apex SOA, an empty non-terminal, TCP and EDNS0. Prints a pass/fail table; exit 1 when
    anything fails."""
    infos = zone_infos(zone_specs, config_path)
    addr = split_server(server or default_server(config_path, zone_specs))
    results = st.run(infos, addr, timeout=timeout)
    click.echo(st.table(results))
    sys.exit(0 if results and all(r.ok for r in results) else 1)
