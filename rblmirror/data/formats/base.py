"""What every dump format shares: reading lines, specials, values, and the collector.

A format module defines a `Format` subclass with `name`, `mode` and `line()`; the reader
feeds it one stripped, non-comment, non-special line at a time together with the
file's current default value. Bad lines become warnings (file, line, message) and the
load goes on; only a whole-file problem (unreadable, $TIMESTAMP in the future) raises.
"""
from __future__ import annotations

import calendar
import gzip
import io
import os
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeAlias

from ...errors import ZoneFileError
from ..values import DEFAULT_A, Listing, cap_template

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..._loader import Blocks4
    from ..._loader6 import Store6

EXCL = -2  # value index of an exclusion entry inside the collector


class LineWarning(NamedTuple):
    """A bad line: (file, line, message); str() gives 'file:line: message'."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class SOA:
    ttl: int | None  # None: the dataset's TTL
    origin: str
    person: str
    serial: int  # 0: newest file mtime
    refresh: int
    retry: int
    expire: int
    minttl: int


@dataclass
class NS:
    ttl: int | None
    names: tuple[str, ...]


@dataclass
class Meta:
    """Dataset-wide settings from the specials."""

    soa: SOA | None = None
    ns: NS | None = None
    ttl: int | None = None
    timestamp: int | None = None
    expires: int | None = None
    maxrange4: int | None = None  # max number of addresses in one IPv4 entry
    variables: dict[int, str] = field(default_factory=dict)
    base: str | None = None  # $= base template
    mtime: float = 0.0


class Collector:
    """Entries of one dataset as they are parsed: values, IPv4/IPv6 blocks, names."""

    def __init__(self) -> None:
        self.values: list[Listing] = []
        self._value_ids: dict[Listing, int] = {}
        self.s4 = array("I")
        self.e4 = array("I")
        self.v4 = array("i")
        #: IPv4 blocks from the compiled path (fast4.py): starts, ends, value ids (EXCL
        #: excluded) in file order, the Python parser's blocks merged in at their
        #: places; s4/e4/v4 are then empty
        self.blocks4: Blocks4 | None = None
        #: IPv6 blocks (start, end, value) from Python format code, in file order
        self.b6: list[tuple[int, int, int]] = []
        #: IPv6 blocks from the compiled path (fast6.py): its store (_loader6.Store6),
        #: sorted, of identical blocks the first (in the file) only
        self.blocks6: Store6 | None = None
        self.names: list[tuple[str, str, int]] = []  # (kind, name, value) kind: exact|wild
        #: generic's records in file order: (name below the zone, '' for the zone itself;
        #: rtype, ttl, rdata as it goes on the wire)
        self.records: list[tuple[str, int, int, bytes]] = []
        self.entries = 0
        self.warnings: list[LineWarning] = []
        self.meta = Meta()
        #: the first default (`:A:TXT`) line of the whole dataset: ip4tset/ip6tset use
        #: it for every entry, whatever its place
        self.first_default: Listing | None = None

    def value_id(self, v: Listing | None) -> int:
        if v is None:
            return EXCL
        i = self._value_ids.get(v)
        if i is None:
            i = self._value_ids[v] = len(self.values)
            self.values.append(v)
        return i

    def one_value(self) -> None:
        """Every entry takes the dataset's first default line (a single_value format's
        dataset: ip4tset, ip6tset, as rbldnsd): one value, id 0; exclusions stay."""
        v = self.first_default or Listing(DEFAULT_A, None)
        self.values[:] = [v]
        self._value_ids.clear()
        self._value_ids[v] = 0
        v4 = self.arrays4()[2]  # in place
        v4[v4 != EXCL] = 0
        self.b6[:] = [(s, e, x if x == EXCL else 0) for s, e, x in self.b6]
        # (the compiled path, fast6, gives ip6tset's entries value 0 already)

    def arrays4(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32],
                               npt.NDArray[np.int32]]:
        """All IPv4 blocks (start, end, value id) in file order, as arrays (views)."""
        if self.blocks4 is not None:
            return self.blocks4.arrays()
        import numpy as np
        return (np.frombuffer(self.s4, np.uint32), np.frombuffer(self.e4, np.uint32),
                np.frombuffer(self.v4, np.int32))

    def add4(self, start: int, end: int, vid: int) -> None:
        self.s4.append(start)
        self.e4.append(end)
        self.v4.append(vid)

    def add6(self, start: int, end: int, vid: int) -> None:
        self.b6.append((start, end, vid))


@dataclass
class Place:
    file: str
    line: int


class LineChunk(Protocol):
    """What the compiled paths put in place of lines they parsed (fast4, fast6, dnset):
    load_lines() calls it with the collector and the default value in force there."""

    def __call__(self, c: Collector, default: Listing, /) -> None: ...


#: what load_lines() reads: (path, lineno, text); (path, 0, None) opens each file, and a
#: LineChunk stands for lines the compiled path took
Item: TypeAlias = tuple[str, int, "str | LineChunk | None"]
#: an Item of file_lines(): text only
TextItem: TypeAlias = tuple[str, int, "str | None"]
#: fast6's hook on the IPv6 formats: (collector, value, prefix length, value id, where,
#: warning) of each entry line() accepts
Defer: TypeAlias = Callable[["Collector", int, int, int, Place, "str | None"], None]


class Format:
    """One dump format. `mode` says how two entries for the same block combine:
    "set" (ip4set, dnset: all values returned, an exclusion wins) or "trie"
    (first entry kept)."""

    name = ""
    mode = "trie"
    #: one value for the whole dataset: the first default line's (ip4tset, ip6tset)
    single_value = False
    #: a line starting with ':' (or '=') goes to line() too (acl, generic: rbldnsd leaves
    #: those to each dataset type), not to the default-value rule
    own_defaults = False

    def line(self, c: Collector, text: str, default: Listing, where: Place) -> str | None:
        """Parse one entry line; return a warning message for a bad line, else None."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- values
