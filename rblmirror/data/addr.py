"""Text / int / reverse-DNS-name conversions for IPv4 and IPv6.

Addresses are plain ints tagged by family: IPv4 as 0..2**32-1, IPv6 as 0..2**128-1.
"""
from __future__ import annotations

import ipaddress

from ..errors import AddressError

V4 = 4
V6 = 6

_V4MAPPED_PREFIX = 0xFFFF << 32


def parse(text: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    """Return (family, int) for an address given as text, int (IPv4 if < 2**32) or ipaddress object."""
    if isinstance(text, ipaddress.IPv4Address):
        return V4, int(text)
    if isinstance(text, ipaddress.IPv6Address):
        return V6, int(text)
    if isinstance(text, int) and not isinstance(text, bool):
        if 0 <= text < 1 << 32:
            return V4, text
        if 0 <= text < 1 << 128:
            return V6, text
        raise AddressError(f"address out of range: {text}")
    if not isinstance(text, str):
        raise AddressError(f"not an address: {text!r}")
    s = text.strip()
    if ":" in s:
        try:
            return V6, int(ipaddress.IPv6Address(s.split("%", 1)[0]))
        except ValueError:
            raise AddressError(f"not a valid IPv6 address: {text!r}") from None
    v = parse_ip4(s)
    if v is None:
        raise AddressError(f"not a valid IPv4 address: {text!r}")
    return V4, v


def parse_ip4(s: str) -> int | None:
    """Dotted quad to int (leading zeros accepted, as rbldnsd does); None when invalid."""
    parts = s.split(".")
    if len(parts) != 4:
        return None
    v = 0
    for p in parts:
        if not p or len(p) > 3 or not p.isascii() or not p.isdigit():
            return None
        o = int(p)
        if o > 255:
            return None
        v = (v << 8) | o
    return v


def to_text(family: int, value: int) -> str:
    if family == V4:
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
    return str(ipaddress.IPv6Address(value))


def to_reverse_name(family: int, value: int, zone: str = "") -> str:
    """4.3.2.1[.zone] for IPv4; 32 nibbles[.zone] for IPv6."""
    if family == V4:
        labels = [str((value >> s) & 255) for s in (0, 8, 16, 24)]
    else:
        labels = [format((value >> (4 * i)) & 15, "x") for i in range(32)]
    name = ".".join(labels)
    return f"{name}.{zone.strip('.')}" if zone.strip(".") else name


def from_reverse_labels(labels: list[str]) -> tuple[int, int, int] | None:
    """Parse reversed address labels (least significant first).

    Returns (family, value, nlabels) where nlabels < 4 (IPv4) or < 32 (IPv6) marks a
    partial name (an empty non-terminal candidate), with the missing low part zero.
    None when the labels cannot be an address. Rules as rbldnsd: IPv4 labels are 1-3
    digits <= 255; IPv6 labels are single hex nibbles.
    """
    n = len(labels)
    if n == 0:
        return None
    if n <= 4 and all(_is_octet(x) for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 8) | int(x)
        return V4, v << (8 * (4 - n)), n
    if n <= 32 and all(len(x) == 1 and x in _NIBBLES for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 4) | int(x, 16)
        return V6, v << (4 * (32 - n)), n
    return None


_NIBBLES = frozenset("0123456789abcdefABCDEF")


def _is_octet(x: str) -> bool:
    return 1 <= len(x) <= 3 and x.isascii() and x.isdigit() and int(x) <= 255


def from_reverse_name(name: str, zone: str = "") -> tuple[int, int]:
    """'4.3.2.1.zone.' -> (V4, int); raises AddressError unless it is a complete address."""
    name = name.rstrip(".")
    z = zone.strip(".")
    if z:
        if name.lower() == z.lower():
            raise AddressError(f"no address in {name!r}")
        if not name.lower().endswith("." + z.lower()):
            raise AddressError(f"{name!r} is not under {z!r}")
        name = name[: -len(z) - 1]
    got = from_reverse_labels(name.split("."))
    if got is None or got[2] != (4 if got[0] == V4 else 32):
        raise AddressError(f"not a reverse address name: {name!r}")
    return got[0], got[1]
