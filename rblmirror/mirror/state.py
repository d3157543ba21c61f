"""A source's folder in the state directory: its dump, snapshots, `current` link, state file
and lock.

    STATE_DIR/NAME/
        data/FILE              the mirrored dump (rsync's delta base; written by temp + rename)
        snapshots/ID.snap      compiled snapshots (ID: the $SOA serial, else the UTC time)
        current -> snapshots/ID.snap   what is served (swapped by rename of a new symlink)
        state.json             SourceState (written by temp + fsync + rename)
        lock                   flock()ed by whoever fetches or rolls back (holds its pid)
    STATE_DIR/history.sqlite   what each source listed when (history.py)
    STATE_DIR/watch.json       the watched subjects' last-alerted state (watch.py)
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict

from ..errors import StateError
from ..files import fsync_dir, temp_name, write_atomically

#: what a source's state can be (status, metrics)
STATES = ("new", "fresh", "stale", "failing", "rejected")


class SnapshotRecord(TypedDict):
    """One snapshot in SourceState.history."""

    snapshot: str  # its file name in snapshots/
    entries: int
    serial: int | None  # the dump's $SOA serial
    sha256: str  # of the dump it was compiled from
    created: float


@dataclass
class SourceState:
    """What we know about one source; every time is a UNIX timestamp (float)."""

    name: str
    last_attempt: float | None = None
    #: the last attempt that reached upstream and got good data (new or unchanged)
    last_success: float | None = None
    #: the outcome of the last attempt (fetch.Outcome.status): fetched, unchanged, failed,
    #: rejected
    result: str | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive failed or rejected attempts
    next_due: float | None = None
    # the current snapshot (the last good data)
    snapshot: str | None = None
    entries: int | None = None
    warnings: int | None = None
    serial: int | None = None
    dump_sha256: str | None = None
    created: float | None = None
    # the last transfer
    bytes_received: int | None = None
    literal_bytes: int | None = None
    matched_bytes: int | None = None
    file_size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    #: after a rollback: the upstream dump (sha256) not to re-apply until upstream changes
    pinned_sha256: str | None = None
    #: the source's identity (url, format) when it was last attempted; a config that
    #: differs makes the source due at once (fetch.due)
    config: dict[str, str] | None = None
    #: snapshots made, oldest first
    history: list[SnapshotRecord] = field(default_factory=list)
    # a replica (format = "snapshot"): what the primary's exported state says
    #: the primary's last good fetch from upstream: the data's freshness (fresh_since)
    upstream_success: float | None = None
    #: when the primary made the snapshot served (a replica never goes back past it)
    upstream_created: float | None = None
    #: the dataset format of the snapshot served (the primary's [[source]] format)
    upstream_format: str | None = None

    @property
    def fresh_since(self) -> float | None:
        """Since when the served data is known good: the last success, or on a replica
        the primary's last good fetch from upstream (a replica of a stale primary is
        stale)."""
        return self.upstream_success if self.upstream_success is not None else \
            self.last_success

    def state(self, max_age: float, now: float | None = None) -> str:
        """fresh, stale (last success older than max_age), failing, rejected, or new."""
        now = time.time() if now is None else now
        bad = {"failed": "failing", "rejected": "rejected"}.get(self.result or "")
        fresh = self.fresh_since
        if fresh is None or self.snapshot is None:
            return bad or "new"
        if now - fresh > max_age:
            return "stale"
        return bad or "fresh"

    def age(self, now: float | None = None) -> float | None:
        """Seconds since fresh_since: the age of the data, which staleness follows."""
        fresh = self.fresh_since
        if fresh is None:
            return None
        return (time.time() if now is None else now) - fresh

    def pull_age(self, now: float | None = None) -> float | None:
        """A replica: seconds since it last pulled good data from its primary (None on a
        primary, whose age() is that already)."""
        if self.upstream_success is None or self.last_success is None:
            return None
        return (time.time() if now is None else now) - self.last_success

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any], name: str) -> SourceState:  # d: parsed JSON
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["name"] = name
        if d.get("result") == "failing":  # written by versions before 0.1.0's release
            d["result"] = "failed"
        return cls(**d)


class SourceDir:
    """The folder of one source under the state directory."""

    def __init__(self, state_dir: str, name: str):
        self.name = name
        self.state_dir = state_dir
        self.root = os.path.join(state_dir, name)
        self.data_dir = os.path.join(self.root, "data")
        self.snapshots_dir = os.path.join(self.root, "snapshots")
        self.current = os.path.join(self.root, "current")
        self.state_path = os.path.join(self.root, "state.json")
        self.lock_path = os.path.join(self.root, "lock")

    def create(self) -> None:
        try:
            for d in (self.data_dir, self.snapshots_dir):
                os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot create {e.filename}: {e.strerror}") from None

    # ---- state file -----------------------------------------------------------------
    def load_state(self) -> SourceState:
        try:
            with open(self.state_path, encoding="utf-8") as f:
                return SourceState.from_json(json.load(f), self.name)
        except FileNotFoundError:
            return SourceState(self.name)
        except (OSError, ValueError, TypeError) as e:
            raise StateError(f"{self.state_path}: unreadable state ({e})") from None

    def save_state(self, st: SourceState) -> None:
        data = json.dumps(st.as_json(), indent=1, sort_keys=True).encode()
        try:
            write_atomically(self.state_path, data)
        except OSError as e:
            raise StateError(f"cannot write {self.state_path}: {e.strerror}") from None

    # ---- snapshots ------------------------------------------------------------------
    def current_snapshot(self) -> str | None:
        """The path of the served snapshot, None when there is none."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        path = os.path.join(self.root, target)
        return path if os.path.exists(path) else None

    def new_snapshot_path(self, serial: int | None, now: float) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        base = str(serial) if serial else stamp
        path = os.path.join(self.snapshots_dir, base + ".snap")
        n = 1
        while os.path.exists(path):
            n += 1
            tail = f"{stamp}-{n}" if serial else str(n)
            path = os.path.join(self.snapshots_dir, f"{base}-{tail}.snap")
        return path

    def point_current(self, snapshot_name: str) -> None:
        """Atomically make `current` a link to snapshots/NAME (new link + rename)."""
        if not os.path.exists(os.path.join(self.snapshots_dir, snapshot_name)):
            raise StateError(f"{self.name}: no snapshot {snapshot_name}")
        tmp = temp_name(self.current)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.path.join("snapshots", snapshot_name), tmp)
        os.replace(tmp, self.current)
        fsync_dir(self.root)

    def prune(self, st: SourceState, keep: int) -> list[str]:
        """Delete snapshots beyond the `keep` newest (never the current one)."""
        removed = []
        while len(st.history) > keep:
            victim = next((h for h in st.history if h["snapshot"] != st.snapshot), None)
            if victim is None:
                break
            st.history.remove(victim)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.snapshots_dir, victim["snapshot"]))
            removed.append(victim["snapshot"])
        return removed

    # ---- lock -----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, on_wait: Callable[[int | None], object] | None = None) -> Iterator[None]:
        """Hold the source's lock; when someone else holds it, call on_wait(pid) and wait."""
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if on_wait is not None:
                    on_wait(_read_pid(fd))
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
