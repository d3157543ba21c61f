"""rbldnsd's command line, read as rbldnsd reads it (getopt, GNU-style: `-nq`,
`-b127.0.0.1`, options after the zones), into `RbldnsdArgs`; nothing is started here.

    args = parse(["-n", "-b", "127.2/5353", "bl.example:ip4set:list"])
    args.listen()          # ["127.0.0.2:5353"]: each -b resolved as rbldnsd binds it
    args.zone_specs()      # [ZoneSpec], the files below -r ROOT and -w WORKDIR
    args.warnings()        # what is accepted but not done here, one line each

A bad option or value raises `UsageError` with rbldnsd's own message ("invalid ttl (-t)
value `foo'"); `-h` raises `HelpRequested`. rblmirror.tools.rbldnsd runs the result.
"""
from __future__ import annotations

import getopt
import os
import socket
from dataclasses import dataclass, field

from .. import endpoint
from ..errors import RblmirrorError, ZoneSpecError
from ..zonespec import DEFAULT_TTL, ZoneSettings, ZoneSpec

#: rbldnsd.c's getopt string (1.0pre)
OPTSTRING = "u:r:b:w:t:c:p:nel:qs:h46dvaAfF:Cx:X:"
#: at most this many -b (rbldnsd's MAXSOCK)
MAX_BIND = 20
DEFAULT_CHECK = 60  # -c: 1m
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SYSLOG_FACILITIES = ("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail",
                     "news", "syslog", "user", "uucp", *(f"local{i}" for i in range(8)))


class UsageError(RblmirrorError):
    """bad rbldnsd command line"""

    def __init__(self, message: str | None = None, hint: bool = False):
        super().__init__(message)
        #: rbldnsd follows this message with "type `rbldnsd -h' for help"
        self.hint = hint


class HelpRequested(Exception):
    """-h: print the usage and exit 0"""


