"""The rblmirror command line: click commands that only wire options to library calls.

Each command lives in a module of its own (`rblmirror/cli/MODULE.py` exposing `NAME`;
COMMANDS maps one to the other), imported only when that command runs, so `check` does not
pay for dnslib, the mirror or the plots, and `rblmirror --help` imports none of them.
"""
from __future__ import annotations

import importlib

import click

from .. import __version__

#: command -> (module, the one-line summary `rblmirror --help` lists). The summaries live
#: here, so that listing the commands imports none of them (and so no numpy, no extension);
#: each command's docstring is its full help. `lists` and `sources` share cli/catalogue.py.
COMMANDS = {
    "check": ("check", "Which zones list each address or domain, and why."),
    "compare": ("compare", "Coverage of the IP lists: overlap, unique hits, churn."),
    "explain": ("explain", "Read a bounce: which list blocked what, and is it listed here now."),
    "export": ("export", "Serve the compiled snapshots to replicas (rsync daemon)."),
    "fetch": ("fetch", "Fetch the config's sources once (when due), safely."),
    "history": ("history", "When each mirrored list held an address or domain."),
    "lists": ("catalogue", "The public lists rblmirror knows, and their answer codes."),
    "rollback": ("rollback", "Serve a source's previous snapshot again."),
    "scan": ("scan", "Check every address in files or mail logs, in bulk."),
    "selftest": ("selftest", "Ask a running server the RFC 5782 test points of each zone."),
    "serve": ("serve", "Answer DNSBL queries for the zones, as rbldnsd would."),
    "snippets": ("snippets", "Print mail-server and resolver configuration for the zones."),
    "sources": ("catalogue", "Mirrored sources in the config (sources add NAME)."),
    "status": ("status", "Each source's and zone's state: fresh, stale, failing ..."),
    "watch": ("watch", "Check the [[watch]] addresses and domains, alert on changes."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, summary = COMMANDS[name]
        cmd = getattr(importlib.import_module(f".{module}", __name__), name)
        assert isinstance(cmd, click.Command), cmd
        cmd.short_help = summary
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS, without importing the commands."""
        with formatter.section("Commands"):
            formatter.write_dl([(n, COMMANDS[n][1]) for n in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rblmirror")
def main() -> None:
    """rblmirror: mirror DNS blocklists locally, check addresses, serve them by DNS."""
