"""`rblmirror export`: the primary's rsync daemon alone, in the foreground."""
from __future__ import annotations

import logging
import os
import sys

import click

from .common import library_errors
from ..privileges import as_service_user
from .sources import source_config, source_options, user_option


@click.command("export")
@source_options
@user_option
@click.option("--print-config", is_flag=True, help="Print the rsyncd.conf and exit.")
@library_errors
def export(config_path: str | None, state_dir: str | None, user: str | None,
           print_config: bool) -> None:
    """Serve the sources' compiled snapshots to replicas: publish each source's current
    snapshot and state into STATE_DIR/export/, write STATE_DIR/rsyncd.conf from the
    config's [export] (module `rblmirror`, read only, hosts_allow only) and run `rsync
    --daemon --no-detach` on it in the foreground (`serve` starts the same daemon itself
    when the config has [export]). Started as root it switches to the service user first."""
    from ..mirror import export as ex

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    cfg, sdir = source_config(config_path, state_dir)
    if print_config:
        click.echo(ex.rsyncd_conf(cfg, sdir), nl=False)
        return
    as_service_user(sdir, user or cfg.user)
    argv = ex.prepare(cfg, sdir)
    sys.stderr.flush()
    os.execv(argv[0], argv)
