"""rbldnsd's `-d` dump (rblmirror/tools/dump.py) against the real `rbldnsd -d` of the same
zones. Generic and domain datasets, the zone header ($ORIGIN, SOA, NS, $TTL) and the
combined sections' $ORIGIN lines must be the same records (as (owner, TTL, type, data)
tuples: only their order is free, where rbldnsd's sort leaves it unspecified). IP
datasets are written from the compiled index (the module docstring says how that text
differs), so both dumps are read as a BIND server reads them (exact names, then the
closest encloser's wildcard; `CNAME excluded` lists nothing) and every probe name must
resolve to the same records in both."""
from __future__ import annotations

import io
import ipaddress
import random
import subprocess
from collections import Counter, defaultdict

import pytest

from rblmirror.dns.zone import Zone
from rblmirror.tools.dump import dump, ip4_pieces, ip6_pieces
from rblmirror.zonespec import ZoneSpec

from support.rbldnsd import Rbldnsd
from support.tools import require_tool

GENERIC = """$SOA 3600 ns.gen.test hostmaster.gen.test 7 3600 900 604800 300
$NS 3600 ns.gen.test ns2.gen.test
@ A 127.0.0.9
@ 60 TXT "apex text"
foo A 127.0.0.2
foo A 127.0.0.3
foo 300 TXT "hello world"
FOO in MX 10 mx.example.com
foo A 127.0.0.2
bar.baz 60 a 10.2
*.wild TXT star
quoted TXT "q" tail"
$TTL 77
late A 127.0.0.8
"""
NAMES = """:127.0.0.4:Domain $ "quoted"
test
*.spam.example
.evil.example :5:evil $
!good.evil.example
bad.example :7:
"""
IP4 = """:127.0.0.5:Listed range
10.0.0.0/8
!10.1.0.0/16
10.1.2.0/24 :6:inner
!10.1.2.128/25
192.0.2.1 :127.0.0.7:one $
172.16.0.0-172.16.3.7 :8:dash
127.0.0.2
"""
IP4TRIE = "10.0.0.0/8 :2:ten\n!10.9.0.0/16\n10.9.9.0/24 :3:nine\n1.2.3.4 :4:exact $\n"
IP6 = "2001:db8::/32 :2:six\n!2001:db8:1::/48\n2001:db8:1:2::/64 :3:deeper\n::1 :4:one $\n"
COMBINED = """$TTL 600
$DATASET ip4set @
127.0.0.2 :2:base
$DATASET dnset sub
example :3:sub $
$DATASET ip4trie x
10.0.0.0/8 :4:x
"""


@pytest.fixture(scope="module")
def dumps():
    require_tool("rbldnsd")
    r = Rbldnsd()
    try:
        f = {k: str(r.write(k, v)) for k, v in (
            ("gen", GENERIC), ("names", NAMES), ("ip4", IP4), ("ip4trie", IP4TRIE),
            ("ip6", IP6), ("comb", COMBINED))}
        specs = [f"gen.test:generic:{f['gen']}", f"dn.test:dnset:{f['names']}",
                 f"ip.test:ip4set:{f['ip4']}", f"ip.test:ip4trie:{f['ip4trie']}",
                 f"six.test:ip6trie:{f['ip6']}", f"comb.test:combined:{f['comb']}"]
        theirs = subprocess.run([r.binary, "-n", "-d", *specs], capture_output=True,
                                text=True, timeout=60, cwd=r.workdir)
        assert theirs.returncode == 0, theirs.stderr
        out = io.StringIO()
        dump(Zone.from_specs([ZoneSpec.parse(s) for s in specs]), out)
        yield out.getvalue(), theirs.stdout
    finally:
        r.cleanup()


def read_dump(text: str) -> dict[str, list[tuple[str, int, int | None, str, str]]]:
    """{zone: [(owner, dataset, ttl, type, data)]} of a dump, owners absolute; dataset:
    the number of the zone's dataset (each one opens with its $TTL line; 0: the zone's
    SOA and NS)."""
    zones: dict[str, list] = defaultdict(list)
    origin = zone = owner = ""
    ds = 0
    for line in text.splitlines():
        if not line or line.startswith(";"):
            continue
        if line.startswith("$TTL"):
            ds += 1
            continue
        if line.startswith("$ORIGIN"):
            origin = line.split(None, 1)[1].strip().rstrip(".").lower()
            if "\t" in line:  # the zone's own $ORIGIN (a combined section's has a space)
                zone, ds = origin, 0
            continue
        fields = line.split("\t")
        if fields[0]:
            n = fields[0]
            owner = origin if n == "@" else f"{n}.{origin}".lower()
        rest = fields[1:]
        ttl = None
        if rest and rest[0].isdigit():
            ttl, rest = int(rest[0]), rest[1:]
        zones[zone].append((owner, ds, ttl, rest[0], "\t".join(rest[1:])))
    return zones


def resolve_each(recs, name: str) -> list[list[tuple[str, str]]]:
    """resolve() in each dataset of the zone on its own (a BIND reading of several
    datasets' wildcards together is not what either server answers: a deeper wildcard
    of one shadows another's)."""
    return [resolve([r for r in recs if r[1] == d], name)
            for d in sorted({r[1] for r in recs})]


def resolve(recs, name: str) -> list[tuple[str, str]]:
    """What a BIND server loading the records answers for a name (type, data): the
    exact name's records, or the closest encloser's wildcard; `CNAME excluded`: none."""
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    nodes: set[str] = set()
    for owner, _, _, t, data in recs:
        by[owner].append((t, data))
        labels = owner.split(".")
        nodes.update(".".join(labels[i:]) for i in range(len(labels)))
    got: list[tuple[str, str]] = []
    if name in by:
        got = by[name]
    elif name not in nodes:
        labels = name.split(".")
        for i in range(1, len(labels)):
            if ".".join(labels[i:]) in nodes:
                got = by.get("*." + ".".join(labels[i:]), [])
                break
    return [] if any(t == "CNAME" for t, _ in got) else sorted(got)


