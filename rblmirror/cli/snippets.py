"""`rblmirror snippets KIND`: the configuration lines a mail system needs for our zones."""
from __future__ import annotations

import click

from ..tools import snippets as sn
from .common import library_errors, zone_options


def default_server(config_path: str | None, zone_specs: tuple[str, ...]) -> str:
    """--server default: the config's first listen address (wildcards as loopback)."""
    from ..mirror.zoneset import ZoneSelection
    cfg = ZoneSelection.from_options(zone_specs, config_path).config
    if cfg is None:
        return sn.DEFAULT_SERVER
    return cfg.listen[0] if cfg.listen else sn.DEFAULT_SERVER


def _weight(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        name, sep, w = v.rpartition("=")
        try:
            out[name.strip().rstrip(".").lower()] = int(w)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise click.BadParameter(f"expected ZONE=WEIGHT, not {v!r}")
    return out


@click.command("snippets")
@click.argument("kind", type=click.Choice(sn.KINDS))
@zone_options
@click.option("--server", metavar="ADDR:PORT",
              help="Where rblmirror serve answers (default: the config's first listen "
                   "address, else 127.0.0.1:5353).")
@click.option("--allowlist", multiple=True, metavar="ZONE",
              help="Treat ZONE as an allowlist (DNSWL codes 127.0.X.[1..3]); zones with a "
                   "label ending in 'wl' or starting with 'white'/'allow' already are.")
@click.option("--weight", multiple=True, metavar="ZONE=N", callback=_weight,
              help=f"postscreen weight of ZONE (default {sn.BLOCK_WEIGHT} for a blocklist, "
                   f"{sn.ALLOW_WEIGHT} for an allowlist), or its rspamd score (default "
                   f"{sn.RSPAMD_BLOCK_WEIGHT}, allowlists {sn.RSPAMD_ALLOW_WEIGHT}).")
@click.option("--threshold", type=int, default=sn.THRESHOLD, show_default=True,
              help="postscreen_dnsbl_threshold.")
@library_errors
def snippets(kind: str, zone_specs: tuple[str, ...], config_path: str | None, server: str | None,
             allowlist: tuple[str, ...], weight: dict[str, int], threshold: int) -> None:
    """Print configuration for KIND (postfix, postscreen, unbound, spamassassin, exim,
    rspamd) covering the configured or --zone zones."""
    infos = sn.zone_infos(zone_specs, config_path, allowlist)
    click.echo(sn.render(kind, infos, server or default_server(config_path, zone_specs),
                         weights=weight, threshold=threshold), nl=False)
