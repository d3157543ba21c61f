"""The query log (rbldnsd's `-l [+]logfile`): one line per reply sent, in rbldnsd's
format (ext/qlogline.pxd is its one home: the compiled UDP loop formats its batches
there, `line()` formats one reply for the other paths).

The file is opened O_APPEND, and every write() is whole lines (a batch of them), so
several workers appending to one file never interleave inside a line. Unbuffered
("+PATH", as rbldnsd's `+`): each batch is written at once. Buffered (plain PATH): lines
collect up to BUFFER bytes and are written then, at each flush() (the server calls it
every check interval), at reopen() and close(). reopen() (SIGHUP) opens the path anew,
so logrotate's move-then-HUP starts a new file with no line lost: what was buffered
goes to the old file first."""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger("rblmirror.dns.querylog")

#: a buffered log writes once this much has collected (or at the next flush())
BUFFER = 64 * 1024


def parse_target(spec: str) -> tuple[str, bool]:
    """rbldnsd's "[+]logfile": (path, unbuffered). ValueError for an empty path."""
    flush = spec.startswith("+")
    path = spec[1:] if flush else spec
    if not path:
        raise ValueError(f"query log {spec!r}: no file name")
    return path, flush


def line(reply: bytes, peer: str, now: float | None = None) -> bytes | None:
    """The log line for `reply` sent to `peer` (an address), or None (no whole question)."""
    from .._dnsfast import log_line
    return log_line(reply, peer, int(time.time() if now is None else now))


class QueryLog:
    """An open query log; write() takes whole lines (the compiled loop's batches),
    reply() formats one. Thread-safe (the UDP threads and the asyncio loop share it)."""

    def __init__(self, path: str, unbuffered: bool = False):
        self.path = path
        self.unbuffered = unbuffered
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._fd = -1
        self.errors = 0
        self._open()
        if self._fd < 0:
            raise OSError(f"cannot open the query log {path}")

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o644)
        except OSError as e:
            log.warning("cannot (re)open the query log %s: %s", self.path, e)
            self._fd = -1

    def _write(self, data: bytes | bytearray) -> None:
        if self._fd < 0 or not data:
            return
        try:
            os.write(self._fd, data)  # O_APPEND: one write, whole lines
        except OSError as e:
            self.errors += 1
            if self.errors == 1 or self.errors % 10000 == 0:
                log.warning("query log %s: %s (%d failed writes)", self.path, e, self.errors)

    def write(self, lines: bytes) -> None:
        with self._lock:
            if self.unbuffered:
                self._write(lines)
                return
            self._buf += lines
            if len(self._buf) >= BUFFER:
                self._write(self._buf)
                self._buf.clear()

    def reply(self, reply: bytes, peer: str) -> None:
        ln = line(reply, peer)
        if ln is not None:
            self.write(ln)

    def flush(self) -> None:
        with self._lock:
            self._write(self._buf)
            self._buf.clear()

    def reopen(self) -> None:
        """SIGHUP: what is buffered to the file open now, then the path opened anew."""
        with self._lock:
            self._write(self._buf)
            self._buf.clear()
            old = self._fd
            self._open()
            if old >= 0:
                os.close(old)

    def close(self) -> None:
        with self._lock:
            self._write(self._buf)
            self._buf.clear()
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1
