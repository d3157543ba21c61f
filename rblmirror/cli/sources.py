"""Options shared by fetch, status and rollback (--config, --state-dir, --user) and
serve's options for mirrored sources (--state-dir, --no-fetch, --metrics)."""
from __future__ import annotations

import click

from ..mirror.config import Config, load_config, resolve_state_dir
from .common import F


def source_options(f: F) -> F:
    f = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                     help="Where dumps, snapshots and state live (default: "
                          "$RBLMIRROR_STATE_DIR, the config's state_dir, "
                          "/var/lib/rblmirror).")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config (default: $RBLMIRROR_CONFIG, "
                          "/etc/rblmirror/rblmirror.toml, else the bundled zones/).")(f)
    return f


def user_option(f: F) -> F:
    """--user for the commands that write the state dir (fetch, rollback)."""
    return click.option("--user", "user", metavar="NAME",
                        help="Started as root: switch to this user before touching the "
                             "state dir (default: the config's user, else the state "
                             "dir's owner).")(f)


def source_config(config_path: str | None, state_dir: str | None) -> tuple[Config, str]:
    cfg = load_config(config_path)
    return cfg, resolve_state_dir(cfg, state_dir)


def mirror_options(f: F) -> F:
    """serve's options for mirrored sources: --state-dir, --no-fetch, --metrics."""
    f = click.option("--metrics", "metrics", metavar="ADDR:PORT",
                     help="Serve Prometheus metrics (sources, zones, query counters) "
                          "on http://ADDR:PORT/metrics.")(f)
    f = click.option("--no-fetch", "no_fetch", is_flag=True,
                     help="Do not fetch the config's sources in the background (serve "
                          "what `rblmirror fetch` leaves in the state dir).")(f)
    f = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                     help="Where fetched snapshots live (default: $RBLMIRROR_STATE_DIR, "
                          "the config's state_dir, /var/lib/rblmirror).")(f)
    return f

