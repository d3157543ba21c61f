"""Fetch a source with etiquette, validate the dump, and only then swap in a new snapshot.

One pass for one source (`fetch_source`), under the source's lock:

1. not due (min_interval + jitter, or the backoff after failures) and not forced -> skip;
2. transfer (rsync / HTTP / file) into STATE_DIR/NAME/data/;
3. the same dump as the current snapshot's -> unchanged (the success time is refreshed);
4. parse it (Dataset.from_files); refuse an empty dump, too many bad lines, or a shrink
   beyond max_shrink against the last good snapshot (the last good one stays current);
5. save the snapshot (temp + fsync + rename), point `current` at it (symlink + rename),
   prune old snapshots, write the state (temp + fsync + rename);
6. with [export] (a primary): publish the snapshot and its state for the replicas.

A replica's source (format = "snapshot") takes steps 3-5 from mirror/replica.py instead:
the primary's compiled snapshot is verified against its state and swapped in as it is.
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from .config import Config, SourceConfig
from ..data.compile import compile_isolated
from ..data.dataset import Dataset
from ..data.snapshot import snapshot_format_current
from ..errors import FetchError, RblmirrorError, Rejected, SnapshotError, StateError
from ..durations import human
from .export import publish, sha256_file
from . import replica
from .transports import Transfer, transfer
from .state import SourceDir, SourceState

log = logging.getLogger("rblmirror.mirror.fetch")

#: how long after the last attempt the next one is due: min_interval plus up to this
#: fraction of it (at most JITTER_MAX seconds), so mirrors do not all arrive at :00
JITTER = 0.1
JITTER_MAX = 600.0
#: failures back off exponentially: min_interval * 2**(failures-1), at most this long
#: (or min_interval itself when that is longer)
BACKOFF_MAX = 6 * 3600.0

# outcomes
FETCHED, UNCHANGED, NOT_DUE, FAILED, REJECTED = "fetched", "unchanged", "not due", "failed", \
    "rejected"


class Jitter(Protocol):
    """Where the jitter comes from: the random module, a random.Random, a test's fake."""

    def uniform(self, a: float, b: float, /) -> float: ...


Clock = Callable[[], float]


@dataclass
class Outcome:
    source: str
    status: str
    message: str
    state: SourceState | None = None

    @property
    def ok(self) -> bool:
        return self.status in (FETCHED, UNCHANGED, NOT_DUE)

    def line(self) -> str:
        return f"{self.source}: {self.status}: {self.message}"


def next_delay(src: SourceConfig, failures: int, rng: Jitter = random) -> float:
    """Seconds until the next attempt after this one."""
    base = src.min_interval
    if failures:
        base = min(src.min_interval * 2 ** min(failures - 1, 20),
                   max(src.min_interval, BACKOFF_MAX))
    return base + rng.uniform(0, min(base * JITTER, JITTER_MAX))


def config_identity(src: SourceConfig) -> dict[str, str]:
    """What makes a source's data what it is: a change of any of these makes the old dump,
    snapshot and backoff meaningless for the new config."""
    return {"url": src.url, "format": src.format}


@dataclass(frozen=True)
class Due:
    """Whether a source is due for a fetch now, and why (said by `fetch` and the log)."""

    due: bool
    reason: str
    #: the source's url or format changed since its state was written
    config_changed: bool = False


