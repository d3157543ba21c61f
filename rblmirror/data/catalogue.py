"""The catalogue of public DNS lists (catalogue.toml beside this module, reviewed by hand):
one DnsList per entry, and what an answer from one of its zones means.

    cat = load()
    cat.get("spamhaus-zen").classify("127.255.255.254")
    # Classified(kind='error', meaning='error: query via a public/open resolver ...')
    cat.for_zone("psbl.surriel.com").mirror.url

Standard library and the ground's tomlfile only, so `rblmirror lists` loads no data modules.
"""
from __future__ import annotations

import ipaddress
import os
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from .. import tomlfile
from ..errors import CatalogueError

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalogue.toml")
KINDS = ("ip", "domain", "allow")
STATUSES = ("active", "shut-down", "unknown")
TERMS = ("free", "registration", "paid", "unknown")
LISTING, ERROR, UNKNOWN = "listing", "error", "unknown"
#: what a subject's answers from a list add up to (read_answers): listed, or ERROR
LISTED = "listed"

_LIST_KEYS = {"name", "title", "operator", "kind", "zones", "status", "docs", "codes",
              "errors", "no_block", "bitmask", "lookup_url", "delist_url", "query_terms", "mirror",
              "unconfirmed", "evidence"}
_REQUIRED = ("name", "title", "kind", "zones", "status", "docs")
_MIRROR_KEYS = {"terms", "url", "format", "min_interval", "docs", "note"}
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}\Z")
_URL = re.compile(r"https?://[^\s/]+(/\S*)?\Z")


@dataclass(frozen=True)
class Classified:
    """What one answer (an A record value) means: kind LISTING (with its meaning), ERROR
    (the answer is not a listing: refused, over quota, typo ...) or UNKNOWN."""

    kind: str
    meaning: str | None = None


