"""Dump formats: one module each behind one small interface (base.Format), one registry.

Adding a format is one new module here plus one line in REGISTRY. The registry names each
format's module and class, imported on first use, so that reading a config (which checks
format names: `names()`) loads no parser, numpy or extension.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ...errors import UnknownFormatError

if TYPE_CHECKING:
    from .base import Format
    from .combined import Combined
    from .dnset import DNSet
    from .plain import Plain

__all__ = ["REGISTRY", "Combined", "DNSet", "Plain", "get", "names"]

#: format name -> (module in this package, class)
REGISTRY: dict[str, tuple[str, str]] = {
    "ip4set": ("ip4set", "IP4Set"),
    "ip4tset": ("ip4tset", "IP4TSet"),
    "ip4trie": ("ip4trie", "IP4Trie"),
    "ip6tset": ("ip6tset", "IP6TSet"),
    "ip6trie": ("ip6trie", "IP6Trie"),
    "dnset": ("dnset", "DNSet"),
    "combined": ("combined", "Combined"),
    "plain": ("plain", "Plain"),
    "generic": ("generic", "Generic"),
    "acl": ("acl", "ACL"),
}


def names() -> list[str]:
    """The format names, sorted (nothing imported)."""
    return sorted(REGISTRY)


def get(name: str) -> type[Format]:
    """The format class of a name (any case); UnknownFormatError for another name."""
    try:
        module, cls = REGISTRY[name.lower()]
    except KeyError:
        raise UnknownFormatError(
            f"unknown dataset format {name!r} (known: {', '.join(names())})") from None
    fmt: type[Format] = getattr(importlib.import_module(f".{module}", __name__), cls)
    return fmt


def __getattr__(attr: str) -> type[Format]:
    """The classes callers compare against (Combined, DNSet, Plain), imported on use."""
    for name, (_, cls) in REGISTRY.items():
        if cls == attr:
            return get(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
