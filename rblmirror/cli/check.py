"""rblmirror check ADDRESS... : which zones list it and why."""
from __future__ import annotations

import json
import sys

import click

from ..tools.check import check as run_check
from ..tools.verdict import catalogued, exit_status, judge
from ..mirror.zoneset import ZoneSelection
from .common import library_errors, load_zones, state_dir_option, zone_options


@click.command()
@click.argument("subjects", nargs=-1, required=True, metavar="ADDRESS|DOMAIN...")
@zone_options
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address and zone.")
@click.option("--listed-only", is_flag=True, help="Print only the zones that list it.")
@library_errors
def check(subjects: tuple[str, ...], zone_specs: tuple[str, ...], config_path: str | None,
          state_dir: str | None, as_json: bool, listed_only: bool) -> None:
    """Say which zones list each ADDRESS (IPv4/IPv6) or DOMAIN, with the A values and TXT:
    the zones `serve` answers (local files and the mirrored sources' current snapshots).
    A zone that `serve` answers SERVFAIL (source not fetched yet, stale) is an ERROR row;
    so is an answer the catalogue of public lists (`rblmirror lists`) calls an error code
    (e.g. Spamhaus 127.255.255.254), for a zone serving a catalogued list, whose listings
    are shown with their meaning.

    Exit status: 0 nothing listed, 1 something listed, 2 error (nothing listed and a
    zone could not answer, or bad input).
    """
    sel = ZoneSelection.from_options(zone_specs, config_path)
    zones = load_zones(sel, state_dir)
    verdicts = judge(run_check(list(subjects), zones), zones, catalogued(sel))
    for v in verdicts:
        if listed_only and not v.listed:
            continue
        click.echo(json.dumps(v.as_json(), ensure_ascii=False) if as_json else v.text())
    sys.exit(exit_status(verdicts))
