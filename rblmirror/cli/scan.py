"""rblmirror scan [FILE|-]... : check every address in files or logs against the zones."""
from __future__ import annotations

import sys
import time

import click

from ..tools.scan import FORMATS, Scanner, ScanStats
from ..tools.verdict import catalogued, reader
from ..mirror.zoneset import ZoneSelection, unavailable
from .common import (library_errors, load_zones, report_unavailable, state_dir_option,
                     zone_options)


class _Progress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, lines: int) -> None:
        now = time.perf_counter()
        if now - self.last < 0.1:
            return
        self.last = now
        rate = lines / max(now - self.t0, 1e-9)
        if total:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            text = f"[{bar:<30}] {frac:6.1%}  {lines:,} lines  {rate / 1e6:.1f}M lines/s"
        else:
            text = f"{lines:,} lines  {done / 1e6:,.0f} MB  {rate / 1e6:.1f}M lines/s"
        click.echo(f"\r{text}\x1b[K", err=True, nl=False)
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[K", err=True, nl=False)


@click.command()
@click.argument("inputs", nargs=-1, metavar="[FILE|-]...")
@zone_options
@state_dir_option
@click.option("--extract", is_flag=True,
              help="Find every address anywhere in the text (mail logs: Postfix, Exim, ...) "
                   "instead of reading one address per line.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output rows: tab-separated as `check` prints them, CSV, JSON lines "
                   "with the keys of `check --json`, or just the addresses listed by any "
                   "zone, one a line (as grepcidr prints them).")
@click.option("--listed-only", is_flag=True, help="Print only the rows of listing zones.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No per-zone summary on stderr.")
@library_errors
def scan(inputs: tuple[str, ...], zone_specs: tuple[str, ...], config_path: str | None,
         state_dir: str | None, extract: bool, fmt: str, listed_only: bool, progress: bool | None,
         quiet: bool) -> None:
    """Check every address in FILEs (default: standard input) against the zones.
    Zones serving a catalogued list (`rblmirror lists`) have their answers read: an
    error code is an ERROR row, never a listing; a listing shows its meaning.

    One row per address and zone, as `rblmirror check` prints it. Bad lines are counted
    and reported on stderr, never fatal. Exit status: 0 nothing listed, 1 something
    listed, 2 error (or nothing listed and a zone left out: one that `serve` answers
    SERVFAIL, its mirrored source not fetched yet or stale, is not scanned).
    """
    sel = ZoneSelection.from_options(zone_specs, config_path)
    zones = load_zones(sel, state_dir)
    unusable = unavailable(zones)
    report_unavailable(unusable, "serve answers SERVFAIL; not scanned")
    readers = {name: reader(entry) for name, entry in catalogued(sel).items()}
    scanner = Scanner([z for z in zones if z.name not in unusable], readers)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = _Progress() if progress else None
    try:
        stats = scanner.scan(list(inputs) or ["-"], sys.stdout.buffer, fmt=fmt,
                             listed_only=listed_only, extract=extract, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    sys.stdout.flush()
    if not quiet:
        _summary(stats, extract)
    sys.exit(1 if stats.listed else (2 if unusable else 0))


def _summary(st: ScanStats, extract: bool) -> None:
    def echo(s: str) -> None:
        click.echo(s, err=True)

    for f, line, text in st.bad_samples:
        echo(f"warning: {f}:{line}: not an IP address: {text[:80]!r}")
    if st.bad > len(st.bad_samples):
        echo(f"warning: {st.bad - len(st.bad_samples)} more bad lines")
    skipped = "without an address" if extract else "blank or comment"
    echo(f"scanned {st.lines:,} lines: {st.addresses:,} addresses ({st.ipv4:,} IPv4, "
         f"{st.ipv6:,} IPv6), {st.bad:,} bad, {st.skipped:,} {skipped}; "
         f"{st.seconds:.2f} s, {st.lines_per_second / 1e6:.2f}M lines/s")
    width = max([len(z) for z in st.per_zone] + [8])
    for z, n in st.per_zone.items():
        share = f"{n / st.addresses:7.2%}" if st.addresses else "      -"
        echo(f"  {z:<{width}}  {n:>12,} listed  {share}")
    share = f"{st.listed / st.addresses:7.2%}" if st.addresses else "      -"
    echo(f"  {'any zone':<{width}}  {st.listed:>12,} listed  {share}")