_A_SHORT = re.compile(r"(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?")


def parse_a(text: str) -> tuple[str | None, str]:
    """rbldnsd's ip4addr() for A values: '2' -> 127.0.0.2, '127.5' -> 127.0.0.5,
    '10.1.2' -> 10.1.0.2; returns (dotted A or None, rest of text)."""
    m = _A_SHORT.match(text)
    if not m:
        return None, text
    octs = [int(x) for x in m.groups() if x is not None]
    if any(o > 255 for o in octs) or not any(octs):  # rbldnsd: A 0 / 0.0.0.0 is invalid
        return None, text
    if len(octs) == 1:
        a = [127, 0, 0, octs[0]]
    elif len(octs) == 2:
        a = [octs[0], 0, 0, octs[1]]
    elif len(octs) == 3:
        a = [octs[0], octs[1], 0, octs[2]]
    else:
        a = octs
    if a == [0, 0, 0, 0]:
        return None, text
    return ".".join(map(str, a)), text[m.end():]


def parse_value_msg(text: str, default: Listing) -> tuple[Listing | None, str | None]:
    """The value part of an entry or default line (rbldnsd's parse_a_txt()):
    (value or None when the line must be skipped, warning or None).

    ':A:TXT' -> both; ':A:' -> A and no TXT; ':A' -> A and the default TXT; 'TXT' ->
    default A with this TXT. After ':A' only a second ':' or the end of the line may
    follow (rbldnsd rejects ':5 # comment'); everything after ':A:' is TXT, '#' included.
    A TXT longer than 255 bytes is cut to 255, with a warning.
    """
    s = text.lstrip(" \t")
    if s.startswith(":"):
        a, rest = parse_a(s[1:])
        if a is None:
            return None, "invalid A RR"
        rest = rest.lstrip(" \t")
        if rest.startswith(":"):
            txt = rest[1:].lstrip(" \t")
        elif rest == "":
            return Listing(a, default.txt), None
        else:
            return None, "unrecognized value for an entry"
    else:
        a, txt = default.a, s
    if not txt:
        return Listing(a, None), None
    capped = cap_template(txt)
    return Listing(a, capped), (None if capped == txt else "TXT RR truncated to 255 bytes")


