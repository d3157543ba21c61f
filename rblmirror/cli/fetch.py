"""`rblmirror fetch [SOURCE...]`: one fetch pass (cron-friendly), a line per source."""
from __future__ import annotations

import logging
import sys

import click

from .common import library_errors
from ..privileges import as_service_user
from .sources import source_config, source_options, user_option


@click.command("fetch")
@click.argument("names", nargs=-1, metavar="[SOURCE...]")
@source_options
@click.option("--force", is_flag=True, help="Fetch even when min_interval (or the backoff "
              "after failures) says it is not due yet.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (lock waits, swaps).")
@user_option
@library_errors
def fetch(names: tuple[str, ...], config_path: str | None, state_dir: str | None, force: bool,
          verbose: bool, user: str | None) -> None:
    """Fetch the config's sources (or the named ones) once: transfer, validate, swap in a
    new snapshot (recorded in the listing history; a [[watch]] pass follows a swap). Exit status: 0 when every source was fetched, unchanged or not due yet;
    1 when one failed or was rejected (its last good snapshot stays current); 2 on error."""
    from ..mirror.fetch import after_swaps, fetch_source, select_sources

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    cfg, sdir = source_config(config_path, state_dir)
    sources = select_sources(cfg, names)
    as_service_user(sdir, user or cfg.user)
    if not sources:
        click.echo("no [[source]] in the config: nothing to fetch", err=True)
    outcomes = []
    for src in sources:
        out = fetch_source(src, sdir, force=force, export=cfg.export is not None)
        click.echo(out.line())
        sys.stdout.flush()
        outcomes.append(out)
    after_swaps(cfg, sdir, outcomes)
    sys.exit(0 if all(o.ok for o in outcomes) else 1)
