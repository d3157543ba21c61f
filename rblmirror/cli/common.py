"""Options and error handling shared by the click commands."""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import click

from ..errors import RblmirrorError

if TYPE_CHECKING:  # (the zones load numpy and the extensions: not for --help or status)
    from ..data.formats.base import LineWarning
    from ..dns.zone import Zone
    from ..mirror.zoneset import ZoneSelection

EXIT_ERROR = 2
#: a click command's callback (or a command), as click's decorators take it
F = TypeVar("F", bound=Callable[..., object])
P = ParamSpec("P")
R = TypeVar("R")


def zone_options(f: F) -> F:
    """--zone NAME:FORMAT:FILE[,FILE] (repeatable) and --config FILE."""
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config (default: $RBLMIRROR_CONFIG, "
                          "/etc/rblmirror/rblmirror.toml, else the bundled zones/).")(f)
    f = click.option("--zone", "zone_specs", multiple=True, metavar="NAME:FORMAT:FILE[,FILE]",
                     help="A zone from dump files, as rbldnsd takes it; repeatable. "
                          "Several with one NAME merge into one zone.")(f)
    return f


def state_dir_option(f: F) -> F:
    """--state-dir: where the mirrored sources' snapshots are read (as `serve` reads them)."""
    return click.option("--state-dir", "state_dir", type=click.Path(file_okay=False),
                        help="Where fetched snapshots live (default: $RBLMIRROR_STATE_DIR, "
                             "the config's state_dir, /var/lib/rblmirror).")(f)


def load_zones(selection: ZoneSelection, state_dir: str | None = None,
               warn: bool = True) -> list[Zone]:
    """The zones `serve` would answer now (zoneset.ZoneSelection), with their bad dump
    lines and unreadable snapshots reported on stderr (report_unavailable says the rest:
    the zones that answer SERVFAIL)."""
    _log_errors("rblmirror.mirror.zones")
    zones = selection.load(state_dir)
    if warn:
        for z in zones:
            report_warnings(z.name, z.warnings)
    return zones


class _EchoErrors(logging.Handler):
    """Log errors as `rblmirror: error: ...` on the stderr of the moment (click's test
    runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"rblmirror: error: {record.getMessage()}", err=True)


def _log_errors(logger: str) -> None:
    """The library's log errors (a corrupt snapshot) on stderr; warnings stay quiet."""
    log = logging.getLogger(logger)
    if not any(isinstance(h, _EchoErrors) for h in log.handlers):
        log.addHandler(_EchoErrors(logging.ERROR))


def report_unavailable(unusable: dict[str, str], what: str) -> None:
    """Warn about the zones `serve` answers SERVFAIL (zoneset.unavailable)."""
    for name, why in unusable.items():
        click.echo(f"warning: zone {name}: {why}: {what}", err=True)


def report_warnings(name: str, warnings: Sequence[LineWarning], limit: int = 5) -> None:
    for w in warnings[:limit]:
        click.echo(f"warning: {name}: {w.file}:{w.line}: {w.message}", err=True)
    if len(warnings) > limit:
        click.echo(f"warning: {name}: {len(warnings) - limit} more bad lines skipped", err=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"rblmirror: error: {message}", err=True)
    sys.exit(code)


def library_errors(f: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into a one-line message and exit status 2."""
    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return f(*args, **kwargs)
        except RblmirrorError as e:
            fail(str(e))
    return wrapper
