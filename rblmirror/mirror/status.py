"""What `rblmirror status` and the metrics report: per source and per zone, from the state
files (no dump is parsed, no snapshot opened)."""
from __future__ import annotations

import os
import time
from typing import TypedDict

from .config import Config
from ..errors import StateError
from .state import SourceDir


class SourceRow(TypedDict):
    """One source in `status` (and its --json)."""

    source: str
    url: str
    state: str  # one of state.STATES
    last_attempt: float | None
    last_success: float | None
    age: float | None  # of the data: since fresh_since (staleness follows it)
    #: a replica: the primary's last good fetch from upstream, and the seconds since the
    #: replica last pulled good data from the primary (None on a primary)
    upstream_success: float | None
    pull_age: float | None
    max_age: float
    entries: int | None
    serial: int | None
    snapshot: str | None  # the file name of the snapshot served
    last_result: str | None
    last_error: str | None
    failures: int
    next_due: float | None
    bytes_received: int | None
    literal_bytes: int | None
    matched_bytes: int | None
    file_size: int | None
    zones: list[str]


class ServedSnapshot(TypedDict):
    source: str
    snapshot: str | None
    entries: int | None


class ZoneRow(TypedDict):
    """One configured zone in `status`."""

    zone: str
    state: str  # local, missing, stale or ok
    on_stale: str
    answers: str  # SERVFAIL or data
    sources: list[ServedSnapshot]
    files: list[str]
    entries: int | None


def source_report(cfg: Config, state_dir: str, now: float | None = None) -> list[SourceRow]:
    now = time.time() if now is None else now
    out: list[SourceRow] = []
    for src in cfg.sources.values():
        sd = SourceDir(state_dir, src.name)
        try:
            st = sd.load_state()
            err = st.last_error
        except StateError as e:
            from .state import SourceState
            st, err = SourceState(src.name), str(e)
        served = sd.current_snapshot()
        state = st.state(src.max_age, now)
        if served is None and state in ("fresh", "stale"):
            state = "new"  # the state says so, but the snapshot is gone
        out.append({
            "source": src.name, "url": src.url, "state": state,
            "last_attempt": st.last_attempt, "last_success": st.last_success,
            "age": st.age(now), "upstream_success": st.upstream_success,
            "pull_age": st.pull_age(now), "max_age": src.max_age, "entries": st.entries,
            "serial": st.serial, "snapshot": os.path.basename(served) if served else None,
            "last_result": st.result, "last_error": err, "failures": st.failures,
            "next_due": st.next_due, "bytes_received": st.bytes_received,
            "literal_bytes": st.literal_bytes, "matched_bytes": st.matched_bytes,
            "file_size": st.file_size,
            "zones": [z.name for z in cfg.source_zones(src.name)],
        })
    return out


def zone_report(cfg: Config, sources: list[SourceRow]) -> list[ZoneRow]:
    by_name = {s["source"]: s for s in sources}
    out: list[ZoneRow] = []
    for z in cfg.zones:
        srcs = [by_name[n] for n in z.sources]
        # ok: served from data younger than max_age; stale: a source is older;
        # missing: a source has no snapshot yet; local: only local files
        if not srcs:
            state = "local"
        elif any(s["snapshot"] is None for s in srcs):
            state = "missing"
        elif any(s["state"] == "stale" for s in srcs):
            state = "stale"
        else:
            state = "ok"
        answers = ("SERVFAIL" if state == "missing" or
                   (state == "stale" and z.on_stale == "servfail") else "data")
        out.append({
            "zone": z.name, "state": state, "on_stale": z.on_stale, "answers": answers,
            "sources": [{"source": s["source"], "snapshot": s["snapshot"],
                         "entries": s["entries"]} for s in srcs],
            "files": [f for spec in z.specs for f in spec.files],
            "entries": sum(s["entries"] or 0 for s in srcs) if srcs else None,
        })
    return out
