"""The service manager's side of a server: sockets passed in (socket activation,
LISTEN_FDS/LISTEN_PID, sd_listen_fds(3)) and the readiness datagram (NOTIFY_SOCKET,
sd_notify(3)), without libsystemd.

    socks = inherited_sockets()     # the datagram sockets from fd 3 on ([] when none)
    notify("READY=1")               # False when no NOTIFY_SOCKET is set
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("rblmirror.dns.systemd")

LISTEN_FDS_START = 3


def activated() -> bool:
    """True when the service manager passed sockets to this process."""
    return os.environ.get("LISTEN_PID", "") == str(os.getpid()) and \
        os.environ.get("LISTEN_FDS", "0").isdigit() and int(os.environ["LISTEN_FDS"]) > 0


def inherited_sockets(unset: bool = True) -> list[socket.socket]:
    """The UDP sockets passed in (fd 3 ...), as rbldnsd takes them: one that is not a
    datagram socket is logged and closed. `unset`: LISTEN_* removed from the environment
    (so children do not take them, as sd_listen_fds(1) does). [] when none were passed."""
    if not activated():
        return []
    n = int(os.environ["LISTEN_FDS"])
    if unset:
        for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(k, None)
    out: list[socket.socket] = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + n):
        try:
            s = socket.socket(fileno=fd)
        except OSError as e:
            log.warning("systemd listening socket %d: %s", fd, e)
            continue
        if s.type != socket.SOCK_DGRAM or s.family not in (socket.AF_INET, socket.AF_INET6):
            log.warning("systemd listening socket %d is not a UDP socket: closed", fd)
            s.close()
            continue
        os.set_inheritable(fd, False)
        s.setblocking(False)
        out.append(s)
    return out


def notify(state: str) -> bool:
    """Send `state` ("READY=1", "STOPPING=1", "RELOADING=1" ...) to $NOTIFY_SOCKET (an
    abstract-namespace address when it starts with '@'). False when there is none; a send
    that fails is logged, never raised (the service manager then times the unit out)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    target = "\0" + addr[1:] if addr.startswith("@") else addr
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(target)
            s.sendall(state.encode())
    except OSError as e:
        log.warning("sd_notify %s to %s: %s", state, addr, e)
        return False
    return True
