"""explain: a bounce answered from the local mirror. Which address (or domain) was
blocked and by which list (tools/bounce.py reads the text), whether that list lists it
now here, with the code's meaning, the TXT reason and the delisting page (the catalogue),
and which other zones here list it too.

    sel = ZoneSelection.from_options((), "rblmirror.toml")
    e = explain(bounce_text, sel, sel.load())
    print(e.text()); sys.exit(e.exit_status())

The zones are the ones `serve` answers (zoneset); each answer is read as `check` reads
it (verdict: an error code such as Spamhaus 127.255.255.254 is an error, never a
listing). The list the bounce names is "mirrored" when a zone here serves it: the zone
has its name, or serves its catalogue entry (verdict.catalogued: its public zone name or
its one source). Exit status as `check`'s (verdict.exit_status), the list the bounce
names counting as a zone that could not answer when it is not mirrored here.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from ..data import catalogue as cat
from ..dns.zone import Zone
from ..errors import BounceError
from ..mirror import history
from ..mirror.configedit import how_to_add
from ..mirror.history import Interval
from ..mirror.zoneset import ZoneSelection
from .bounce import Bounce, parse
from .check import check, takes
from .verdict import ERROR, LISTED, NOT_LISTED, Verdict, catalogued, exit_status, judge

#: the named list's status when no zone here serves it
NOT_MIRRORED = "not mirrored"
#: the most input explain takes (characters): a bounce with its returned message and
#: attachments (bounce.parse then reads at most bounce.MAX_TEXT of its text)
MAX_INPUT = 32 << 20
_MTA_NAMES = {"postfix": "Postfix", "exim": "Exim", "sendmail": "Sendmail",
              "mdaemon": "MDaemon", "exchange": "Exchange/Office 365", "gmail": "Gmail"}


@dataclass(frozen=True)
class Named:
    """The list a bounce names: as written, its catalogue entry (None: not catalogued)
    and the zones here that serve it (none: not mirrored here)."""

    written: str
    entry: cat.DnsList | None
    zones: tuple[str, ...]

    @property
    def mirrored(self) -> bool:
        return bool(self.zones)

    def how_to_mirror(self) -> tuple[bool, str] | None:
        """(can it be mirrored, the `sources add` command or why not); None: not catalogued."""
        return None if self.entry is None else how_to_add(self.entry)


@dataclass(frozen=True)
class Explanation:
    #: what the text says (its subject is the address or domain checked)
    bounce: Bounce
    #: the list the bounce names (None: it names none, e.g. a provider's own block)
    named: Named | None
    #: a verdict for every zone here that takes the subject's kind
    verdicts: tuple[Verdict, ...]
    #: since when the named list lists the subject (the earliest first seen of its
    #: current intervals in the listing history, mirror/history.py, over the named
    #: zones' sources); None: not known (no history of it, or a zone of local files)
    since: float | None = None
    #: `since` is the list's first recorded swap: listed then already ("seen since the
    #: mirror began"), not necessarily listed for the first time then
    since_began: bool = False

    @property
    def subject(self) -> str:
        assert self.bounce.subject is not None
        return self.bounce.subject

    @property
    def kind(self) -> str:
        """"ip" or "name"."""
        assert self.bounce.kind is not None
        return self.bounce.kind

    @property
    def named_verdicts(self) -> list[Verdict]:
        zones = self.named.zones if self.named is not None else ()
        return [v for v in self.verdicts if v.result.zone in zones]

    @property
    def others(self) -> list[Verdict]:
        """The other zones' verdicts."""
        zones = self.named.zones if self.named is not None else ()
        return [v for v in self.verdicts if v.result.zone not in zones]

    @property
    def status(self) -> str | None:
        """The named list's answer: LISTED, NOT_LISTED, ERROR or NOT_MIRRORED (None: no
        list named). ERROR too for a zone that does not take the subject's kind."""
        if self.named is None:
            return None
        if not self.named.mirrored:
            return NOT_MIRRORED
        vs = self.named_verdicts
        if any(v.listed for v in vs):
            return LISTED
        if not vs or any(v.status == ERROR for v in vs):
            return ERROR
        return NOT_LISTED

    @property
    def delisting(self) -> str | None:
        entry = self.named.entry if self.named is not None else None
        return None if entry is None else entry.delisting(self.subject)

    def exit_status(self) -> int:
        """check's: 1 listed anywhere here, 2 an error or the named list not answered
        here (not mirrored, or not for this kind), else 0."""
        return exit_status(self.verdicts, unanswered=self.status in (NOT_MIRRORED, ERROR))

    def as_json(self) -> dict[str, Any]:
        """explain --json: subject, kind, mta, how, named {written, list, title, zones,
        mirrored, mirror: how to mirror it, when it is not}, status, answers (check
        --json rows of the named list's zones), reason, delisting, links, since; and for
        the other zones here: others (the rows of those that list it), errors (the rows
        of those that could not answer), not_listed (the names of the rest)."""
        n = self.named
        named: dict[str, Any] | None = None
        if n is not None:
            how = n.how_to_mirror()
            named = {"written": n.written, "list": n.entry.name if n.entry else None,
                     "title": n.entry.title if n.entry else None, "zones": list(n.zones),
                     "mirrored": n.mirrored,
                     "mirror": None if how is None or n.mirrored else
                     {"possible": how[0], "how": how[1]}}
        mine = self.named_verdicts
        return {"subject": self.subject, "kind": self.kind, "mta": self.bounce.mta,
                "how": self.bounce.how, "named": named, "status": self.status,
                "answers": [v.as_json() for v in mine],
                "reason": [t for v in mine if v.listed for t in v.result.txt],
                "delisting": self.delisting, "links": list(self.bounce.links),
                "since": self.since, "since_mirror_began": self.since_began,
                "others": [v.as_json() for v in self.others if v.listed],
                "errors": [v.as_json() for v in self.others if v.status == ERROR],
                "not_listed": [v.result.zone for v in self.others if v.status == NOT_LISTED]}

    def text(self) -> str:
        """The answer for a person, several lines."""
        b, n = self.bounce, self.named
        mta = f" ({_MTA_NAMES[b.mta]} wording)" if b.mta else ""
        by = f" by {n.written}" if n is not None else "; the text names no DNS list"
        out = [f"{self.subject} was blocked{by}{mta}."]
        if n is not None:
            out += self._named_lines(n)
        elif b.mta in ("exchange", "gmail"):
            out.append(f"  This is {_MTA_NAMES[b.mta]}'s own block, not a public DNS list: "
                       "only its links below can lift it.")
        out += [f"  the bounce links: {link}" for link in b.links if link != self.delisting]
        others = [v for v in self.others if v.listed]
        out.append(f"Other zones here that list {self.subject}:" if others else
                   f"No other zone here lists {self.subject}.")
        out += [f"  {v.text()}" + (" (an allowlist: it vouches for the address)"
                                   if v.entry is not None and v.entry.kind == "allow" else "")
                for v in others]
        errors = [v for v in self.others if v.status == ERROR]
        if errors:
            out.append("Zones here that could not answer:")
            out += [f"  {v.text()}" for v in errors]
        quiet = [v.result.zone for v in self.others if v.status == NOT_LISTED]
        if quiet:
            out.append(f"Not listed in: {', '.join(quiet)}")
        return "\n".join(out)

    def _named_lines(self, n: Named) -> list[str]:
        e = n.entry
        head = f"{n.written}: " + (
            f"{e.name}, {e.title}" if e is not None else
            "a zone of this mirror, not in the catalogue of public lists" if n.mirrored else
            "not in the catalogue of public lists (`rblmirror lists`)")
        out = [head]
        status = self.status
        if status == NOT_MIRRORED:
            out.append(f"  not mirrored here: no configured zone serves it, so this mirror "
                       f"cannot say whether it lists {self.subject} now.")
            how = n.how_to_mirror()
            if how is not None:
                out.append(f"  to mirror it: {how[1]}" if how[0] else f"  {how[1]}")
        for v in self.named_verdicts:
            if v.listed:
                out.append(f"  LISTED now in zone {v.result.zone}:")
                for a, meaning in v.meanings or tuple((a, None) for a in v.result.a):
                    out.append(f"    {a}" + (f"  {meaning}" if meaning else ""))
                out += [f"    reason: {t}" for t in v.result.txt]
                out.append("    listed since: " + _since_text(self.since, self.since_began))
            elif v.status == ERROR:
                out.append(f"  zone {v.result.zone} could not answer: {v.error}")
            else:
                out.append(f"  not listed now in zone {v.result.zone} (delisted, or the "
                           "bounce is older than this data)")
        if n.mirrored and not self.named_verdicts:
            what = "domains" if self.kind == "ip" else "addresses"
            out.append(f"  zone(s) {', '.join(n.zones)} take {what}, not {self.subject}")
        if self.delisting:
            out.append(f"  delisting: {self.delisting}")
        return out