@dataclass
class RbldnsdArgs:
    """rbldnsd's options, with rbldnsd's defaults."""

    zones: list[str] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    family: int = socket.AF_UNSPEC  # -4 / -6
    user: str | None = None
    group: str | None = None
    rootdir: str | None = None
    workdir: str | None = None
    pidfile: str | None = None
    ttl: tuple[int, int, int] = (DEFAULT_TTL, 0, 0)  # -t def:min:max (0: no constraint)
    ttl_given: bool = False
    check: int = DEFAULT_CHECK  # -c seconds, 0: no automatic reload
    foreground: bool = False  # -n
    accept_in_cidr: bool = False  # -e
    quick: bool = False  # -q
    logfile: str | None = None  # -l ("-": standard output)
    log_flush: bool = False  # -l +FILE
    statsfile: str | None = None  # -s
    stats_relative: bool = False  # -s +FILE
    dump: bool = False  # -d
    hide_version: int = 0  # -v count
    lazy: bool | None = None  # -a True, -A False (here always lazy, as -a)
    fork_on_reload: bool = False  # -f
    facility: str | None = None  # -F
    no_uncompress: bool = False  # -C
    extension: str | None = None  # -x
    extarg: str | None = None  # -X

    def listen(self) -> list[str]:
        """Each -b as ADDR:PORT (endpoint's form), resolved as rbldnsd resolves it
        (getaddrinfo, passive, the -4/-6 family; a name with several addresses gives
        each; the port defaults to 53, a service name is looked up)."""
        out: list[str] = []
        for b in self.binds:
            for a in resolve_bind(b, self.family):
                if a not in out:
                    out.append(a)
        return out

    def cwd(self) -> str:
        """The folder rbldnsd reads relative zone files from, as seen from here: -w below
        -r (rbldnsd chdirs to the root, chroots, then chdirs to -w); rblmirror does not
        chroot, so it reads -r's files below ROOT."""
        root = os.path.abspath(self.rootdir) if self.rootdir else None
        work = self.workdir
        if root is None:
            return os.path.abspath(work or ".")
        if not work:
            return root
        return os.path.normpath(root + "/" + work) if os.path.isabs(work) \
            else os.path.normpath(os.path.join(root, work))

    def path_of(self, file: str) -> str:
        """A zone file's path here: an absolute one below -r's root (rbldnsd opens it
        inside its chroot), a relative one below cwd()."""
        if os.path.isabs(file):
            return os.path.normpath(os.path.abspath(self.rootdir) + "/" + file) \
                if self.rootdir else file
        return os.path.normpath(os.path.join(self.cwd(), file))

    def zone_specs(self) -> list[ZoneSpec]:
        """The zones, read as `serve --zone` reads them (ZoneSpec.parse, one home), their
        files where rbldnsd would open them (path_of) and -t's TTLs in their settings
        (one settings object for all)."""
        settings = ZoneSettings(ttl=self.ttl)
        out = []
        for z in self.zones:
            try:
                spec = ZoneSpec.parse(z)
            except ZoneSpecError as e:
                raise UsageError(str(e)) from None
            out.append(ZoneSpec(spec.name, spec.format,
                                tuple(self.path_of(f) for f in spec.files), settings))
        return out

    def warnings(self) -> list[str]:
        """One line per option accepted but not done as rbldnsd does it here."""
        w: list[str] = []
        if self.rootdir:
            w.append(f"-r {self.rootdir}: no chroot; zone files are read below it")
        if self.hide_version == 1:
            w.append("-v: version.bind is always refused here (as rbldnsd -vv does)")
        if self.lazy is False:
            w.append("-A: ignored; positive replies carry no AUTH section (NS records), "
                     "as with rbldnsd -a")
        if self.accept_in_cidr:
            w.append("-e: ignored; a CIDR whose address has host bits set is reported "
                     "and skipped")
        if self.fork_on_reload:
            w.append("-f: not needed; reloads never stop the answers here")
        if self.facility:
            w.append(f"-F {self.facility}: ignored; logs go to standard error")
        if self.no_uncompress:
            w.append("-C: ignored; compressed zone files are not read here anyway")
        if self.extension or self.extarg:
            w.append("-x/-X: rbldnsd extensions cannot be loaded here; ignored")
        return w

    def query_log(self) -> tuple[str, bool] | None:
        """-l's (path, unbuffered) for serve(): "-" is standard output; a relative path
        is opened where rbldnsd opens it (path_of, as a zone file)."""
        if not self.logfile:
            return None
        path = "/dev/stdout" if self.logfile == "-" else self.path_of(self.logfile)
        return path, self.log_flush

    def stats_file(self) -> tuple[str, bool] | None:
        """-s's (path, relative) for serve()."""
        return (self.path_of(self.statsfile), self.stats_relative) if self.statsfile else None


def parse(argv: list[str]) -> RbldnsdArgs:
    """argv (without the program name) into RbldnsdArgs; UsageError with rbldnsd's
    message for a bad option or value, HelpRequested for -h."""
    try:
        opts, rest = getopt.gnu_getopt(argv, OPTSTRING)
    except getopt.GetoptError as e:
        if e.opt and "requires argument" in e.msg:
            raise UsageError(f"option requires an argument -- '{e.opt}'", hint=True) from None
        raise UsageError(f"invalid option -- '{e.opt or e.msg}'", hint=True) from None
    a = RbldnsdArgs()
    for opt, val in opts:
        o = opt[1]
        if o == "u":
            user, sep, group = val.partition(":")
            a.user, a.group = user, (group if sep else None)
        elif o == "r":
            a.rootdir = val
        elif o == "b":
            if len(a.binds) >= MAX_BIND:
                raise UsageError(f"too many addresses to listen on ({MAX_BIND} max)")
            a.binds.append(val)
        elif o == "4":
            a.family = socket.AF_INET
        elif o == "6":
            a.family = socket.AF_INET6
        elif o == "w":
            a.workdir = val
        elif o == "p":
            a.pidfile = val
        elif o == "t":
            a.ttl, a.ttl_given = parse_ttl_option(val, a.ttl), True
        elif o == "c":
            c = parse_time(val)
            if c is None:
                raise UsageError(f"invalid check interval (-c) value `{val[:50]}'")
            a.check = c
        elif o == "n":
            a.foreground = True
        elif o == "e":
            a.accept_in_cidr = True
        elif o == "l":
            a.log_flush = val.startswith("+")
            a.logfile = val[1:] if a.log_flush else val
            if not a.logfile:
                a.logfile, a.log_flush = None, False
        elif o == "s":
            a.stats_relative = val.startswith("+")
            a.statsfile = (val[1:] if a.stats_relative else val) or None
        elif o == "q":
            a.quick = True
        elif o == "d":
            a.dump = True
        elif o == "v":
            a.hide_version += 1
        elif o == "a":
            a.lazy = True
        elif o == "A":
            a.lazy = False
        elif o == "f":
            a.fork_on_reload = True
        elif o == "F":
            a.facility = val
        elif o == "C":
            a.no_uncompress = True
        elif o == "x":
            a.extension = val
        elif o == "X":
            a.extarg = val
        elif o == "h":
            raise HelpRequested()
    if not rest:
        raise UsageError("no zone(s) to service specified (-h for help)")
    a.zones = rest
    if a.facility is not None and a.facility.lower() not in SYSLOG_FACILITIES:
        raise UsageError(f"log facility {a.facility} is not valid")
    return a


