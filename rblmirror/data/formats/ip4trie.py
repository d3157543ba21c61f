"""ip4trie: IPv4 CIDRs with per-entry values; the longest prefix wins (rbldnsd ip4trie).

A second entry for the same prefix is ignored with a warning, as rbldnsd does."""
from __future__ import annotations

from ..values import Listing
from .base import Collector, Format, Place, entry_vid
from .ip4set import too_large
from .ipparse import end_ok, host_bits4, ip4cidr


class IP4Trie(Format):
    name = "ip4trie"
    mode = "trie"

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        r = ip4cidr(s)
        if r is None or not end_ok(s, r[2]):
            return "invalid address"
        bits, a, i = r
        if host_bits4(a, bits):
            return "invalid range (non-zero host part)"
        b = a | ((1 << (32 - bits)) - 1)
        msg = too_large(c, a, b)
        if msg:
            return msg
        vid, warn = entry_vid(c, excl, s[i:], default)
        if vid is None:
            return warn
        if (a, bits) in self.seen:
            return f"duplicated entry for {a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/{bits}"
        self.seen.add((a, bits))
        c.add4(a, b, vid)
        c.entries += 1
        return warn