@dataclass(frozen=True)
class Mirror:
    """How a list's data can be mirrored. url / format None: not public or not known."""

    terms: str
    url: str | None = None
    format: str | None = None
    min_interval: str | None = None
    docs: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class DnsList:
    name: str
    title: str
    kind: str
    zones: tuple[str, ...]
    status: str
    docs: tuple[str, ...]
    operator: str | None = None
    #: (answer or pattern, meaning), in file order
    codes: tuple[tuple[str, str], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    #: listing codes that are not blocks (a whitelist or neutral answer)
    no_block: tuple[str, ...] = ()
    bitmask: bool = False
    lookup_url: str | None = None
    delist_url: str | None = None
    query_terms: str | None = None
    mirror: Mirror | None = None
    unconfirmed: str | None = None
    evidence: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "title": self.title, "operator": self.operator,
               "kind": self.kind, "zones": list(self.zones), "status": self.status,
               "codes": dict(self.codes), "errors": dict(self.errors),
               "no_block": list(self.no_block),
               "bitmask": self.bitmask, "lookup_url": self.lookup_url,
               "delist_url": self.delist_url, "query_terms": self.query_terms,
               "mirror": None, "docs": list(self.docs), "evidence": self.evidence,
               "unconfirmed": self.unconfirmed}
        if self.mirror is not None:
            m = self.mirror
            out["mirror"] = {"terms": m.terms, "url": m.url, "format": m.format,
                             "min_interval": m.min_interval, "docs": list(m.docs),
                             "note": m.note}
        return out

    def details(self) -> str:
        """A person's view of the entry, several lines."""
        rows = [f"{self.name}: {self.title}" + (f" ({self.operator})" if self.operator else ""),
                f"  kind {self.kind}, status {self.status}, zones {', '.join(self.zones)}"]
        if self.codes:
            rows.append("  answers" + (" (bits of the last octet, summed)" if self.bitmask
                                       else "") + ":")
            rows += [f"    {c:<16} {m}" for c, m in self.codes]
            if self.no_block:
                rows.append(f"  listings that are not blocks: {', '.join(self.no_block)}")
        if self.errors:
            rows.append("  errors (never listings):")
            rows += [f"    {c:<16} {m}" for c, m in self.errors]
        for label, value in (("lookup", self.lookup_url), ("delist", self.delist_url),
                             ("terms", self.query_terms)):
            if value:
                rows.append(f"  {label}: {value}")
        if self.mirror is not None:
            m = self.mirror
            rows.append(f"  mirror: {m.url or '(address not public)'}, format "
                        f"{m.format or 'not known'}, terms {m.terms}"
                        + (f", at most every {m.min_interval}" if m.min_interval else ""))
            if m.note:
                rows.append(f"    {m.note}")
        else:
            rows.append("  mirror: none known")
        rows.append(f"  sources: {', '.join(self.docs)}")
        if self.evidence:
            rows.append(f"  evidence: {self.evidence}")
        if self.unconfirmed:
            rows.append(f"  not confirmed: {self.unconfirmed}")
        return "\n".join(rows)

    def lookup(self, subject: str) -> str | None:
        """The page where a person looks `subject` up (None: none known)."""
        if self.lookup_url is None:
            return None
        return self.lookup_url.format(subject=subject.strip())

    def delisting(self, subject: str) -> str | None:
        """The page where a removal of `subject` is requested: delist_url, else the lookup
        page (None: neither is known)."""
        if self.delist_url is not None:
            return self.delist_url.format(subject=subject.strip())
        return self.lookup(subject)

    def aliases(self) -> tuple[str, ...]:
        """The names bounces call this list by besides its zones, lowercase: the first
        word of its title ("spamhaus", "spamcop", "barracuda"), its zones' domain
        ("spamhaus.org") and the hosts of its lookup and delisting pages
        ("barracudacentral.org"), without www."""
        out = [re.split(r"[\s(]", self.title, maxsplit=1)[0].lower()]
        out += [".".join(z.split(".")[-2:]) for z in self.zones]
        for url in (self.lookup_url, self.delist_url):
            if url is not None:
                host = re.sub(r"^https?://", "", url).split("/")[0].split("?")[0].lower()
                out.append(host.removeprefix("www."))
        return tuple(x for x in dict.fromkeys(out) if x and x not in self.zones)

    def listing_codes(self, block: bool = False) -> tuple[str, ...]:
        """The answers that are listings, as codes or "*" patterns: a bitmask list's
        every sum of its documented bits; with `block`, without the no_block codes.
        Never an error code."""
        if self.bitmask:
            bits = [(c.rpartition(".")[0], int(c.rpartition(".")[2])) for c, _ in self.codes]
            out = {f"{head}.{s}" for head in {h for h, _ in bits}
                   for s in _sums([b for h, b in bits if h == head])}
            codes = sorted(out, key=lambda c: tuple(int(o) for o in c.split(".")))
        else:
            codes = [c for c, _ in self.codes]
        return tuple(c for c in codes if not (block and c in self.no_block))

    def classify(self, answer: str) -> Classified:
        """What the A value `answer` from one of this list's zones means."""
        try:
            ip = ipaddress.IPv4Address(answer.strip())
        except ValueError:
            return Classified(UNKNOWN, f"{answer!r} is not an IPv4 answer")
        text = str(ip)
        for code, meaning in self.errors:
            if code == text:
                return Classified(ERROR, meaning)
        if ip not in _LOOPBACK:
            return Classified(UNKNOWN, f"{text} is outside 127.0.0.0/8")
        if self.bitmask:
            return self._bits(text)
        for code, meaning in self.codes:
            if _matches(code, text):
                return Classified(LISTING, meaning)
        return Classified(UNKNOWN, f"{text} is not a documented answer of {self.name}")

    def _bits(self, text: str) -> Classified:
        head, _, last = text.rpartition(".")
        value = int(last)
        meanings, rest = [], value
        for code, meaning in self.codes:
            chead, _, cbit = code.rpartition(".")
            bit = int(cbit)
            if chead == head and value & bit:
                meanings.append(meaning)
                rest &= ~bit
        if rest or not meanings:
            return Classified(UNKNOWN, f"{text} has bits {self.name} does not document")
        return Classified(LISTING, "; ".join(meanings))


_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def _sums(bits: list[int]) -> list[int]:
    """Every non-zero sum of distinct `bits`."""
    out = {0}
    for b in bits:
        out |= {s | b for s in out}
    return sorted(out - {0})


def _matches(code: str, text: str) -> bool:
    return all(c == "*" or c == t for c, t in zip(code.split("."), text.split(".")))


class Catalogue:
    def __init__(self, lists: list[DnsList], path: str = PATH):
        self.lists = lists
        self.path = path
        self._by_name = {x.name: x for x in lists}
        self._by_zone = {z: x for x in lists for z in x.zones}

    def __iter__(self) -> Iterator[DnsList]:
        return iter(self.lists)

    def __len__(self) -> int:
        return len(self.lists)

    def get(self, name: str) -> DnsList | None:
        return self._by_name.get(name.strip().lower())

    def for_zone(self, zone: str) -> DnsList | None:
        """The list whose public zone is `zone` (case and a final dot ignored)."""
        return self._by_zone.get(zone.strip().rstrip(".").lower())

    def by_alias(self) -> dict[str, tuple[DnsList, ...]]:
        """alias (DnsList.aliases) -> the lists that go by it, in catalogue order
        ("spamhaus": ZEN, SBL, XBL, PBL, DBL, ZRD)."""
        out: dict[str, list[DnsList]] = {}
        for x in self.lists:
            for a in x.aliases():
                out.setdefault(a, []).append(x)
        return {a: tuple(xs) for a, xs in out.items()}

    def match(self, zone: str, sources: tuple[str, ...] = ()) -> DnsList | None:
        """The list a configured zone serves: its name is a list's public zone, or it is
        backed by one source named as a catalogue entry."""
        hit = self.for_zone(zone)
        if hit is None and len(sources) == 1:
            hit = self.get(sources[0])
        return hit


