"""Configuration lines for the programs that consume our zones: Postfix (smtpd and
postscreen), unbound, SpamAssassin, Exim and rspamd; and dnsdist balancing replicas.

    infos = zone_infos(config_path, zone_specs)            # names and kinds, no data loaded
    print(render("postfix", infos, server="127.0.0.1:5353"))

A zone is an **IP list** (ip4set, ip4trie, ip4tset, ip6*, plain, combined), a **domain
list** (dnset) or an **allowlist**. A zone is an allowlist when it is named with
`allowlist=` or when one of its labels ends in "wl" or starts with "white" or "allow"
(`wl.rblmirror.test`, `list.dnswl.org`, `ips.whitelisted.org`). Blocklists match the
RFC 5782 / Postfix codes 127.0.0.2 to 127.0.0.11; allowlists match DNSWL-style codes
127.0.X.Y with Y (the trust level) from 1 to 3, as dnswl.org's Postfix instructions do.
A zone that serves a catalogued list (mirror.zoneset.catalogued) matches exactly that
list's listing codes instead (never its error codes; a blocklist's no_block codes left
out), and a catalogued allowlist is an allowlist.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .. import endpoint
from ..errors import RblmirrorError

if TYPE_CHECKING:
    from ..zonespec import ZoneSpec

DEFAULT_SERVER = "127.0.0.1:5353"

#: RFC 6761/7686/8375 names unbound answers itself unless told `nodefault`
_UNBOUND_DEFAULT_ZONES = ("test", "invalid", "onion", "home.arpa", "localhost")

BLOCK_CODES = "127.0.0.[2..11]"
ALLOW_CODES = "127.0.[0..255].[1..3]"
#: postscreen: weight of one blocklist hit, threshold, weight of an allowlist hit
BLOCK_WEIGHT = 3
ALLOW_WEIGHT = -5
THRESHOLD = 3


@dataclass(frozen=True)
class ZoneInfo:
    """What a consumer needs to know about a zone: no data is loaded for it."""

    name: str
    formats: tuple[str, ...]
    allowlist: bool = False
    #: the catalogue entry's listing codes ("*": any octet) to match; () = the generic set
    codes: tuple[str, ...] = ()
    #: the catalogue entry it serves (None: not catalogued)
    catalogue: str | None = None
    bitmask: bool = False

    @property
    def is_names(self) -> bool:
        """A domain list (dnset): looked up by sender/HELO domain, not by address."""
        return bool(self.formats) and all(f == "dnset" for f in self.formats)

    @property
    def has_ipv6(self) -> bool:
        return any(f.startswith("ip6") or f == "combined" for f in self.formats)

    @property
    def kind(self) -> str:
        return "allowlist" if self.allowlist else ("domain" if self.is_names else "ip")


def looks_like_allowlist(name: str) -> bool:
    return any(label.endswith("wl") or label.startswith(("white", "allow"))
               for label in name.lower().split("."))


def zone_infos(zone_specs: Iterable[str | ZoneSpec] = (), config_path: str | None = None,
               allowlist: Iterable[str] = ()) -> list[ZoneInfo]:
    """The zones of --zone specs (and/or the config: local datasets and mirrored sources),
    in order, with their dataset formats."""
    from ..zonespec import normalize_name
    from ..mirror.replica import data_format
    from ..mirror.zoneset import ZoneSelection, catalogued

    sel = ZoneSelection.from_options(zone_specs, config_path)
    formats: dict[str, list[str]] = {}
    if sel.config is not None:
        cfg = sel.config
        for zc in cfg.zones:
            fl = formats.setdefault(zc.name, [])
            fl.extend(s.format for s in zc.specs)
            # a replica's data format is its primary's (known once pulled)
            fl.extend(data_format(cfg.sources[src], sel.state_dir()) or cfg.sources[src].format
                      for src in zc.sources)
    for s in sel.extra:
        formats.setdefault(s.name, []).append(s.format)
    allow = {normalize_name(a) for a in allowlist}
    unknown = allow - set(formats)
    if unknown:
        raise RblmirrorError(f"--allowlist names no configured zone: {', '.join(sorted(unknown))}")
    entries = catalogued(sel)
    out = []
    for n, f in formats.items():
        entry = entries.get(n)
        is_allow = n in allow or looks_like_allowlist(n) or (
            entry is not None and entry.kind == "allow")
        if entry is None or not entry.codes:  # the catalogue cannot tell: the generic set
            out.append(ZoneInfo(n, tuple(dict.fromkeys(f)), is_allow))
            continue
        out.append(ZoneInfo(n, tuple(dict.fromkeys(f)), is_allow,
                            entry.listing_codes(block=not is_allow), entry.name,
                            entry.bitmask))
    return out


def split_server(server: str) -> tuple[str, int]:
    """"ADDR:PORT" or "[v6]:PORT" -> (addr, port) to ask; a wildcard address becomes
    loopback (endpoint.client_side)."""
    try:
        return endpoint.client_side(server)
    except ValueError as e:
        raise RblmirrorError(f"bad server {e}") from None


def render(kind: str, zones: list[ZoneInfo], server: str = DEFAULT_SERVER,
           weights: dict[str, int] | None = None, threshold: int = THRESHOLD) -> str:
    if kind == "dnsdist":
        raise RblmirrorError("the dnsdist snippet balances replicas: give --replica "
                             "ADDR[:PORT] (one per replica)")
    if kind not in KINDS:
        raise RblmirrorError(f"unknown snippet {kind!r}: one of {', '.join(KINDS)}")
    if not zones:
        raise RblmirrorError("no zones: give --zone NAME:FORMAT:FILE or --config FILE")
    host, port = split_server(server)
    if kind == "postscreen":
        return _postscreen(zones, weights or {}, threshold)
    if kind == "rspamd":
        return _rspamd(zones, host, port, weights or {})
    return _TO_SERVER[kind](zones, host, port)


def _by_kind(zones: list[ZoneInfo]) -> tuple[list[ZoneInfo], list[ZoneInfo], list[ZoneInfo]]:
    ips = [z for z in zones if z.kind == "ip"]
    names = [z for z in zones if z.kind == "domain"]
    allow = [z for z in zones if z.kind == "allowlist"]
    return ips, names, allow


def _octets(code: str) -> list[list[int]]:
    return [list(range(256)) if o == "*" else [int(o)] for o in code.split(".")]


def _ranges(values: Iterable[int]) -> str:
    """Postfix's "[2;4;10..11]" for a set of octet values (a single value bare)."""
    vs = sorted(set(values))
    parts, i = [], 0
    while i < len(vs):
        j = i
        while j + 1 < len(vs) and vs[j + 1] == vs[j] + 1:
            j += 1
        parts.append(str(vs[i]) if i == j else f"{vs[i]}..{vs[j]}")
        i = j + 1
    return parts[0] if len(parts) == 1 and ".." not in parts[0] else "[" + ";".join(parts) + "]"


