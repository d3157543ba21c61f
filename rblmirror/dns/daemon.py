"""Going to the background as a classic daemon does, and the pid file.

    d = Detach.fork()        # the parent waits here and exits 0 once d.ready() is called
    ...                       # (exit 1 if this process ends first, its errors on stderr)
    d.ready()                 # the parent exits 0; stdin/stdout/stderr become /dev/null

rbldnsd's way (fork early, the parent waits on a pipe until the child has loaded its
zones, so that the exit status of the command tells whether the daemon runs).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import signal

log = logging.getLogger("rblmirror.dns.daemon")


class Detach:
    def __init__(self, fd: int):
        self._fd: int | None = fd

    @classmethod
    def fork(cls) -> Detach:
        """Fork; the parent never returns (exit 0 when the child calls ready(), 1 when
        the child ends before). Call it before any thread is started."""
        r, w = os.pipe()
        pid = os.fork()
        if pid > 0:
            os.close(w)
            # the parent only waits: the held signals act by default again
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(s, signal.SIG_DFL)
            got = b""
            try:
                got = os.read(r, 1)
            except OSError:
                pass
            os._exit(0 if got else 1)
        os.close(r)
        os.setsid()
        return cls(w)

    def ready(self) -> None:
        """Release the waiting parent (exit 0) and leave the terminal: the standard
        streams become /dev/null and logging goes to syslog when there is one."""
        if self._fd is None:
            return
        os.write(self._fd, b"\0")
        os.close(self._fd)
        self._fd = None
        if os.path.exists("/dev/log"):
            try:
                h = logging.handlers.SysLogHandler("/dev/log")
                h.setFormatter(logging.Formatter("rblmirror[%(process)d]: %(message)s"))
                logging.getLogger().addHandler(h)
            except OSError:
                pass
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)


def write_pidfile(path: str, owner: tuple[int, int] | None = None) -> None:
    """The pid, one line (0644); owner (uid, gid): handed to the user the process becomes,
    so that it can remove the file when it ends (remove_pidfile)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        if owner is not None:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)


def remove_pidfile(path: str) -> None:
    """Remove the pid file if it is still this process's (a restarted daemon's is kept)."""
    try:
        with open(path) as f:
            if f.read().strip() != str(os.getpid()):
                return
        os.unlink(path)
    except OSError as e:
        log.warning("cannot remove the pid file %s: %s", path, e)
