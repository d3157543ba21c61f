"""Bounces: in a bounce, an SMTP reply or a mail log line, the address (or domain) it says
was blocked and the list it names. Text only: which catalogue entry or configured zone a
name means is explain's (tools/explain.py).

    b = parse("554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using "
              "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.7")
    b.subject, b.named, b.mta    # '203.0.113.7', 'zen.spamhaus.org', 'postfix'

The blocked address is the one the wording says was blocked ("Client host [x] blocked
using L", "x is listed at L", "banned sending IP [x]" ...); failing that, an address in
the text outside the lines that name other hosts (Received headers, Remote-MTA, the
remote MX of "host mx[ip] said:", relay=), never an answer code in 127.0.0.0/8. The list
is the one the wording names ("blocked using L", "listed in L", MDaemon's "L - failed"),
else the first known list name (`known`) anywhere in the text.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass

from ..errors import BounceError

#: the most text parse reads (characters), once the base64 lines of attachments (a
#: returned message's) are left out: a bounce's text, a reply or a few log lines
MAX_TEXT = 256 * 1024
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{40,}={0,2}[ \t]*(?:\n|\Z)", re.M)

#: a subject as bounces write it: [a.b.c.d], [IPv6:x::y], Gmail's [a.b.c.d   12], or bare
#: (each token is matched once, from its start, possessively: no backtracking into it)
_SUBJ = (r"(?:\[(?:IPv6:)?(?P<b>[^\]\[\s]++)(?:\s+\d+)?\]"
         r"|(?<![\w.:\[-])(?P<s>[0-9A-Za-z][\w.:-]*+))")
#: a list as bounces name it: a zone (zen.spamhaus.org) or a word (Spamhaus)
_LIST = r"(?<![\w.-])(?P<l>[A-Za-z0-9][\w.-]*+)"
_ON = r"(?:in|at|on|by)(?:\s+the)?(?:\s+(?:DNS-?BL:?|domain))?"  # dnsblog: listed by domain L
_LISTED = r"(?:listed|blacklisted|blocklisted|black-listed|blocked|found|rejected|banned)"

#: (what the wording is, pattern): the subject and the list in one phrase, best first
_BOTH_TEXT = [
    ("blocked using", rf"{_SUBJ}\s+blocked\s+using\s+{_LIST}"),  # Postfix reject_rbl_client
    ("in a black list at", rf"{_SUBJ}\s+is\s+in\s+a\s+black\s+list\s+at\s+{_LIST}"),  # Exim
    ("listed at", rf"{_SUBJ}\s+(?:is\s+|was\s+|has\s+been\s+)?(?:currently\s+)?{_LISTED}"
                  rf"\s+{_ON}\s+{_LIST}"),  # Exim ACLs, Sendmail's dnsbl, others
]
#: the subject alone: the list is named elsewhere (or is the receiver's own)
_SUBJECT_ONLY_TEXT = [
    ("banned sending IP", rf"banned\s+sending\s+IP\s+{_SUBJ}"),  # Office 365 5.7.606-649
    ("messages from", rf"messages\s+from\s+{_SUBJ}\s+weren't\s+sent"),  # Outlook.com S3150
    ("DNS-BL lookup", rf"DNS-BL\s+lookup\s+\(\s*{_SUBJ}\s+-"),  # MDaemon
    ("client", rf"(?:client\s+host|client|sending\s+IP|connecting\s+IP|sender\s+IP|"
               rf"source\s+IP|your\s+IP(?:\s+address)?|IP\s+address)\s+{_SUBJ}"),
    ("leading [address]", rf"^[ \t]*\[(?P<b2>[0-9A-Fa-f.:]++)(?:[ \t]+\d+)?\]"),  # Gmail
]
#: the list alone
_LIST_ONLY_TEXT = [
    ("- failed", rf"{_LIST}\s+-\s+failed\b"),  # MDaemon: the list the address failed
    ("blocked using", rf"blocked\s+using\s+{_LIST}"),
    ("listed in", rf"{_LISTED}\s+{_ON}\s+{_LIST}"),
]
_BOTH = [(w, re.compile(p, re.I)) for w, p in _BOTH_TEXT]
_SUBJECT_ONLY = [(w, re.compile(p, re.I | (re.M if w.startswith("leading") else 0)))
                 for w, p in _SUBJECT_ONLY_TEXT]
_LIST_ONLY = [(w, re.compile(p, re.I)) for w, p in _LIST_ONLY_TEXT]

#: header lines and phrases that name other hosts than the blocked one
_WEAK = re.compile(
    r"^(?:Received|Remote-MTA|Reporting-MTA|Message-ID|DKIM-Signature|X-[\w-]+|ARC-[\w-]+|"
    r"Authentication-Results|Return-Path|In-Reply-To|References|Arrival-Date|Received-From-MTA)"
    r":.*(?:\n[ \t]+.*)*", re.I | re.M)
_WEAK_PHRASE = re.compile(r"\bhost\s+\S+\[[^\]\s]+\]\s+said:|\brelay=\S+|"  # Postfix
                          r"\bhost\s+\S+\s+\[[^\]\s]+\](?=\s+SMTP\s+error)", re.I)  # Exim
#: an SMTP reply's code at the start of a line (multi-line replies: 550-5.7.1 ...)
_REPLY_CODE = re.compile(r"^[ \t>]*[245]\d\d[- ](?:[245]\.\d{1,3}\.\d{1,3}(?:-\d{1,3})?[ \t]+)?",
                         re.M)
#: a continuation code inside a line, as a DSN quotes a multi-line reply (said: 550-x ...)
_INNER_CODE = re.compile(r"(?<!\S)[245]\d\d-(?=\S)")
_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s<>\"')\]]+")
_IP4 = re.compile(r"(?<![\w.:-])(\d{1,3}(?:\.\d{1,3}){3})(?![\w-]|\.\d)")
_IP6 = re.compile(r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d+(?:\.\d+){3})?)"
                  r"(?![\w:])")
_DOMAIN = re.compile(r"(?<![\w.-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                     r"[A-Za-z]{2,63})(?![\w-])")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\Z")

#: (MTA, markers), first match wins (Exchange Online also says "blocked using"); each
#: marker starts with literal text, searched for in the lowercased text
_MTAS = [(mta, [re.compile(m) for m in markers]) for mta, markers in [
    ("exchange", [r"5\.7\.6\d\d\b", r"\(s\d{3,}\)", r"\(as\d{3,}\)", r"as\(\d+\)",
                  r"outlook\.com", r"office\.com", r"messaging\.microsoft\.com",
                  r"remote server returned"]),
    ("gmail", [r"gsmtp\b", r"support\.google\.com/mail"]),
    ("mdaemon", [r"dns-bl\b"]),
    ("sendmail", [r"ruleset=check_", r"sm-mta\b", r"sendmail\[\d", r"rejected: \S+ listed at"]),
    ("exim", [r" h=", r"rejected (?:rcpt|mail|connection)\b", r"is in a black list at"]),
    ("postfix", [r"postfix/", r"blocked using\b", r"\] said:", r"\(in reply to [a-z]"]),
]]


@dataclass(frozen=True)
class Bounce:
    """What a bounce says. subject None: no blocked address found (see `seen`)."""

    #: the address or domain the text says was blocked
    subject: str | None
    #: "ip" or "name" (None without a subject)
    kind: str | None
    #: the list as the text names it, lowercased (a zone, or a name such as "spamhaus")
    named: str | None
    #: the mail system whose wording it is: postfix, exim, sendmail, mdaemon, exchange,
    #: gmail (None: not recognised)
    mta: str | None
    #: which wording gave the subject ("blocked using", "listed at", "address in the text" ...)
    how: str | None
    #: the links in the text (a list's lookup or removal page, often)
    links: tuple[str, ...] = ()
    #: addresses the text names for other hosts (Received, the remote MX ...), not taken
    seen: tuple[str, ...] = ()
    #: domains in the text, in order (lists and link hosts left out): RHSBL candidates
    domains: tuple[str, ...] = ()


def parse(text: str, zones: Collection[str] = (), names: Collection[str] = ()) -> Bounce:
    """The Bounce of `text`. `zones` (list zones) and `names` (other names lists go by:
    "spamhaus", "barracudacentral.org") are the known list names: accepted as the list
    named (beside anything shaped like a zone) and found anywhere in the text, a zone
    before a name. BounceError: over MAX_TEXT."""
    raw = _BASE64_LINE.sub("", text.replace("\r\n", "\n"))
    if len(raw) > MAX_TEXT:
        raise BounceError(f"the text is over {MAX_TEXT >> 10} KiB (attachments left out): "
                          "explain reads one bounce, a reply or a few log lines; for whole "
                          "logs use `rblmirror scan --extract`")
    raw = _INNER_CODE.sub("", _REPLY_CODE.sub("", raw))
    seen: list[str] = []
    for m in _WEAK.finditer(raw):
        seen += _addresses(m.group(0))
    strong = _WEAK.sub(" ", raw)
    for m in _WEAK_PHRASE.finditer(strong):
        seen += _addresses(m.group(0))
    strong = _WEAK_PHRASE.sub(" ", strong)
    links = tuple(dict.fromkeys(u.rstrip(".,;:") for u in _URL.findall(strong)))
    flat = re.sub(r"\s+", " ", strong)
    zone_keys = {k.lower().rstrip(".") for k in zones}
    keys = zone_keys | {k.lower() for k in names}

    subject, named, how = None, None, None
    for what, pat in _BOTH:
        for m in pat.finditer(flat):
            s, listed = _subject(m), _list(m.group("l"), keys)
            if s is not None and listed is not None:
                subject, named, how = s, listed, what
                break
        if subject is not None:
            break
    if subject is None:
        for what, pat in _SUBJECT_ONLY:
            for m in pat.finditer(strong if what.startswith("leading") else flat):
                s = _subject(m)
                if s is not None:
                    subject, how = s, what
                    break
            if subject is not None:
                break
    if named is None:
        named = _named(flat, keys, zone_keys)
    domains = _domains(_unlinked(flat), named, keys)
    if subject is None:
        ips = [a for a in _addresses(_unlinked(flat, keep_query=True)) if not _answer(a)]
        if ips:
            subject, how = ips[0], "address in the text"
    seen_out = tuple(a for a in dict.fromkeys(seen) if a != subject)
    kind = None if subject is None else ("ip" if _ip(subject) else "name")
    return Bounce(subject, kind, named, _mta(re.sub(r"\s+", " ", raw)), how, links, seen_out,
                  domains)


def _subject(m: re.Match[str]) -> str | None:
    """The address or domain a pattern captured, cleaned; None when it is neither."""
    groups = m.groupdict()
    s = groups.get("b") or groups.get("s") or groups.get("b2")
    if not s:
        return None
    s = s.strip().rstrip(".,;:")
    if _ip(s):
        return str(ipaddress.ip_address(s))
    if _domain(s):
        return s.lower().rstrip(".")
    return None


def _list(token: str, keys: Collection[str]) -> str | None:
    t = token.lower().rstrip(".-_")
    return t if t in keys or _domain(t) else None


def _named(flat: str, keys: Collection[str], zones: Collection[str]) -> str | None:
    """The list named in the text: its wording first, else the known name found first
    (a zone before a name such as "spamhaus": zones are the more precise)."""
    for _, pat in _LIST_ONLY:
        for m in pat.finditer(flat):
            hit = _list(m.group("l"), keys)
            if hit is not None:
                return hit
    best: tuple[int, int, str] | None = None
    low = flat.lower()
    for k in keys:
        at = _find(low, k)
        if at >= 0:
            rank = (0 if k in zones else 1, at, k)
            if best is None or rank < best:
                best = rank
    return None if best is None else best[2]


def _find(low: str, name: str) -> int:
    """Where `name` first stands in `low` as a whole name (not inside a longer one:
    "sbl.spamhaus.org" is not in "sbl-xbl.spamhaus.org"); -1: nowhere."""
    at = low.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or not _name_char(low[at - 1])) and (end == len(low) or
                                                          not _name_char(low[end])):
            return at
        at = low.find(name, at + 1)
    return -1


def _name_char(c: str) -> bool:
    return c.isalnum() or c in "-_"


def _domains(text: str, named: str | None, keys: Collection[str]) -> tuple[str, ...]:
    """The domains in `text` that are not lists, nearest before the list's mention first
    ("<offers@spam.example>: Sender address rejected: listed in dbl.spamhaus.org"), then
    the ones after it; in text order when no list is named."""
    low = text.lower()
    at = low.find(named) if named else -1
    found = []
    for m in _DOMAIN.finditer(low):
        d = m.group(1)
        if d == named or _is_list(d, keys):
            continue
        pos = m.start()
        found.append(((0, at - pos) if 0 <= pos < at else (1, pos), d))
    return tuple(dict.fromkeys(d for _, d in sorted(found)))


def _is_list(d: str, keys: Collection[str]) -> bool:
    """A domain that names a list (a zone, or a host of a list's own site)."""
    return d in keys or any(d.endswith("." + k) for k in keys if "." in k)


def _unlinked(flat: str, keep_query: bool = False) -> str:
    """The text without its URLs (keep_query: without their hosts only, so that an address
    in a lookup link, ...bl.shtml?203.0.113.7, still counts)."""
    if not keep_query:
        return _URL.sub(" ", flat)
    return _URL.sub(lambda m: " " + re.sub(r"^https?://[^/?#]*", "", m.group(0)) + " ", flat)


def _addresses(text: str) -> list[str]:
    """The IPv4 and IPv6 addresses in `text`, in order, each once."""
    text = re.sub(r"(?i)\bIPv6:", " ", text)
    found: list[tuple[int, str]] = []
    for rx in (_IP4, _IP6):
        for m in rx.finditer(text):
            if _ip(m.group(1)):
                found.append((m.start(), str(ipaddress.ip_address(m.group(1)))))
    return list(dict.fromkeys(a for _, a in sorted(found)))


def _ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def _answer(a: str) -> bool:
    """A DNSBL answer code (127.0.0.0/8) or no address at all: never the blocked host."""
    ip = ipaddress.ip_address(a)
    return ip.is_loopback or ip.is_unspecified


def _domain(s: str) -> bool:
    """A domain name with a top-level label of letters (mx.example.net, not 'domain')."""
    labels = s.lower().rstrip(".").split(".")
    return (len(labels) >= 2 and labels[-1].isalpha() and len(labels[-1]) >= 2
            and all(_LABEL.match(x) for x in labels) and len(s) <= 253)


def _mta(flat: str) -> str | None:
    low = flat.lower()
    for name, markers in _MTAS:
        if any(m.search(low) for m in markers):
            return name
    return None