def postfix_filters(zone: ZoneInfo, generic: str) -> list[str]:
    """The d.d.d.d filters (postconf(5) reject_rbl_client) matching exactly the zone's
    catalogue codes, one per first-three-octets group; `generic` when not catalogued."""
    if not zone.codes:
        return [generic]
    groups: dict[str, set[int]] = {}
    for c in zone.codes:
        head, _, last = c.rpartition(".")
        groups.setdefault(head, set()).update(range(256) if last == "*" else [int(last)])
    return [".".join(_ranges(range(256)) if o == "*" else o for o in head.split(".")) + "."
            + _ranges(vals) for head, vals in groups.items()]


def exim_codes(zone: ZoneInfo, generic: str) -> str:
    """Exim's comma list of addresses (its dnslists compare for equality)."""
    if not zone.codes:
        return generic
    out: list[str] = []
    for c in zone.codes:
        a, b, d, e = _octets(c)
        out += [f"{w}.{x}.{y}.{z}" for w in a for x in b for y in d for z in e]
    return ",".join(dict.fromkeys(out))


def _code_notes(zones: Iterable[ZoneInfo], comment: str = "#") -> list[str]:
    out = []
    for z in zones:
        if z.catalogue is not None:
            out.append(f"{comment} {z.name}: the codes of catalogue entry {z.catalogue}"
                       " (`rblmirror lists`), never its errors")
        if z.bitmask:
            out.append(f"{comment} {z.name}: a bitmask list: every sum of its documented "
                       "bits is listed (the program cannot test single bits here)")
    return out


