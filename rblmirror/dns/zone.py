"""Zone: a DNS name served from one or more datasets (their answers merge, as rbldnsd's).

A zone spec is rbldnsd's `NAME:FORMAT:FILE[,FILE...]`; several specs with one NAME form
one zone. A combined dataset attaches its sections to subzones of the zone.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from ..data import addr
from .answer import T_A, T_ANY, T_TXT, Answer, Prepared, answer, labels_below
from ..data.dataset import Dataset
from ..bundled import ZONES_DIR
from ..errors import AddressError, ZoneSpecError
from ..zonespec import DEFAULT_SETTINGS, DEFAULT_TTL, ZoneSettings, ZoneSpec
from ..data.values import txt_str

if TYPE_CHECKING:
    from ..data.formats.base import NS, SOA, LineWarning

@dataclass(frozen=True)
class Found:
    """A zone's answer for a subject (Zone.lookup): listed, its A and TXT records."""

    listed: bool
    a: tuple[str, ...] = ()
    txt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attached:
    """A dataset attached to a zone at a subzone ('' = the zone itself). synthetic: the
    RFC 5782 test points the zone serves besides its lists' data (not the list's own
    entries: not counted in entries, coverage or the SOA serial)."""

    subzone: str
    dataset: Dataset
    synthetic: bool = False


def _bundled(name: str) -> str:
    return str(ZONES_DIR / name)


def load_spec(spec: ZoneSpec) -> Dataset:
    """The dataset of one spec, parsed from its files (the server maps compiled
    snapshots instead: see Zones in reload.py)."""
    return Dataset.from_files(spec.files, format=spec.format)


@lru_cache(maxsize=None)
def test_points(names: bool) -> Dataset:
    """The RFC 5782 test points every zone serves (bundled zones/rfc5782-points-*.zone):
    IPv4 127.0.0.2 listed (an IPv4-mapped name ::FFFF:7F00:2 asks the IPv4 data), or the
    name TEST. Loaded once, shared by every zone (datasets are immutable)."""
    if names:
        return Dataset.from_files([_bundled("rfc5782-points-names.zone")], format="dnset")
    return Dataset.from_files([_bundled("rfc5782-points-ip4.zone")], format="ip4set")


