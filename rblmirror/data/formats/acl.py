"""acl: what to answer a client, by its address (rbldnsd's acl dataset).

    127.0.0.0/8              (the default action: `ignore` until a default line says else)
    192.0.2.0/24  :refuse    (REFUSED)
    198.51.100.7  :empty     (the zone looks empty: NXDOMAIN below its apex)
    2001:db8::/32 :pass      (answered as if the ACL were not there)
    203.0.113.0/24 :127.0.0.5:Your network $ is blocked   (every name: this A and TXT)
    10.0.0.0/8    =ignore    (no reply at all; `blackhole` is the same)
    :refuse                  (a default line: the action of the entries after it)

Entries are IPv4 or IPv6 CIDRs (no ranges, no exclusions); the longest prefix holding the
client's address decides; a second entry for one prefix is a warning and is ignored. A
keyword is `:word` or `=word`, matched by any leading part of it, any case (`:ref` is
refuse), as rbldnsd's keyword() matches. A value is rbldnsd's `:A:TXT`, its `$` the
client's address. Defaults are per file. A zone spec with no zone name (`:acl:FILE`) is
the global ACL, asked for every query before its zone.

Kept as ip4trie/ip6trie keep blocks; each value id's Listing is either a value or one of
the keywords below as its `a` (ACTIONS; `txt` None), which no A value can be.

Where rbldnsd differs: after a keyword default line, rbldnsd takes the keyword as the
default A+TXT too (reading a pointer that is not one: a later `:A` or TXT-only entry
crashes it or answers garbage); here a keyword default leaves the default value as it was.
"""
from __future__ import annotations

import ipaddress

from ..values import DEFAULT_A, Listing
from .base import Collector, Format, Place, parse_value_msg
from .ip4set import too_large
from .ipparse import end_ok, host_bits4, host_bits6, ip4cidr, ip6cidr

IGNORE, REFUSE, EMPTY, PASS = "ignore", "refuse", "empty", "pass"
#: the keywords in rbldnsd's order (a leading part matches the first that has it)
KEYWORDS = (("ignore", IGNORE), ("blackhole", IGNORE), ("refuse", REFUSE),
            ("empty", EMPTY), ("pass", PASS))
ACTIONS = frozenset((IGNORE, REFUSE, EMPTY, PASS))


def keyword(s: str) -> str | None:
    """rbldnsd's keyword(): the action of a word at s (a letter first, ended by the end
    of the line, ':', a blank or a comment), else None."""
    if not s or not ("a" <= s[0].lower() <= "z") or not s[0].isascii():
        return None
    end = 0
    while end < len(s) and s[end] not in ": \t#;":
        end += 1
    word = "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in s[:end])
    for name, action in KEYWORDS:
        if name.startswith(word):
            return action
    return None


class ACL(Format):
    name = "acl"
    mode = "trie"
    own_defaults = True  # ':' and '=' lines are this format's own defaults

    def __init__(self) -> None:
        self.file: str | None = None
        self.seen: set[tuple[int, int, int]] = set()
        self._start()

    def _start(self) -> None:
        """rbldnsd's ds_acl_start(), at every file: the defaults reset."""
        self.def_value = Listing(DEFAULT_A, None)
        self.def_action: Listing = Listing(IGNORE)

    def _value(self, s: str) -> tuple[Listing | None, str | None]:
        """A keyword or an A+TXT value (ds_acl_parse_val): (Listing or None, warning)."""
        if s[0] == "=":
            kw = keyword(s[1:])
            return (Listing(kw), None) if kw else (None, "invalid keyword")
        if s[0] == ":":
            kw = keyword(s[1:])
            if kw:
                return Listing(kw), None
        v, msg = parse_value_msg(s, self.def_value)
        return v, msg

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        if where.file != self.file:
            self.file = where.file
            self._start()
        if (text[0] == ":" and text[1:2] != ":") or text[0] == "=":
            dv, msg = self._value(text)
            if dv is not None:
                if dv.a not in ACTIONS:
                    self.def_value = dv
                self.def_action = dv
            return msg
        r4 = ip4cidr(text)
        if r4 is not None and end_ok(text, r4[2]):
            bits, a, i = r4
            if host_bits4(a, bits):
                return "invalid range (non-zero host part)"
            top = a | ((1 << (32 - bits)) - 1)
            msg = too_large(c, a, top)
            if msg:
                return msg
            family, shown = 4, str(ipaddress.IPv4Address(a))
        else:
            r6 = ip6cidr(text)
            if r6 is None or not end_ok(text, r6[2]):
                return "invalid address"
            bits, a, i = r6
            if host_bits6(a, bits):
                return "invalid range (non-zero host part)"
            top = a | ((1 << (128 - bits)) - 1)
            family, shown = 6, str(ipaddress.IPv6Address(a))
        rest = text[i:].lstrip(" \t")
        warn = None
        if not rest or rest[0] in "#;":
            v: Listing | None = self.def_action
        else:
            v, warn = self._value(rest)
            if v is None:
                return warn
        if (family, a, bits) in self.seen:
            return f"duplicated entry for {shown}/{bits}"
        self.seen.add((family, a, bits))
        vid = c.value_id(v)
        if family == 4:
            c.add4(a, top, vid)
        else:
            c.add6(a, top, vid)
        c.entries += 1
        return warn
