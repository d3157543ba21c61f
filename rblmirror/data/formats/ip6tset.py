"""ip6tset: IPv6 /64s sharing one value, plus single-address (/128) exclusions.

As rbldnsd: a listing is exactly four groups (`2001:db8:1:2`, no `::`, no `/len`);
an exclusion is a whole address (`!2001:db8:1:2::5`); text after the subject is
ignored; the value is the dataset's first `:A:TXT` line, wherever it stands.
"""
from __future__ import annotations

import re

from ..values import Listing
from .base import EXCL, Collector, Defer, Format, Place
from .ipparse import end_ok, ip6cidr

_LOW64 = (1 << 64) - 1
_GROUPS4 = re.compile(r"([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})")


class IP6TSet(Format):
    name = "ip6tset"
    mode = "trie"
    single_value = True
    #: while fast6 loads: takes (c, value, bits, vid, where, warning) of each entry
    defer: Defer | None = None

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        if excl:
            r = ip6cidr(s)
            if r is None or not end_ok(s, r[2]) or (r[2] < len(s) and s[r[2]] == "/"):
                return "invalid address"
            if r[0] != 128:
                return "invalid address for exclusion (should be 128 bits)"
            if self.defer is not None:
                self.defer(c, r[1], 128, EXCL, where, None)
            else:
                c.add6(r[1], r[1], EXCL)
        else:
            m = _GROUPS4.match(s)
            if m is None or not (m.end() == len(s) or s[m.end()] in " \t#;"):
                r = ip6cidr(s)
                if r is None or not end_ok(s, r[2]):
                    return "invalid address"
                return "invalid address for regular entry (should be 64 bits)"
            v = 0
            for g in m.groups():
                v = (v << 16) | int(g, 16)
            v <<= 64
            if self.defer is not None:
                self.defer(c, v, 64, 0, where, None)
            else:
                c.add6(v, v | _LOW64, c.value_id(default))
        c.entries += 1
        return None
