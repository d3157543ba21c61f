"""The TOML configuration: zones, mirrored sources and server settings.

    state_dir = "/var/lib/rblmirror"     # where fetched dumps, snapshots and state live
    user = "rblmirror"                   # the service user (default: the state dir's owner)
    [server]
    listen = ["127.0.0.1:5353"]
    workers = 1
    minimal_any = false     # true: ANY over UDP answered minimally (RFC 8482)
    query_log = "/var/log/rblmirror/queries.log"   # "+PATH": each batch written at once
    stats_file = "/var/log/rblmirror/stats"        # "+PATH": relative counts
    stats_interval = "60s"  # a statistics line this often (and at SIGUSR1, at exit)
    public = false          # true: response rate limiting and minimal ANY
    rrl_rate = 20           # replies a second per client prefix (0: no limit)
    rrl_slip = 2            # every 2nd limited reply sent truncated (0: all dropped)
    rrl_window = 15         # seconds of debt a flood builds up at most
    rrl_ipv4_prefix = 24
    rrl_ipv6_prefix = 56
    [[source]]
    name = "psbl"
    url = "rsync://psbl-mirror.surriel.com/psbl/psbl.txt"  # host::module/path, https://, path
    format = "ip4set"
    min_interval = "1h"     # never fetched more often (jitter added; backoff on failure)
    max_age = "2d"          # older than this: the zones using it are stale
    max_shrink = 0.5        # refuse an update that loses more than half the entries
    max_warnings = 0.01     # refuse an update whose bad lines exceed 1% of its lines
    keep = 5                # snapshots kept (the current one and the previous ones)
    [export]                # a primary: replicas pull the compiled snapshots (export.py)
    listen = "0.0.0.0:8873"
    hosts_allow = ["192.0.2.0/24"]
    secrets_file = "/etc/rblmirror/rsyncd.secrets"   # optional, with auth_users
    auth_users = ["replica"]
    [[source]]              # a replica: the primary's compiled snapshot of psbl
    name = "psbl"
    url = "rsync://primary:8873/rblmirror/psbl"
    format = "snapshot"
    [[zone]]
    name = "bl.example"
    datasets = ["ip4set:file.zone", "psbl"]   # FORMAT:PATH[,PATH] or a source name
    on_stale = "servfail"                     # or "serve"
    [[watch]]
    name = "outbound"                         # the operator's own addresses and domains
    networks = ["192.0.2.25", "198.51.100.0/28", "2001:db8::25"]
    domains = ["example.org"]
    command = "/usr/local/bin/page-me --rbl"  # gets the alert as JSON on stdin
    webhook = "https://hooks.example.org/rbl" # POSTed the alert as JSON
    mail_to = "postmaster@example.org"        # through /usr/sbin/sendmail -t -oi

Relative paths are relative to the config file's folder. The state directory is, in
order: --state-dir, $RBLMIRROR_STATE_DIR, the config's state_dir, /var/lib/rblmirror.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterator, Literal, TypedDict

from .. import tomlfile
from ..errors import ConfigError, ZoneSpecError
from ..bundled import ZONES_DIR
from ..zonespec import ZoneSettings, ZoneSpec, normalize_name


#: the config used when none is given: $RBLMIRROR_CONFIG, /etc/rblmirror/rblmirror.toml,
#: else the bundled zones/rblmirror.toml (of this checkout, or installed under PREFIX/share)
SYSTEM_CONFIG = "/etc/rblmirror/rblmirror.toml"
BUNDLED_CONFIG = ZONES_DIR / "rblmirror.toml"
DEFAULT_LISTEN = "127.0.0.1:5353"

DEFAULT_STATE_DIR = "/var/lib/rblmirror"
STATE_DIR_ENV = "RBLMIRROR_STATE_DIR"

_TOP_KEYS = {"server", "zone", "source", "state_dir", "user", "export", "watch"}
_EXPORT_KEYS = {"listen", "hosts_allow", "secrets_file", "auth_users"}
_SERVER_KEYS = {"listen", "workers", "minimal_any", "query_log", "stats_file", "stats_interval",
                "public", "rrl_rate", "rrl_slip", "rrl_window", "rrl_ipv4_prefix",
                "rrl_ipv6_prefix"}
#: the [server] rrl_* keys, without their prefix (dns.rrl.settings' arguments)
_RRL_KEYS = ("rate", "slip", "window", "ipv4_prefix", "ipv6_prefix")
_ZONE_KEYS = {"name", "datasets", "on_stale", "soa", "ns", "test_points"}
_SOA_KEYS = {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"}
_SOURCE_KEYS = {"name", "url", "format", "min_interval", "max_age", "max_shrink",
                "max_warnings", "keep", "timeout", "password_file"}
#: a [[source]]'s format for a replica: the compiled snapshot (and its state) that a
#: primary's [export] publishes, pulled as it is (mirror/replica.py)
SNAPSHOT_FORMAT = "snapshot"
#: names a source cannot have: folders of their own in the state dir
RESERVED_SOURCE_NAMES = {"export", "rsyncd.conf", "rsyncd.log"}
_AUTH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\Z")
_WATCH_KEYS = {"name", "networks", "domains", "command", "webhook", "mail_to"}
#: a watched network is checked address by address: at most this many addresses each
WATCH_MAX_ADDRESSES = 65536
ON_STALE = ("servfail", "serve")
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}\Z")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class SourceConfig:
    """One mirrored list. kind: "rsync" (rsync:// or host::module/path), "http" (http://,
    https://) or "file" (a local path, copied)."""

    name: str
    url: str
    kind: str
    format: str
    min_interval: float = 3600.0
    max_age: float = 2 * 86400.0
    max_shrink: float = 0.5
    max_warnings: float = 0.01
    keep: int = 5
    timeout: float = 300.0
    #: rsync's --password-file, for a primary whose [export] has auth_users
    password_file: str | None = None

    @property
    def is_replica(self) -> bool:
        """Pulls a primary's compiled snapshot (format = "snapshot") instead of a dump."""
        return self.format == SNAPSHOT_FORMAT

    @property
    def filename(self) -> str:
        """The name of the dump file in the source's data folder."""
        tail = self.url.rstrip("/").rsplit("/", 1)[-1]
        if "::" in tail:
            tail = tail.split("::", 1)[1]
        return tail or self.name


@dataclass(frozen=True)
class ExportConfig:
    """The [export] table: the rsync daemon that serves the compiled snapshots to replicas
    (module `rblmirror`, read only)."""

    host: str
    port: int
    hosts_allow: tuple[str, ...]
    secrets_file: str | None = None
    auth_users: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZoneConfig:
    """A [[zone]] table: local dataset specs plus the names of mirrored sources."""

    name: str
    specs: tuple[ZoneSpec, ...] = ()
    sources: tuple[str, ...] = ()
    on_stale: str = "servfail"
    settings: ZoneSettings = ZoneSettings()


@dataclass(frozen=True)
class WatchConfig:
    """A [[watch]] table: the operator's own addresses and domains, and where alerts go."""

    name: str
    networks: tuple[str, ...] = ()  # normalized CIDR text ("192.0.2.0/28", "2001:db8::25/128")
    domains: tuple[str, ...] = ()
    command: tuple[str, ...] = ()  # argv (split as a shell would; not run by a shell)
    webhook: str | None = None
    mail_to: str | None = None

    def addresses(self) -> list[str]:
        """Every watched address, network by network."""
        import ipaddress
        out: list[str] = []
        for n in self.networks:
            net = ipaddress.ip_network(n)
            out.extend(str(a) for a in (net if net.num_addresses > 1 else [net.network_address]))
        return out


@dataclass
class Config:
    path: str | None
    #: the zones' local FORMAT:PATH datasets (what `check` and `serve` load from files)
    zone_specs: list[ZoneSpec] = field(default_factory=list)
    listen: list[str] = field(default_factory=lambda: [DEFAULT_LISTEN])
    workers: int = 1
    #: ANY over UDP answered minimally (RFC 8482) instead of with every record (rbldnsd)
    minimal_any: bool = False
    #: "[+]PATH" (resolved) of the query log and the statistics file, or None
    query_log: str | None = None
    stats_file: str | None = None
    stats_interval: float = 60.0
    #: public-facing mode (response rate limiting, minimal ANY)
    public: bool = False
    #: the rrl_* keys given, without the prefix ({"rate": 20, ...})
    rrl: dict[str, float] = field(default_factory=dict)
    raw: dict[str, object] = field(default_factory=dict)
    #: the state_dir the config names (resolved), None when it names none
    config_state_dir: str | None = None
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    zones: list[ZoneConfig] = field(default_factory=list)
    #: the service user: `serve` runs as it after binding, `fetch`/`rollback` started as
    #: root switch to it before touching the state dir (None: the state dir's owner)
    user: str | None = None
    #: the [export] table (None: this instance exports nothing)
    export: ExportConfig | None = None
    watches: list[WatchConfig] = field(default_factory=list)

    @property
    def state_dir(self) -> str:
        return resolve_state_dir(self)

    def source_zones(self, source: str) -> list[ZoneConfig]:
        return [z for z in self.zones if source in z.sources]


def resolve_state_dir(cfg: Config | None = None, cli: str | None = None) -> str:
    """--state-dir, else $RBLMIRROR_STATE_DIR, else the config's state_dir, else the default."""
    for d in (cli, os.environ.get(STATE_DIR_ENV), cfg.config_state_dir if cfg else None):
        if d:
            return os.path.abspath(os.path.expanduser(d))
    return DEFAULT_STATE_DIR


def parse_duration(value: object, where: str) -> float:
    """"90s", "15m", "1h", "2d", "1w", "1h30m" or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{where}: must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        pos, total = 0, 0.0
        for m in _DURATION.finditer(text):
            if m.start() != pos and text[pos:m.start()].strip():
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos and not text[pos:].strip():
            return total
    raise ConfigError(f"{where}: expected a duration such as \"90s\", \"15m\", \"1h\", "
                      f"\"2d\" or a number of seconds, not {value!r}")


def default_config_path() -> str:
    env = os.environ.get("RBLMIRROR_CONFIG")
    if env:
        return env
    if os.path.exists(SYSTEM_CONFIG):
        return SYSTEM_CONFIG
    return str(BUNDLED_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    path = os.fspath(path) if path is not None else default_config_path()
    return parse_config(tomlfile.load(path, ConfigError, "config"), path)


def parse_config(raw: dict[str, object], path: str | None) -> Config:
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
    minimal_any = server.get("minimal_any", False)
    if not isinstance(minimal_any, bool):
        raise ConfigError(f"{where}: [server] minimal_any must be true or false")
    cfg.minimal_any = minimal_any
    for key in ("query_log", "stats_file"):
        v = server.get(key)
        if v is None:
            continue
        if not isinstance(v, str) or not v.lstrip("+").strip():
            raise ConfigError(f"{where}: [server] {key} must be a file path (\"+PATH\" too)")
        plus = "+" if v.startswith("+") else ""
        setattr(cfg, key, plus + _resolve_path(v[len(plus):], base))
    if "stats_interval" in server:
        cfg.stats_interval = parse_duration(server["stats_interval"],
                                            f"{where}: [server] stats_interval")
        if cfg.stats_interval <= 0:
            raise ConfigError(f"{where}: [server] stats_interval must be > 0")
    public = server.get("public", False)
    if not isinstance(public, bool):
        raise ConfigError(f"{where}: [server] public must be true or false")
    cfg.public = public
    for k in _RRL_KEYS:
        v = server.get(f"rrl_{k}")
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}: [server] rrl_{k} must be a number")
        cfg.rrl[k] = v
    try:
        from ..dns.rrl import settings as rrl_settings
        rrl_settings(cfg.public, **cfg.rrl)
    except ValueError as e:
        raise ConfigError(f"{where}: [server] {e}") from None
    state_dir = raw.get("state_dir")
    if state_dir is not None:
        if not isinstance(state_dir, str) or not state_dir.strip():
            raise ConfigError(f"{where}: state_dir must be a path string")
        cfg.config_state_dir = _resolve_path(state_dir, base)
    user = raw.get("user")
    if user is not None:
        if not isinstance(user, str) or not user.strip():
            raise ConfigError(f"{where}: user must be a user name, e.g. user = \"rblmirror\"")
        cfg.user = user.strip()
    if "export" in raw:
        cfg.export = _parse_export(raw["export"], f"{where} [export]", base)
    _parse_sources(cfg, raw.get("source", []), where, base)
    for zw, z in _tables(raw.get("zone", []), "zone", where, _ZONE_KEYS):
        name = z.get("name")
        datasets = z.get("datasets")
        if not isinstance(name, str):
            raise ConfigError(f"{zw}: needs name = \"zone.name\"")
        if not isinstance(datasets, list) or not datasets or \
                not all(isinstance(d, str) for d in datasets):
            raise ConfigError(f"{zw} ({name}): datasets must be a non-empty list of "
                              "\"FORMAT:PATH[,PATH]\" strings or source names")
        on_stale = z.get("on_stale", "servfail")
        if on_stale not in ON_STALE:
            raise ConfigError(f"{zw} ({name}): on_stale must be \"servfail\" or \"serve\", "
                              f"not {on_stale!r}")
        settings = _zone_settings(z, f"{zw} ({name})")
        specs: list[ZoneSpec] = []
        sources: list[str] = []
        try:
            zname = normalize_name(name)
            for d in datasets:
                if ":" not in d and d.strip():  # a source name
                    if d.strip() not in cfg.sources:
                        known = ", ".join(cfg.sources) or "none defined"
                        raise ConfigError(f"{zw} ({name}): bad dataset {d!r}: expected "
                                          "NAME:FORMAT:FILE[,FILE...] (as FORMAT:FILE here) or "
                                          f"a [[source]] name (sources: {known})")
                    sources.append(d.strip())
                else:
                    specs.append(replace(ZoneSpec.parse(f"{zname}:{d}", base),
                                         settings=settings))
        except ZoneSpecError as e:
            raise ConfigError(f"{zw}: {e}") from None
        _once(zw, "zone", zname, {zc.name for zc in cfg.zones})
        cfg.zone_specs.extend(specs)
        cfg.zones.append(ZoneConfig(zname, tuple(specs), tuple(sources), on_stale, settings))
    _parse_watches(cfg, raw.get("watch", []), where)
    return cfg


def _parse_export(t: object, where: str, base: str | None) -> ExportConfig:
    from .. import endpoint
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: must be a table")
    _no_unknown(t, _EXPORT_KEYS, where)
    listen = t.get("listen")
    if not isinstance(listen, str):
        raise ConfigError(f"{where}: needs listen = \"ADDR:PORT\" (where the rsync daemon "
                          "listens, e.g. \"0.0.0.0:8873\")")
    try:
        host, port = endpoint.parse(listen)
        ipaddress.ip_address(host)
    except ValueError as e:
        raise ConfigError(f"{where}: listen: {e} (ADDR an IP address)") from None
    allow = t.get("hosts_allow")
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(allow, list) or not allow or not all(isinstance(a, str) for a in allow):
        raise ConfigError(f"{where}: needs hosts_allow = [\"ADDR\" or \"ADDR/PREFIX\", ...]: "
                          "the replicas that may pull (every other host is refused)")
    hosts = []
    for a in allow:
        try:
            hosts.append(str(ipaddress.ip_network(a.strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{where}: hosts_allow: {a!r} is not an IP address or "
                              "ADDR/PREFIX network") from None
    secrets, users = t.get("secrets_file"), t.get("auth_users")
    if (secrets is None) != (users is None):
        raise ConfigError(f"{where}: secrets_file and auth_users go together (rsync's "
                          "secrets file holds USER:PASSWORD lines for the auth_users)")
    if secrets is not None:
        if not isinstance(secrets, str) or not secrets.strip():
            raise ConfigError(f"{where}: secrets_file must be a path")
        if isinstance(users, str):
            users = [users]
        if not isinstance(users, list) or not users or \
                not all(isinstance(u, str) and _AUTH_USER.match(u) for u in users):
            raise ConfigError(f"{where}: auth_users must be a list of user names (letters, "
                              f"digits, '_', '.', '-'), not {users!r}")
        return ExportConfig(host, port, tuple(hosts), _resolve_path(secrets, base),
                            tuple(users))
    return ExportConfig(host, port, tuple(hosts))


def _parse_watches(cfg: Config, watches: object, where: str) -> None:
    import ipaddress
    import shlex
    for ww, t, name in _named_tables(watches, "watch", where, _WATCH_KEYS):
        nets: list[str] = []
        for n in _strings(t, "networks", ww, "[\"192.0.2.25\", \"198.51.100.0/28\"]"):
            try:
                net = ipaddress.ip_network(n.strip())
            except ValueError as e:
                raise ConfigError(f"{ww}: networks: {n!r} is not an address or network "
                                  f"({e})") from None
            if net.num_addresses > WATCH_MAX_ADDRESSES:
                raise ConfigError(f"{ww}: networks: {n} holds {net.num_addresses} addresses; "
                                  f"a watch checks each one, at most {WATCH_MAX_ADDRESSES} "
                                  f"per network (name the sending addresses instead)")
            nets.append(str(net))
        domains = []
        for d in _strings(t, "domains", ww, "[\"example.org\"]"):
            if not _dns_name_ok(d) or "." not in d.strip().rstrip("."):
                raise ConfigError(f"{ww}: domains: {d!r} is not a domain name")
            domains.append(d.strip().rstrip(".").lower())
        if not nets and not domains:
            raise ConfigError(f"{ww}: watches nothing: give networks = [...] and/or "
                              f"domains = [...]")
        command: tuple[str, ...] = ()
        if "command" in t:
            c = t["command"]
            try:
                command = tuple(shlex.split(c)) if isinstance(c, str) else ()
            except ValueError as e:
                raise ConfigError(f"{ww}: command: {e}") from None
            if not command:
                raise ConfigError(f"{ww}: command must be a command line, e.g. command = "
                                  f"\"/usr/local/bin/alert --rbl\"")
        webhook = t.get("webhook")
        if webhook is not None and (not isinstance(webhook, str) or
                                    not re.match(r"https?://[^\s/]+(/\S*)?\Z", webhook)):
            raise ConfigError(f"{ww}: webhook must be an http:// or https:// URL, "
                              f"not {webhook!r}")
        mail_to = t.get("mail_to")
        if mail_to is not None:
            if isinstance(mail_to, list) and all(isinstance(x, str) for x in mail_to):
                mail_to = ", ".join(mail_to)
            if not isinstance(mail_to, str) or not all(
                    re.fullmatch(r"[^@\s,<>]+@[^@\s,<>]+", a.strip())
                    for a in mail_to.split(",")):
                raise ConfigError(f"{ww}: mail_to must be a mail address (or a list of "
                                  f"them), not {t.get('mail_to')!r}")
        cfg.watches.append(WatchConfig(name, tuple(nets), tuple(domains), command, webhook,
                                       mail_to))


def _strings(t: dict[str, object], key: str, where: str, example: str) -> list[str]:
    v = t.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ConfigError(f"{where}: {key} must be a list of strings, e.g. {key} = {example}")
    return [x.strip() for x in v]


def _zone_settings(z: dict[str, object], where: str) -> ZoneSettings:
    """A [[zone]]'s soa = {...}, ns = [...] and test_points = true|false."""
    soa = z.get("soa")
    fields_ = None
    if soa is not None:
        if not isinstance(soa, dict):
            raise ConfigError(f"{where}: soa must be a table, e.g. soa = {{ mname = "
                              "\"ns.example\", rname = \"hostmaster.example\" }")
        _no_unknown(soa, _SOA_KEYS, f"{where} soa")
        out: dict[str, object] = {}
        for k in ("mname", "rname"):
            if k in soa:
                v = soa[k]
                if not isinstance(v, str) or not _dns_name_ok(v):
                    raise ConfigError(f"{where}: soa.{k} must be a domain name, not {v!r}")
                out[k] = v.strip().rstrip(".")
        if "serial" in soa:
            v = soa["serial"]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 32:
                raise ConfigError(f"{where}: soa.serial must be an integer from 0 to "
                                  f"4294967295 (0: the data's time), not {v!r}")
            out["serial"] = v
        for k in ("refresh", "retry", "expire", "minimum", "ttl"):
            if k in soa:
                secs = parse_duration(soa[k], f"{where}: soa.{k}")
                if secs >= 2 ** 31:
                    raise ConfigError(f"{where}: soa.{k} is too long")
                out[k] = int(secs)
        fields_ = tuple(out.items())
    ns = z.get("ns")
    if ns is not None:
        if isinstance(ns, str):
            ns = [ns]
        if not isinstance(ns, list) or not ns or \
                not all(isinstance(x, str) and _dns_name_ok(x) for x in ns):
            raise ConfigError(f"{where}: ns must be a list of name server names, not {ns!r}")
        ns = tuple(x.strip().rstrip(".") for x in ns)
    tp = z.get("test_points", True)
    if not isinstance(tp, bool):
        raise ConfigError(f"{where}: test_points must be true or false, not {tp!r}")
    return ZoneSettings(soa=fields_, ns=ns, test_points=tp)


def _dns_name_ok(name: str) -> bool:
    n = name.strip().rstrip(".")
    return bool(n) and len(n) <= 253 and all(0 < len(x) <= 63 for x in n.split(".")) and \
        n.isascii() and " " not in n


def _resolve_path(path: str, base: str | None) -> str:
    path = os.path.expanduser(path)
    if base and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(path)


def source_kind(url: str) -> str | None:
    """"rsync", "http", "file", or None for an unsupported URL."""
    low = url.lower()
    if low.startswith("rsync://") or ("::" in url and "://" not in url):
        return "rsync"
    if low.startswith(("http://", "https://")):
        return "http"
    if low.startswith("file://"):
        return "file"
    if "://" in url:
        return None
    return "file"


def _parse_sources(cfg: Config, sources: object, where: str, base: str | None) -> None:
    from ..data import formats  # the format names
    for sw, t, name in _named_tables(sources, "source", where, _SOURCE_KEYS, "; no ':'"):
        if name in RESERVED_SOURCE_NAMES:  # (so never defined twice)
            raise ConfigError(f"{sw}: the name {name!r} is reserved (the state dir's "
                              f"{name}/ folder): choose another")
        url = t.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{sw}: needs url = \"rsync://host/module/file\", "
                              "\"host::module/file\", \"https://...\" or a local path")
        url = url.strip()
        kind = source_kind(url)
        if kind is None:
            raise ConfigError(f"{sw}: unsupported url {url!r} (rsync://, host::module/path, "
                              "http://, https://, file:// or a local path)")
        if kind == "file":
            url = _resolve_path(url[7:] if url.lower().startswith("file://") else url, base)
        if url.endswith("/"):
            raise ConfigError(f"{sw}: url must name one file, not a folder: {url!r}")
        fmt = t.get("format")
        if not isinstance(fmt, str) or (fmt.lower() not in formats.REGISTRY and
                                        fmt.lower() != SNAPSHOT_FORMAT):
            raise ConfigError(f"{sw}: format must be one of "
                              f"{', '.join(formats.names())} or {SNAPSHOT_FORMAT!r} (a "
                              f"primary's exported snapshot), not {fmt!r}")
        if fmt.lower() == SNAPSHOT_FORMAT and kind == "http":
            raise ConfigError(f"{sw}: format = \"snapshot\" pulls a primary's [export] by "
                              "rsync (rsync://PRIMARY:PORT/rblmirror/SOURCE) or from a local "
                              f"export folder, not over HTTP: {url!r}")
        if fmt.lower() == "combined":
            raise ConfigError(f"{sw}: combined dumps cannot be mirrored as a source yet")
        kw: _SourceOptions = {}
        for key in _DURATION_OPTIONS:
            if key in t:
                kw[key] = parse_duration(t[key], f"{sw}: {key}")
        if kw.get("timeout", 1) <= 0:
            raise ConfigError(f"{sw}: timeout must be positive")
        for fkey in _FRACTION_OPTIONS:
            if fkey in t:
                v = t[fkey]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                    raise ConfigError(f"{sw}: {fkey} must be a fraction from 0 to 1, not {v!r}")
                kw[fkey] = float(v)
        if "keep" in t:
            k = t["keep"]
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
                raise ConfigError(f"{sw}: keep must be an integer from 1 to 100")
            kw["keep"] = k
        pw = t.get("password_file")
        if pw is not None:
            if not isinstance(pw, str) or not pw.strip():
                raise ConfigError(f"{sw}: password_file must be a path")
            if kind != "rsync":
                raise ConfigError(f"{sw}: password_file is for rsync:// urls only")
            kw["password_file"] = _resolve_path(pw, base)
        cfg.sources[name] = SourceConfig(name, url, kind, fmt.lower(), **kw)


