"""The zones the mail tests serve (Postfix, SpamAssassin, Exim, rspamd) and the README's
snippet blocks printed for them (tests/test_readme.py checks that they are the same).

The Exim and rspamd tests serve the README's zones (CASES) with more data appended under
some of their names (lab_zones). The snippets name zones, not files, so the lines the
programs run stay exactly the README's."""
from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from support.cli import RBLMIRROR
from support.feeds import FEEDS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: the bundled zones and the real UCEPROTECT level 1 dump, as --zone specs
ZONES = ROOT / "zones"
L1 = FEEDS / "dnsbl-1.uceprotect.net"
BL = [f"bl.rblmirror.test:ip4set:{ZONES / 'rfc5782-ip4.zone'}",
      f"bl.rblmirror.test:ip6trie:{ZONES / 'rfc5782-ip6.zone'}"]
WL = [f"wl.rblmirror.test:ip4set:{ZONES / 'rfc5782-wl.zone'}"]
L1Z = [f"l1.rblmirror.test:ip4set:{L1}"]
DBL = [f"dbl.rblmirror.test:dnset:{ZONES / 'rfc5782-names.zone'}"]


def listed_addresses(n: int) -> list[str]:
    """n public addresses the real dump lists (found by lookup, not assumed)."""
    import rblmirror
    ds = rblmirror.Dataset.from_file(L1, format="ip4set")
    out = []
    with open(L1, "rb") as f:
        for raw in f:
            tok = raw.split(b"#")[0].split(b":")[0].strip().decode("latin-1")
            try:
                ip = ipaddress.IPv4Address(tok)
            except ValueError:
                continue
            if ip.is_global and ds.lookup(str(ip)):
                out.append(str(ip))
                if len(out) == n:
                    return out
    raise AssertionError("the real dump lists too few single addresses")


def unlisted_address() -> str:
    import rblmirror
    ds = rblmirror.Dataset.from_file(L1, format="ip4set")
    for cand in ("192.0.2.77", "198.51.100.23", "203.0.113.99"):
        if not ds.lookup(cand):
            return cand
    raise AssertionError("no unlisted documentation address")

#: the README's snippet blocks: kind -> (zones, --server), as tests/support/maillab.py and
#: tests/test_mail_*.py use them
CASES = {
    "unbound": (BL + L1Z + DBL + WL, "127.0.0.1:5353"),
    "postfix": (WL + BL + L1Z + DBL, None),  # the allowlisting listener's main.cf
    "postscreen": (WL + BL + L1Z, None),
    "spamassassin": (BL + L1Z + WL, "127.0.0.1:5353"),
    "exim": (WL + BL + L1Z + DBL, None),
    "rspamd": (BL + L1Z + DBL + WL, "127.0.0.1:5353"),
}


def snippet(kind: str) -> str:
    """What `rblmirror snippets KIND` prints for CASES[kind]."""
    zones, server = CASES[kind]
    cmd = [*RBLMIRROR, "snippets", kind]
    if server:
        cmd += ["--server", server]
    for z in zones:
        cmd += ["--zone", z]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def readme_block(kind: str) -> str:
    """The README's block after its `<!-- snippet: KIND -->` marker."""
    m = re.search(rf"<!-- snippet: {kind} -->\n```[a-z]*\n(.*?)```", README.read_text(), re.S)
    assert m, f"README has no block marked <!-- snippet: {kind} -->"
    return m.group(1)

#: bl.rblmirror.test answers this address with a code outside 127.0.0.[2..11]
ERROR_CODE_CLIENT = "192.0.2.99"
ERROR_CODE = "127.255.255.254"


def extra_zone_files(work: Path, allowlisted: Sequence[str] = ()) -> dict[str, Path]:
    bl = work / "bl-extra.zone"
    bl.write_text(f"{ERROR_CODE_CLIENT} :{ERROR_CODE}:Query refused (an error code)\n")
    dbl = work / "dbl-extra.zone"
    dbl.write_text(":127.0.0.2:Domain $ is listed for testing\nspammer.example\n")
    wl = work / "wl-extra.zone"
    wl.write_text(":127.0.10.2:Allowlisted: $\n" + "".join(f"{a}\n" for a in allowlisted))
    return {"bl.rblmirror.test:ip4set": bl, "dbl.rblmirror.test:dnset": dbl,
            "wl.rblmirror.test:ip4set": wl}


def lab_zones(kind: str, work: Path, allowlisted: Sequence[str] = ()) -> list[str]:
    """The README's zones for kind, the extra files appended to the first spec of a name."""
    extra = extra_zone_files(work, allowlisted)
    out = []
    for spec in CASES[kind][0]:
        key = ":".join(spec.split(":")[:2])
        out.append(f"{spec},{extra.pop(key)}" if key in extra else spec)
    return out
