"""The server's per-zone query counters: the one home of their schema and their merge.

The reference path counts in a Counters; the compiled path (rblmirror._dnsfast) counts in
C, per zone, under the same names, and `FastPath.counters()` reports them. What the
server logs on SIGUSR1 and what /metrics exports is `Counters.merged(fast)`, the sum.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._dnsfast import FastPath

#: in this order (the compiled path's C enum follows it): queries answered (and, for
#: "*", dropped as malformed), listed / not listed (NOERROR with records / without or
#: NXDOMAIN), REFUSED, other errors (SERVFAIL, NOTIMP, FORMERR, malformed), reply
#: bytes, NXDOMAIN answers, query bytes
COUNTER_NAMES = ("queries", "listed", "not_listed", "refused", "errors", "bytes",
                 "nxdomain", "query_bytes")
(C_QUERIES, C_LISTED, C_NOTLISTED, C_REFUSED, C_ERRORS, C_BYTES, C_NXDOMAIN,
 C_QBYTES) = range(len(COUNTER_NAMES))


@dataclass
class Counters:
    """Per-zone counters; the zone "*" collects queries that matched no zone."""

    zones: dict[str, list[int]] = field(default_factory=dict)

    def bump(self, zone: str, what: int, n: int = 1) -> None:
        c = self.zones.get(zone)
        if c is None:
            c = self.zones[zone] = [0] * len(COUNTER_NAMES)
        c[what] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {z: dict(zip(COUNTER_NAMES, c)) for z, c in sorted(self.zones.items())}

    def merged(self, fast: FastPath | None = None) -> dict[str, dict[str, int]]:
        """snapshot() plus the compiled path's counts (fast: a FastPath or None)."""
        snap = self.snapshot()
        if fast is not None:
            for z, c in fast.counters().items():
                d = snap.setdefault(z, dict.fromkeys(COUNTER_NAMES, 0))
                for k, v in c.items():
                    d[k] += v
        return dict(sorted(snap.items()))
