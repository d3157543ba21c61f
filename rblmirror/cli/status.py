"""`rblmirror status [--json]`: each source's and each zone's health, from the state files."""
from __future__ import annotations

import json
import sys
import time

import click

from ..durations import human
from .common import library_errors
from .sources import source_config, source_options


def _when(t: float | None, now: float) -> str:
    if t is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t)) + f" ({human(now - t)} ago)"


@click.command("status")
@source_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document: sources and zones.")
@library_errors
def status(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Per source: state (new, fresh, stale, failing, rejected), last attempt, last success,
    age, entries, serial, snapshot, last error. Per zone: the snapshots served, entries,
    and what it answers. Exit status: 0 when every source is fresh, 1 otherwise, 2 on error."""
    from ..mirror.status import source_report, zone_report

    cfg, sdir = source_config(config_path, state_dir)
    now = time.time()
    sources = source_report(cfg, sdir, now)
    zones = zone_report(cfg, sources)
    if as_json:
        click.echo(json.dumps({"state_dir": sdir, "time": now, "sources": sources,
                               "zones": zones}, indent=1))
    else:
        click.echo(f"state dir {sdir}")
        for s in sources:
            click.echo(f"source {s['source']}: {s['state'].upper()}  {s['url']}")
            click.echo(f"  last attempt {_when(s['last_attempt'], now)}; "
                       f"last success {_when(s['last_success'], now)}")
            if s["upstream_success"] is not None:
                click.echo(f"  replica: the primary fetched upstream "
                           f"{_when(s['upstream_success'], now)}; pulled from the primary "
                           f"{human(s['pull_age'])} ago")
            click.echo(f"  age {human(s['age'])} (max {human(s['max_age'])}"
                       f"{', upstream' if s['upstream_success'] is not None else ''}); entries "
                       f"{s['entries'] if s['entries'] is not None else '-'}; serial "
                       f"{s['serial'] or '-'}; snapshot {s['snapshot'] or '-'}")
            if s["bytes_received"] is not None:
                click.echo(f"  last transfer {s['bytes_received']} bytes received"
                           + (f" (literal {s['literal_bytes']}, matched {s['matched_bytes']})"
                              if s["matched_bytes"] is not None else ""))
            if s["next_due"] is not None:
                click.echo(f"  next fetch due in {human(s['next_due'] - now)}"
                           if s["next_due"] > now else "  next fetch due now")
            if s["last_error"]:
                click.echo(f"  last error ({s['last_result']}, {s['failures']} in a row): "
                           f"{s['last_error']}")
        for z in zones:
            if z["state"] == "local":
                click.echo(f"zone {z['zone']}: local files "
                           f"{', '.join(z['files'])}")
                continue
            snaps = ", ".join(f"{x['source']}/{x['snapshot'] or '(none)'}"
                              for x in z["sources"])
            click.echo(f"zone {z['zone']}: {z['state'].upper()}, answers {z['answers']} "
                       f"(on_stale {z['on_stale']}); {z['entries']} entries from {snaps}")
    sys.exit(0 if all(s["state"] == "fresh" for s in sources) else 1)
