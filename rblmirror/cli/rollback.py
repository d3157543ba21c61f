"""`rblmirror rollback SOURCE`: serve the previous snapshot again."""
from __future__ import annotations

import sys

import click

from .common import library_errors
from ..privileges import as_service_user
from .sources import source_config, source_options, user_option


@click.command("rollback")
@click.argument("name", metavar="SOURCE")
@click.option("--to", "to", metavar="SNAPSHOT", help="A kept snapshot (see --list) instead "
              "of the previous one.")
@click.option("--list", "list_only", is_flag=True, help="List the kept snapshots.")
@source_options
@user_option
@library_errors
def rollback(name: str, to: str | None, list_only: bool, config_path: str | None,
             state_dir: str | None, user: str | None) -> None:
    """Point SOURCE's `current` back at its previous snapshot (a running serve reloads it).
    The dump rolled back from is not re-applied until upstream changes."""
    from ..mirror.fetch import rollback as do_rollback, select_sources
    from ..mirror.state import SourceDir

    cfg, sdir = source_config(config_path, state_dir)
    (src,) = select_sources(cfg, [name])
    if not list_only:
        as_service_user(sdir, user or cfg.user)
    if list_only:
        st = SourceDir(sdir, src.name).load_state()
        for h in st.history:
            mark = "*" if h["snapshot"] == st.snapshot else " "
            click.echo(f"{mark} {h['snapshot']}\t{h['entries']} entries\tserial {h['serial']}")
        sys.exit(0)
    from ..mirror.watch import after_swaps
    frm, new = do_rollback(src, sdir, to, export=cfg.export is not None)
    click.echo(f"{src.name}: current is now {new} (was {frm})")
    after_swaps(cfg, sdir)
