"""Dump formats: one module each behind one small interface (base.Format), one registry.

Adding a format is one new module here plus one line in FORMATS.
"""
from __future__ import annotations

from ...errors import UnknownFormatError
from .base import Format
from .combined import Combined
from .dnset import DNSet
from .ip4set import IP4Set
from .ip4trie import IP4Trie
from .ip4tset import IP4TSet
from .ip6trie import IP6Trie
from .ip6tset import IP6TSet
from .plain import Plain

__all__ = ["FORMATS", "Combined", "DNSet", "Format", "IP4Set", "IP4TSet", "IP4Trie", "IP6TSet",
           "IP6Trie", "Plain", "get"]

FORMATS: dict[str, type[Format]] = {
    "ip4set": IP4Set,
    "ip4tset": IP4TSet,
    "ip4trie": IP4Trie,
    "ip6tset": IP6TSet,
    "ip6trie": IP6Trie,
    "dnset": DNSet,
    "combined": Combined,
    "plain": Plain,
}


def get(name: str) -> type[Format]:
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise UnknownFormatError(
            f"unknown dataset format {name!r} (known: {', '.join(sorted(FORMATS))})") from None