def due(src: SourceConfig, st: SourceState, now: float, current: str | None = None) -> Due:
    """The one rule for "is this source due": never fetched, its config changed (due at
    once, backoff reset), its current snapshot (path `current`) is of an older format (an
    upgrade: recompiled at once, the dump need not change), or next_due (min_interval +
    jitter, or the backoff) has passed."""
    if current is not None and not src.is_replica and not snapshot_format_current(current):
        return Due(True, "the current snapshot is of an older format: compiling it again")
    if st.config is not None and st.config != config_identity(src):
        changed = ", ".join(f"{k} {st.config.get(k)!r} -> {v!r}"
                            for k, v in config_identity(src).items() if st.config.get(k) != v)
        return Due(True, f"config changed ({changed})", config_changed=True)
    if st.next_due is None:
        return Due(True, "never fetched" if st.last_attempt is None else "no schedule yet")
    if now >= st.next_due:
        return Due(True, "due")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(st.last_attempt or now))
    if st.failures:
        why = (f"backing off after {st.failures} failed attempt"
               f"{'s' if st.failures != 1 else ''} (last at {when}: {st.last_error})")
    else:
        why = f"min_interval {human(src.min_interval)} since the last attempt at {when}"
    return Due(False, f"next fetch in {human(st.next_due - now)}, {why}")


def validate(src: SourceConfig, ds: Dataset, st: SourceState, *,
             compare_previous: bool = True) -> None:
    """Raise Rejected when the parsed dump must not replace the last good snapshot.
    compare_previous=False (the source's url or format changed): no shrink check against
    a snapshot of another list."""
    n, bad = ds.entries, len(ds.warnings)
    if n == 0:
        raise Rejected("empty dump (0 entries)" + (f", {bad} bad lines" if bad else ""))
    if bad and bad / (n + bad) > src.max_warnings:
        first = ds.warnings[0]
        raise Rejected(f"{bad} bad lines of {n + bad} (over max_warnings {src.max_warnings:g}); "
                       f"first: line {first.line}: {first.message}")
    if compare_previous and st.entries and n < st.entries * (1 - src.max_shrink):
        raise Rejected(f"shrank from {st.entries} to {n} entries "
                       f"({1 - n / st.entries:.0%} lost, max_shrink {src.max_shrink:g})")


def fetch_source(src: SourceConfig, state_dir: str, *, force: bool = False,
                 now: Clock = time.time, rng: Jitter = random,
                 export: bool = False) -> Outcome:
    """One pass for one source; export: publish what is current for the replicas after
    a good pass (the config has [export])."""
    sd = SourceDir(state_dir, src.name)
    try:
        sd.create()
        with sd.lock(on_wait=lambda pid: log.info(
                "%s: waiting for the lock (held by pid %s)", src.name, pid or "?")):
            out = _fetch_locked(src, sd, force, now, rng)
            if export and out.status in (FETCHED, UNCHANGED):
                try:
                    publish(state_dir, src, out.state)
                except StateError as e:  # the swap stands; the replicas keep the last one
                    log.error("%s", e)
                    out.message += f"; not exported: {e}"
            return out
    except StateError as e:
        return Outcome(src.name, FAILED, str(e))
    except OSError as e:
        return Outcome(src.name, FAILED, f"{e.filename or sd.root}: {e.strerror}")


