"""Address-range syntax shared by the IP formats, following rbldnsd's ip4parse.c.

ip4set's subject syntax (rbldnsd's ip4range: addresses, prefixes, CIDRs, dash ranges)
lives in ext/loader.pyx (`_loader.ip4range`), where the compiled scanner uses it too."""
from __future__ import annotations

import ipaddress

from ... import _loader

_DIGITS = frozenset("0123456789")


def _mask4(bits: int) -> int:
    return (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0


def ip4prefix(s: str, i: int = 0) -> tuple[int, int, int] | None:
    """Parse 1-4 dotted octets at s[i:]: (bits 8/16/24/32, value, end index); the
    compiled rule ip4set's scanner uses too (ext/loader.pyx _prefix4)."""
    return _loader.ip4prefix(s, i)


def _bits(s: str, i: int) -> tuple[int, int] | None:
    j = i
    while j < len(s) and s[j] in _DIGITS:
        j += 1
    if j == i or int(s[i:j]) > 32:
        return None
    return int(s[i:j]), j


def ip4cidr(s: str) -> tuple[int, int, int] | None:
    """CIDR or prefix (no dash ranges), as ip4trie takes: (bits, start, end index)."""
    p = ip4prefix(s)
    if p is None:
        return None
    bits, a, i = p
    if i < len(s) and s[i] == "/":
        r = _bits(s, i + 1)
        if r is None:
            return None
        bits, i = r
    elif bits == 8:
        return None
    return bits, a, i


def host_bits4(a: int, bits: int) -> bool:
    return bool(a & ~_mask4(bits) & 0xFFFFFFFF)


def end_ok(s: str, i: int) -> bool:
    """After the subject: end of line, a blank, a comment or a value."""
    return i >= len(s) or s[i] in " \t#;:"


_HEX = frozenset("0123456789abcdefABCDEF:.")


def ip6cidr(s: str) -> tuple[int, int, int] | None:
    """IPv6 with optional /len; without '::' trailing groups may be omitted and the
    length then defaults to 16 bits a group (2001:db8:1 = 2001:db8:1::/48).
    Returns (bits, value, end index) or None."""
    i = 0
    while i < len(s) and s[i] in _HEX:
        i += 1
    text = s[:i]
    if not text or ":" not in text or "." in text:  # rbldnsd takes no dotted-quad tail
        return None
    default_bits = 128
    if "::" not in text:
        groups = text.split(":")
        if len(groups) < 8:
            if "." in text:
                return None
            default_bits = 16 * len(groups)
            text = text + "::" if len(groups) < 8 else text
    try:
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        return None
    bits = default_bits
    if i < len(s) and s[i] == "/":
        j = i + 1
        while j < len(s) and s[j] in _DIGITS:
            j += 1
        if j == i + 1 or int(s[i + 1:j]) > 128:
            return None
        bits, i = int(s[i + 1:j]), j
    return bits, value, i


def host_bits6(v: int, bits: int) -> bool:
    return bool(v & ((1 << (128 - bits)) - 1))


def range_to_cidrs(start: int, end: int, bits: int) -> list[tuple[int, int]]:
    """Split [start, end] into the fewest aligned CIDR blocks, as (start, end) pairs."""
    out = []
    while start <= end:
        size = start & -start if start else 1 << bits
        while start + size - 1 > end:
            size >>= 1
        out.append((start, start + size - 1))
        start += size
    return out
