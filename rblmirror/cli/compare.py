"""rblmirror compare : list coverage, overlap, unique contribution, hits on traffic."""
from __future__ import annotations

import json
import os

import click

from ..tools.coverage import Corpus, compare as run_compare, format_table
from ..tools.scan import ip_zones
from ..data.dataset import Dataset
from ..errors import RblmirrorError
from ..mirror.zoneset import ZoneSelection, unavailable
from .common import (library_errors, load_zones, report_unavailable, state_dir_option,
                     zone_options)


def _named(value: str, what: str) -> tuple[str | None, str]:
    """NAME=FILE or FILE."""
    name, sep, path = value.partition("=")
    if sep and name and path and not os.path.exists(value):
        return name, path
    return None, value


@click.command()
@zone_options
@state_dir_option
@click.option("--corpus", "corpora", multiple=True, metavar="[NAME=]FILE",
              help="Addresses from real traffic (one per line): hits per list, unique hits, "
                   "cumulative coverage. Repeatable.")
@click.option("--good", "goods", multiple=True, metavar="[NAME=]FILE",
              help="Known legitimate senders: hits on them are false positives. Repeatable.")
@click.option("--before", "befores", multiple=True, metavar="[ZONE=]DUMP",
              help="An earlier dump of one list: churn (added, removed, kept). ZONE may be "
                   "left out when only one zone is compared.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              help="Write an HTML report with plots (embedded PNG) to this file (needs "
                   "matplotlib: pip install 'rblmirror[report]').")
@library_errors
def compare(zone_specs: tuple[str, ...], config_path: str | None, state_dir: str | None,
            corpora: tuple[str, ...], goods: tuple[str, ...], befores: tuple[str, ...],
            as_json: bool, html_path: str | None) -> None:
    """Compare the coverage of the configured (or --zone) IP lists: size, overlap,
    unique contribution, union, and hits on corpora of real traffic. Mirrored sources are
    read from their current snapshots; a zone that `serve` answers SERVFAIL (not fetched
    yet, stale) is left out, with a warning."""
    if html_path:  # before the work: the plots need the optional matplotlib
        from ..tools.report_html import require_matplotlib
        require_matplotlib()
    zones = load_zones(ZoneSelection.from_options(zone_specs, config_path), state_dir)
    unusable = unavailable(zones)
    report_unavailable(unusable, "serve answers SERVFAIL; left out")
    zones = [z for z in zones if z.name not in unusable]
    ip = ip_zones(zones)
    cs = []
    for value, good in [(v, False) for v in corpora] + [(v, True) for v in goods]:
        name, path = _named(value, "corpus")
        c = Corpus.from_file(name or os.path.basename(path), path, good=good)
        for line, text in c.bad_samples:
            click.echo(f"warning: {path}:{line}: not an IP address: {text[:80]!r}", err=True)
        if c.bad_lines > len(c.bad_samples):
            click.echo(f"warning: {path}: {c.bad_lines - len(c.bad_samples)} more bad lines",
                       err=True)
        cs.append(c)
    before = {}
    for value in befores:
        name, path = _named(value, "dump")
        if name is None:
            if len(ip) != 1:
                raise RblmirrorError(f"--before {value}: say which zone it belongs to "
                                     "(--before ZONE=DUMP)")
            name = ip[0].name
        z = next((z for z in ip if z.name == name), None)
        if z is None:
            raise RblmirrorError(f"--before {value}: no IP zone {name!r} "
                                 f"(zones: {', '.join(x.name for x in ip)})")
        if not os.path.isfile(path):
            raise RblmirrorError(f"--before {value}: cannot read {path}")
        fmt = next(a.dataset.format for a in z.datasets if not a.dataset.is_names)
        before[name] = Dataset.from_file(path, format=fmt)
    result = run_compare(zones, cs, before)
    if html_path:
        from ..tools.report_html import render_html
        try:
            with open(html_path, "w", encoding="utf-8") as f:
                f.write(render_html(result))
        except OSError as e:
            raise RblmirrorError(f"cannot write {html_path}: {e.strerror or e}") from None
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=1))
    else:
        click.echo(format_table(result), nl=False)
