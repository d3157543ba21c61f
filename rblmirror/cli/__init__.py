"""The rblmirror command line: click commands that only wire options to library calls."""
from __future__ import annotations

import importlib

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rblmirror")
def main():
    """rblmirror: mirror DNS blocklists locally, check addresses, serve them by DNS."""


# each command lives in its own module; a command whose module is not there yet is skipped
for _name in ("check", "scan", "compare", "serve", "fetch", "status", "rollback",
              "selftest", "snippets"):
    try:
        _mod = importlib.import_module(f".{_name}", __name__)
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    main.add_command(getattr(_mod, _name))
