"""The rblmirror command line: click commands that only wire options to library calls.

Each command lives in a module of its own (`rblmirror/cli/MODULE.py` exposing `NAME`;
COMMANDS maps one to the other), imported only when that command runs (or when --help
lists them), so `check` does not pay for dnslib, the mirror or the plots.
"""
from __future__ import annotations

import importlib

import click

from .. import __version__

#: command -> module (`lists` and `sources` share cli/catalogue.py)
COMMANDS = {name: name for name in ("check", "scan", "compare", "serve", "fetch", "status",
                                    "rollback", "selftest", "snippets")}
COMMANDS.update(lists="catalogue", sources="catalogue")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        cmd = getattr(importlib.import_module(f".{COMMANDS[name]}", __name__), name)
        assert isinstance(cmd, click.Command), cmd
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rblmirror")
def main() -> None:
    """rblmirror: mirror DNS blocklists locally, check addresses, serve them by DNS."""
