"""Adding a catalogue list to a TOML config: a [[source]] for its mirror and a [[zone]]
serving it, appended to the file (its content and comments kept), checked by the config
parser before anything is written, and written atomically (temp file, fsync, rename).

    text = add_list("/etc/rblmirror/rblmirror.toml", catalogue.load().get("psbl"))
"""
from __future__ import annotations

import difflib
import json
import os
import tomllib

from ..data import catalogue as cat
from .config import BUNDLED_CONFIG, parse_config
from ..errors import ConfigError
from ..files import replacing

#: the served zone's name when none is given: NAME.mirror.local, as in the bundled config
ZONE_SUFFIX = "mirror.local"


def find(catalogue: cat.Catalogue, name: str) -> cat.DnsList:
    """The entry called `name`, or ConfigError naming the closest ones."""
    entry = catalogue.get(name)
    if entry is None:
        close = difflib.get_close_matches(name.lower(), [x.name for x in catalogue], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{name!r} is not in the catalogue{hint}; `rblmirror lists` shows "
                          "the names")
    return entry


def add_list(config_path: str, entry: cat.DnsList, url: str | None = None,
             format: str | None = None, zone_name: str | None = None) -> str:
    """Append the [[source]] and [[zone]] for `entry` to the config at `config_path`
    (created when missing); returns the text appended. ConfigError, and nothing written,
    when the list cannot be mirrored, is already configured, or the result would not load."""
    path = os.path.abspath(config_path)
    if os.path.realpath(path) == os.path.realpath(str(BUNDLED_CONFIG)):
        raise ConfigError(f"{path} is the bundled default config: give --config FILE "
                          "(a config of your own; it is created when missing)")
    m = _mirror_of(entry)
    url = url or m.url
    fmt = format or m.format
    if url is None:
        raise ConfigError(f"{entry.name}: {entry.title} publishes no mirror address "
                          f"(terms: {m.terms}; {m.note or 'see ' + ', '.join(m.docs)}): "
                          "give the one you were given with --url")
    if fmt is None:
        raise ConfigError(f"{entry.name}: the dump format of {entry.title}'s mirror is not "
                          "in the catalogue: give it with --format (e.g. ip4set, dnset, plain)")
    zone = (zone_name or f"{entry.name}.{ZONE_SUFFIX}").strip().rstrip(".").lower()
    try:
        with open(path, "rb") as f:
            old = f.read()
    except FileNotFoundError:
        old = b""
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    try:
        before = parse_config(tomllib.loads(old.decode("utf-8")), path)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: invalid TOML, not changed: {e}") from None
    if entry.name in before.sources:
        raise ConfigError(f"{path}: a [[source]] named {entry.name} is already there")
    if any(z.name == zone for z in before.zones):
        raise ConfigError(f"{path}: a [[zone]] named {zone} is already there "
                          "(choose another with --zone-name)")
    text = _tables(entry, m, url, fmt, zone)
    sep = b"" if not old or old.endswith(b"\n\n") else (b"\n" if old.endswith(b"\n") else b"\n\n")
    new = old + sep + text.encode("utf-8")
    try:  # what is written must load, or nothing is written
        parse_config(tomllib.loads(new.decode("utf-8")), path)
    except tomllib.TOMLDecodeError as e:  # pragma: no cover - our own text is valid TOML
        raise ConfigError(f"{path}: the added tables do not parse: {e}") from None
    _write(path, new)
    return text


def how_to_add(entry: cat.DnsList) -> tuple[bool, str]:
    """How `entry` comes into a config: (True, the `rblmirror sources add` command, with
    --url/--format where the catalogue lacks them and why), or (False, why it cannot be
    mirrored: the reason add_list refuses it with)."""
    try:
        m = _mirror_of(entry)
    except ConfigError as e:
        return False, str(e)
    cmd = f"rblmirror sources add {entry.name}"
    why = []
    if m.url is None:
        cmd += " --url URL"
        why.append(f"the list gives the address, terms {m.terms}"
                   + (f": {m.note}" if m.note else ""))
    if m.format is None:
        cmd += " --format FORMAT"
        why.append("the dump format is not in the catalogue")
    return True, cmd + (f" ({'; '.join(why)})" if why else "")


def _write(path: str, data: bytes) -> None:
    """Replace the config atomically (files.replacing), keeping an existing file's
    permission bits (and its owner, as root)."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with replacing(path) as f:
            f.write(data)
            if old is not None:
                os.fchmod(f.fileno(), old.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.fchown(f.fileno(), old.st_uid, old.st_gid)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None


def _mirror_of(entry: cat.DnsList) -> cat.Mirror:
    if entry.status == "shut-down":
        raise ConfigError(f"{entry.name}: {entry.title} has shut down: "
                          f"{entry.query_terms or 'it serves no data'}")
    if entry.mirror is None:
        zones = ", ".join(entry.zones)
        raise ConfigError(f"{entry.name}: {entry.title} offers no mirror that rblmirror could "
                          f"fetch, so no zone can be served from it; query {zones} directly")
    return entry.mirror


def _tables(entry: cat.DnsList, m: cat.Mirror, url: str, fmt: str, zone: str) -> str:
    q = json.dumps  # a JSON string is a TOML basic string
    lines = [f"# {entry.title}: added by `rblmirror sources add {entry.name}` from the "
             "catalogue",
             f"# mirror terms: {m.terms}; facts from {', '.join(m.docs)}"]
    if m.note:
        lines.append(f"# {m.note}")
    lines += ["[[source]]", f"name = {q(entry.name)}", f"url = {q(url)}", f"format = {q(fmt)}"]
    if m.min_interval:
        lines.append(f"min_interval = {q(m.min_interval)}   # as the list asks")
    else:
        lines.append("# min_interval: the list publishes none in the catalogue; the default "
                     "(1h) applies")
    lines += ["", "[[zone]]", f"name = {q(zone)}", f"datasets = [{q(entry.name)}]", ""]
    return "\n".join(lines)
