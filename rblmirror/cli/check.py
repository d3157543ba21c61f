"""rblmirror check ADDRESS... : which zones list it and why."""
from __future__ import annotations

import json
import sys

import click

from ..check import check as run_check
from .common import library_errors, load_zones, zone_options


@click.command()
@click.argument("subjects", nargs=-1, required=True, metavar="ADDRESS|DOMAIN...")
@zone_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address and zone.")
@click.option("--listed-only", is_flag=True, help="Print only the zones that list it.")
@library_errors
def check(subjects, zone_specs, config_path, as_json, listed_only):
    """Say which zones list each ADDRESS (IPv4/IPv6) or DOMAIN, with the A values and TXT.

    Exit status: 0 nothing listed, 1 something listed, 2 error.
    """
    zones = load_zones(zone_specs, config_path)
    results = run_check(list(subjects), zones)
    for r in results:
        if listed_only and not r.listed:
            continue
        if as_json:
            click.echo(json.dumps(r.as_json(), ensure_ascii=False))
        elif r.listed:
            txt = "; ".join(r.txt)
            click.echo(f"{r.subject}\t{r.zone}\tLISTED\t{','.join(r.a)}" + (f"\t{txt}" if txt else ""))
        else:
            click.echo(f"{r.subject}\t{r.zone}\tnot listed")
    sys.exit(1 if any(r.listed for r in results) else 0)