def _fetch_locked(src: SourceConfig, sd: SourceDir, force: bool, now: Clock,
                  rng: Jitter) -> Outcome:
    st = sd.load_state()  # read under the lock: another fetch may just have finished
    t0 = now()
    d = due(src, st, t0, sd.current_snapshot())
    if not force and not d.due:
        return Outcome(src.name, NOT_DUE, f"{d.reason} (--force to fetch now)", st)
    changed = d.config_changed
    if changed:  # another list now: its backoff and "unchanged" test do not carry over
        log.info("%s: %s: fetching now", src.name, d.reason)
        st.failures, st.dump_sha256, st.pinned_sha256 = 0, None, None
    st.config = config_identity(src)
    st.last_attempt = t0
    try:
        tr = transfer(src, sd.data_dir, st)
    except FetchError as e:
        return _failed(src, sd, st, t0, FAILED, str(e), rng)
    _record_transfer(st, tr)
    if src.is_replica:
        return _take_pulled(src, sd, st, t0, now, rng, tr, compare_previous=not changed)
    current = sd.current_snapshot()
    sha = sha256_file(tr.path)
    if current and sha in (st.dump_sha256, st.pinned_sha256) and _verifies(src, current):
        st.result, st.last_error, st.failures = UNCHANGED, None, 0
        st.last_success = now()
        st.next_due = t0 + next_delay(src, 0, rng)
        sd.save_state(st)
        pinned = " (rolled back; kept until upstream changes)" \
            if sha == st.pinned_sha256 and sha != st.dump_sha256 else ""
        return Outcome(src.name, UNCHANGED, f"{st.entries} entries, snapshot {st.snapshot}"
                       f"{pinned}{_bytes(tr)}", st)
    # parse and compile in a child process (a `serve` fetching in the background never
    # parses in the serving process), then validate what the snapshot holds
    tmp = os.path.join(sd.snapshots_dir, f".new-{os.getpid()}.snap")
    try:
        compile_isolated(src.format, (tr.path,), tmp)
        ds = Dataset.load(tmp)  # verifies: checksum over the whole file, then its layout
        validate(src, ds, st, compare_previous=not changed)
    except Rejected as e:
        _unlink(tmp)
        return _failed(src, sd, st, t0, REJECTED, str(e), rng)
    except SnapshotError as e:  # corrupted between compile and swap: never swapped in
        _unlink(tmp)
        return _failed(src, sd, st, t0, REJECTED,
                       f"the compiled snapshot does not verify: {e}", rng)
    except (RblmirrorError, OSError, ValueError) as e:
        _unlink(tmp)
        return _failed(src, sd, st, t0, REJECTED, f"cannot parse the dump: {e}", rng)
    serial = ds.meta.soa.serial if ds.meta.soa is not None and ds.meta.soa.serial else None
    path = sd.new_snapshot_path(serial, t0)
    name = path.rsplit("/", 1)[-1]
    os.replace(tmp, path)
    sd.point_current(name)
    done = now()
    _record_history(sd, current, path, done)
    previous = st.entries
    st.history.append({"snapshot": name, "entries": ds.entries, "serial": serial,
                       "sha256": sha, "created": done})
    st.snapshot, st.entries, st.warnings, st.serial = name, ds.entries, len(ds.warnings), serial
    st.dump_sha256, st.created, st.pinned_sha256 = sha, done, None
    st.result, st.last_error, st.failures = FETCHED, None, 0
    st.last_success = done
    st.next_due = t0 + next_delay(src, 0, rng)
    sd.prune(st, src.keep)
    sd.save_state(st)
    change = "" if previous is None else f" (was {previous})"
    log.info("%s: new snapshot %s, %d entries", src.name, name, ds.entries)
    return Outcome(src.name, FETCHED, f"{ds.entries} entries{change}, snapshot {name}"
                   f"{_bytes(tr)}", st)


def _take_pulled(src: SourceConfig, sd: SourceDir, st: SourceState, t0: float, now: Clock,
                 rng: Jitter, tr: Transfer, compare_previous: bool = True) -> Outcome:
    """A replica's steps 3-5: the primary's snapshot, verified, swapped in unparsed."""
    try:
        pulled = replica.check(sd, st, compare_previous)
    except Rejected as e:
        return _failed(src, sd, st, t0, REJECTED, str(e), rng)
    exp = pulled.exported
    if not compare_previous:  # another primary or list: its times, not the old ones
        st.upstream_success = None
    replica.record(st, pulled)
    st.result, st.last_error, st.failures = UNCHANGED, None, 0
    st.last_success = now()
    st.next_due = t0 + next_delay(src, 0, rng)
    upstream = f"; primary fetched upstream {human(max(0.0, now() - exp['last_success']))} ago"
    if pulled.dataset is None:
        sd.save_state(st)
        return Outcome(src.name, UNCHANGED, f"{st.entries} entries, snapshot {st.snapshot} "
                       f"(primary's {exp['snapshot']}){upstream}{_bytes(tr)}", st)
    ds = pulled.dataset
    path = sd.new_snapshot_path(exp["serial"], t0)
    name = path.rsplit("/", 1)[-1]
    current = sd.current_snapshot()
    replica.install(pulled, path)
    sd.point_current(name)
    done = now()
    _record_history(sd, current, path, done)
    previous = st.entries
    st.history.append({"snapshot": name, "entries": ds.entries, "serial": exp["serial"],
                       "sha256": exp["sha256"], "created": done})
    st.snapshot, st.entries, st.warnings, st.serial = name, ds.entries, 0, exp["serial"]
    st.dump_sha256, st.created, st.pinned_sha256 = exp["sha256"], done, None
    st.result = FETCHED
    sd.prune(st, src.keep)
    sd.save_state(st)
    change = "" if previous is None else f" (was {previous})"
    log.info("%s: new snapshot %s from the primary's %s, %d entries", src.name, name,
             exp["snapshot"], ds.entries)
    return Outcome(src.name, FETCHED, f"{ds.entries} entries{change}, snapshot {name} "
                   f"(primary's {exp['snapshot']}){upstream}{_bytes(tr)}", st)


