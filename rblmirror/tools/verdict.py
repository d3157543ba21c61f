"""Verdicts: what a check result means for the person reading it (listed, not listed, or
an error), as `rblmirror check` prints them.

- A zone that `serve` answers SERVFAIL for the subject (zoneset.unanswered: a mirrored
  source never fetched, stale data with on_stale = "servfail") gives an error, never
  "not listed".
- A zone that serves a catalogued list (its name is the list's public zone, or its one
  source is named as the catalogue entry) has each A value read with the catalogue: an
  error code (Spamhaus 127.255.255.254, URIBL 127.0.0.1, ...) is an error, never
  "listed"; a listing carries its meaning.

    sel = ZoneSelection.from_options(specs, config_path)
    zones = sel.load()
    for v in judge(check(subjects, zones), zones, catalogued(sel)):
        print(v.text())
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..data import catalogue as cat
from .check import CheckResult, Row, RowExtra
from ..dns.zone import Zone
from ..data.catalogue import read_answers as read_answers
from ..mirror.zoneset import catalogued as catalogued, unanswered

if TYPE_CHECKING:
    from .scan import Reader

LISTED, NOT_LISTED, ERROR = cat.LISTED, "not listed", cat.ERROR


@dataclass(frozen=True)
class Verdict:
    result: CheckResult
    status: str
    #: why the zone gave no answer, or what its error code says (status ERROR)
    error: str | None = None
    #: the catalogue entry the zone serves (None: not catalogued)
    entry: cat.DnsList | None = None
    #: (A value, its meaning; None: not in the catalogue) for a catalogued listing (an
    #: error code among listings keeps its "error: ..." meaning)
    meanings: tuple[tuple[str, str | None], ...] = ()

    @property
    def listed(self) -> bool:
        return self.status == LISTED

    def as_json(self) -> Row:
        """check --json's row: address, zone, listed, a, txt; plus error (status ERROR),
        and list and meaning (A value -> meaning) for a catalogued zone's answer."""
        out = self.result.as_json()
        if self.status == ERROR:
            out["listed"], out["a"], out["txt"], out["error"] = False, [], [], self.error
        if self.entry is not None and self.status != NOT_LISTED:
            out["list"] = self.entry.name
            if self.status == LISTED:
                out["meaning"] = {a: m for a, m in self.meanings}
        return out

    def text(self) -> str:
        """One tab-separated row, as `scan` prints it (scan.format_row): SUBJECT ZONE
        LISTED A [TXT] | not listed | ERROR WHY; a catalogued listing's A values carry
        their meaning: 127.0.0.4 (XBL: ...)."""
        from .scan import format_row
        return format_row(self.as_json(), "table").rstrip("\n")


def judge(results: Iterable[CheckResult], zones: Iterable[Zone],
          entries: dict[str, cat.DnsList] | None = None,
          now: float | None = None) -> list[Verdict]:
    """A verdict per result of `check` on `zones`, as `serve` would answer it at `now`,
    with the A values of catalogued zones (`entries`, from catalogued()) read."""
    by_name = {z.name: z for z in zones}
    entries = entries or {}
    out = []
    for r in results:
        why = unanswered(by_name[r.zone], r.subject, now)
        entry = entries.get(r.zone)
        if why is not None:
            out.append(Verdict(r, ERROR, why, entry))
        elif not r.listed:
            out.append(Verdict(r, NOT_LISTED, entry=entry))
        elif entry is None:
            out.append(Verdict(r, LISTED))
        else:
            out.append(_read(r, entry))
    return out


def _read(r: CheckResult, entry: cat.DnsList) -> Verdict:
    status, error, meanings = read_answers(entry, r.a)
    return Verdict(r, status, error, entry, meanings)


def reader(entry: cat.DnsList) -> Reader:
    """A scan.Scanner reader for a zone serving `entry`: A values -> (listed, the row's
    extra keys, as Verdict.as_json has them)."""
    def read(answers: tuple[str, ...]) -> tuple[bool, RowExtra]:
        status, error, meanings = read_answers(entry, answers)
        if status == ERROR:
            return False, {"error": error, "list": entry.name}
        return True, {"list": entry.name, "meaning": dict(meanings)}
    return read


def exit_status(verdicts: Iterable[Verdict], unanswered: bool = False) -> int:
    """1 when something is listed, else 2 when a zone gave an error (or `unanswered`: a
    list that was asked about could not answer, as explain's list not mirrored here),
    else 0."""
    vs = list(verdicts)
    if any(v.listed for v in vs):
        return 1
    return 2 if unanswered or any(v.status == ERROR for v in vs) else 0
