"""The zones the Exim and rspamd tests serve: the README's (tests/test_readme.py CASES),
with more data appended under some of their names. The snippets name zones, not files, so
the lines the programs run stay exactly the README's."""
from __future__ import annotations

from pathlib import Path

from test_readme import CASES

#: bl.rblmirror.test answers this address with a code outside 127.0.0.[2..11]
ERROR_CODE_CLIENT = "192.0.2.99"
ERROR_CODE = "127.255.255.254"


def extra_zone_files(work: Path, allowlisted: list[str] = ()) -> dict[str, Path]:
    bl = work / "bl-extra.zone"
    bl.write_text(f"{ERROR_CODE_CLIENT} :{ERROR_CODE}:Query refused (an error code)\n")
    dbl = work / "dbl-extra.zone"
    dbl.write_text(":127.0.0.2:Domain $ is listed for testing\nspammer.example\n")
    wl = work / "wl-extra.zone"
    wl.write_text(":127.0.10.2:Allowlisted: $\n" + "".join(f"{a}\n" for a in allowlisted))
    return {"bl.rblmirror.test:ip4set": bl, "dbl.rblmirror.test:dnset": dbl,
            "wl.rblmirror.test:ip4set": wl}


def lab_zones(kind: str, work: Path, allowlisted: list[str] = ()) -> list[str]:
    """The README's zones for kind, the extra files appended to the first spec of a name."""
    extra = extra_zone_files(work, allowlisted)
    out = []
    for spec in CASES[kind][0]:
        key = ":".join(spec.split(":")[:2])
        out.append(f"{spec},{extra.pop(key)}" if key in extra else spec)
    return out
