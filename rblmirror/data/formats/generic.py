"""generic: A, TXT and MX records by name, in rbldnsd's simplified BIND syntax.

    name [ttl] [IN] A 127.0.0.2        (the zone itself: `@`)
    name [ttl] [IN] TXT "some text"    (the quotes are dropped when the text has both)
    name [ttl] [IN] MX 10 mx.example.com

Names are relative to the zone, lowercased (ASCII), a trailing dot dropped; they match
exactly: a `*` label is a label like any other (rbldnsd's generic has no wildcards). The
TTL is a number with rbldnsd's units (`10m`); 0 or none is the dataset's $TTL in force
at that line (rbldnsd reads it as it goes), else the default. An A value is rbldnsd's
ip4addr(): `2` is 0.0.0.2, `10.2` 10.0.0.2, and what follows the address is ignored. A
TXT is at most 255 bytes, taken as it is (no `$` substitution); the MX exchange is an
absolute name, its case kept. Every line that is not one of these is a warning
(file:line) and is skipped: rbldnsd refuses to load the whole zone for a bad MX line or a
bad TTL, where we skip that line.

Records are kept in file order; an answer gives a name's A, then MX, then TXT records
(rbldnsd's sort order; it rotates the records of one type from query to query, we do
not), an identical record once.
"""
from __future__ import annotations

from ..values import Listing, txt_bytes
from .base import Collector, Format, Place, parse_time
from .ipparse import ip4prefix

T_A, T_MX, T_TXT = 1, 15, 16
#: the order of a name's records in an answer (rbldnsd's NSQUERY_ flags: A < MX < TXT)
TYPE_ORDER = {T_A: 0, T_MX: 1, T_TXT: 2}
DEFAULT_TTL = 2100  # zonespec.DEFAULT_TTL (rbldnsd's); not imported: formats import no zonespec


def ip4addr(s: str) -> tuple[int, int] | None:
    """rbldnsd's ip4addr(): (address, end index) or None. The last number given is the
    last octet: `2` -> 0.0.0.2, `10.2` -> 10.0.0.2, `10.1.2` -> 10.1.0.2."""
    p = ip4prefix(s)
    if p is None:
        return None
    bits, a, end = p
    if bits == 8:
        a >>= 24
    elif bits == 16:
        a = (a & 0xFF000000) | ((a >> 16) & 255)
    elif bits == 24:
        a = (a & 0xFFFF0000) | ((a >> 8) & 255)
    return a, end


def wire_name(text: str) -> bytes | None:
    """A name as uncompressed DNS wire bytes with the root label (its case kept), or
    None when it is no DNS name (an empty label, a label over 63 bytes, over 255)."""
    t = text[:-1] if text.endswith(".") else text
    if not t:
        return None
    out = bytearray()
    for label in t.split("."):
        b = txt_bytes(label)
        if not 0 < len(b) <= 63:
            return None
        out.append(len(b))
        out += b
    out.append(0)
    return bytes(out) if len(out) <= 255 else None


def _lower(s: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in s)


class Generic(Format):
    name = "generic"
    mode = "trie"
    own_defaults = True  # a line starting with ':' is a name here, not a default value

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        bad = "invalid/unrecognized entry"
        if text[0] == "@" and text[1:2] in (" ", "\t"):
            name, rest = "", text[2:].lstrip(" \t")
        else:
            end = 0
            while end < len(text) and text[end] not in " \t":
                end += 1
            raw = text[:end]
            if wire_name(raw) is None:
                return bad
            name, rest = _lower(raw[:-1] if raw.endswith(".") else raw), text[end:].lstrip(" \t")
        ttl: int | None = None
        if rest[:1].isdigit() and rest[:1].isascii():
            end = 0
            while end < len(rest) and rest[end] not in " \t":
                end += 1
            ttl = parse_time(rest[:end])
            if ttl is None:
                return bad
            rest = rest[end:].lstrip(" \t")
        if not ttl:  # 0 or none: the $TTL in force here
            ttl = c.meta.ttl if c.meta.ttl else DEFAULT_TTL
        if rest[:2].lower() == "in" and rest[2:3] in (" ", "\t"):
            rest = rest[2:].lstrip(" \t")
        end = 0
        while end < len(rest) and rest[end] not in " \t":
            end += 1
        if end == len(rest):  # the type must be followed by its data
            return bad
        rtype, data = rest[:end].lower(), rest[end:].lstrip(" \t")
        warn = None
        if rtype == "a":
            got = ip4addr(data)
            if got is None:
                return bad
            c.records.append((name, T_A, ttl, got[0].to_bytes(4, "big")))
        elif rtype == "txt":
            b = txt_bytes(data)
            if len(b) >= 2 and b[:1] == b'"' and b[-1:] == b'"':
                b = b[1:-1]
            if len(b) > 255:
                b, warn = b[:255], "TXT RR truncated to 255 bytes"
            c.records.append((name, T_TXT, ttl, bytes([len(b)]) + b))
        elif rtype == "mx":
            end = 0
            while end < len(data) and data[end].isdigit() and data[end].isascii():
                end += 1
            if not end or data[end:end + 1] not in (" ", "\t") or int(data[:end]) > 0xFFFF:
                return bad
            exch = data[end:].lstrip(" \t")
            w = wire_name(exch) if exch and " " not in exch and "\t" not in exch else None
            if w is None:
                return bad
            c.records.append((name, T_MX, ttl, int(data[:end]).to_bytes(2, "big") + w))
        else:
            return bad
        c.entries += 1
        return warn


def groups(records: list[tuple[str, int, int, bytes]]
           ) -> tuple[dict[str, int], list[tuple[tuple[int, int, bytes], ...]]]:
    """({name: group id}, per group id the name's (rtype, ttl, rdata) in answer order:
    A, MX, TXT, file order inside a type)."""
    by: dict[str, list[tuple[int, int, bytes]]] = {}
    for name, rtype, ttl, rdata in records:
        by.setdefault(name, []).append((rtype, ttl, rdata))
    ids = {name: i for i, name in enumerate(by)}
    return ids, [tuple(sorted(recs, key=lambda r: TYPE_ORDER[r[0]])) for recs in by.values()]


def mx_text(rdata: bytes) -> tuple[int, str]:
    """(preference, exchange with its trailing dot) of an MX record's rdata."""
    labels, i = [], 2
    while rdata[i]:
        labels.append(rdata[i + 1:i + 1 + rdata[i]].decode("utf-8", "surrogateescape"))
        i += 1 + rdata[i]
    return int.from_bytes(rdata[:2], "big"), ".".join(labels) + "."
