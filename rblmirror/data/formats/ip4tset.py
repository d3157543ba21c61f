"""ip4tset: single IPv4 addresses sharing one A+TXT value (rbldnsd ip4tset).

The value is the dataset's first `:A:TXT` line, wherever it stands (later default
lines are ignored); text after an address is ignored; `!` and CIDRs are invalid."""
from __future__ import annotations

from ..addr import parse_ip4
from ..values import Listing
from .base import Collector, Format, Place
from .ipparse import end_ok, ip4prefix


class IP4TSet(Format):
    name = "ip4tset"
    mode = "trie"
    single_value = True

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        ip = parse_ip4(text)
        if ip is None:
            p = ip4prefix(text)
            if p is None or p[0] != 32 or not end_ok(text, p[2]):
                return "invalid address"
            ip = p[1]
        c.add4(ip, ip, c.value_id(default))
        c.entries += 1
        return None
