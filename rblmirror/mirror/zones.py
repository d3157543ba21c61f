"""Zones backed by mirrored sources: each loads its sources' `current` snapshots (by mmap,
so worker processes share the pages) and knows when its data turns stale.

A zone answers SERVFAIL (its apex SOA/NS and the RFC 5782 test points excepted, which
answer from the zone's settings and test points) when
- one of its sources has no snapshot yet (never fetched successfully): there is no data,
  whatever on_stale says; or
- on_stale = "servfail" and a source's last success is older than its max_age.
With on_stale = "serve" a stale zone keeps answering from its last good data.

Staleness needs no reload: the zone's prepared `expires` is set to the moment it turns
stale, which makes the compiled fast path hand its queries to the reference path, where
SourceZone.answer decides. A new snapshot or a new success time changes the watched
state, and the server reloads.
"""
from __future__ import annotations

import logging
import os
import time

from collections.abc import Iterable

from .config import Config, ZoneConfig
from ..data.dataset import Dataset
from ..data import addr
from ..errors import AddressError, SnapshotError
from .replica import data_format
from .state import SourceDir
from ..dns.answer import SERVFAIL, Answer
from ..dns.zone import Zone

log = logging.getLogger("rblmirror.mirror.zones")

_IP4_POINTS = {("2", "0", "0", "127"), ("1", "0", "0", "127")}
_IP6_POINTS = {tuple("%x" % n for n in (last, 0, 0, 0, 0, 0, 15, 7, 15, 15, 15, 15)) +
               ("0",) * 20 for last in (1, 2)}
_NAME_POINTS = {("test",), ("invalid",)}


def is_test_point(labels: list[str]) -> bool:
    t = tuple(x.lower() for x in labels)
    return t in _IP4_POINTS or t in _IP6_POINTS or t in _NAME_POINTS


class SourceZone(Zone):
    """A zone with datasets from mirrored sources (and possibly local files)."""

    #: when the zone turns stale (on_stale="servfail" only; None: never)
    stale_at: float | None = None
    #: sources without a snapshot: the zone has no data to serve
    missing: tuple[str, ...] = ()
    #: those of `missing` whose current snapshot could not be opened (corrupt, unreadable)
    broken: tuple[str, ...] = ()
    on_stale: str = "servfail"
    _points_zone: Zone | None = None

    def failing(self, now: float | None = None) -> bool:
        if self.missing:
            return True
        return self.stale_at is not None and (time.time() if now is None else now) >= \
            self.stale_at

    def failure(self, now: float | None = None) -> str | None:
        """Why the zone answers SERVFAIL at `now` (None: it answers from its data)."""
        if not self.failing(now):
            return None
        if self.broken:
            return (f"snapshot of source(s) {', '.join(self.broken)} unreadable "
                    f"(rblmirror rollback {self.broken[0]})")
        if self.missing:
            return (f"source(s) {', '.join(self.missing)} not fetched yet "
                    f"(rblmirror fetch {' '.join(self.missing)})")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.stale_at))
        return f"data stale since {when} (max_age passed, on_stale = \"servfail\")"

    def failure_for(self, subject: str, now: float | None = None) -> str | None:
        """Why the zone answers SERVFAIL for an address or a domain at `now` (None: it
        answers, from its data or, while failing, for the test points)."""
        reason = self.failure(now)
        if reason is None or not self.settings.test_points:
            return reason
        try:
            labels = addr.to_reverse_name(*addr.parse(subject)).split(".")
        except AddressError:
            labels = [x for x in subject.strip().rstrip(".").split(".") if x]
        return None if is_test_point(labels) else reason

    def answer(self, qname: str | Iterable[str] | Iterable[bytes], qtype: int, *,
               now: float | None = None, minimal_any: bool = False) -> Answer:
        if self.failing(now):
            labels = self._labels(qname) if isinstance(qname, str) else [
                x if isinstance(x, str) else x.decode("utf-8", "surrogateescape") for x in qname]
            # the apex (SOA/NS: the zone exists) and the test points still answer
            if not labels or (is_test_point(labels) and self.settings.test_points):
                return self._points().answer(labels, qtype, now=now,
                                             minimal_any=minimal_any)
            return Answer(SERVFAIL, aa=False)
        return super().answer(qname, qtype, now=now, minimal_any=minimal_any)

    def _points(self) -> Zone:
        """This zone with only its test points (what answers while it has no good data),
        with this zone's SOA and NS."""
        if self._points_zone is None:
            pz = Zone(self.name, datasets=[a for a in self.datasets if a.synthetic],
                      settings=self.settings)
            # a dump that lists its own test point has no synthetic one: add ours here
            pz.add_test_points({a.dataset.is_names for a in self.datasets
                                if a.subzone == ""})
            mine, theirs = self.prepared(), pz.prepared()
            theirs.soa_rr, theirs.soa_neg, theirs.ns_rrs = mine.soa_rr, mine.soa_neg, \
                mine.ns_rrs
            self._points_zone = pz
        return self._points_zone

    def _labels(self, qname: str) -> list[str]:
        labels = [x for x in qname.rstrip(".").split(".") if x]
        zl = self.name.split(".")
        if [x.lower() for x in labels[-len(zl):]] == zl:
            labels = labels[: -len(zl)]
        return labels


