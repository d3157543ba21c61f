"""dnset: domain names, '*.name' (subdomains only) and '.name' (name and subdomains).

An exact match wins (even an exclusion); otherwise the longest wildcard. `$` in a TXT is
the matched entry (lowercased; a wildcard's base name), as rbldnsd does. Names are
compared as DNS compares them: ASCII letters case-insensitively, every other byte as it
is; lengths are in bytes (at most 253, labels of 1-63).

A dump file is parsed by the compiled scanner (ext/names.pyx DnsetScanner) straight into
the compiled name index: `file_items()` feeds base.load_lines() only the specials and
default lines, as text, and in between a callable that hands the scanner the default
value in force (the mechanism formats/fast4.py uses for IPv4 dumps). `DNSet.line()` is
the same rule in Python, for the sections of combined files (their lines are already
text).
"""
from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ...errors import ZoneFileError
from ..values import Listing
from .base import Collector, Format, Item, LineWarning, Place, entry_value, entry_vid

if TYPE_CHECKING:
    from ..._names import NameBuilder

#: bytes read per call (the scanner keeps a partial last line for the next one)
CHUNK = 1 << 20


def _ascii_lower(s: str) -> str:
    return s.lower() if s.isascii() else \
        s.encode("utf-8", "surrogateescape").lower().decode("utf-8", "surrogateescape")


def valid_name(name: str) -> bool:
    """At most 253 bytes, labels of 1-63 bytes (UTF-8, undecodable bytes as they were)."""
    if not name:
        return False
    b = name.encode("utf-8", "surrogateescape") if not name.isascii() else name.encode()
    if len(b) > 253:
        return False
    return all(0 < len(label) <= 63 for label in b.split(b"."))


class DNSet(Format):
    name = "dnset"
    mode = "set"

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        end = 0
        while end < len(s) and s[end] not in " \t#;:":
            end += 1
        subject, rest = _ascii_lower(s[:end]), s[end:]
        kinds: tuple[str, ...]
        if subject.startswith("*."):
            kinds, subject = ("wild",), subject[2:]
        elif subject.startswith("."):
            kinds, subject = ("exact", "wild"), subject[1:]
        else:
            kinds = ("exact",)
        subject = subject.rstrip(".")
        if not valid_name(subject):
            return "invalid domain name"
        vid, warn = entry_vid(c, excl, rest, default)
        if vid is None:
            return warn
        for k in kinds:
            c.names.append((k, subject, vid))
        c.entries += 1
        return warn


def file_items(c: Collector, names: NameBuilder, files: Iterable[str]) -> Iterator[Item]:
    """(path, lineno, text-or-callable) items for base.load_lines(c, DNSet(), ...) that
    parse the entries of `files` in C into `names` (an ext/names.pyx NameBuilder).

    Yielded as text: the specials and default lines, which load_lines handles as
    always; after each of them (and at the start of each file) the scanner itself,
    which load_lines calls with the default then in force, before the scanner parses
    on. Entries, warnings (file:line, the parser's words) and the entry count go to the
    collector as DNSet.line() would put them; gzip files are read transparently."""
    from ... import _names
    for path in files:
        yield path, 0, None
        warnings = c.warnings

        def warn(no: int, msg: str, path: str = path) -> None:
            warnings.append(LineWarning(path, no, msg))

        sc = _names.DnsetScanner(names, c.value_id, entry_value, warn)
        yield path, 0, sc
        try:
            with open(path, "rb", buffering=0) as f:
                gz = f.read(2) == b"\x1f\x8b"
                f.seek(0)
                stream = gzip.GzipFile(fileobj=f) if gz else f
                while True:
                    got = sc.fill(stream.readinto, CHUNK)
                    while (item := sc.next_slow()) is not None:
                        yield path, item[0], item[1]
                        yield path, 0, sc
                    if not got:
                        break
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            why = e.strerror if isinstance(e, OSError) and e.strerror else e
            raise ZoneFileError(f"cannot read {path}: {why}") from None
        c.entries += sc.entries
