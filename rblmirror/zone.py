"""Zone: a DNS name served from one or more datasets (their answers merge, as rbldnsd's).

A zone spec is rbldnsd's `NAME:FORMAT:FILE[,FILE...]`; several specs with one NAME form
one zone. A combined dataset attaches its sections to subzones of the zone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import addr
from .answer import Answer, Prepared, answer, labels_below
from .dataset import Dataset
from .errors import AddressError, ZoneSpecError
from .values import Listing

DEFAULT_TTL = 2100  # rbldnsd's default (35m)


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    format: str
    files: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str, base_dir: str | None = None) -> ZoneSpec:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ZoneSpecError(f"bad zone spec {spec!r}: expected NAME:FORMAT:FILE[,FILE...]")
        name, fmt, files = parts
        paths = tuple(_resolve(f.strip(), base_dir) for f in files.split(",") if f.strip())
        if not paths:
            raise ZoneSpecError(f"bad zone spec {spec!r}: no file")
        return cls(normalize_name(name), fmt.strip().lower(), paths)

    def load(self) -> Dataset:
        return Dataset.from_files(self.files, format=self.format)


def _resolve(path: str, base_dir: str | None) -> str:
    path = os.path.expanduser(path)
    if base_dir and not os.path.isabs(path):
        return os.path.normpath(os.path.join(base_dir, path))
    return path


def normalize_name(name: str) -> str:
    n = name.strip().rstrip(".").lower()
    if not n or any(not 0 < len(x) <= 63 for x in n.split(".")) or len(n) > 253:
        raise ZoneSpecError(f"bad zone name {name!r}")
    return n


@dataclass(frozen=True)
class Attached:
    """A dataset attached to a zone at a subzone ('' = the zone itself)."""

    subzone: str
    dataset: Dataset


@dataclass
class Zone:
    name: str
    datasets: list[Attached] = field(default_factory=list)
    specs: list[ZoneSpec] = field(default_factory=list)
    #: combined datasets as loaded: their common section holds the zone's $SOA/$NS
    containers: list[Dataset] = field(default_factory=list)
    #: per-load derived data (SOA/NS records, expiry); rebuilt when datasets change
    _prepared: Prepared | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_specs(cls, specs: Iterable[ZoneSpec | str],
                   loader: Callable[[ZoneSpec], Dataset] | None = None) -> list[Zone]:
        """Load every spec (with `loader`, default ZoneSpec.load); specs sharing a name
        become one zone (order kept)."""
        zones: dict[str, Zone] = {}
        for s in specs:
            spec = s if isinstance(s, ZoneSpec) else ZoneSpec.parse(s)
            z = zones.setdefault(spec.name, cls(spec.name))
            z.add(loader(spec) if loader else spec.load(), spec)
        return list(zones.values())

    @classmethod
    def from_files(cls, name: str, files: Iterable[str], format: str = "ip4set") -> Zone:
        spec = ZoneSpec(normalize_name(name), format, tuple(files))
        z = cls(spec.name)
        z.add(spec.load(), spec)
        return z

    def add(self, ds: Dataset, spec: ZoneSpec | None = None) -> None:
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

    def answer(self, qname, qtype: int, *, now: float | None = None,
               minimal_any: bool = False) -> Answer:
        """rbldnsd's answer for a name in this zone. qname: a name (str, any case, with
        or without the zone) or the list of labels below the zone."""
        labels = labels_below(self, qname) if isinstance(qname, str) else list(qname)
        return answer(self, labels, qtype, now=now, minimal_any=minimal_any)

    # ---- metadata: taken from the first dataset that has it, in command-line order --
    def _all_datasets(self) -> list[Dataset]:
        out: list[Dataset] = list(self.containers)
        for a in self.datasets:
            if a.subzone == "" and a.dataset not in out:
                out.append(a.dataset)
        return out

    @property
    def soa(self):
        for ds in self._all_datasets():
            if ds.meta.soa is not None:
                return ds.meta.soa, ds
        return None

    @property
    def ns(self):
        for ds in self._all_datasets():
            if ds.meta.ns is not None:
                return ds.meta.ns, ds
        return None

    def ttl_of(self, ds: Dataset) -> int:
        return ds.meta.ttl if ds.meta.ttl is not None else DEFAULT_TTL

    @property
    def warnings(self):
        seen, out = set(), []
        for ds in self._all_datasets() + [a.dataset for a in self.datasets]:
            if id(ds) not in seen:
                seen.add(id(ds))
                out.extend(ds.warnings)
        return out

    @property
    def entries(self) -> int:
        return sum(a.dataset.entries for a in self.datasets)

    @property
    def is_names(self) -> bool:
        return any(a.dataset.is_names for a in self.datasets if a.subzone == "")

    # ---- lookups ------------------------------------------------------------------
    def lookup(self, subject, subzone: str = "") -> tuple[Listing, ...]:
        """Merged listings of every dataset at this (sub)zone for an address or a name."""
        out: list[Listing] = []
        ip = None
        if not isinstance(subject, str) or not _looks_like_name(subject):
            ip = addr.parse(subject)
        for a in self.datasets:
            if a.subzone != subzone:
                continue
            ds = a.dataset
            if ds.is_names:
                if ip is not None:
                    continue
                got = ds.lookup_name(subject)
            else:
                if ip is None:
                    continue
                vid = ds.lookup_id(*ip)
                got = () if vid < 0 else ds.render(vid, addr.to_text(*ip))
            out.extend(x for x in got if x not in out)
        return tuple(out)

    def kind(self) -> str:
        """'ip', 'name' or 'mixed' (what check should expect at the zone itself)."""
        kinds = {"name" if a.dataset.is_names else "ip" for a in self.datasets if a.subzone == ""}
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
