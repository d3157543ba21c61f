"""plain: one IPv4/IPv6 address, CIDR or range per line, '#' or ';' comments.

Fits PSBL's psbl.txt, blocklist.de and Spamhaus DROP ('CIDR ; SBLnnn'). Every entry gets
the default value (127.0.0.2 and no TXT unless a ':A:TXT' line says otherwise); '!'
excludes. A CIDR with host bits set is masked, with a warning.
"""
from __future__ import annotations

from ..addr import parse_ip4
from ..values import Listing
from .base import EXCL, Collector, Format, Place
from .ipparse import host_bits4, host_bits6, ip4prefix, ip6cidr, range_to_cidrs

_END = " \t#;"


class Plain(Format):
    name = "plain"
    mode = "trie"

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        vid = EXCL if excl else c.value_id(default)
        ip = parse_ip4(s)
        if ip is not None:
            c.add4(ip, ip, vid)
            c.entries += 1
            return None
        warn = None
        if ":" in s.split("#", 1)[0].split(";", 1)[0]:
            r = ip6cidr(s)
            if r is None or (r[2] < len(s) and s[r[2]] not in _END):
                return "invalid address"
            bits, v, _ = r
            if host_bits6(v, bits):
                warn = "host bits set in CIDR; masked"
                v &= ~((1 << (128 - bits)) - 1)
            c.add6(v, v | ((1 << (128 - bits)) - 1), vid)
            c.entries += 1
            return warn
        p = ip4prefix(s)
        if p is None or p[0] != 32:
            return "invalid address"
        _, a, i = p
        if i < len(s) and s[i] == "/":
            j = i + 1
            while j < len(s) and s[j].isdigit():
                j += 1
            if j == i + 1 or int(s[i + 1:j]) > 32:
                return "invalid address"
            bits, i = int(s[i + 1:j]), j
            if host_bits4(a, bits):
                warn = "host bits set in CIDR; masked"
                a &= (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
            blocks = [(a, a | ((1 << (32 - bits)) - 1))]
        elif i < len(s) and s[i] == "-":
            q = ip4prefix(s, i + 1)
            if q is None or q[0] != 32 or q[1] < a:
                return "invalid range"
            b, i = q[1], q[2]
            blocks = range_to_cidrs(a, b, 32)
        else:
            blocks = [(a, a)]
        if i < len(s) and s[i] not in _END:
            return "invalid address"
        for lo, hi in blocks:
            c.add4(lo, hi, vid)
        c.entries += 1
        return warn