def _restriction_lines(param: str, items: list[str]) -> list[str]:
    if not items:
        return []
    out = [f"{param} ="]
    out += [f"    {it}," for it in items[:-1]]
    out.append(f"    {items[-1]}")
    return out


def _resolver_note(host: str, port: int) -> list[str]:
    return ["# Postfix asks the system resolver (/etc/resolv.conf): point it at a local",
            f"# resolver that forwards these zones to rblmirror at {host}:{port}",
            "# (see `rblmirror snippets unbound`)."]


def _postfix(zones: list[ZoneInfo], host: str, port: int) -> str:
    ips, names, allow = _by_kind(zones)
    client = [f"permit_dnswl_client {z.name}={f}" for z in allow if not z.is_names
              for f in postfix_filters(z, ALLOW_CODES)]
    client += [f"reject_rbl_client {z.name}={f}" for z in ips
               for f in postfix_filters(z, BLOCK_CODES)]
    lines = ["# main.cf (rblmirror snippets postfix)", *_resolver_note(host, port)]
    lines += _code_notes(ips + names + [z for z in allow if not z.is_names])
    lines += _restriction_lines("smtpd_client_restrictions", client)
    lines += _restriction_lines("smtpd_helo_restrictions",
                                [f"reject_rhsbl_helo {z.name}={f}" for z in names
                                 for f in postfix_filters(z, BLOCK_CODES)])
    lines += _restriction_lines("smtpd_sender_restrictions",
                                [f"reject_rhsbl_sender {z.name}={f}" for z in names
                                 for f in postfix_filters(z, BLOCK_CODES)])
    return "\n".join(lines) + "\n"


def _postscreen(zones: list[ZoneInfo], weights: dict[str, int], threshold: int) -> str:
    ips, _names, allow = _by_kind(zones)
    sites: list[str] = []
    for z in allow:
        if not z.is_names:
            sites += [f"{z.name}={f}*{weights.get(z.name, ALLOW_WEIGHT)}"
                      for f in postfix_filters(z, ALLOW_CODES)]
    for z in ips:
        sites += [f"{z.name}={f}*{weights.get(z.name, BLOCK_WEIGHT)}"
                  for f in postfix_filters(z, BLOCK_CODES)]
    lines = ["# main.cf (rblmirror snippets postscreen)",
             "# Each listing adds its weight; a client whose sum reaches the threshold",
             "# fails the DNSBL test (allowlists count negatively)."]
    lines += _code_notes([z for z in zones if not z.is_names])
    lines += _restriction_lines("postscreen_dnsbl_sites", sites)
    lines += [f"postscreen_dnsbl_threshold = {threshold}",
              "postscreen_dnsbl_action = enforce",
              "# master.cf: postscreen in front of smtpd",
              "#   smtp      inet  n       -       y       -       1       postscreen",
              "#   smtpd     pass  -       -       y       -       -       smtpd",
              "#   dnsblog   unix  -       -       y       -       0       dnsblog",
              "#   tlsproxy  unix  -       -       y       -       0       tlsproxy"]
    return "\n".join(lines) + "\n"


def _unbound(zones: list[ZoneInfo], host: str, port: int) -> str:
    lines = ["# /etc/unbound/unbound.conf.d/rblmirror.conf (rblmirror snippets unbound)",
             "server:",
             "    qname-minimisation: yes",
             "    do-not-query-localhost: no"]
    specials = sorted({s for z in zones for s in _UNBOUND_DEFAULT_ZONES
                       if z.name == s or z.name.endswith("." + s)})
    for s in specials:
        lines.append(f'    local-zone: "{s}." nodefault')
    for z in zones:
        lines.append(f'    domain-insecure: "{z.name}"')
        lines.append(f'    private-domain: "{z.name}"')
    for z in zones:
        lines += ["stub-zone:", f'    name: "{z.name}"', f"    stub-addr: {host}@{port}"]
    return "\n".join(lines) + "\n"


def _sa_rule(zone: ZoneInfo) -> str:
    return "RBLMIRROR_" + re.sub(r"[^A-Z0-9]+", "_", zone.name.upper()).strip("_")


