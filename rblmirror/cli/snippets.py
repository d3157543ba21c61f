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
@click.option("--replica", "replicas", multiple=True, metavar="ADDR[:PORT]",
              help="dnsdist: a replica to balance (repeatable; port 53 when not given).")
@click.option("--listen", "listen", metavar="ADDR:PORT", default=sn.DNSDIST_LISTEN,
              show_default=True, help="dnsdist: where dnsdist answers.")
@click.option("--check-zone", "check_zone", metavar="ZONE",
              help="dnsdist: the zone whose test point health-checks the replicas "
                   "(default: the first address zone).")
@click.option("--check-interval", "check_interval", type=click.IntRange(1, 3600),
              default=sn.CHECK_INTERVAL, show_default=True,
              help="dnsdist: seconds between two health checks of a replica.")
@library_errors
def snippets(kind: str, zone_specs: tuple[str, ...], config_path: str | None, server: str | None,
             allowlist: tuple[str, ...], weight: dict[str, int], threshold: int,
             replicas: tuple[str, ...], listen: str, check_zone: str | None,
             check_interval: int) -> None:
    """Print configuration for KIND (postfix, postscreen, unbound, spamassassin, exim,
    rspamd) covering the configured or --zone zones; or (dnsdist) a dnsdist balancing
    the --replica servers, health-checked through a zone's RFC 5782 test point."""
    infos = sn.zone_infos(zone_specs, config_path, allowlist)
    if kind == "dnsdist":
        click.echo(sn.dnsdist(infos, list(replicas), listen, check_zone, check_interval),
                   nl=False)
        return
    if replicas:
        raise click.UsageError("--replica is for the dnsdist snippet")
    click.echo(sn.render(kind, infos, server or default_server(config_path, zone_specs),
                         weights=weight, threshold=threshold), nl=False)
