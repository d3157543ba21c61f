"""The TOML configuration: zones and server settings (sources join with the mirror work).

    [server]
    listen = ["127.0.0.1:5353"]
    workers = 1
    [[zone]]
    name = "bl.example"
    datasets = ["ip4set:file.zone", "ip6trie:other.zone"]   # FORMAT:PATH[,PATH]

Relative paths are relative to the config file's folder.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, ZoneSpecError
from .zone import ZoneSpec, normalize_name

#: the config used when none is given: $RBLMIRROR_CONFIG, /etc/rblmirror/rblmirror.toml,
#: else the bundled zones/rblmirror.toml of this checkout
SYSTEM_CONFIG = "/etc/rblmirror/rblmirror.toml"
BUNDLED_CONFIG = Path(__file__).resolve().parents[1] / "zones" / "rblmirror.toml"
DEFAULT_LISTEN = "127.0.0.1:5353"

_TOP_KEYS = {"server", "zone"}
_SERVER_KEYS = {"listen", "workers"}
_ZONE_KEYS = {"name", "datasets"}


@dataclass
class Config:
    path: str | None
    zone_specs: list[ZoneSpec] = field(default_factory=list)
    listen: list[str] = field(default_factory=lambda: [DEFAULT_LISTEN])
    workers: int = 1
    raw: dict = field(default_factory=dict)


def default_config_path() -> str:
    env = os.environ.get("RBLMIRROR_CONFIG")
    if env:
        return env
    if os.path.exists(SYSTEM_CONFIG):
        return SYSTEM_CONFIG
    return str(BUNDLED_CONFIG)


def load_config(path: str | os.PathLike | None = None) -> Config:
    path = os.fspath(path) if path is not None else default_config_path()
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    return parse_config(raw, path)


def parse_config(raw: dict, path: str | None) -> Config:
    where = path or "<config>"
    base = os.path.dirname(os.path.abspath(path)) if path else None
    _no_unknown(raw, _TOP_KEYS, where)
    cfg = Config(path=path, raw=raw)
    server = raw.get("server", {})
    if not isinstance(server, dict):
        raise ConfigError(f"{where}: [server] must be a table")
    _no_unknown(server, _SERVER_KEYS, f"{where} [server]")
    listen = server.get("listen", [DEFAULT_LISTEN])
    if isinstance(listen, str):
        listen = [listen]
    if not isinstance(listen, list) or not all(isinstance(x, str) for x in listen):
        raise ConfigError(f"{where}: [server] listen must be a list of \"ADDR:PORT\" strings")
    cfg.listen = listen
    workers = server.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 256:
        raise ConfigError(f"{where}: [server] workers must be an integer from 1 to 256")
    cfg.workers = workers
    zones = raw.get("zone", [])
    if not isinstance(zones, list):
        raise ConfigError(f"{where}: use [[zone]] tables for zones")
    for i, z in enumerate(zones, 1):
        zw = f"{where} [[zone]] #{i}"
        if not isinstance(z, dict):
            raise ConfigError(f"{zw}: must be a table")
        _no_unknown(z, _ZONE_KEYS, zw)
        name = z.get("name")
        datasets = z.get("datasets")
        if not isinstance(name, str):
            raise ConfigError(f"{zw}: needs name = \"zone.name\"")
        if not isinstance(datasets, list) or not datasets or \
                not all(isinstance(d, str) for d in datasets):
            raise ConfigError(f"{zw} ({name}): datasets must be a non-empty list of "
                              "\"FORMAT:PATH[,PATH]\" strings")
        try:
            zname = normalize_name(name)
            for d in datasets:
                cfg.zone_specs.append(ZoneSpec.parse(f"{zname}:{d}", base))
        except ZoneSpecError as e:
            raise ConfigError(f"{zw}: {e}") from None
    return cfg


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(sorted(allowed))})")