def entry_value(rest: str, default: Listing) -> tuple[Listing | None, str | None]:
    """Value after an entry's subject: (value, warning). Nothing or a comment (`#`, `;`)
    -> the default. A None value means the entry is skipped (rbldnsd drops it)."""
    rest = rest.lstrip(" \t")
    if not rest or rest[0] in "#;":
        return default, None
    return parse_value_msg(rest, default)


def entry_vid(c: Collector, excl: bool, rest: str, default: Listing) -> tuple[int | None, str | None]:
    """An entry's value id in `c` and its warning: EXCL for an exclusion (which ignores
    what follows), else the value after the subject (entry_value). A None id means the
    entry is skipped and the warning says why."""
    if excl:
        return EXCL, None
    v, warn = entry_value(rest, default)
    if v is None:
        return None, warn
    return c.value_id(v), warn


# ------------------------------------------------------------------------- specials
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(s: str) -> int | None:
    """'3600', '35m', '1w2d' ... -> seconds (rbldnsd time units)."""
    s = s.strip().lower()
    if not s:
        return None
    total, num = 0, ""
    for ch in s:
        if ch.isdigit():
            num += ch
        elif ch in _UNITS and num:
            total += int(num) * _UNITS[ch]
            num = ""
        else:
            return None
    if num:
        total += int(num)
    return total if total < 1 << 32 else None


def _parse_stamp(s: str) -> int | None:
    """yyyy[:-]mm[:-]dd[[:-]hh[[:-]mi[[:-]ss]]] (UTC) -> epoch; '0' or '-' -> None."""
    digits = re.sub(r"[:-]", "", s)
    if not digits.isdigit() or len(digits) not in (8, 10, 12, 14):
        raise ValueError(s)
    parts = [int(digits[0:4]), int(digits[4:6]), int(digits[6:8])]
    for i in range(8, len(digits), 2):
        parts.append(int(digits[i:i + 2]))
    parts += [0] * (6 - len(parts))
    y, mo, d, h, mi, se = parts
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and se < 60):
        raise ValueError(s)
    return calendar.timegm((y, mo, d, h, mi, se))


def special(c: Collector, line: str, where: Place) -> str | None:
    """Apply one special line (without its leading '$'); return a warning or None."""
    m = c.meta
    word, _, rest = line.partition(" ")
    if "\t" in word:
        word, _, rest2 = line.partition("\t")
        rest = rest2
    key = word.upper()
    args = rest.split()
    if key == "SOA":
        if m.soa is not None:
            return None
        if len(args) != 8:
            return "invalid or unrecognized special entry"
        nums = [parse_time(x) for x in (args[0], *args[4:])]
        times = [n for n in nums if n is not None]
        if not args[3].isdigit() or len(times) != len(nums):
            return "invalid or unrecognized special entry"
        soa_ttl, refresh, retry, expire, minttl = times
        m.soa = SOA(soa_ttl or None, args[1].rstrip(".").lower(), args[2].rstrip(".").lower(),
                    int(args[3]) & 0xFFFFFFFF, refresh, retry, expire, minttl)
        return None
    if key == "NS":
        if m.ns is not None:
            return None
        if len(args) < 2:
            return "invalid or unrecognized special entry"
        ttl = parse_time(args[0])
        if ttl is None:
            return "invalid or unrecognized special entry"
        names = tuple(n.rstrip(".").lower() for n in args[1:] if not n.startswith("-"))[:32]
        m.ns = NS(ttl or None, names)
        return None
    if key == "TTL":
        ttl = parse_time(args[0]) if len(args) == 1 else None
        if ttl is None:
            return "invalid or unrecognized special entry"
        m.ttl = ttl
        return None
    if key == "TIMESTAMP":
        if not 1 <= len(args) <= 2:
            return "invalid or unrecognized special entry"
        try:
            stamp = None if args[0] in ("0", "-") else _parse_stamp(args[0])
            exp = None
            if len(args) == 2 and args[1] not in ("0", "-"):
                if args[1].startswith("+"):
                    rel = parse_time(args[1][1:])
                    if rel is None or stamp is None:
                        raise ValueError(args[1])
                    exp = stamp + rel
                else:
                    exp = _parse_stamp(args[1])
        except ValueError:
            return "invalid timestamp"
        import time
        if stamp is not None and stamp > time.time():
            raise ZoneFileError(f"{where.file}:{where.line}: $TIMESTAMP is in the future; "
                                "refusing to load the file")
        m.timestamp = stamp if stamp is not None else m.timestamp
        if exp is not None:
            m.expires = exp if m.expires is None else min(m.expires, exp)
        return None
    if key == "MAXRANGE4":
        if len(args) != 1:
            return "invalid or unrecognized special entry"
        a = args[0]
        if a.startswith("/") and a[1:].isdigit() and int(a[1:]) <= 32:
            n = 1 << (32 - int(a[1:]))
        elif a.isdigit() and int(a) > 0:
            n = int(a)
        else:
            return "invalid or unrecognized special entry"
        if m.maxrange4 is not None and n > m.maxrange4:
            return f"ignoring attempt to increase $MAXRANGE4 from {m.maxrange4} to {n}"
        m.maxrange4 = n
        return None
    if len(key) == 1 and key.isdigit() and key.isascii():
        if not rest.strip():
            return "invalid or unrecognized special entry"
        m.variables.setdefault(int(key), rest.strip(" \t"))
        return None
    if key == "=":
        if not rest.strip():
            return "invalid or unrecognized special entry"
        if m.base is None:
            m.base = rest.strip(" \t")
        return None
    return "invalid or unrecognized special entry"


