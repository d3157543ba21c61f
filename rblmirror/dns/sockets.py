"""The server's sockets: a `Listener` is one --listen address's UDP and TCP sockets,
bound before anything loads (ListenError with the address when one cannot be), one set
per worker with SO_REUSEPORT when several workers share the address."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from .. import endpoint
from ..errors import ListenError


def make_socket(host: str, port: int, kind: int, reuseport: bool) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, kind)
    try:
        if kind == socket.SOCK_STREAM:  # (for UDP it would let a second server share the port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


@dataclass
class Listener:
    """One --listen address's bound sockets (UDP and TCP)."""

    host: str
    port: int
    udp: socket.socket
    tcp: socket.socket

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def bind_listeners(listen: list[str], reuseport: bool = False) -> list[Listener]:
    """UDP and TCP sockets bound on every address now; ListenError (nothing left open)
    when one cannot be: "cannot listen on 1.2.3.4:5353 (udp): [Errno 99] ..."."""
    out: list[Listener] = []
    try:
        for addr in listen:
            host, port = endpoint.parse(addr)
            socks: list[socket.socket] = []
            for kind, proto in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
                try:
                    socks.append(make_socket(host, port, kind, reuseport))
                except OSError as e:
                    for sk in socks:
                        sk.close()
                    raise ListenError(
                        f"cannot listen on {endpoint.format(host, port)} ({proto}): {e}") from None
            out.append(Listener(host, port, socks[0], socks[1]))
    except BaseException:
        for x in out:
            x.close()
        raise
    return out


def bind_worker_sets(listen: list[str], workers: int) -> list[list[Listener]]:
    """One set of listeners per worker, SO_REUSEPORT, so the kernel spreads queries and
    connections over the workers. The address is first bound once without SO_REUSEPORT
    (then closed) so that a port held by another program, even another rblmirror with
    SO_REUSEPORT, is an error rather than silently shared."""
    for x in bind_listeners(listen, reuseport=False):
        x.close()
    sets: list[list[Listener]] = []
    try:
        for _ in range(workers):
            sets.append(bind_listeners(listen, reuseport=True))
    except BaseException:
        for one in sets:
            for x in one:
                x.close()
        raise
    return sets