@pytest.mark.integration
def test_zone_headers_generic_and_domain_records_are_rbldnsds(dumps):
    ours, theirs = (read_dump(x) for x in dumps)
    assert sorted(ours) == sorted(theirs) == ["comb.test", "dn.test", "gen.test", "ip.test",
                                              "six.test"]
    for zone in ("gen.test", "dn.test"):
        assert Counter(ours[zone]) == Counter(theirs[zone]), zone
    assert len(ours["gen.test"]) == 14  # SOA, 2 NS, 11 records (a duplicate kept)
    for zone in ("ip.test", "comb.test", "six.test"):  # the SOA/NS lines (none synthesized)
        assert [r for r in ours[zone] if r[3] in ("SOA", "NS")] == \
            [r for r in theirs[zone] if r[3] in ("SOA", "NS")]
    assert dumps[0].splitlines()[0].startswith("; zone dump made ")


def _probes4(rnd: random.Random) -> list[int]:
    edges = [0x0A000000, 0x0A010000, 0x0A010200, 0x0A010280, 0x0A090000, 0x0A090900,
             0xC0000201, 0xAC100000, 0xAC100307, 0x7F000002, 0x01020304, 0x0AFFFFFF]
    out = []
    for e in edges:
        out += [e - 1, e, e + 1, e + 255, e + 256]
    return out + [rnd.randrange(0x0A000000, 0x0B000000) for _ in range(300)] + \
        [rnd.randrange(1 << 32) for _ in range(100)]


@pytest.mark.integration
def test_ip_datasets_resolve_the_same(dumps):
    ours, theirs = (read_dump(x) for x in dumps)
    rnd = random.Random(13)
    checked = listed = 0
    for zone, probes in (("ip.test", _probes4(rnd)), ("comb.test", _probes4(rnd))):
        for a in probes:
            a &= 0xFFFFFFFF
            rev = ".".join(str((a >> s) & 255) for s in (0, 8, 16, 24))
            for name in (f"{rev}.{zone}", f"{rev}.x.{zone}"):
                mine, other = resolve_each(ours[zone], name), resolve_each(theirs[zone], name)
                if zone == "ip.test" and 0x0A0A0000 <= a <= 0x0AFFFFFF and ".x." not in name:
                    # rbldnsd's ip4trie dump stops its 10/8 at the /24 inside the
                    # excluded 10.9/16 (its answers list 10.10-10.255: the wire tests)
                    assert other[1] == [] and mine[1] == [("A", "127.0.0.2"), ("TXT", '"ten"')]
                    mine, other = mine[:1], other[:1]
                assert mine == other, (name, mine, other)
                checked += 1
                listed += any(mine)
    for v in [0x20010DB8 << 96, (0x20010DB8 << 96) | (1 << 80), (0x20010DB8 << 96) |
              (1 << 80) | (2 << 64) | 5, (0x20010DB8 << 96) | (1 << 80) | (3 << 64), 1, 2,
              (0x20010DB9 << 96)] + [(0x20010DB8 << 96) | (rnd.randrange(3) << 80) |
                                     rnd.getrandbits(rnd.choice([64, 80])) for _ in range(200)]:
        name = ".".join(format((v >> (4 * i)) & 15, "x") for i in range(32)) + ".six.test"
        mine, other = resolve_each(ours["six.test"], name), resolve_each(theirs["six.test"], name)
        if v >> 96 == 0x20010DB8 and (v >> 80) & 0xFFFF > 1:
            # the same gap in rbldnsd's ip6trie dump: the /32 past the excluded /48
            assert other == [[]] and mine == [[("A", "127.0.0.2"), ("TXT", '"six"')]]
            continue
        assert mine == other, (name, mine, other)
        listed += any(mine)
    for name in ("example.sub.comb.test", "x.example.sub.comb.test"):
        assert resolve_each(ours["comb.test"], name) == resolve_each(theirs["comb.test"], name)
    assert checked > 1000 and 100 < listed < checked


def test_range_pieces_cover_exactly_their_range():
    rnd = random.Random(5)
    for _ in range(300):
        a = rnd.randrange(1 << 32)
        b = min(a + rnd.choice([0, 1, 255, 256, 70000, 1 << 24]), 0xFFFFFFFF)
        covered = 0
        for name, first in ip4_pieces(a, b):
            span = 1 << (8 * (5 - len(name.split(".")))) if name.startswith("*") else 1
            covered += span
            assert a <= first and first + span - 1 <= b
        assert covered == b - a + 1
    for _ in range(200):
        a = rnd.getrandbits(128) & ~((1 << rnd.randrange(0, 64)) - 1)
        b = a + rnd.choice([1, 16, 17, 1 << 40, 5 << 60])
        covered = 0
        for name, first in ip6_pieces(a, b):
            span = 1 << (4 * (33 - len(name.split("."))) if name.startswith("*") else 0)
            covered += span
            assert a <= first and first + span <= b
        assert covered == b - a
    assert list(ip6_pieces(0, 1 << 128)) == [("*", 0)]
    assert [n for n, _ in ip4_pieces(0x0A000000, 0x0AFFFFFF)] == ["*.10"]
    assert str(ipaddress.IPv4Address(list(ip4_pieces(0x0A000005, 0x0A000005))[0][1])) == \
        "10.0.0.5"