def _record_history(sd: SourceDir, old: str | None, new: str, ts: float) -> None:
    """The swap in the listing history (history.py); a failure is logged, never fails the
    swap (the next swap diffs against what the history holds, so it heals)."""
    from . import history
    try:
        history.record_swap(sd.state_dir, sd.name, old, new, ts)
    except (RblmirrorError, OSError) as e:
        log.error("%s: listing history not recorded: %s", sd.name, e)


def _verifies(src: SourceConfig, path: str) -> bool:
    """Does the current snapshot open and verify? When it does not (corrupted on disk, or
    of an older format), an unchanged dump is compiled again instead of kept."""
    try:
        Dataset.load(path)
    except SnapshotError as e:
        log.warning("%s: the current snapshot does not verify (%s): compiling the dump "
                    "again", src.name, e)
        return False
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _failed(src: SourceConfig, sd: SourceDir, st: SourceState, attempt: float, status: str,
            why: str, rng: Jitter) -> Outcome:
    """Record a failed or rejected attempt (made at `attempt`) and schedule the next one."""
    st.result = status
    st.last_error = why
    st.failures += 1
    st.next_due = attempt + next_delay(src, st.failures, rng)
    sd.save_state(st)
    kept = f"; keeping snapshot {st.snapshot}" if st.snapshot else "; no snapshot yet"
    log.error("%s: %s: %s%s", src.name, status, why, kept)
    return Outcome(src.name, status, why + kept, st)


def _record_transfer(st: SourceState, tr: Transfer) -> None:
    st.bytes_received = tr.bytes_received
    st.literal_bytes, st.matched_bytes, st.file_size = tr.literal_bytes, tr.matched_bytes, \
        tr.file_size
    if tr.etag is not None or tr.last_modified is not None:
        st.etag, st.last_modified = tr.etag, tr.last_modified


def _bytes(tr: Transfer) -> str:
    s = f", {tr.bytes_received} bytes received"
    if tr.literal_bytes is not None and tr.matched_bytes is not None:
        s += f" (literal {tr.literal_bytes}, matched {tr.matched_bytes} of {tr.file_size})"
    return s


def select_sources(cfg: Config, names: Iterable[str]) -> list[SourceConfig]:
    from ..errors import ConfigError
    names = list(names)
    unknown = [n for n in names if n not in cfg.sources]
    if unknown:
        known = ", ".join(cfg.sources) or "none in the config"
        raise ConfigError(f"unknown source(s) {', '.join(unknown)} (sources: {known})")
    return [cfg.sources[n] for n in names] if names else list(cfg.sources.values())


def fetch_all(cfg: Config, state_dir: str, names: Iterable[str] = (), *,
              force: bool = False) -> list[Outcome]:
    out = [fetch_source(src, state_dir, force=force, export=cfg.export is not None)
           for src in select_sources(cfg, names)]
    after_swaps(cfg, state_dir, out)
    return out


