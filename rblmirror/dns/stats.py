"""The statistics file (rbldnsd's `-s [+]statsfile`): lines appended in rbldnsd's
format, from the server's per-zone counters (dns.counters):

    TIME                                       at start, and last at exit
    TIME ZONE:TOT:OK:NXD:IN:OUT ... *:TOT:OK:NXD:IN:OUT

per zone (in the order the zones were given) and "*" for everything (the zones and the
queries of no zone): TOT queries, OK answered NOERROR, NXD answered NXDOMAIN (the rest,
TOT - OK - NXD, are errors: REFUSED, SERVFAIL, NOTIMP, malformed), IN query bytes, OUT
reply bytes. Written at SIGUSR1, every `interval` seconds and at exit, as rbldnsd does
(its -c check interval). Absolute counts since the start; relative ("+PATH"): the
change since the previous line."""
from __future__ import annotations

import time
from collections.abc import Mapping

#: per zone: tot, ok, nxd, in, out
Row = tuple[int, int, int, int, int]


def parse_target(spec: str) -> tuple[str, bool]:
    """rbldnsd's "[+]statsfile": (path, relative). ValueError for an empty path."""
    rel = spec.startswith("+")
    path = spec[1:] if rel else spec
    if not path:
        raise ValueError(f"statistics file {spec!r}: no file name")
    return path, rel


def row(c: Mapping[str, int]) -> Row:
    """rbldnsd's five numbers from one zone's counters (COUNTER_NAMES)."""
    tot = c.get("queries", 0)
    err = c.get("refused", 0) + c.get("errors", 0)
    nxd = c.get("nxdomain", 0)
    return tot, tot - err - nxd, nxd, c.get("query_bytes", 0), c.get("bytes", 0)


class StatsFile:
    def __init__(self, path: str, relative: bool = False, zones: list[str] | None = None):
        self.path = path
        self.relative = relative
        #: the zones in rbldnsd's order (others that appear in the counters follow)
        self.zones = list(zones or [])
        self._prev: dict[str, Row] = {}

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="ascii") as f:
            f.write(text)

    def start(self) -> None:
        self._append(f"{int(time.time())}\n")

    def format(self, counters: Mapping[str, Mapping[str, int]], now: float | None = None) -> str:
        """The line for `counters` ({zone: {counter: n}}, "*": no zone)."""
        rows = {z: row(c) for z, c in counters.items()}
        names = [z for z in self.zones] + sorted(z for z in rows if z not in self.zones
                                                 and z != "*")
        total = [0] * 5
        for r in rows.values():
            for i, v in enumerate(r):
                total[i] += v
        rows["*"] = (total[0], total[1], total[2], total[3], total[4])
        parts = [str(int(time.time() if now is None else now))]
        for z in [*names, "*"]:
            r = rows.get(z, (0, 0, 0, 0, 0))
            p = self._prev.get(z, (0, 0, 0, 0, 0)) if self.relative else (0, 0, 0, 0, 0)
            d = [a - b for a, b in zip(r, p)]
            parts.append(f"{z}:{d[0]}:{d[1]}:{d[2]}:{d[3]}:{d[4]}")
            if self.relative:
                self._prev[z] = r
        return " ".join(parts) + "\n"

    def write(self, counters: Mapping[str, Mapping[str, int]]) -> None:
        self._append(self.format(counters))

    def finish(self, counters: Mapping[str, Mapping[str, int]]) -> None:
        """At exit: the last line, then the time alone (rbldnsd's dumpstats_z)."""
        self._append(self.format(counters) + f"{int(time.time())}\n")