class MirroredZones:
    """Builds the config's source-backed zones for the server and says when to reload."""

    def __init__(self, cfg: Config, state_dir: str):
        self.cfg = cfg
        self.state_dir = state_dir
        self.zones = [z for z in cfg.zones if z.sources]
        #: source -> the snapshot last opened from it: a reload that then meets a corrupt
        #: snapshot fails, and the server keeps serving what it has
        self.opened: dict[str, str] = {}

    def watched(self) -> tuple[tuple[str, tuple[int, int, int] | None, float | None], ...]:
        """What a reload depends on: each source's current snapshot and last success."""
        out: list[tuple[str, tuple[int, int, int] | None, float | None]] = []
        for name in sorted({s for z in self.zones for s in z.sources}):
            sd = SourceDir(self.state_dir, name)
            try:
                st = os.stat(sd.current)  # follows the link: a swap changes the inode
                snap = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                snap = None
            try:
                success = sd.load_state().fresh_since
            except Exception:  # unreadable state: keep what is loaded
                success = None
            out.append((name, snap, success))
        return tuple(out)

    def merge(self, zones: list[Zone]) -> list[Zone]:
        """The local zones with the source-backed ones added (a zone with both local
        files and sources becomes one SourceZone)."""
        by_name = {z.name: z for z in zones}
        out = list(zones)
        for zc in self.zones:
            local = by_name.get(zc.name)
            sz = self._build(zc, local)
            if local is not None:
                out[out.index(local)] = sz
            else:
                out.append(sz)
        return out

    def _build(self, zc: ZoneConfig, local: Zone | None) -> SourceZone:
        z = SourceZone(zc.name, settings=zc.settings)
        z.on_stale = zc.on_stale
        if local is not None:
            z.datasets, z.specs, z.containers = list(local.datasets), list(local.specs), \
                list(local.containers)
        missing, broken, stale_at = [], [], []
        for name in zc.sources:
            src = self.cfg.sources[name]
            sd = SourceDir(self.state_dir, name)
            path = sd.current_snapshot()
            if path is None:
                missing.append(name)
                continue
            real = os.path.realpath(path)
            try:
                ds = Dataset.load(real)  # verifies the checksum and the layout
            except (SnapshotError, OSError) as e:
                hint = f"`rblmirror rollback {name}` returns to the previous snapshot"
                if name in self.opened:  # a reload: fail it, the server keeps its data
                    raise SnapshotError(f"zone {zc.name}: source {name}: cannot open snapshot: "
                                        f"{e}; {hint}") from None
                log.error("zone %s: source %s: cannot open snapshot: %s; %s", zc.name, name, e,
                          hint)
                broken.append(name)
                missing.append(name)
                continue
            self.opened[name] = real
            z.add(ds)
            st = sd.load_state()
            last = st.fresh_since if st.fresh_since is not None else os.path.getmtime(path)
            stale_at.append(last + src.max_age)
            age = time.time() - last
            log.info("zone %s: source %s snapshot %s, %d entries, age %.0fs%s", zc.name, name,
                     os.path.basename(path), ds.entries, age,
                     " (STALE)" if age > src.max_age else "")
        z.missing, z.broken = tuple(missing), tuple(broken)
        # test points for the kinds of data the zone has, or will have once fetched
        z.add_test_points({fmt == "dnset" for n in zc.sources if (fmt := data_format(
            self.cfg.sources[n], self.state_dir)) is not None})
        if missing:
            log.warning("zone %s: source(s) %s not fetched yet (rblmirror fetch %s): "
                        "answering SERVFAIL except the RFC 5782 test points", zc.name,
                        ", ".join(missing), " ".join(missing))
        if zc.on_stale == "servfail" and stale_at:
            z.stale_at = min(stale_at)
        # the fast path hands a zone's queries to the reference path from `expires` on
        p = z.prepared()
        if z.missing:
            p.expires = 1.0
        elif z.stale_at is not None:
            p.expires = min(p.expires, z.stale_at) if p.expires else z.stale_at
        return z