class _SourceOptions(TypedDict, total=False):
    """The optional settings of a [[source]] given in the config (SourceConfig's fields)."""

    min_interval: float
    max_age: float
    timeout: float
    max_shrink: float
    max_warnings: float
    keep: int
    password_file: str


_DURATION_OPTIONS: tuple[Literal["min_interval", "max_age", "timeout"], ...] = (
    "min_interval", "max_age", "timeout")
_FRACTION_OPTIONS: tuple[Literal["max_shrink", "max_warnings"], ...] = (
    "max_shrink", "max_warnings")


def _tables(items: object, kind: str, where: str, allowed: set[str]
            ) -> Iterator[tuple[str, dict[str, object]]]:
    """The [[kind]] tables of a config, each checked to be a table of `allowed` keys, with
    its where-label ("FILE [[kind]] #N")."""
    if not isinstance(items, list):
        raise ConfigError(f"{where}: use [[{kind}]] tables for {kind}s")
    for i, t in enumerate(items, 1):
        label = f"{where} [[{kind}]] #{i}"
        if not isinstance(t, dict):
            raise ConfigError(f"{label}: must be a table")
        _no_unknown(t, allowed, label)
        yield label, t


def _named_tables(items: object, kind: str, where: str, allowed: set[str], rule: str = ""
                  ) -> Iterator[tuple[str, dict[str, object], str]]:
    """_tables whose name = "..." is a source-like name (_SOURCE_NAME), each given once:
    (where-label with the name, table, name). `rule` adds to the name's hint."""
    seen: set[str] = set()
    for label, t in _tables(items, kind, where, allowed):
        name = t.get("name")
        if not isinstance(name, str) or not _SOURCE_NAME.match(name):
            raise ConfigError(f"{label}: needs name = \"...\" (lowercase letters, digits, "
                              f"'-', '_', '.'{rule})")
        label = f"{label} ({name})"
        _once(label, kind, name, seen)
        seen.add(name)
        yield label, t, name


def _once(where: str, kind: str, name: str, seen: set[str]) -> None:
    if name in seen:
        raise ConfigError(f"{where}: {kind} {name} is defined twice")


def _no_unknown(table: dict[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(sorted(allowed))})")
