"""A replica's source (`format = "snapshot"`): the rules for taking a primary's exported
snapshot (mirror/export.py) instead of parsing a dump.

A pulled pair (data/snapshot, data/state.json) is taken only when
- the state is of this layout and the snapshot's size and sha256 match it (a truncated
  or corrupted file, or a pair torn by a swap on the primary, is refused);
- the snapshot opens and verifies (its own checksum over every byte, its layout);
- it is not older than the snapshot served: a lower $SOA serial, or made earlier by the
  primary, is refused (a replica never goes back, whatever its primary exports).
The same snapshot as the one served is "unchanged": only the upstream time moves on,
which is what the replica's freshness follows (SourceState.fresh_since).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from typing import TYPE_CHECKING

from ..errors import Rejected, SnapshotError, StateError
from ..files import link_atomically
from .config import SourceConfig
from .export import SNAPSHOT_FILE, STATE_FILE, ExportedState, read_exported, sha256_file
from .state import SourceDir, SourceState

if TYPE_CHECKING:  # (numpy and the extensions: not for `snippets`, which asks data_format)
    from ..data.dataset import Dataset


@dataclass
class Pulled:
    """What a pull brought: the primary's state, and the snapshot's dataset when it is
    new (None: the snapshot served already)."""

    exported: ExportedState
    dataset: Dataset | None
    path: str  # the pulled snapshot (data/snapshot)


def check(sd: SourceDir, st: SourceState, compare_previous: bool = True) -> Pulled:
    """Verify the pulled pair in sd.data_dir against each other and against what is
    served; Rejected says why it is refused. compare_previous=False (the source's url
    changed: another primary, another list): no "older than served" rule."""
    path = os.path.join(sd.data_dir, SNAPSHOT_FILE)
    exp = read_exported(os.path.join(sd.data_dir, STATE_FILE))
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise Rejected(f"{path}: {e.strerror}") from None
    if size != exp["size"]:
        raise Rejected(f"the pulled snapshot is truncated or padded: {size} bytes, the "
                       f"primary's state says {exp['size']} (snapshot {exp['snapshot']})")
    sha = sha256_file(path)
    if sha != exp["sha256"]:
        raise Rejected(f"the pulled snapshot is corrupt: sha256 {sha[:16]}..., the "
                       f"primary's state says {exp['sha256'][:16]}... (snapshot "
                       f"{exp['snapshot']}; a swap on the primary during the pull also "
                       "does this: the next pull retries)")
    if sha == st.dump_sha256 and sd.current_snapshot() is not None:
        return Pulled(exp, None, path)
    why = older(exp, st) if compare_previous else None
    if why:
        raise Rejected(why)
    from ..data.dataset import Dataset
    try:
        ds = Dataset.load(path)
    except SnapshotError as e:
        raise Rejected(f"the pulled snapshot does not verify: {e}") from None
    if ds.entries != exp["entries"]:
        raise Rejected(f"the pulled snapshot holds {ds.entries} entries, the primary's state "
                       f"says {exp['entries']}")
    return Pulled(exp, ds, path)


def older(exp: ExportedState, st: SourceState) -> str | None:
    """Why the exported snapshot is older than the one served (None: it is not)."""
    if st.snapshot is None:
        return None
    if exp["serial"] is not None and st.serial is not None and exp["serial"] < st.serial:
        return (f"the primary's snapshot {exp['snapshot']} (serial {exp['serial']}) is "
                f"older than the one served (serial {st.serial}): not going back")
    if st.upstream_created is not None and exp["created"] < st.upstream_created:
        made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(exp["created"]))
        ours = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(st.upstream_created))
        return (f"the primary's snapshot {exp['snapshot']} (made {made}) is older than the "
                f"one served (made {ours}): not going back")
    return None


def install(pulled: Pulled, dest: str) -> None:
    """The pulled snapshot becomes snapshots/NAME (a hard link: the next pull replaces
    data/snapshot by rename, the link keeps this one)."""
    link_atomically(pulled.path, dest)


def record(st: SourceState, pulled: Pulled) -> None:
    """The primary's times and format, kept with the replica's state (fresh_since)."""
    exp = pulled.exported
    st.upstream_success = max(exp["last_success"], st.upstream_success or 0.0)
    st.upstream_format = exp["format"]
    if pulled.dataset is not None:
        st.upstream_created = exp["created"]


def data_format(src: SourceConfig, state_dir: str) -> str | None:
    """The dataset format of a source's data: its config's, or for a replica the one its
    primary's state named at the last pull (None before the first)."""
    if not src.is_replica:
        return src.format
    try:
        return SourceDir(state_dir, src.name).load_state().upstream_format
    except StateError:
        return None
