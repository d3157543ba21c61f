"""ip6tset: IPv6 /64s sharing one value, plus single-address (/128) exclusions."""
from __future__ import annotations

from .base import EXCL, Format
from .ipparse import end_ok, ip6cidr

_LOW64 = (1 << 64) - 1


class IP6TSet(Format):
    name = "ip6tset"
    mode = "trie"

    def line(self, c, text, default, where):
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        r = ip6cidr(s)
        if r is None or not end_ok(s, r[2]):
            return "invalid address"
        bits, v, _ = r
        if excl:
            c.add6(v, v, EXCL)
        else:
            if bits != 64 and not (bits == 128 and not v & _LOW64):
                return "invalid address (ip6tset takes /64 prefixes)"
            v &= ~_LOW64
            c.add6(v, v | _LOW64, c.value_id(default))
        c.entries += 1
        return None


FORMAT = IP6TSet