def read_answers(entry: DnsList, answers: Iterable[str]
                 ) -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
    """(status, error, meanings) of a catalogued list's A values for one subject: ERROR
    when every one is an error code (the list did not answer the question), else LISTED
    with each value's meaning (None: not in the catalogue)."""
    got = [(a, entry.classify(a)) for a in answers]
    if got and all(c.kind == ERROR for _, c in got):
        return ERROR, "; ".join(f"{a}: {c.meaning}" for a, c in got), ()
    return LISTED, None, tuple((a, c.meaning if c.kind != UNKNOWN else None)
                               for a, c in got)


def table(lists: Iterable[DnsList]) -> str:
    """One line per list: name, kind, status, zones, mirror terms."""
    rows_of = list(lists)
    w = max([len(x.name) for x in rows_of] + [4])
    rows = [f"{'NAME':<{w}}  {'KIND':<6}  {'STATUS':<9}  {'MIRROR':<13}  ZONES"]
    for x in rows_of:
        mirror = "-" if x.mirror is None else x.mirror.terms + ("" if x.mirror.url else "*")
        rows.append(f"{x.name:<{w}}  {x.kind:<6}  {x.status:<9}  {mirror:<13}  "
                    f"{', '.join(x.zones)}")
    rows.append("(* mirror address given by the list on request: sources add --url)")
    return "\n".join(rows) + "\n"


@lru_cache(maxsize=4)
def load(path: str = PATH) -> Catalogue:
    """The catalogue at `path` (default: the bundled one), checked entry by entry;
    CatalogueError names the file and the entry of the first problem."""
    raw = tomlfile.load(path, CatalogueError)
    if raw.get("schema") != 1:
        raise CatalogueError(f"{path}: expected schema = 1")
    entries = raw.get("list")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{path}: no [[list]] entries")
    lists, seen, zones = [], set(), set()
    for i, t in enumerate(entries, 1):
        where = f"{path}: [[list]] #{i}" + (f" ({t['name']})" if isinstance(t, dict) and
                                             isinstance(t.get("name"), str) else "")
        x = _entry(t, where)
        if x.name in seen:
            raise CatalogueError(f"{where}: name {x.name} is used twice")
        for z in x.zones:
            if z in zones:
                raise CatalogueError(f"{where}: zone {z} is in two entries")
            zones.add(z)
        seen.add(x.name)
        lists.append(x)
    return Catalogue(lists, path)


