"""Listing history: what each mirrored source listed, and when, in STATE_DIR/history.sqlite.

Each snapshot swap of a source (a fetch that makes a new snapshot current, a rollback)
records the change against what the history last recorded for it:

    swaps(id, list, ts, snapshot)          one row per swap; ids grow, every interval
                                           points at the swaps that opened and closed it
    ip4(lvl, start, end, list, since, until)   IPv4 ranges (integers), since/until: swap
    ip6(lvl, start, end, list, since, until)   ids (until NULL: listed now); IPv6 ranges
                                           as 16-byte big-endian blobs (they sort as numbers)
    names(name, list, since, until)        dnset entries: `example.com`, `*.example.com`

A range is stored as it was listed, never expanded into addresses. The diff of a swap is
computed from the old and the new compiled snapshots (their sorted segment arrays: the
listed runs, then a sorted merge in numpy), so a day's churn costs rows in proportion to
the churn. When the old snapshot is not the one the history last recorded (the history
was started on an existing mirror, a recording failed, a rollback), the old side is the
history's own open intervals instead, so the history heals itself.

The open intervals of a list at any moment are disjoint and cover exactly what its
current snapshot lists; a removal splits an open row into the closed part and the open
rest (which keeps its `since`). `lvl` is the bit length of (end - start): a range holding
x has start in (x - 2**lvl, x], so a lookup is one index probe per level (33 for IPv4,
129 for IPv6), each a few rows: milliseconds whatever the table's size.

The first swap of a list records everything it lists as first seen then: such an interval
says "seen since the mirror began" (began = the list's first swap), not a listing date.
"""
from __future__ import annotations

import bisect
import contextlib
import ipaddress
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..data import addr
from ..data.dataset import Dataset
from ..errors import AddressError, StateError

log = logging.getLogger("rblmirror.mirror.history")

FILENAME = "history.sqlite"
SCHEMA_VERSION = 1
MAX4 = (1 << 32) - 1
MAX6 = (1 << 128) - 1
#: listed runs as two equal-length arrays (start, end), sorted, disjoint, not adjacent:
#: int64 for IPv4, Python ints (object) for IPv6
Runs: TypeAlias = tuple[npt.NDArray[Any], npt.NDArray[Any]]

_SCHEMA = f"""
PRAGMA user_version = {SCHEMA_VERSION};
CREATE TABLE lists(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                   began INTEGER, snapshot TEXT);
CREATE TABLE swaps(id INTEGER PRIMARY KEY, list INTEGER NOT NULL, ts REAL NOT NULL,
                   snapshot TEXT NOT NULL);
CREATE INDEX swaps_list ON swaps(list, id);
CREATE TABLE ip4(lvl INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
                 list INTEGER NOT NULL, since INTEGER NOT NULL, until INTEGER,
                 PRIMARY KEY(lvl, start, list, since)) WITHOUT ROWID;
CREATE INDEX ip4_open ON ip4(list, start) WHERE until IS NULL;
CREATE TABLE ip6(lvl INTEGER NOT NULL, start BLOB NOT NULL, "end" BLOB NOT NULL,
                 list INTEGER NOT NULL, since INTEGER NOT NULL, until INTEGER,
                 PRIMARY KEY(lvl, start, list, since)) WITHOUT ROWID;
CREATE INDEX ip6_open ON ip6(list, start) WHERE until IS NULL;
CREATE TABLE names(name TEXT NOT NULL, list INTEGER NOT NULL, since INTEGER NOT NULL,
                   until INTEGER, PRIMARY KEY(name, list, since)) WITHOUT ROWID;
CREATE INDEX names_open ON names(list, name) WHERE until IS NULL;
"""


def path_in(state_dir: str) -> str:
    return os.path.join(state_dir, FILENAME)


# ---- runs and their diff ------------------------------------------------------------
def _runs(starts: npt.NDArray[Any], listed: npt.NDArray[np.bool_], top: int) -> Runs:
    """Segments (each from its start to the next one's, the last to `top`) -> the runs of
    the listed ones, adjacent listed segments merged."""
    n = len(starts)
    if not listed.any():
        return starts[:0], starts[:0]
    prev = np.concatenate([[False], listed[:-1]])
    nxt = np.concatenate([listed[1:], [False]])
    first = np.flatnonzero(listed & ~prev)
    last = np.flatnonzero(listed & ~nxt)
    ends = np.empty(n, dtype=starts.dtype)
    ends[:-1] = starts[1:] - 1
    ends[-1] = top
    return starts[first], ends[last]