def _since_text(since: float | None, began: bool) -> str:
    if since is None:
        return "not known (no listing history)"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
    return f"{when} (seen since the mirror began: listed then already)" if began else when


def listed_since(selection: ZoneSelection, state_dir: str | None, subject: str,
                 zones: Iterable[str]) -> Interval | None:
    """The earliest current interval of `subject` in the listing history over the
    sources of `zones` (None: none recorded)."""
    if selection.config is None:
        return None
    want = set(zones)
    sources = [s for z in selection.config.zones if z.name in want for s in z.sources]
    if not sources:
        return None
    found = history.listed_since(selection.state_dir(state_dir), subject, sources)
    return min(found.values(), key=lambda i: i.first_seen, default=None)


def explain(text: str, selection: ZoneSelection, zones: list[Zone],
            catalogue: cat.Catalogue | None = None, now: float | None = None,
            state_dir: str | None = None) -> Explanation:
    """The Explanation of the bounce `text` against `zones` (selection.load(state_dir)),
    as `serve` answers at `now`, with "listed since" from the listing history under
    `state_dir` (resolved as selection.state_dir). BounceError: empty text, or no
    blocked address in it."""
    if not text.strip():
        raise BounceError("the text is empty: give a bounce, an SMTP reply or a log line "
                          "(TEXT, or - to read it from stdin)")
    if len(text) > MAX_INPUT:
        raise _too_big()
    c = catalogue or cat.load()
    entries = catalogued(selection, c)
    aliases = c.by_alias()
    zone_names = [z.name for z in zones] + [zn for x in c for zn in x.zones]
    b = parse(text, zone_names, aliases)
    named = None if b.named is None else _resolve(b.named, b.kind, c, aliases, entries, zones)
    if named is not None and _wants_names(named, zones) and b.domains and \
            b.how in (None, "address in the text"):  # an RHSBL bounce naming no address
        b = replace(b, subject=b.domains[0], kind="name", how="domain in the text")
    if b.subject is None or b.kind is None:
        raise BounceError(_no_subject(b, named))
    asked = [z for z in zones if takes(z, b.kind)]
    results = check([b.subject], asked) if asked else []
    verdicts = tuple(judge(results, zones, entries, now))
    listing = [] if named is None else [v.result.zone for v in verdicts
                                        if v.listed and v.result.zone in named.zones]
    since = listed_since(selection, state_dir, b.subject, listing) if listing else None
    return Explanation(b, named, verdicts, since.first_seen if since else None,
                       since.since_began if since else False)


