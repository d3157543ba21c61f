"""Files replaced atomically: the one home of temp file + fsync + rename.

Everything rblmirror installs under a name a reader may open at any moment (a downloaded
dump, a compiled snapshot, a source's state, a config written by `sources add`) is written
to a temporary file in the same folder, flushed to disk, optionally verified, renamed over
the old name and the folder synced: a reader sees the old file or the new one, never a
half-written one, and a crash leaves at most a `.tmp.PID` file behind.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import BinaryIO


def temp_name(path: str | os.PathLike[str], hidden: bool = False) -> str:
    """The temporary name beside `path` (hidden: with a leading dot, for folders that
    other programs list, such as a dump's data folder rsync also writes)."""
    p = os.fspath(path)
    if hidden:
        head, tail = os.path.split(p)
        p = os.path.join(head, "." + tail)
    return f"{p}.tmp.{os.getpid()}"


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, hidden: bool = False,
              verify: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """`with replacing(path) as f: f.write(...)`: on a clean exit the file is fsynced,
    `verify(temp_path)` runs (an exception there keeps the old file), it is renamed over
    `path` and the folder is synced. On any exception the temporary file is removed and
    the exception propagates; `path` is untouched. `f.name` is the temporary path."""
    tmp = temp_name(path, hidden)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(os.fspath(path)) or ".")


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data` (see replacing())."""
    with replacing(path) as f:
        f.write(data)


def link_atomically(src: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Make `path` the file `src` (a hard link: the same inode, no copy; else, on another
    filesystem, a copy), by rename: a reader sees the old file or the new one."""
    tmp = temp_name(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.link(src, tmp)
    except OSError:  # another filesystem, or links refused: copy it
        with open(src, "rb") as f, replacing(path) as out:
            shutil.copyfileobj(f, out, 1 << 20)
        return
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.fspath(path)) or ".")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename in `path` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
