"""Zone specifications: what a zone is made of, before anything is loaded.

`ZoneSpec` is rbldnsd's `NAME:FORMAT:FILE[,FILE...]` (from --zone or a [[zone]]'s local
datasets), `ZoneSettings` a [[zone]]'s own SOA/NS/test points, with rbldnsd's defaults.
Plain data: the config builds these and dns.zone loads them (load_spec), so the config
needs nothing of the DNS layer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import ZoneSpecError

DEFAULT_TTL = 2100  # rbldnsd's default (35m)


@dataclass(frozen=True)
class ZoneSettings:
    """A zone's own SOA/NS and test points, from its [[zone]] table (defaults otherwise).

    Many dumps (psbl.txt, DROP) carry no $SOA/$NS: such a zone still answers like a real
    zone, with a SOA and NS made from these settings (the serial from the data's time),
    so its apex answers and its NXDOMAINs carry the SOA (resolvers cache them). A SOA or
    NS given here replaces the dump's."""

    #: SOA fields given in the config (mname, rname, serial, refresh, retry, expire,
    #: minimum, ttl); None: the dump's $SOA, else DEFAULT_SOA
    soa: tuple[tuple[str, object], ...] | None = None
    #: NS names given in the config; None: the dump's $NS, else DEFAULT_NS
    ns: tuple[str, ...] | None = None
    #: serve the RFC 5782 test points (127.0.0.2 / ::FFFF:7F00:2 / TEST listed)
    test_points: bool = True
    #: rbldnsd's -t defttl:minttl:maxttl: the TTL where the data gives none (or 0), and
    #: the bounds a TTL the data gives is held to (0: none)
    ttl: tuple[int, int, int] = (DEFAULT_TTL, 0, 0)

    def record_ttl(self, given: int | None) -> int:
        """A TTL as rbldnsd's parse_ttl makes it: the default for none or 0, else
        given within [minttl, maxttl]."""
        default, low, high = self.ttl
        if not given:
            return default
        if low and given < low:
            return low
        if high and given > high:
            return high
        return given


DEFAULT_SETTINGS = ZoneSettings()
#: the SOA of a zone whose dump and config give none ({zone} is the zone's name)
DEFAULT_SOA = {"mname": "localhost", "rname": "hostmaster.{zone}", "refresh": 3600,
               "retry": 600, "expire": 604800, "minimum": 300, "ttl": None}
DEFAULT_NS = ("localhost",)


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    format: str
    files: tuple[str, ...]
    #: the zone's settings (the same object on every spec of one [[zone]])
    settings: ZoneSettings = field(default=DEFAULT_SETTINGS, compare=False)

    @classmethod
    def parse(cls, spec: str, base_dir: str | None = None) -> ZoneSpec:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(p.strip() for p in parts[1:]):
            raise ZoneSpecError(f"bad zone spec {spec!r}: expected NAME:FORMAT:FILE[,FILE...]")
        name, fmt, files = parts
        fmt = fmt.strip().lower()
        paths = tuple(_resolve(f.strip(), base_dir) for f in files.split(",") if f.strip())
        if not paths:
            raise ZoneSpecError(f"bad zone spec {spec!r}: no file")
        if not name.strip().rstrip("."):  # rbldnsd's global ACL: `:acl:FILE`
            if fmt != "acl":
                raise ZoneSpecError(f"bad zone spec {spec!r}: missing domain name (only "
                                    f"an acl may have none: the global ACL)")
            return cls("", fmt, paths)
        return cls(normalize_name(name), fmt, paths)


def _resolve(path: str, base_dir: str | None) -> str:
    path = os.path.expanduser(path)
    if base_dir and not os.path.isabs(path):
        return os.path.normpath(os.path.join(base_dir, path))
    return path


def normalize_name(name: str) -> str:
    """A zone name as served: lowercase, without the trailing dot. DNS compares names
    ASCII case-insensitively and every other byte exactly, so a zone name is ASCII (an
    internationalized name in its xn-- form)."""
    n = name.strip().rstrip(".").lower()
    if not n or any(not 0 < len(x) <= 63 for x in n.split(".")) or len(n) > 253:
        raise ZoneSpecError(f"bad zone name {name!r}")
    if not n.isascii():
        raise ZoneSpecError(f"bad zone name {name!r}: not ASCII (write an "
                            f"internationalized name in its xn-- form)")
    return n