def runs4(ds: Dataset) -> Runs:
    s, v = ds.index.segments4()
    return _runs(s.astype(np.int64), np.asarray(v) >= 0, MAX4)


def runs6(ds: Dataset) -> Runs:
    idx = ds.index.v6
    v = np.asarray(idx.vals_array)
    if not (v >= 0).any():
        return np.zeros(0, object), np.zeros(0, object)
    starts = np.array([(int(h) << 64) | int(lo) for h, lo in zip(idx.hi_array, idx.lo_array)],
                      dtype=object)
    return _runs(starts, v >= 0, MAX6)


def names_of(ds: Dataset) -> set[str]:
    """The dnset's listed entries: `name` for an exact entry, `*.name` for a wildcard
    (a `.name` entry is both); exclusions are not listings."""
    out = set()
    for name, exact, wild in ds.names.names():
        if exact is not None and exact >= 0:
            out.add(name)
        if wild is not None and wild >= 0:
            out.add("*." + name)
    return out


def diff(old: Runs, new: Runs) -> tuple[Runs, Runs]:
    """(added, removed): the runs of new not in old, and of old not in new (a sorted merge
    of the two runs' boundaries; nothing is expanded into addresses)."""
    (os_, oe), (ns, ne) = old, new
    if len(os_) == len(ns) and np.array_equal(os_, ns) and np.array_equal(oe, ne):
        return (ns[:0], ns[:0]), (ns[:0], ns[:0])
    pts = np.concatenate([os_, oe + 1, ns, ne + 1])
    pts.sort()  # (np.unique hashes: slower here than a sort)
    if len(pts):
        pts = pts[np.concatenate([[True], pts[1:] != pts[:-1]])]
    if not len(pts):
        return (ns[:0], ns[:0]), (ns[:0], ns[:0])
    in_old = _covers(os_, oe, pts)
    in_new = _covers(ns, ne, pts)
    return _pieces(pts, in_new & ~in_old), _pieces(pts, in_old & ~in_new)


def _covers(s: npt.NDArray[Any], e: npt.NDArray[Any], pts: npt.NDArray[Any]
            ) -> npt.NDArray[np.bool_]:
    """For each point: is it inside one of the runs (s, e)?"""
    if not len(s):
        return np.zeros(len(pts), bool)
    i = np.searchsorted(s, pts, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(pts), bool)
    out[ok] = e[i[ok]] >= pts[ok]
    return out


