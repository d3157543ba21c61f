"""The served zone table (`Zones`): the zones as loaded, with the compiled fast path over
them, reloaded off the serving path when a file or a mirrored snapshot changes (the new
table swapped in whole; a failed load keeps the old one). Local dumps are compiled in a
child process (`data.compile`), so this process only maps snapshots."""
from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
import threading
import time
from typing import TYPE_CHECKING

from ..data.compile import load_isolated, snapshot_name
from ..data.dataset import Dataset
from ..zonespec import ZoneSpec
from .zone import ZoneSource, ZoneTable, assemble, load_spec

if TYPE_CHECKING:
    from .._dnsfast import FastPath


log = logging.getLogger("rblmirror.dns.reload")


def _files_state(specs: list[ZoneSpec]) -> tuple[tuple[str, int | None, int | None], ...]:
    out: list[tuple[str, int | None, int | None]] = []
    for s in specs:
        for f in s.files:
            try:
                st = os.stat(f)
                out.append((f, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((f, None, None))
    return tuple(out)


class Zones:
    """The served zone table; reloads build a new table off the serving path and swap
    the reference (atomic in CPython); a failed load keeps the old table."""

    def __init__(self, specs: list[ZoneSpec], mirrored: ZoneSource | None = None,
                 isolated: bool = True,
                 minimal_any: bool = False):
        self.specs = specs
        #: RFC 8482 minimal ANY over UDP, on both paths
        self.minimal_any = minimal_any
        # local dumps are parsed in a child process into snapshots; this process only
        # maps them, so a reload never holds the GIL for the length of a parse
        self.workdir: str | None = None
        #: rblmirror.mirror.zones.MirroredZones: zones from fetched snapshots (or None)
        self.mirrored = mirrored
        try:  # whatever stops the load (a stop signal too) leaves no scratch folder
            if isolated:
                self.workdir = tempfile.mkdtemp(prefix="rblmirror-snap-")
            self.state = self._state()
            self.table = self._build()
            self.fast = _make_fast(self.table, minimal_any=minimal_any)
        except BaseException:
            self.close()
            raise
        self.generation = 1
        self._lock = threading.Lock()

    def _build(self) -> ZoneTable:
        t0 = time.monotonic()
        zones = assemble(self.specs, self.mirrored, loader=self._load)
        for z in zones:
            for w in z.warnings[:20]:
                log.warning("zone %s: %s", z.name, w)
            log.info("zone %s: %d entries", z.name, z.entries)
        log.info("loaded %d zone(s) in %.2fs", len(zones), time.monotonic() - t0)
        return ZoneTable(zones)

    def _load(self, spec: ZoneSpec) -> Dataset:
        if self.workdir is None:
            return load_spec(spec)
        ds = load_isolated(spec.format, spec.files, self.workdir)
        try:  # the mapping stays valid; nothing is left behind in the folder
            os.unlink(os.path.join(self.workdir, snapshot_name(spec.format, spec.files)))
        except OSError:
            pass
        return ds

    def for_worker(self) -> Zones:
        """This table in a forked worker: its own folder for the snapshots of its reloads."""
        if self.workdir is not None:
            self.workdir = tempfile.mkdtemp(prefix="rblmirror-snap-")
        self._lock = threading.Lock()
        return self

    def close(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def reload(self, why: str) -> bool:
        with self._lock:
            state = self._state()
            try:
                table = self._build()
                fast = _make_fast(table, self.fast, self.minimal_any)
            except Exception as e:  # keep serving the last good data
                log.error("reload (%s) failed, keeping the previous data: %s", why, e)
                self.state = state
                return False
            self.table, self.fast, self.state = table, fast, state
            self.generation += 1
            del table, fast
            # the replaced zones hold their snapshots' mmaps (an fd and mapped pages each)
            # in reference cycles (a zone and its fast path): collected now, off the
            # serving path, not whenever the collector next runs (the compiled path
            # allocates almost nothing, so it may not run for a long time)
            gc.collect()
            log.info("reloaded (%s), generation %d", why, self.generation)
            return True

    def changed(self) -> bool:
        return self._state() != self.state

    def _state(self) -> tuple[object, ...]:
        """What a reload depends on: the files' stat, and the mirrored sources' snapshots."""
        if self.mirrored is None:
            return _files_state(self.specs)
        return _files_state(self.specs) + self.mirrored.watched()


def _make_fast(table: ZoneTable, previous: FastPath | None = None,
               minimal_any: bool = False) -> FastPath | None:
    """The compiled fast path for `table` (None: dnslib answers everything). `previous`:
    the fast path being replaced, whose counters carry over."""
    if os.environ.get("RBLMIRROR_NO_FAST"):
        return None
    try:
        from .. import _dnsfast
    except ImportError:
        return None
    # every zone is compiled (the zones' answers decide there too): what it cannot hold
    # fails the load (a reload keeps the previous data)
    return _dnsfast.FastPath(table, previous, minimal_any=minimal_any)