@dataclass
class Zone:
    name: str
    datasets: list[Attached] = field(default_factory=list)
    specs: list[ZoneSpec] = field(default_factory=list)
    #: combined datasets as loaded: their common section holds the zone's $SOA/$NS
    containers: list[Dataset] = field(default_factory=list)
    settings: ZoneSettings = DEFAULT_SETTINGS
    #: per-load derived data (SOA/NS records, expiry); rebuilt when datasets change
    _prepared: Prepared | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_specs(cls, specs: Iterable[ZoneSpec | str],
                   loader: Callable[[ZoneSpec], Dataset] | None = None) -> list[Zone]:
        """Load every spec (with `loader`, default ZoneSpec.load); specs sharing a name
        become one zone (order kept), with the RFC 5782 test points added."""
        zones: dict[str, Zone] = {}
        for s in specs:
            spec = s if isinstance(s, ZoneSpec) else ZoneSpec.parse(s)
            z = zones.setdefault(spec.name, cls(spec.name, settings=spec.settings))
            z.add(loader(spec) if loader else load_spec(spec), spec)
        for z in zones.values():
            z.add_test_points()
        return list(zones.values())

    def add_test_points(self, kinds: Iterable[bool] = frozenset()) -> None:
        """Attach the RFC 5782 test points for the kinds of data at the zone itself (IP,
        names, or both; `kinds` adds kinds it will have, True = names), unless the
        settings turn them off. Idempotent."""
        if not self.settings.test_points:
            return
        have = set(kinds) | {a.dataset.is_names for a in self.datasets if a.subzone == "" and
                             not a.synthetic}
        done = {a.dataset.is_names for a in self.datasets if a.synthetic}
        for names in sorted(have - done):
            if not self._lists_own_test_point(names):
                self.datasets.append(Attached("", test_points(names), synthetic=True))
        self._prepared = None

    def _lists_own_test_point(self, names: bool) -> bool:
        """The lists' data already answers the test point (many dumps carry 127.0.0.2
        with their own TXT): then it answers alone, never merged with ours."""
        for a in self.data:
            if a.subzone != "" or a.dataset.is_names != names:
                continue
            if names and a.dataset.match_name("test")[0] >= 0:
                return True
            if not names and a.dataset.lookup_id(addr.V4, 0x7F000002) >= 0:
                return True
        return False

    @property
    def data(self) -> list[Attached]:
        """The lists' own datasets (without the test points)."""
        return [a for a in self.datasets if not a.synthetic]

    def add(self, ds: Dataset, spec: ZoneSpec | None = None) -> None:
        """Attach a loaded dataset (before the test points, which stay last)."""
        points = [a for a in self.datasets if a.synthetic]
        self.datasets = [a for a in self.datasets if not a.synthetic]
        self._add(ds, spec)
        self.datasets.extend(points)

    def _add(self, ds: Dataset, spec: ZoneSpec | None) -> None:
        if ds.children:
            for subzones, child in ds.children:
                for sz in subzones:
                    self.datasets.append(Attached("" if sz == "@" else sz, child))
            self.containers.append(ds)
        else:
            self.datasets.append(Attached("", ds))
        if spec is not None:
            self.specs.append(spec)
        self._prepared = None

    def prepared(self) -> Prepared:
        """SOA/NS records and expiry derived once per load (a served zone is immutable)."""
        if self._prepared is None:
            self._prepared = Prepared(self)
        return self._prepared

    def answer(self, qname: str | Iterable[str] | Iterable[bytes], qtype: int, *,
               now: float | None = None, minimal_any: bool = False) -> Answer:
        """rbldnsd's answer for a name in this zone. qname: a name (str, any case, with
        or without the zone) or the list of labels below the zone."""
        labels: list[str] | list[bytes] = labels_below(self, qname) if isinstance(
            qname, str) else list(qname)  # type: ignore[assignment]  # (one kind or the other)
        return answer(self, labels, qtype, now=now, minimal_any=minimal_any)

    # ---- metadata: taken from the first dataset that has it, in command-line order --
    def _all_datasets(self) -> list[Dataset]:
        """The lists' datasets whose specials count for the zone (test points excluded)."""
        out: list[Dataset] = list(self.containers)
        for a in self.datasets:
            if a.subzone == "" and not a.synthetic and a.dataset not in out:
                out.append(a.dataset)
        return out

    @property
    def soa(self) -> tuple[SOA, Dataset] | None:
        for ds in self._all_datasets():
            if ds.meta.soa is not None:
                return ds.meta.soa, ds
        return None

    @property
    def ns(self) -> tuple[NS, Dataset] | None:
        for ds in self._all_datasets():
            if ds.meta.ns is not None:
                return ds.meta.ns, ds
        return None

    def ttl_of(self, ds: Dataset) -> int:
        """A dataset's record TTL: its $TTL, else rbldnsd's default. The test points take
        the TTL of the zone's first list."""
        if ds.meta.ttl is None and any(a.synthetic and a.dataset is ds for a in self.datasets):
            real = self._all_datasets()
            if real:
                ds = real[0]
        return ds.meta.ttl if ds.meta.ttl is not None else DEFAULT_TTL

    @property
    def warnings(self) -> list[LineWarning]:
        seen: set[int] = set()
        out: list[LineWarning] = []
        for ds in self._all_datasets() + [a.dataset for a in self.data]:
            if id(ds) not in seen:
                seen.add(id(ds))
                out.extend(ds.warnings)
        return out

    @property
    def entries(self) -> int:
        return sum(a.dataset.entries for a in self.data)

    @property
    def is_names(self) -> bool:
        return any(a.dataset.is_names for a in self.data if a.subzone == "")

    # ---- lookups ------------------------------------------------------------------
    def ip_datasets(self, test_points: bool = True) -> list[Dataset]:
        """The IP datasets at the zone's apex, as DNS answers from them (test_points=False:
        only the lists' own data, for coverage)."""
        return [a.dataset for a in self.datasets if a.subzone == "" and not a.dataset.is_names
                and (test_points or not a.synthetic)]

    def lookup(self, subject: str | int | ipaddress.IPv4Address | ipaddress.IPv6Address) -> Found:
        """What DNS answers for ANY at the subject's name in this zone (its data, whether
        or not the zone is expired or stale): the reverse name of an address (text, int or
        ipaddress object), else the domain name itself; the compiled decision, as for a
        query (subzones, datasets merged, 6to4 and mapped addresses)."""
        if not isinstance(subject, str) or not _looks_like_name(subject):
            name = addr.to_reverse_name(*addr.parse(subject))
        else:
            name = subject.strip().rstrip(".")
        labels = name.encode("utf-8", "surrogateescape").split(b".")
        if not all(0 < len(x) <= 63 for x in labels) or sum(len(x) + 1 for x in labels) > 255:
            raise AddressError(f"not a domain name: {subject!r} (a label of 1-63 bytes each, "
                               f"at most 253 characters)")
        _, records, _ = self.prepared().below(labels, T_ANY)
        return Found(bool(records),
                     tuple(socket.inet_ntoa(d) for t, _, d in records if t == T_A),
                     tuple(txt_str(d) for t, _, d in records if t == T_TXT))

    def kind(self) -> str:
        """'ip', 'name' or 'mixed' (what check should expect at the zone itself)."""
        kinds = {"name" if a.dataset.is_names else "ip" for a in self.data if a.subzone == ""}
        return kinds.pop() if len(kinds) == 1 else "mixed"


