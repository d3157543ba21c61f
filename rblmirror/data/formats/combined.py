"""combined: several datasets in one file, each section opened by
`$DATASET type[:name] subzone...` ('@' is the base zone itself).

Lines before the first $DATASET form the common section: its $SOA/$NS belong to the
base zone, its $TTL and $n variables are the defaults of every section.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..values import Listing
from .base import Collector, Format, LineWarning, Place, TextItem, is_special


@dataclass
class Section:
    type: str
    name: str
    subzones: tuple[str, ...]
    items: list[TextItem] = field(default_factory=list)


class Combined(Format):
    name = "combined"

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        raise NotImplementedError  # never called: sections are split first


def split_sections(items: Iterable[TextItem], warnings: list[LineWarning]
                   ) -> tuple[list[TextItem], list[Section]]:
    """Split (path, lineno, text) items into the common items and the sections."""
    common: list[TextItem] = []
    sections: list[Section] = []
    cur = common
    files_seen: list[TextItem] = []
    for path, no, line in items:
        if line is None:
            files_seen.append((path, no, line))
            cur.append((path, no, line))
            continue
        body = is_special(line)
        if body is not None and body[:8].upper() in ("DATASET ", "DATASET\t"):
            args = body[8:].split()
            if not args:
                warnings.append(LineWarning(path, no, "$DATASET needs a type"))
                continue
            typ, _, name = args[0].partition(":")
            subzones = tuple(z.lower().rstrip(".") for z in args[1:]) or ()
            sec = Section(typ.lower(), name, subzones, [(path, 0, None)])
            sections.append(sec)
            cur = sec.items
            continue
        cur.append((path, no, line))
    return common, sections


__all__ = ["Combined", "Section", "split_sections", "Place"]