def sa_pattern(codes: Iterable[str]) -> str:
    """A quoted SpamAssassin subtest regex matching exactly `codes` ("*": any octet)."""
    alts = [r"\.".join(r"\d+" if o == "*" else o for o in c.split(".")) for c in codes]
    return "'^(?:" + "|".join(alts) + ")$'"


def _spamassassin(zones: list[ZoneInfo], host: str, port: int) -> str:
    srv = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    block_any = r"'^127\.0\.0\.(?:[2-9]|1[01])$'"
    allow_any = r"'^127\.0\.\d+\.[1-3]$'"
    lines = ["# /etc/spamassassin/local.cf (rblmirror snippets spamassassin)",
             f"dns_server {srv}",
             "dns_available yes"]
    lines += _code_notes(zones)
    for z in zones:
        r = _sa_rule(z)
        block, allowed = (sa_pattern(z.codes),) * 2 if z.codes else (block_any, allow_any)
        if z.kind == "allowlist":
            lines += [f"header   {r}  eval:check_rbl('{r.lower()}', '{z.name}.', {allowed})",
                      f"describe {r}  Sender listed in {z.name} (allowlist)",
                      f"tflags   {r}  net nice",
                      f"score    {r}  -2.0"]
        elif z.is_names:
            lines += [f"header   {r}  eval:check_rbl_from_domain('{r.lower()}', '{z.name}.', {block})",
                      f"describe {r}  From domain listed in {z.name}",
                      f"tflags   {r}  net",
                      f"score    {r}  3.0"]
        else:
            lines += [f"header   {r}  eval:check_rbl('{r.lower()}', '{z.name}.', {block})",
                      f"describe {r}  Relay listed in {z.name}",
                      f"tflags   {r}  net",
                      f"score    {r}  3.0"]
    return "\n".join(lines) + "\n"


def _dnslist_message(what: str) -> str:
    return (f"          message  = {what} is listed at $dnslist_domain"
            "${if def:dnslist_text{: $dnslist_text}}")


def _exim(zones: list[ZoneInfo], host: str, port: int) -> str:
    ips, names, allow = _by_kind(zones)
    codes = ",".join(f"127.0.0.{i}" for i in range(2, 12))
    lines = ["# Exim: in the ACL that checks RCPT (acl_check_rcpt), before the final accept",
             "# (rblmirror snippets exim). Exim asks the system resolver: point it at a",
             f"# resolver that forwards these zones to rblmirror at {host}:{port}."]
    allowed = " : ".join(z.name + (f"={exim_codes(z, '')}" if z.codes else "")
                         for z in allow if not z.is_names)
    lines += _code_notes(ips + names + [z for z in allow if not z.is_names])
    if allowed:
        lines += ["# A client an allowlist lists skips the address checks only (as Postfix's",
                  "# permit_dnswl_client), never the relay or recipient checks."]
    for z in ips:
        conds = ([f"!dnslists = {allowed}"] if allowed else []) + [
            f"dnslists = {z.name}={exim_codes(z, codes)}"]
        lines += [f"  deny    {conds[0]}", *(f"          {c}" for c in conds[1:]),
                  _dnslist_message("$sender_host_address")]
    for z in names:
        lines += [f"  deny    dnslists = {z.name}={exim_codes(z, codes)}/$sender_address_domain",
                  _dnslist_message("sender domain $sender_address_domain")]
    for z in names:  # not for an address literal, [192.0.2.1], or a bare address
        lines += ["  deny    condition = ${if or{{isip{$sender_helo_name}}"
                  "{match{$sender_helo_name}{\\N^\\[\\N}}}{no}{yes}}",
                  f"          dnslists = {z.name}={exim_codes(z, codes)}/$sender_helo_name",
                  _dnslist_message("HELO name $sender_helo_name")]
    return "\n".join(lines) + "\n"


#: rspamd scores: a listing alone passes Debian's add_header threshold (6), not reject (15)
RSPAMD_BLOCK_WEIGHT = 7
RSPAMD_ALLOW_WEIGHT = -2
RSPAMD_FILE = "# /etc/rspamd/local.d/{} (rblmirror snippets rspamd)"