def parse_time(text: str) -> int | None:
    """rbldnsd's time value: digits with an optional unit s, m, h, d or w (any case);
    None when it is not one (or does not fit 32 bits)."""
    n, rest = _time_prefix(text)
    return n if n is not None and rest == "" else None


def _time_prefix(text: str) -> tuple[int | None, str]:
    i = 0
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 0:
        return None, text
    n = int(text[:i])
    rest = text[i:]
    if rest[:1].lower() in _UNITS:
        n *= _UNITS[rest[0].lower()]
        rest = rest[1:]
    if n > 0xFFFFFFFF:
        return None, text
    return n, rest


def parse_ttl_option(text: str, current: tuple[int, int, int]) -> tuple[int, int, int]:
    """-t defttl:minttl:maxttl, any part left out (also its trailing colons) keeping its
    value; rbldnsd's checks and messages."""
    deft, mint, maxt = current
    p = text
    if p.startswith(":"):
        p = p[1:]
    else:
        v, p = _time_prefix(p)
        if v is None or v == 0 or (p and not p.startswith(":")):
            raise UsageError(f"invalid ttl (-t) value `{text[:50]}'")
        deft, p = v, p[1:]
    if p.startswith(":"):
        p = p[1:]
    elif p:
        v, p = _time_prefix(p)
        if v is None or (p and not p.startswith(":")):
            raise UsageError(f"invalid minttl (-t) value `{text[:50]}'")
        mint, p = v, p[1:]
    if p.startswith(":"):
        p = p[1:]
    elif p:
        v, p = _time_prefix(p)
        if v is None or (p and not p.startswith(":")):
            raise UsageError(f"invalid maxttl (-t) value `{text[:50]}'")
        maxt, p = v, p[1:]
    if p:
        raise UsageError(f"invalid value for -t (ttl) option: `{text[:50]}'")
    if (mint and maxt and mint > maxt) or (mint and deft < mint) or (maxt and deft > maxt):
        raise UsageError(f"inconsistent def:min:max ttl: {deft}:{mint}:{maxt}")
    return deft, mint, maxt


def resolve_bind(bind: str, family: int = socket.AF_UNSPEC) -> list[str]:
    """One -b ADDRESS[/PORT] as rbldnsd binds it: ["127.0.0.2:53"] for `127.2`; UsageError
    with rbldnsd's message ("1.2.3.4.5: Name or service not known")."""
    host, sep, serv = bind.partition("/")
    if sep and not host:
        raise UsageError(f"missing host part in bind address `{bind[:60]}'")
    try:
        infos = socket.getaddrinfo(host, serv or "domain", family, socket.SOCK_DGRAM,
                                   0, socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"{bind[:60]}: {e.strerror}") from None
    out: list[str] = []
    for _fam, _type, _proto, _name, sa in infos:  # (AF_INET and AF_INET6 only, by type)
        h, port = str(sa[0]), int(sa[1])
        text = endpoint.format(h, port)
        if text not in out:
            out.append(text)
    if not out:
        raise UsageError(f"{bind[:60]}: no available protocols")
    return out
