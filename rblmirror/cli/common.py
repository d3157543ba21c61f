"""Options and error handling shared by the click commands."""
from __future__ import annotations

import functools
import sys

import click

from ..config import load_config
from ..errors import RblmirrorError
from ..zone import Zone, ZoneSpec

EXIT_ERROR = 2


def zone_options(f):
    """--zone NAME:FORMAT:FILE[,FILE] (repeatable) and --config FILE."""
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config (default: $RBLMIRROR_CONFIG, "
                          "/etc/rblmirror/rblmirror.toml, else the bundled zones/).")(f)
    f = click.option("--zone", "zone_specs", multiple=True, metavar="NAME:FORMAT:FILE[,FILE]",
                     help="A zone from dump files, as rbldnsd takes it; repeatable. "
                          "Several with one NAME merge into one zone.")(f)
    return f


def zone_specs_from(zone_specs: tuple[str, ...], config_path: str | None) -> list[ZoneSpec]:
    """--zone specs when given (plus the config's zones if --config is given too),
    else the config's zones."""
    specs = [ZoneSpec.parse(s) for s in zone_specs]
    if config_path or not specs:
        specs = load_config(config_path).zone_specs + specs
    return specs


def load_zones(zone_specs: tuple[str, ...], config_path: str | None,
               warn: bool = True) -> list[Zone]:
    zones = Zone.from_specs(zone_specs_from(zone_specs, config_path))
    if warn:
        for z in zones:
            report_warnings(z.name, z.warnings)
    return zones


def report_warnings(name: str, warnings, limit: int = 5) -> None:
    for w in warnings[:limit]:
        click.echo(f"warning: {name}: {w.file}:{w.line}: {w.message}", err=True)
    if len(warnings) > limit:
        click.echo(f"warning: {name}: {len(warnings) - limit} more bad lines skipped", err=True)


def fail(message: str, code: int = EXIT_ERROR):
    click.echo(f"rblmirror: error: {message}", err=True)
    sys.exit(code)


def library_errors(f):
    """Turn library errors into a one-line message and exit status 2."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except RblmirrorError as e:
            fail(str(e))
    return wrapper
