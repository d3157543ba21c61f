"""Free loopback ports: free a moment ago (a caller that starts a daemon on one retries
or fails clearly if it is taken since)."""
from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_udp_port(host: str = HOST) -> int:
    """A UDP port on host that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_port(host: str = HOST) -> int:
    """A TCP port on host that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP on host a moment ago (a DNS server takes both)."""
    for _ in range(50):
        p = free_udp_port(host)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((host, p))
                return p
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP")