def _quoted(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _rspamd_codes(z: ZoneInfo, allowed: str, block: str) -> str:
    """rspamd matches each returncode as an anchored Lua pattern: the catalogue's codes
    with their dots escaped ("*": any octet)."""
    if z.codes:
        return _quoted("%.".join("%d+" if o == "*" else o for o in c.split("."))
                       for c in z.codes)
    return allowed if z.kind == "allowlist" else block


def _rspamd(zones: list[ZoneInfo], host: str, port: int, weights: dict[str, int]) -> str:
    block = _quoted(f"127.0.0.{i}" for i in range(2, 12))
    allowed = _quoted([r"127%.0%.%d+%.[1-3]"])  # Lua patterns, as Debian's dnswl rule
    lines = [RSPAMD_FILE.format("rbl.conf"),
             "# rspamd asks the resolvers of local.d/options.inc (dns { nameserver = ... }):",
             f"# point them at a resolver that forwards these zones to rblmirror at {host}:{port}.",
             "# rspamd stops using a zone that answers its probes with anything but NXDOMAIN:",
             "# 1.0.0.127.ZONE for an address zone, a random name for a domain zone.",
             "# unknown = false: a code outside returncodes (a provider's 127.255.255.254, say)",
             "# does not fire the symbol (Debian's modules.d/rbl.conf sets default_unknown).",
             "# rspamd skips clients in 127.0.0.0/8 and private networks: to try a rule with",
             "# `rspamc -i 127.0.0.2`, add `exclude_local = false; exclude_private_ips = false;`.",
             *_code_notes(zones),
             "rbls {"]
    scores = [RSPAMD_FILE.format("rbl_group.conf"),
              "# the scores of the symbols above", "symbols {"]
    for z in zones:
        sym = _sa_rule(z)
        lines += [f"  {sym.lower()} {{", f'    symbol = "{sym}";', f'    rbl = "{z.name}";']
        if z.is_names:  # HELO, envelope sender and From: domains, as Postfix/Exim/SA ask
            lines += ["    selector {", '      helo = "helo";',
                      '      smtp_from = "from(\'smtp\'):domain";',
                      '      mime_from = "from(\'mime\'):domain";', "    }"]
            what = "Sender or HELO domain"
        else:
            lines += ["    from = true;", "    ipv4 = true;",
                      f"    ipv6 = {'true' if z.has_ipv6 else 'false'};"]
            what = "Client address"
        if z.kind == "allowlist":
            lines += ["    is_whitelist = true;"]
        lines += ["    unknown = false;", "    returncodes {",
                  f"      {sym} = {_rspamd_codes(z, allowed, block)};", "    }", "  }"]
        default = RSPAMD_ALLOW_WEIGHT if z.kind == "allowlist" else RSPAMD_BLOCK_WEIGHT
        note = " (allowlist)" if z.kind == "allowlist" else ""
        scores += [f'  "{sym}" {{', f"    weight = {float(weights.get(z.name, default)):.1f};",
                   f'    description = "{what} listed in {z.name}{note}";', "  }"]
    lines += ["}"]
    scores += ["}"]
    return "\n".join(lines + scores) + "\n"


#: the snippets that only need the zones and the server address (render's dispatch)
_TO_SERVER: dict[str, Callable[[list[ZoneInfo], str, int], str]] = {
    "postfix": _postfix, "unbound": _unbound, "spamassassin": _spamassassin, "exim": _exim}
#: the consumers `render` knows: those above, the two that weigh their zones, and dnsdist
#: (`dnsdist()`: it balances servers instead)
KINDS = (*_TO_SERVER, "postscreen", "rspamd", "dnsdist")


# ------------------------------------------------------------------------ dnsdist
#: dnsdist's defaults for the snippet: where it listens, the health checks' pace
DNSDIST_LISTEN = "0.0.0.0:53"
REPLICA_PORT = 53
CHECK_INTERVAL = 1
MAX_CHECK_FAILURES = 2
RISE = 2
CHECK_TIMEOUT_MS = 500


def replica_address(text: str) -> tuple[str, int]:
    """A replica as ADDR, ADDR:PORT or [ADDR6]:PORT (port 53 when not given)."""
    import ipaddress
    bare = text.strip().strip("[]") if text.strip().startswith("[") and \
        text.strip().endswith("]") else text.strip()
    try:
        return str(ipaddress.ip_address(bare)), REPLICA_PORT
    except ValueError:
        pass
    try:
        host, port = endpoint.parse(text)
        ipaddress.ip_address(host)
    except ValueError as e:
        raise RblmirrorError(f"bad --replica {text!r}: expected ADDR, ADDR:PORT or "
                             f"[ADDR6]:PORT with ADDR an IP address ({e})") from None
    return host, port


def check_zone(zones: list[ZoneInfo], name: str | None = None) -> ZoneInfo:
    """The zone whose test point health-checks the replicas: `name`, else the first
    address zone (a domain list has no 2.0.0.127 test point)."""
    from ..zonespec import normalize_name
    ips = [z for z in zones if not z.is_names]
    if name is not None:
        want = normalize_name(name)
        found = [z for z in zones if z.name == want]
        if not found:
            raise RblmirrorError(f"--check-zone {name}: no such zone (zones: "
                                 f"{', '.join(z.name for z in zones)})")
        if found[0].is_names:
            raise RblmirrorError(f"--check-zone {name}: a domain list has no 2.0.0.127 "
                                 "test point: name an address zone")
        return found[0]
    if not ips:
        raise RblmirrorError("no address zone to health-check the replicas with (the check "
                             "asks below 2.0.0.127.ZONE): give --check-zone")
    return ips[0]


def dnsdist(zones: list[ZoneInfo], replicas: list[str], listen: str = DNSDIST_LISTEN,
            zone: str | None = None, interval: int = CHECK_INTERVAL) -> str:
    """dnsdist.conf balancing `replicas`, each health-checked through a mirrored zone.

    The check asks A 0.0.127.ZONE, the empty non-terminal above the RFC 5782 test point
    2.0.0.127.ZONE: NOERROR (no data) while the zone answers from good data, SERVFAIL
    once its data is stale or was never fetched, nothing from a dead replica. The test
    point itself keeps answering 127.0.0.2 while the data is stale (so `selftest` tells
    a live server from stale data), and dnsdist 1.7's checks look at the rcode only
    (mustResolve: NOERROR; checkFunction shapes the question, it cannot read the
    answer): so the name below the test point is the one that turns SERVFAIL."""
    if not replicas:
        raise RblmirrorError("the dnsdist snippet needs --replica ADDR[:PORT] (one per "
                             "replica)")
    if not zones:
        raise RblmirrorError("no zones: give --zone NAME:FORMAT:FILE or --config FILE")
    z = check_zone(zones, zone)
    try:
        lhost, lport = endpoint.parse(listen)
    except ValueError as e:
        raise RblmirrorError(f"bad --listen {e}") from None
    lines = ["-- /etc/dnsdist/dnsdist.conf (rblmirror snippets dnsdist)",
             f"-- Balances {len(replicas)} rblmirror replicas. Each is asked A 0.0.127.{z.name}",
             f"-- (the name above the RFC 5782 test point 2.0.0.127.{z.name}) every "
             f"{interval}s: NOERROR",
             "-- keeps it in the pool; SERVFAIL (its data stale or never fetched) or no "
             f"answer {MAX_CHECK_FAILURES}",
             f"-- times in a row takes it out; {RISE} good answers in a row put it back.",
             f'setLocal("{endpoint.format(lhost, lport)}")',
             'setACL({"0.0.0.0/0", "::/0"})  -- narrow to your mail hosts',
             'setSecurityPollSuffix("")  -- no version-status queries to the outside',
             "setServerPolicy(leastOutstanding)"]
    for i, r in enumerate(replicas, 1):
        host, port = replica_address(r)
        lines.append(f'newServer({{address="{endpoint.format(host, port)}", '
                     f'name="replica{i}", checkName="0.0.127.{z.name}.", checkType="A", '
                     f"mustResolve=true, checkInterval={interval}, "
                     f"checkTimeout={CHECK_TIMEOUT_MS}, "
                     f"maxCheckFailures={MAX_CHECK_FAILURES}, rise={RISE}}})")
    return "\n".join(lines) + "\n"
