"""`ADDR:PORT` and `[ADDR6]:PORT`: the one home of parsing and writing a host and port
(serve's --listen, --metrics, selftest's and the snippets' server)."""
from __future__ import annotations

#: a wildcard listen address and the loopback address a client on this host asks instead
LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}


def parse(text: str) -> tuple[str, int]:
    """(host, port); ValueError naming the text when it is not ADDR:PORT or [ADDR6]:PORT
    with a port from 1 to 65535."""
    s = text.strip()
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {text!r}: expected ADDR:PORT or [ADDR6]:PORT "
                         f"(port 1-65535)")
    return host, int(port)


def format(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_side(text: str) -> tuple[str, int]:
    """parse(), with a wildcard listen address turned into the loopback one to ask."""
    host, port = parse(text)
    return LOOPBACK_FOR.get(host, host), port
