"""check: which zones list an address or a domain, and why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Required, TypedDict

from ..data import addr
from ..errors import AddressError
from ..dns.zone import Zone


#: what a zone's reader (scan.Reader) adds to a row: a catalogued list's name, and the
#: meaning of each A value, or the error its answer is
RowExtra = TypedDict("RowExtra", {"error": str | None, "list": str,
                                  "meaning": dict[str, str | None]}, total=False)


class Row(RowExtra, total=False):
    """One row of `check --json` (and of scan's output): address, zone, listed, a, txt;
    plus error, list and meaning for a zone whose answers are read (verdict)."""

    address: Required[str]
    zone: Required[str]
    listed: Required[bool]
    a: Required[list[str]]
    txt: Required[list[str]]


@dataclass(frozen=True)
class CheckResult:
    subject: str
    zone: str
    listed: bool
    a: tuple[str, ...]
    txt: tuple[str, ...]

    def as_json(self) -> Row:
        return {"address": self.subject, "zone": self.zone, "listed": self.listed,
                "a": list(self.a), "txt": list(self.txt)}


def classify(subject: str) -> str:
    """'ip' or 'name'; raises AddressError for something that is neither."""
    s = subject.strip()
    try:
        addr.parse(s)
        return "ip"
    except AddressError:
        pass
    if any(ch.isalpha() for ch in s) and ":" not in s and "/" not in s and " " not in s:
        labels = s.rstrip(".").split(".")
        if all(0 < len(x) <= 63 for x in labels) and len(s.rstrip(".")) <= 253:
            return "name"
    raise AddressError(f"not an IP address or a domain name: {subject!r}")


def check(subjects: list[str], zones: list[Zone]) -> list[CheckResult]:
    """Check every subject against every zone that takes its kind (IP zones take
    addresses, dnset zones take names). Raises AddressError for a bad subject, before
    any lookup, so the caller reports it without partial output."""
    kinds = [(s.strip(), classify(s)) for s in subjects]
    for s, k in kinds:
        if not any(takes(z, k) for z in zones):
            what = "domain" if k == "name" else "IP"
            raise AddressError(f"{s!r}: no {what} zone configured to check it against")
    out = []
    for s, k in kinds:
        for z in zones:
            if not takes(z, k):
                continue
            got = z.lookup(s)  # the DNS answer for ANY at the subject's name
            out.append(CheckResult(s, z.name, got.listed, got.a, got.txt))
    return out


def takes(z: Zone, kind: str) -> bool:
    """Whether zone `z` answers subjects of `kind` ('ip' or 'name', as classify says)."""
    return any((a.dataset.is_names == (kind == "name")) for a in z.datasets if a.subzone == "")
