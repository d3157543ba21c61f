"""Verdicts: what a check result means for the person reading it (listed, not listed, or
an error), as `rblmirror check` prints them.

A zone that `serve` answers SERVFAIL for the subject (zoneset.unanswered: a mirrored
source never fetched, stale data with on_stale = "servfail") gives an error, never
"not listed".

    for v in judge(check(subjects, zones), zones):
        print(v.text())
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .check import CheckResult
from .zone import Zone
from .zoneset import unanswered

LISTED, NOT_LISTED, ERROR = "listed", "not listed", "error"


@dataclass(frozen=True)
class Verdict:
    result: CheckResult
    status: str
    #: why the zone gave no answer (status ERROR)
    error: str | None = None

    @property
    def listed(self) -> bool:
        return self.status == LISTED

    def as_json(self) -> dict:
        out = self.result.as_json()
        if self.status == ERROR:
            out.update(listed=False, a=[], txt=[], error=self.error)
        return out

    def text(self) -> str:
        """One tab-separated row: SUBJECT ZONE LISTED A [TXT] | not listed | ERROR WHY."""
        r = self.result
        if self.status == ERROR:
            return f"{r.subject}\t{r.zone}\tERROR\t{self.error}"
        if self.status == LISTED:
            txt = "; ".join(r.txt)
            return f"{r.subject}\t{r.zone}\tLISTED\t{','.join(r.a)}" + (f"\t{txt}" if txt else "")
        return f"{r.subject}\t{r.zone}\tnot listed"


def judge(results: Iterable[CheckResult], zones: Iterable[Zone],
          now: float | None = None) -> list[Verdict]:
    """A verdict per result of `check` on `zones`, as `serve` would answer it at `now`."""
    by_name = {z.name: z for z in zones}
    out = []
    for r in results:
        why = unanswered(by_name[r.zone], r.subject, now)
        if why is not None:
            out.append(Verdict(r, ERROR, why))
        else:
            out.append(Verdict(r, LISTED if r.listed else NOT_LISTED))
    return out


def exit_status(verdicts: Iterable[Verdict]) -> int:
    """1 when something is listed, else 2 when a zone gave an error, else 0."""
    vs = list(verdicts)
    if any(v.listed for v in vs):
        return 1
    return 2 if any(v.status == ERROR for v in vs) else 0