def _pieces(pts: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> Runs:
    """The elementary intervals [pts[k], pts[k+1]-1] where mask, merged into runs (the last
    point only ever ends a run: it is one past the greatest end)."""
    mask = mask.copy()
    mask[-1] = False
    if not mask.any():
        return pts[:0], pts[:0]
    prev = np.concatenate([[False], mask[:-1]])
    nxt = np.concatenate([mask[1:], [False]])
    first = np.flatnonzero(mask & ~prev)
    last = np.flatnonzero(mask & ~nxt)
    return pts[first], pts[last + 1] - 1


# ---- the database -------------------------------------------------------------------
def _blob(v: int) -> bytes:
    return v.to_bytes(16, "big")


def _unblob(b: bytes) -> int:
    return int.from_bytes(b, "big")


@dataclass(frozen=True)
class _Family:
    table: str
    top: int
    to_db: Any  # int -> the stored value
    from_db: Any


_V4 = _Family("ip4", MAX4, int, int)
_V6 = _Family("ip6", MAX6, _blob, _unblob)


def connect(state_dir: str, create: bool = True) -> sqlite3.Connection:
    """The history database (created with its schema when missing and `create`)."""
    path = path_in(state_dir)
    if not create and not os.path.exists(path):
        raise StateError(f"{path}: no listing history yet (it starts with the next fetch "
                         f"that swaps in a snapshot)")
    try:
        db = sqlite3.connect(path, timeout=60, isolation_level=None)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            with _transaction(db):  # (another process may have created it meanwhile)
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            db.execute(stmt)
        elif version != SCHEMA_VERSION:
            raise StateError(f"{path}: history schema {version}, this version reads "
                             f"{SCHEMA_VERSION}")
    except sqlite3.Error as e:
        raise StateError(f"{path}: {e}") from None
    return db


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def record_swap(state_dir: str, source: str, old: str | None, new: str,
                ts: float | None = None) -> int:
    """Record the swap of `source` from snapshot `old` (its path; None: none) to `new`;
    returns the swap's id. Raises StateError (the swap itself stands: the next one
    diffs against what the history holds)."""
    ts = time.time() if ts is None else ts
    new_ds = Dataset.load(new)
    db = connect(state_dir)
    try:
        with _transaction(db):
            return _record(db, source, old, new_ds, os.path.basename(new), ts)
    except sqlite3.Error as e:
        raise StateError(f"{path_in(state_dir)}: cannot record the swap of {source}: "
                         f"{e}") from None
    finally:
        db.close()


def _record(db: sqlite3.Connection, source: str, old: str | None, new_ds: Dataset,
            new_name: str, ts: float) -> int:
    row = db.execute("SELECT id, began, snapshot FROM lists WHERE name = ?",
                     (source,)).fetchone()
    if row is None:
        lid = db.execute("INSERT INTO lists(name) VALUES (?)", (source,)).lastrowid
        assert lid is not None
        began, recorded = None, None
    else:
        lid, began, recorded = row
    sid = db.execute("INSERT INTO swaps(list, ts, snapshot) VALUES (?, ?, ?)",
                     (lid, ts, new_name)).lastrowid
    assert sid is not None
    old_ds = None
    if old is not None and recorded is not None and os.path.basename(
            os.path.realpath(old)) == recorded:
        try:
            old_ds = Dataset.load(old)
        except Exception as e:  # unreadable: the history's own open rows stand for it
            log.warning("%s: previous snapshot unreadable for the history (%s)", source, e)
    for fam, runs in ((_V4, runs4), (_V6, runs6)):
        before = runs(old_ds) if old_ds is not None else _open_runs(db, fam, lid)
        added, removed = diff(before, runs(new_ds))
        _close(db, fam, lid, sid, removed)
        _open(db, fam, lid, sid, added)
    new_names = names_of(new_ds)
    old_names = names_of(old_ds) if old_ds is not None else {
        n for (n,) in db.execute("SELECT name FROM names WHERE list = ? AND until IS NULL",
                                 (lid,))}
    db.executemany("UPDATE names SET until = ? WHERE list = ? AND name = ? AND until IS NULL",
                   [(sid, lid, n) for n in sorted(old_names - new_names)])
    db.executemany("INSERT INTO names(name, list, since) VALUES (?, ?, ?)",
                   [(n, lid, sid) for n in sorted(new_names - old_names)])
    db.execute("UPDATE lists SET began = ?, snapshot = ? WHERE id = ?",
               (sid if began is None else began, new_name, lid))
    return sid


def _open_runs(db: sqlite3.Connection, fam: _Family, lid: int) -> Runs:
    """The list's open intervals as runs (adjacent ones merged)."""
    rows = db.execute(f'SELECT start, "end" FROM {fam.table} WHERE list = ? AND '
                      f'until IS NULL ORDER BY start', (lid,)).fetchall()
    dt: type = np.int64 if fam is _V4 else object
    if not rows:
        return np.zeros(0, dt), np.zeros(0, dt)
    s: npt.NDArray[Any] = np.array([fam.from_db(a) for a, _ in rows], dtype=dt)
    e: npt.NDArray[Any] = np.array([fam.from_db(b) for _, b in rows], dtype=dt)
    gap = np.concatenate([[True], s[1:] != e[:-1] + 1])
    first = np.flatnonzero(gap)
    last = np.concatenate([first[1:] - 1, [len(s) - 1]])
    return s[first], e[last]


def _lvl(start: int, end: int) -> int:
    return (end - start).bit_length()


def _open(db: sqlite3.Connection, fam: _Family, lid: int, sid: int, runs: Runs) -> None:
    db.executemany(
        f'INSERT INTO {fam.table}(lvl, start, "end", list, since) VALUES (?, ?, ?, ?, ?)',
        [(_lvl(int(a), int(b)), fam.to_db(int(a)), fam.to_db(int(b)), lid, sid)
         for a, b in zip(runs[0], runs[1])])


def _close(db: sqlite3.Connection, fam: _Family, lid: int, sid: int, removed: Runs) -> None:
    """Close the open rows' parts inside the removed runs (at swap sid); their parts
    outside stay open with their own since."""
    rs = [int(x) for x in removed[0]]
    re_ = [int(x) for x in removed[1]]
    if not rs:
        return
    t = fam.table
    # the open rows overlapping a removed run [a, b] (they are disjoint): the last one
    # starting at or before a, and those starting in (a, b]; one statement for all runs
    db.execute("CREATE TEMP TABLE IF NOT EXISTS removed(a, b)")
    db.execute("DELETE FROM removed")
    db.executemany("INSERT INTO removed VALUES (?, ?)",
                   [(fam.to_db(a), fam.to_db(b)) for a, b in zip(rs, re_)])
    hit: dict[tuple[int, int], tuple[int, int, int]] = {}  # (start, since) -> (lvl, end, since)
    for lvl, s, e, since in db.execute(
            f'SELECT o.lvl, o.start, o."end", o.since FROM removed r CROSS JOIN {t} o '
            f'ON o.list = ?1 AND o.until IS NULL AND o.start <= r.b AND o.start >= '
            f'coalesce((SELECT max(p.start) FROM {t} p WHERE p.list = ?1 AND '
            f'p.until IS NULL AND p.start <= r.a), r.a) AND o."end" >= r.a', (lid,)):
        s, e = fam.from_db(s), fam.from_db(e)
        hit[(s, since)] = (lvl, e, since)
    closed: list[tuple[int, int, int]] = []
    still: list[tuple[int, int, int]] = []
    db.executemany(f"DELETE FROM {t} WHERE lvl = ? AND start = ? AND list = ? AND since = ?",
                   [(lvl, fam.to_db(s), lid, since) for (s, _), (lvl, _, since) in hit.items()])
    for (s, _), (lvl, e, since) in hit.items():
        pos = s
        i = max(bisect.bisect_right(rs, s) - 1, 0)
        while pos <= e:
            while i < len(rs) and re_[i] < pos:
                i += 1
            if i == len(rs) or rs[i] > e:
                still.append((pos, e, since))
                break
            if rs[i] > pos:
                still.append((pos, rs[i] - 1, since))
                pos = rs[i]
            stop = min(re_[i], e)
            closed.append((pos, stop, since))
            pos = stop + 1
    closed.sort()
    merged: list[list[int]] = []
    for a, b, since in closed:  # contiguous pieces of one since: one row
        if merged and merged[-1][1] + 1 == a and merged[-1][2] == since:
            merged[-1][1] = b
        else:
            merged.append([a, b, since])
    db.executemany(f'INSERT INTO {t}(lvl, start, "end", list, since, until) '
                   f'VALUES (?, ?, ?, ?, ?, ?)',
                   [(_lvl(a, b), fam.to_db(a), fam.to_db(b), lid, since, sid)
                    for a, b, since in merged])
    db.executemany(f'INSERT INTO {t}(lvl, start, "end", list, since) VALUES (?, ?, ?, ?, ?)',
                   [(_lvl(a, b), fam.to_db(a), fam.to_db(b), lid, since)
                    for a, b, since in still])


# ---- lookups ------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """One stretch of time a list held the subject."""

    list: str
    #: the entry that held it: a range ("192.0.2.0-192.0.2.255", "192.0.2.7") or a name
    entry: str
    #: the swap it was first seen at
    first_seen: float
    #: the last swap that still listed it (the newest swap while current)
    last_seen: float
    #: the swap it was gone at (None: listed now)
    removed: float | None
    #: first seen at the list's first recorded swap: listed since the mirror began at
    #: the latest, not necessarily listed then for the first time
    since_began: bool

    @property
    def current(self) -> bool:
        return self.removed is None

    def as_json(self) -> dict[str, object]:
        return {"list": self.list, "entry": self.entry, "first_seen": self.first_seen,
                "last_seen": self.last_seen, "removed": self.removed,
                "current": self.current, "since_mirror_began": self.since_began}

    def text(self) -> str:
        first = _when(self.first_seen)
        since = (f"seen since the mirror began ({first})" if self.since_began
                 else f"first seen {first}")
        if self.current:
            return f"{self.list}\t{self.entry}\tlisted now, {since}"
        return (f"{self.list}\t{self.entry}\t{since}, last seen {_when(self.last_seen)}, "
                f"gone at {_when(self.removed or 0)}")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def lookup(state_dir: str, subject: str) -> list[Interval]:
    """Every interval a list held `subject` (an IPv4/IPv6 address or a domain name),
    by list then time."""
    db = connect(state_dir, create=False)
    try:
        return _lookup(db, subject)
    except sqlite3.Error as e:
        raise StateError(f"{path_in(state_dir)}: {e}") from None
    finally:
        db.close()


def _lookup(db: sqlite3.Connection, subject: str) -> list[Interval]:
    rows: list[tuple[int, str, int, int | None]] = []  # list, entry, since, until
    try:
        family, value = addr.parse(subject)
    except AddressError:
        family, value = 0, 0
    if family:
        asks = [(_V4 if family == addr.V4 else _V6, value)]
        if family == addr.V6 and value >> 32 == 0xFFFF:  # IPv4-mapped asks the IPv4 data
            asks.append((_V4, value & MAX4))
        for fam, x in asks:
            top = 32 if fam is _V4 else 128
            for lvl in range(top + 1):
                lo = max(x - (1 << lvl) + 1, 0)
                for s, e, lid, since, until in db.execute(
                        f'SELECT start, "end", list, since, until FROM {fam.table} '
                        f'WHERE lvl = ? AND start BETWEEN ? AND ?',
                        (lvl, fam.to_db(lo), fam.to_db(x))):
                    s, e = fam.from_db(s), fam.from_db(e)
                    if e >= x:
                        rows.append((lid, _range_text(fam, s, e), since, until))
    else:
        name = subject.strip().rstrip(".").lower()
        if not name:
            raise AddressError("an empty name")
        labels = name.split(".")
        wanted = [name] + ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
        for w in wanted:
            for lid, since, until in db.execute(
                    "SELECT list, since, until FROM names WHERE name = ?", (w,)):
                rows.append((lid, w, since, until))
    if not rows:
        return []
    lists = {i: (n, b) for i, n, b in db.execute("SELECT id, name, began FROM lists")}
    swaps = {lid: _swaps(db, lid) for lid in {r[0] for r in rows}}
    out = []
    for lid, entry, since, until in rows:
        ids, times = swaps[lid]
        ts = dict(zip(ids, times))
        if until is None:
            last, removed = times[-1], None
        else:
            k = bisect.bisect_left(ids, until)
            last, removed = times[k - 1], ts[until]
        name, began = lists[lid]
        out.append(Interval(name, entry, ts[since], last, removed, since == began))
    out.sort(key=lambda i: (i.list, i.first_seen, i.entry))
    return out


def _swaps(db: sqlite3.Connection, lid: int) -> tuple[list[int], list[float]]:
    rows = db.execute("SELECT id, ts FROM swaps WHERE list = ? ORDER BY id", (lid,)).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def _range_text(fam: _Family, s: int, e: int) -> str:
    mk = ipaddress.IPv4Address if fam is _V4 else ipaddress.IPv6Address
    if s == e:
        return str(mk(s))
    nets = list(ipaddress.summarize_address_range(mk(s), mk(e)))
    return str(nets[0]) if len(nets) == 1 else f"{mk(s)}-{mk(e)}"


def listed_since(state_dir: str, subject: str, lists: Sequence[str]) -> dict[str, Interval]:
    """list -> the current interval of `subject` in each of `lists` that holds it now (for
    "listed since"); {} when there is no history."""
    try:
        found = lookup(state_dir, subject)
    except StateError:
        return {}
    want = set(lists)
    return {i.list: i for i in found if i.current and i.list in want}


def size(state_dir: str) -> dict[str, int]:
    """Rows per table and the file's bytes (for the benchmark and status)."""
    db = connect(state_dir, create=False)
    try:
        out = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
               for t in ("swaps", "ip4", "ip6", "names")}
    finally:
        db.close()
    out["bytes"] = os.path.getsize(path_in(state_dir))
    return out