def _looks_like_name(s: str) -> bool:
    """A domain name rather than an address (addresses have only digits, dots, hex, ':')."""
    t = s.strip()
    if ":" in t:
        return False
    try:
        addr.parse(t)
        return False
    except AddressError:
        return any(ch.isalpha() for ch in t)


class ZoneTable:
    """The zones served together; finds the zone of a query name (the longest match)."""

    def __init__(self, zones: Iterable[Zone]):
        self.zones = list(zones)
        self._by_labels = {tuple(z.name.split(".")): z for z in self.zones}
        if len(self._by_labels) != len(self.zones):
            names = [z.name for z in self.zones]
            twice = next(n for n in names if names.count(n) > 1)
            raise ZoneSpecError(f"zone {twice} configured twice")
        self._depths = sorted({len(k) for k in self._by_labels}, reverse=True)

    def find(self, labels_lower: list[str]) -> tuple[Zone, int] | None:
        """(zone, number of labels of the name below the zone) or None (not ours)."""
        n = len(labels_lower)
        for d in self._depths:
            if d <= n:
                z = self._by_labels.get(tuple(labels_lower[n - d:]))
                if z is not None:
                    return z, n - d
        return None


class ZoneSource(Protocol):
    """Zones from elsewhere merged into the local ones (mirror.zones.MirroredZones: the
    mirrored sources' current snapshots)."""

    def merge(self, zones: list[Zone]) -> list[Zone]: ...

    def watched(self) -> tuple[object, ...]:
        """What the merged zones depend on: the server reloads when it changes."""
        ...


def assemble(specs: Iterable[ZoneSpec], mirrored: ZoneSource | None,
             loader: Callable[[ZoneSpec], Dataset] | None = None) -> list[Zone]:
    """The zones of local `specs` (loaded with `loader`, default load_spec) with the
    mirrored sources' zones merged in (their current snapshots): what the server serves."""
    zones = Zone.from_specs(specs, loader=loader)
    if mirrored is not None:
        zones = mirrored.merge(zones)
    return zones