def read_input(stream: BinaryIO) -> str:
    """The text of a bounce from `stream` (stdin): at most MAX_INPUT bytes (BounceError
    past it, before reading the rest), bytes that are not UTF-8 replaced."""
    data = stream.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        raise _too_big()
    return data.decode("utf-8", "replace")


def _too_big() -> BounceError:
    return BounceError(f"the input is over {MAX_INPUT >> 20} MiB: explain reads one bounce, "
                       "a reply or a few log lines; for whole logs use "
                       "`rblmirror scan --extract`")


def _resolve(written: str, kind: str | None, c: cat.Catalogue,
             aliases: dict[str, tuple[cat.DnsList, ...]], entries: dict[str, cat.DnsList],
             zones: list[Zone]) -> Named:
    """The catalogue entry and the zones here that `written` names: a zone here by its
    name, a list's public zone, or a name it goes by (the first of its lists, in
    catalogue order, that takes the subject's kind)."""
    here = [z.name for z in zones]
    entry = entries.get(written) or c.for_zone(written)
    if entry is None and written in aliases:
        fits = [x for x in aliases[written]
                if (x.kind == "domain") == (kind == "name")] or list(aliases[written])
        entry = fits[0]
    served = [z for z in here if z == written or (entry is not None and entries.get(z) is entry)]
    return Named(written, entry, tuple(dict.fromkeys(served)))


def _wants_names(n: Named, zones: list[Zone]) -> bool:
    """The named list is a domain list (its entry, or its zones here)."""
    if n.entry is not None:
        return n.entry.kind == "domain"
    mine = [z for z in zones if z.name in n.zones]
    return bool(mine) and all(z.is_names for z in mine)


def _no_subject(b: Bounce, named: Named | None) -> str:
    msg = "no blocked IP address or domain found in the text"
    if named is not None:
        msg += f" (it names the list {named.written}" + (
            f", catalogue entry {named.entry.name}" if named.entry else "") + ")"
    if b.seen:
        msg += (f"; addresses of other hosts in it (Received lines, the remote MX) are not "
                f"taken: {', '.join(b.seen)}")
    return msg + "; give the address with the text, or use `rblmirror check ADDRESS`"