def after_swaps(cfg: Config, state_dir: str, outcomes: Iterable[Outcome]) -> None:
    """After fetches: when one swapped in a snapshot, the [[watch]] pass (watch.py)."""
    if cfg.watches and any(o.status == FETCHED for o in outcomes):
        from .watch import after_swaps as watch_pass
        watch_pass(cfg, state_dir)


def rollback(src: SourceConfig, state_dir: str, to: str | None = None, *,
             export: bool = False) -> tuple[str, str]:
    """Point `current` back at the previous snapshot (or `to`); returns (from, to).

    The rolled-back dump is pinned: a fetch that finds upstream unchanged keeps the
    rolled-back snapshot; the next upstream change makes a new snapshot as usual."""
    sd = SourceDir(state_dir, src.name)
    with sd.lock(on_wait=lambda pid: log.info("%s: waiting for the lock", src.name)):
        st = sd.load_state()
        names = [h["snapshot"] for h in st.history]
        if st.snapshot not in names:
            raise StateError(f"{src.name}: no current snapshot to roll back from")
        if to is None:
            i = names.index(st.snapshot)
            if i == 0:
                raise StateError(f"{src.name}: no snapshot older than {st.snapshot} "
                                 f"(kept: {', '.join(names)})")
            to = names[i - 1]
        elif to not in names:
            raise StateError(f"{src.name}: no snapshot {to} (kept: {', '.join(names)})")
        h = st.history[names.index(to)]
        frm = st.snapshot
        try:  # never point `current` at a snapshot that would be refused
            Dataset.load(os.path.join(sd.snapshots_dir, to))
        except SnapshotError as e:
            raise StateError(f"{src.name}: cannot roll back to {to}: {e}") from None
        old = sd.current_snapshot()
        sd.point_current(to)
        _record_history(sd, old, os.path.join(sd.snapshots_dir, to), time.time())
        st.pinned_sha256 = st.pinned_sha256 or st.dump_sha256  # the newest dump seen
        st.snapshot, st.entries, st.serial, st.dump_sha256 = to, h["entries"], h["serial"], \
            h["sha256"]
        st.created = h["created"]
        sd.save_state(st)
        if export:  # replicas refuse to go back: they keep what they serve (replica.py)
            publish(state_dir, src, st)
        log.warning("%s: rolled back from %s to %s", src.name, frm, to)
        return frm, to


class Scheduler:
    """The fetch schedule of `rblmirror serve`: a daemon thread fetching each source when
    it is due (the same rules, lock and state as `rblmirror fetch`)."""

    def __init__(self, cfg: Config, state_dir: str, max_sleep: float = 30.0):
        import threading
        self.cfg = cfg
        self.sources = list(cfg.sources.values())
        self.state_dir = state_dir
        self.export = cfg.export is not None
        self.max_sleep = max_sleep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fetch", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def run_once(self, now: Clock = time.time) -> float:
        """Fetch what is due; return the seconds until the next source is due."""
        wait = self.max_sleep
        outcomes: list[Outcome] = []
        for src in self.sources:
            if self._stop.is_set():
                break
            try:
                sd = SourceDir(self.state_dir, src.name)
                st = sd.load_state()
                if due(src, st, now(), sd.current_snapshot()).due:
                    out = fetch_source(src, self.state_dir, now=now, export=self.export)
                    outcomes.append(out)
                    (log.info if out.ok else log.warning)("%s", out.line())
                    st = out.state or st
                if st.next_due is not None:
                    wait = min(wait, st.next_due - now())
            except Exception:  # keep the schedule alive whatever one source does
                log.exception("%s: fetch failed", src.name)
        after_swaps(self.cfg, self.state_dir, outcomes)
        return max(1.0, wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.run_once())
