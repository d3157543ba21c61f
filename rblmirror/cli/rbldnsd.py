"""`rblmirror rbldnsd OPTIONS ZONE:TYPE:FILE...`: rbldnsd's command line, read as rbldnsd
reads it (wiring only; see rblmirror.tools.rbldnsd_args and rblmirror.tools.rbldnsd)."""
from __future__ import annotations

import sys

import click


@click.command("rbldnsd", context_settings={"ignore_unknown_options": True,
                                            "allow_interspersed_args": False,
                                            "help_option_names": []})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def rbldnsd(argv: tuple[str, ...]) -> None:
    """Run as rbldnsd would, with rbldnsd's options (-n, -b ADDR[/PORT], -u, -w, -p, -t ...;
    `rblmirror rbldnsd -h` lists them). The same as the rblmirror-rbldnsd program."""
    from ..tools.rbldnsd import main

    sys.exit(main(["rbldnsd", *argv]))
