"""ip6trie: IPv6 CIDRs with per-entry values and exclusions; longest prefix wins.

A second entry for the same prefix is ignored with a warning, as rbldnsd does. Dumps are
loaded by the compiled path (fast6.py); this parser takes the lines it leaves, and all
lines of a `combined` section."""
from __future__ import annotations

import ipaddress

from ..values import Listing
from .base import Collector, Defer, Format, Place, entry_vid
from .ipparse import end_ok, host_bits6, ip6cidr


class IP6Trie(Format):
    name = "ip6trie"
    mode = "trie"
    #: while fast6 loads: takes (c, value, bits, vid, where, warning) of each accepted
    #: entry; duplicates and the entry count are settled there once all entries are in
    defer: Defer | None = None

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        r = ip6cidr(s)
        if r is None or not end_ok(s, r[2]):
            return "invalid address"
        bits, v, i = r
        if host_bits6(v, bits):
            return "invalid range (non-zero host part)"
        vid, warn = entry_vid(c, excl, s[i:], default)
        if vid is None:
            return warn
        if self.defer is not None:
            self.defer(c, v, bits, vid, where, warn)
            return None
        if (v, bits) in self.seen:
            return f"duplicated entry for {ipaddress.IPv6Address(v)}/{bits}"
        self.seen.add((v, bits))
        c.add6(v, v | ((1 << (128 - bits)) - 1), vid)
        c.entries += 1
        return warn