# ----------------------------------------------------------------------------- files
@contextmanager
def open_data(path: str) -> Iterator[io.BufferedIOBase]:
    """A file opened for reading its bytes, gunzipped transparently; any read error
    inside the block becomes a ZoneFileError."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            yield gzip.open(f) if head == b"\x1f\x8b" else f
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ZoneFileError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) and e.strerror else e}") from None


def read_data(path: str) -> bytes:
    """A whole file's bytes, gunzipped transparently; ZoneFileError when unreadable."""
    with open_data(path) as stream:
        return stream.read()


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yield (lineno, text) of a file: gzip read transparently; bytes that are not
    UTF-8 survive through surrogateescape; leading/trailing blanks (space and tab only,
    as rbldnsd: a CR stays, so CRLF lines are invalid there too) and the newline removed."""
    text = read_data(path).decode("utf-8", "surrogateescape")
    for no, line in enumerate(text.split("\n"), 1):
        yield no, line.strip(" \t")


def file_mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def file_lines(files: Iterable[str]) -> Iterator[TextItem]:
    """Yield (path, lineno, text) over several files, with (path, 0, None) before each file."""
    for path in files:
        yield path, 0, None
        for no, line in read_lines(path):
            if line:
                yield path, no, line


def is_special(line: str) -> str | None:
    """The body of a special line ('$X', '#$X', ';$X' or ':$X'), else None."""
    ch = line[0]
    if ch == "$":
        return line[1:]
    if ch in "#;:" and line[1:2] == "$":
        return line[2:]
    return None


def load_lines(c: Collector, fmt: Format, items: Iterable[Item]) -> None:
    """Run (path, lineno, text) items through one format into one collector."""
    default = Listing(DEFAULT_A, None)
    for path, no, line in items:
        if line is None:  # a new file: defaults are scoped to their file
            c.meta.mtime = max(c.meta.mtime, file_mtime(path))
            default = Listing(DEFAULT_A, None)
            continue
        if not isinstance(line, str):  # lines parsed by a compiled path (fast4.py)
            line(c, default)
            continue
        where = Place(path, no)
        body = is_special(line)
        if body is not None:
            msg = special(c, body, where)
            if msg:
                c.warnings.append(LineWarning(path, no, msg))
            continue
        ch = line[0]
        if ch == "#" or ch == ";":
            continue
        if ch == ":" and line[1:2] != ":" and not fmt.own_defaults:  # "::1" is an address
            v, msg = parse_value_msg(line, default)
            if msg:
                c.warnings.append(LineWarning(path, no, msg))
            if v is not None:
                default = v
                if c.first_default is None:
                    c.first_default = v
            continue
        msg = fmt.line(c, line, default, where)
        if msg:
            c.warnings.append(LineWarning(path, no, msg))
