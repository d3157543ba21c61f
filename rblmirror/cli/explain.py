"""rblmirror explain [TEXT|-] : a bounce answered from the local mirror."""
from __future__ import annotations

import json
import sys

import click

from ..mirror.zoneset import ZoneSelection
from ..tools.explain import explain as run_explain, read_input
from .common import library_errors, load_zones, state_dir_option, zone_options


@click.command()
@click.argument("text", nargs=-1, metavar="[TEXT|-]")
@zone_options
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="The answer as one JSON object.")
@library_errors
def explain(text: tuple[str, ...], zone_specs: tuple[str, ...], config_path: str | None,
            state_dir: str | None, as_json: bool) -> None:
    """Read a bounce, an SMTP reply or a mail log line (TEXT; none or - reads stdin):
    which address or domain was blocked and by which list (Postfix, Exim, Sendmail,
    MDaemon, Exchange/Office 365 and Gmail wordings), then answer from the zones `serve`
    answers: listed now or not, the code and what it means, the TXT reason, the
    delisting page, since when it is listed (the listing history of the mirrored
    sources: `rblmirror history`), and every other zone here that lists it. A list that is not mirrored
    here is named with its catalogue entry and how to mirror it.

    Exit status as `check`: 0 nothing listed, 1 something listed, 2 error (bad input, no
    address in the text, a zone could not answer, or the named list is not mirrored
    and nothing else lists it).
    """
    if text in ((), ("-",)):
        if sys.stdin.isatty():
            click.echo("paste the bounce, then Ctrl-D:", err=True)
        raw = read_input(sys.stdin.buffer)
    else:
        raw = " ".join(text)
    sel = ZoneSelection.from_options(zone_specs, config_path)
    e = run_explain(raw, sel, load_zones(sel, state_dir), state_dir=state_dir)
    click.echo(json.dumps(e.as_json(), ensure_ascii=False) if as_json else e.text())
    sys.exit(e.exit_status())
