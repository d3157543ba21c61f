"""The zones a command sees: one home for choosing them (--zone, --config) and for
assembling them (local dump files plus the current snapshots of mirrored sources), used
alike by `serve`, `check`, `scan`, `compare`, `snippets` and `selftest`.

    sel = ZoneSelection.from_options(("bl.test:ip4set:x.zone",), "rblmirror.toml")
    zones = sel.load()                     # what `serve` would answer right now
    for name, why in unavailable(zones).items(): ...   # zones serve answers SERVFAIL

The rule: the config is read when --config is given or no --zone is; its zones (local
datasets and mirrored sources) come first, then the --zone ones (a --zone with a config
zone's name adds datasets to that zone).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from ..data import catalogue as cat
from .config import Config, load_config, resolve_state_dir
from ..dns.zone import Zone, assemble
from ..zonespec import ZoneSpec

if TYPE_CHECKING:  # mirror.zones loads the data modules; only serve and the loaders need it
    from .zones import MirroredZones


@dataclass
class ZoneSelection:
    """The config (None when only --zone specs are used) and the extra --zone specs."""

    config: Config | None
    extra: list[ZoneSpec] = field(default_factory=list)

    @classmethod
    def from_options(cls, zone_specs: Iterable[str | ZoneSpec] = (),
                     config_path: str | None = None) -> ZoneSelection:
        extra = [s if isinstance(s, ZoneSpec) else ZoneSpec.parse(s) for s in zone_specs]
        cfg = load_config(config_path) if (config_path or not extra) else None
        return cls(cfg, extra)

    @property
    def specs(self) -> list[ZoneSpec]:
        """Every local dataset spec: the config's, then the --zone ones."""
        return (list(self.config.zone_specs) if self.config else []) + self.extra

    @property
    def has_mirrored(self) -> bool:
        return self.config is not None and any(z.sources for z in self.config.zones)

    def state_dir(self, cli: str | None = None) -> str:
        return resolve_state_dir(self.config, cli)

    def mirrored(self, state_dir: str | None = None) -> MirroredZones | None:
        """The config's source-backed zones (None when it has none), reading the
        snapshots under `state_dir` (--state-dir; resolved as config.resolve_state_dir)."""
        if self.config is None or not self.has_mirrored:
            return None
        from .zones import MirroredZones
        return MirroredZones(self.config, self.state_dir(state_dir))

    def load(self, state_dir: str | None = None) -> list[Zone]:
        """The zones as `serve` answers them now (see assemble)."""
        return assemble(self.specs, self.mirrored(state_dir))


def unanswered(zone: Zone, subject: str | None = None,
               now: float | None = None) -> str | None:
    """Why `serve` answers SERVFAIL in `zone` right now (a mirrored source never fetched,
    or its data stale with on_stale = "servfail"), for `subject` (an address or a domain;
    the RFC 5782 test points still answer) or for any other query (None); None: it
    answers."""
    from .zones import SourceZone
    if not isinstance(zone, SourceZone):
        return None
    return zone.failure(now) if subject is None else zone.failure_for(subject, now)


def unavailable(zones: Iterable[Zone], now: float | None = None) -> dict[str, str]:
    """zone name -> why `serve` answers its queries SERVFAIL (unanswered) right now."""
    out = {}
    for z in zones:
        reason = unanswered(z, None, now)
        if reason:
            out[z.name] = reason
    return out


def catalogued(selection: ZoneSelection,
               catalogue: cat.Catalogue | None = None) -> dict[str, cat.DnsList]:
    """zone name -> the catalogue entry it serves (see cat.Catalogue.match)."""
    c = catalogue or cat.load()
    extra = [s.name for s in selection.extra]
    sources: dict[str, tuple[str, ...]] = {}
    if selection.config is not None:  # by source: a zone of one source, no local data
        sources = {z.name: (z.sources if not z.specs and z.name not in extra else ())
                   for z in selection.config.zones}
    out = {}
    for name in list(sources) + extra:
        hit = c.match(name, sources.get(name, ()))
        if hit is not None:
            out[name] = hit
    return out
