"""`rblmirror history ADDRESS|DOMAIN`: when each mirrored list held it."""
from __future__ import annotations

import json
import sys

import click

from .common import library_errors
from .sources import source_config, source_options


@click.command("history")
@click.argument("subject", metavar="ADDRESS|DOMAIN")
@source_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per interval.")
@library_errors
def history(subject: str, config_path: str | None, state_dir: str | None,
            as_json: bool) -> None:
    """Show, per mirrored source, the intervals it listed ADDRESS (IPv4/IPv6) or DOMAIN:
    first seen, last seen, and whether it is listed now (from the listing history each
    snapshot swap records in STATE_DIR/history.sqlite). An interval first seen at a
    source's first recorded swap says "seen since the mirror began": it was listed then
    already, since when the history cannot know.

    Exit status: 0 not listed now, 1 listed now by a source, 2 error."""
    from ..mirror.history import lookup

    _, sdir = source_config(config_path, state_dir)
    found = lookup(sdir, subject)
    for i in found:
        click.echo(json.dumps({"subject": subject, **i.as_json()}) if as_json else i.text())
    if not found and not as_json:
        click.echo(f"{subject}: no mirrored source listed it since its history began")
    sys.exit(1 if any(i.current for i in found) else 0)