def _entry(t: object, where: str) -> DnsList:
    if not isinstance(t, dict):
        raise CatalogueError(f"{where}: must be a table")
    unknown = sorted(set(t) - _LIST_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for k in _REQUIRED:
        if k not in t:
            raise CatalogueError(f"{where}: missing {k}")
    name = _text(t, "name", where)
    if not _NAME.match(name):
        raise CatalogueError(f"{where}: name must be lowercase letters, digits, '-', '_', '.'")
    kind = _choice(t, "kind", KINDS, where)
    status = _choice(t, "status", STATUSES, where)
    zones = _texts(t, "zones", where)
    if not zones:
        raise CatalogueError(f"{where}: zones must name at least one zone")
    for z in zones:
        if not _zone_ok(z):
            raise CatalogueError(f"{where}: {z!r} is not a valid lowercase zone name")
    docs = _texts(t, "docs", where)
    if not docs:
        raise CatalogueError(f"{where}: docs must name where the facts come from")
    for d in docs:
        _url(d, f"{where}: docs", template=False)
    bitmask = t.get("bitmask", False)
    if not isinstance(bitmask, bool):
        raise CatalogueError(f"{where}: bitmask must be true or false")
    codes = _codes(t.get("codes", {}), f"{where}: codes", patterns=not bitmask)
    if bitmask:
        for code, _ in codes:
            bit = int(code.rsplit(".", 1)[1])
            if bit & (bit - 1) or not bit:
                raise CatalogueError(f"{where}: codes: {code} is not one bit (bitmask list)")
    errors = _codes(t.get("errors", {}), f"{where}: errors", patterns=False)
    both = {c for c, _ in codes} & {c for c, _ in errors}
    if both:
        raise CatalogueError(f"{where}: {', '.join(sorted(both))} both a listing and an error")
    no_block = _texts(t, "no_block", where) if "no_block" in t else []
    for c in no_block:
        if c not in {code for code, _ in codes}:
            raise CatalogueError(f"{where}: no_block: {c} is not one of its codes")
    if no_block and (kind == "allow" or bitmask):
        raise CatalogueError(f"{where}: no_block is for a blocklist's plain codes")
    if codes and len(set(no_block)) == len(codes):
        raise CatalogueError(f"{where}: no_block names every code: nothing left to block")
    for k in ("lookup_url", "delist_url"):
        if k in t:
            _url(_text(t, k, where), f"{where}: {k}", template=True)
    if not codes and not t.get("unconfirmed"):
        raise CatalogueError(f"{where}: no codes: say in unconfirmed why")
    return DnsList(
        name=name, title=_text(t, "title", where), kind=kind, zones=tuple(zones),
        status=status, docs=tuple(docs), operator=_opt(t, "operator", where),
        codes=codes, errors=errors, no_block=tuple(no_block), bitmask=bitmask, lookup_url=_opt(t, "lookup_url", where),
        delist_url=_opt(t, "delist_url", where), query_terms=_opt(t, "query_terms", where),
        mirror=_mirror(t["mirror"], f"{where}: mirror") if "mirror" in t else None,
        unconfirmed=_opt(t, "unconfirmed", where), evidence=_opt(t, "evidence", where))


def _mirror(m: object, where: str) -> Mirror:
    if not isinstance(m, dict):
        raise CatalogueError(f"{where}: must be a table")
    unknown = sorted(set(m) - _MIRROR_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    terms = _choice(m, "terms", TERMS, where)
    url = _opt(m, "url", where)
    if url is not None and not re.match(r"(rsync|https?)://[^\s/]+/\S+\Z", url):
        raise CatalogueError(f"{where}: url must be rsync:// or https:// naming one file")
    docs = _texts(m, "docs", where) if "docs" in m else []
    if not docs:
        raise CatalogueError(f"{where}: docs must name where the facts come from")
    for d in docs:
        _url(d, f"{where}: docs", template=False)
    return Mirror(terms, url, _opt(m, "format", where), _opt(m, "min_interval", where),
                  tuple(docs), _opt(m, "note", where))


def _codes(table: object, where: str, patterns: bool) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise CatalogueError(f"{where}: must be a table of \"127.x.y.z\" = \"meaning\"")
    out = []
    for code, meaning in table.items():
        octets = code.split(".")
        ok = len(octets) == 4 and octets[0] == "127" and all(
            (o == "*" and patterns) or (o.isdigit() and str(int(o)) == o and int(o) < 256)
            for o in octets[1:])
        if not ok:
            raise CatalogueError(f"{where}: {code!r} is not a 127.x.y.z answer")
        if not isinstance(meaning, str) or not meaning.strip():
            raise CatalogueError(f"{where}: {code}: needs a meaning")
        out.append((code, meaning.strip()))
    return tuple(out)


def _url(value: str, where: str, template: bool) -> None:
    if template:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        if any(f != "subject" for f in fields):
            raise CatalogueError(f"{where}: {value!r}: the only placeholder is {{subject}}")
        value = value.format(subject="192.0.2.1")
    if not _URL.match(value):
        raise CatalogueError(f"{where}: {value!r} is not an http(s) URL")


def _zone_ok(z: str) -> bool:
    return len(z) <= 253 and "." in z and all(_LABEL.match(x) for x in z.split("."))


def _text(t: dict[str, object], k: str, where: str) -> str:
    v = t.get(k)
    if not isinstance(v, str) or not v.strip():
        raise CatalogueError(f"{where}: {k} must be a non-empty string")
    return v.strip()


def _opt(t: dict[str, object], k: str, where: str) -> str | None:
    return _text(t, k, where) if k in t else None


def _texts(t: dict[str, object], k: str, where: str) -> list[str]:
    v = t.get(k)
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise CatalogueError(f"{where}: {k} must be a list of strings")
    return [x.strip() for x in v]


def _choice(t: dict[str, object], k: str, allowed: tuple[str, ...], where: str) -> str:
    v = _text(t, k, where)
    if v not in allowed:
        raise CatalogueError(f"{where}: {k} must be one of {', '.join(allowed)}, not {v!r}")
    return v
