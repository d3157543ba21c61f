"""`rblmirror watch --once`: check the [[watch]] addresses and domains, alert on changes."""
from __future__ import annotations

import json
import sys

import click

from .common import fail, library_errors
from ..privileges import as_service_user
from .sources import source_config, source_options, user_option


@click.command("watch")
@click.option("--once", is_flag=True, help="Do one pass and exit (for cron).")
@source_options
@click.option("--json", "as_json", is_flag=True, help="The pass as one JSON object.")
@user_option
@library_errors
def watch(once: bool, config_path: str | None, state_dir: str | None, as_json: bool,
          user: str | None) -> None:
    """Look the config's [[watch]] networks and domains up in every zone (as `serve`
    answers them), and alert through each watch's command, webhook and mail_to when one
    is newly listed or delisted since the last pass (the last-alerted state is kept in
    STATE_DIR/watch.json: an unchanged pass alerts nobody). `fetch` and `serve` run the
    same pass after every snapshot swap.

    Exit status: 1 something watched is listed, 0 nothing is, 2 error (a zone could not
    answer, an alert could not be delivered, bad config)."""
    if not once:
        fail("watch runs one pass: use --once (fetch and serve run it after every swap)")
    from ..mirror.watch import run_pass

    cfg, sdir = source_config(config_path, state_dir)
    if not cfg.watches:
        fail(f"no [[watch]] in {cfg.path}: nothing to watch")
    as_service_user(sdir, user or cfg.user)
    p = run_pass(cfg, sdir)
    click.echo(json.dumps(p.as_json(), ensure_ascii=False) if as_json else p.text(), nl=as_json)
    for e in p.errors:
        click.echo(f"rblmirror: error: {e}", err=True)
    sys.exit(p.exit_status())
