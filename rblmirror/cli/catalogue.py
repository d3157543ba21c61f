"""`rblmirror lists` (the catalogue of public lists) and `rblmirror sources add NAME`
(its [[source]] and [[zone]] into the config). Wiring only: rblmirror.data.catalogue and
rblmirror.mirror.configedit do the work."""
from __future__ import annotations

import json

import click

from ..data import catalogue as cat
from .common import library_errors


@click.command("lists")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--json", "as_json", is_flag=True, help="The entries as JSON.")
@library_errors
def lists(names: tuple[str, ...], as_json: bool) -> None:
    """The public lists rblmirror knows: zones, what their answers mean (and which are
    errors), lookup and delisting pages, and how to mirror them. With NAMEs: those
    entries in full."""
    from ..mirror.configedit import find
    c = cat.load()
    entries = [find(c, n) for n in names] if names else list(c)
    if as_json:
        click.echo(json.dumps([x.as_json() for x in entries], indent=1, ensure_ascii=False))
    elif names:
        click.echo("\n\n".join(x.details() for x in entries))
    else:
        click.echo(cat.table(entries), nl=False)


@click.group("sources")
def sources() -> None:
    """Mirrored sources in the config."""


@sources.command("add")
@click.argument("name")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="The TOML config to add to (default: $RBLMIRROR_CONFIG, else "
                   "/etc/rblmirror/rblmirror.toml); created when missing.")
@click.option("--url", help="The mirror address, for lists that give it on request.")
@click.option("--format", "fmt", help="The dump format, when the catalogue does not know it.")
@click.option("--zone-name", help="The zone to serve it as (default: NAME.mirror.local).")
@library_errors
def add(name: str, config_path: str | None, url: str | None, fmt: str | None,
        zone_name: str | None) -> None:
    """Add the catalogue list NAME to the config: a [[source]] for its mirror and a [[zone]]
    serving it. The file keeps its content and comments; nothing is written when the list
    cannot be mirrored or is already there."""
    from ..mirror.config import default_config_path
    from ..mirror.configedit import add_list, find
    path = config_path or default_config_path()
    text = add_list(path, find(cat.load(), name), url=url, format=fmt, zone_name=zone_name)
    click.echo(f"added to {path}:\n{text}", nl=False)
    click.echo(f"next: rblmirror fetch {find(cat.load(), name).name} --config {path}", err=True)
