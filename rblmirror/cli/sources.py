"""Options shared by fetch, status and rollback: --config and --state-dir."""
from __future__ import annotations

import click

from ..config import Config, load_config, resolve_state_dir


def source_options(f):
    f = click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                     help="Where dumps, snapshots and state live (default: "
                          "$RBLMIRROR_STATE_DIR, the config's state_dir, "
                          "/var/lib/rblmirror).")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config (default: $RBLMIRROR_CONFIG, "
                          "/etc/rblmirror/rblmirror.toml, else the bundled zones/).")(f)
    return f


def source_config(config_path: str | None, state_dir: str | None) -> tuple[Config, str]:
    cfg = load_config(config_path)
    return cfg, resolve_state_dir(cfg, state_dir)
