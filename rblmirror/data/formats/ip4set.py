"""ip4set: addresses, prefixes, CIDRs and ranges with per-entry values (rbldnsd ip4set).

Each entry is stored at the /32, /24, /16 and /8 levels (a range is split into the
fewest aligned blocks of those sizes); a lookup takes the most specific level that has
any entry, where an exclusion beats a listing and two values both answer.
"""
from __future__ import annotations

from ... import _loader
from ..addr import parse_ip4
from ..values import Listing
from .base import EXCL, Collector, Format, Place, entry_vid
from .ipparse import end_ok, host_bits4

def too_large(c: Collector, a: int, b: int) -> str | None:
    m = c.meta.maxrange4
    if m is not None and b - a + 1 > m:
        return f"too large range ({b - a + 1}) ignored ({m} max)"
    return None


class IP4Set(Format):
    name = "ip4set"
    mode = "set"

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        ip = parse_ip4(s)  # the common case: a bare address
        if ip is not None:
            c.add4(ip, ip, EXCL if excl else c.value_id(default))
            c.entries += 1
            return None
        r = _loader.ip4range(s)  # ext/loader.pyx: the one home of the subject syntax
        if r is None or not end_ok(s, r[3]):
            return "invalid address"
        bits, a, b, i = r
        if bits == 0:  # rbldnsd's ip4set refuses 0/0 (ip4trie takes it)
            return "invalid address"
        if host_bits4(a, bits):
            return "invalid range (non-zero host part)"
        msg = too_large(c, a, b)
        if msg:
            return msg
        vid, warn = entry_vid(c, excl, s[i:], default)
        if vid is None:
            return warn
        for lo, hi in _loader.level_blocks(a, b):
            c.add4(lo, hi, vid)
        c.entries += 1
        return warn
