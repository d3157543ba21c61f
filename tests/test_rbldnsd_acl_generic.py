"""The acl and generic datasets against the real rbldnsd, at the wire level: the same
files served by rbldnsd and by `rblmirror serve`, asked the same questions from several
loopback client addresses (127.0.0.x: each ACL entry's action, the global ACL's and the
zone's, and a client no entry holds), every answer compared whole (rcode, flags, the
sections with TTLs: `summary`). The zones carry $SOA/$NS and their own test points, so
nothing is synthesized; the only difference left is rbldnsd's rotation of a name's
records of one type, which `summary` sorts away."""
from __future__ import annotations

import dnslib
import pytest

from support.dns import DNSClient, question, summary
from support.rbldnsd import Rbldnsd
from support.serve import Serve
from support.tools import require_tool

pytestmark = pytest.mark.integration

SOA = "$SOA 3600 ns.{z} hostmaster.{z} 7 3600 900 604800 300\n$NS 3600 ns.{z}\n"

GENERIC = """@ A 127.0.0.9
@ 60 TXT "apex text"
@ MX 5 mail.example.com
test A 127.0.0.2
test TXT "test point"
foo A 127.0.0.2
foo A 127.0.0.3
foo 300 TXT "hello world"
FOO in MX 10 mx.example.com
foo MX 20 Mx2.Example.COM.
foo A 127.0.0.2
bar.baz 60 a 10.2
bar.baz 0 A 2
*.wild TXT star
quoted TXT "q" tail"
$TTL 77
late A 127.0.0.8
late 90 A 127.0.0.7
bad X y
"""

IP4 = ":127.0.0.5:Listed $\n127.0.0.2\n10.0.0.0/8\n!10.1.0.0/16\n192.0.2.1 :6:one $\n"
NAMES = ":127.0.0.4:Domain $\ntest\n*.spam.example\nbad.example :7:bad\n"
ZONE_ACL = """10.0.0.0/8 :pass
127.0.0.10 :refuse
127.0.0.11 =ignore
127.0.0.12 :empty
127.0.0.13 :127.0.0.44:zone acl says $
127.0.0.14 :pass
127.0.0.15 :bl
127.0.0.16 :3
:127.0.0.45:default $
127.0.0.17
127.0.0.18/31 :e
"""
GLOBAL_ACL = """127.0.0.60 :refuse
127.0.0.61 =ignore
127.0.0.62 :empty
127.0.0.63 :127.0.0.66:global says $
"""

#: the clients: no entry, then each entry's action
CLIENTS = ["127.0.0.1", "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14",
           "127.0.0.15", "127.0.0.16", "127.0.0.17", "127.0.0.18", "127.0.0.19", "127.0.0.60",
           "127.0.0.61", "127.0.0.62", "127.0.0.63"]
NAMES_ASKED = {
    "gen.test": ["gen.test", "foo.gen.test", "FOO.gen.test", "bar.baz.gen.test", "baz.gen.test",
                 "x.wild.gen.test", "*.wild.gen.test", "quoted.gen.test", "late.gen.test",
                 "test.gen.test", "nope.gen.test", "bad.gen.test"],
    "acl.test": ["acl.test", "2.0.0.127.acl.test", "3.2.1.10.acl.test", "3.2.1.10.acl.test",
                 "1.2.0.192.acl.test", "9.9.9.9.acl.test", "test.acl.test",
                 "x.spam.example.acl.test", "bad.example.acl.test", "foo.acl.test",
                 "nothing.acl.test", "1.10.acl.test",
                 ".".join("0123456789abcdef0123456789abcdef") + ".acl.test"],
}
QTYPES = ["A", "TXT", "ANY", "MX", "AAAA", "SOA", "NS"]


@pytest.fixture(scope="module")
def both():
    require_tool("rbldnsd")
    r = Rbldnsd(args=["-a"])
    gen = r.write("gen.zone", SOA.format(z="gen.test") + GENERIC)
    ip4 = r.write("ip4.zone", SOA.format(z="acl.test") + IP4)
    names = r.write("names.zone", NAMES)
    agen = r.write("agen.zone", "foo TXT generic under an acl\n@ A 127.0.0.9\n")
    zacl = r.write("zone.acl", ZONE_ACL)
    gacl = r.write("global.acl", GLOBAL_ACL)
    specs = [("gen.test", "generic", [gen]), ("acl.test", "ip4set", [ip4]),
             ("acl.test", "dnset", [names]), ("acl.test", "generic", [agen]),
             ("acl.test", "acl", [zacl]), ("", "acl", [gacl])]
    for s in specs:
        r.add_zone(*s)
    ours = Serve([f"{n}:{t}:{','.join(str(f) for f in fs)}" for n, t, fs in specs])
    try:
        r.start()
        ours.start()
        yield r, ours
    finally:
        ours.stop()
        r.cleanup()


def _ask_all(port: int, source: str, asked: list[tuple[str, str]]) -> list[dict | None]:
    """The answers' summaries for (name, qtype) questions sent at once from `source`
    (IDs in order), None for no reply (an ignoring ACL): replies are read until none
    came for half a second, unanswered ones asked once more."""
    out: dict[int, dict] = {}
    with DNSClient(port, source=source, timeout=0.5) as c:
        for _ in range(2):
            for i, (name, t) in enumerate(asked):
                if i not in out:
                    c.sock.sendto(question(name, t, qid=i, edns=4096).pack(), c.addr)
            try:
                while len(out) < len(asked):
                    data = c.sock.recv(65535)
                    rec = dnslib.DNSRecord.parse(data)
                    out[rec.header.id] = summary(rec)
            except TimeoutError:
                pass
            if len(out) == len(asked):
                break
    return [out.get(i) for i in range(len(asked))]


def _ask(port: int, source: str, name: str, qtype: str) -> dict | None:
    return _ask_all(port, source, [(name, qtype)])[0]


@pytest.mark.parametrize("zone", sorted(NAMES_ASKED))
def test_same_answers_as_rbldnsd_from_every_client(both, zone):
    theirs, ours = both
    diffs, replies, kinds = [], 0, set()
    asked = [(name, t) for name in NAMES_ASKED[zone] for t in QTYPES]
    for client in CLIENTS:
        mine, other = _ask_all(ours.port, client, asked), _ask_all(theirs.port, client, asked)
        for (name, t), a, b in zip(asked, mine, other):
            if a != b:
                diffs.append((client, name, t, a, b))
            if b is not None:
                replies += 1
                kinds.add((b["rcode"], bool(b["an"])))
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:3]}"
    # not vacuous: answers, NXDOMAIN, REFUSED and silence all occurred
    assert replies < len(asked) * len(CLIENTS)  # (the ignoring clients)
    assert (0, True) in kinds and (3, False) in kinds and (5, False) in kinds


def test_generic_records_and_acl_values_as_rbldnsd(both):
    """Spot checks of what the comparison covers (both servers agree on these)."""
    _, ours = both
    a = _ask(ours.port, "127.0.0.1", "foo.gen.test", "ANY")
    assert a is not None
    types = [r[2] for r in a["an"]]
    assert types.count(1) == 2 and types.count(15) == 2 and types.count(16) == 1
    assert {r[1] for r in a["an"] if r[2] == 1} == {2100}  # one TTL per RRset: the smallest
    assert {r[1] for r in a["an"] if r[2] == 16} == {300}
    late = _ask(ours.port, "127.0.0.1", "late.gen.test", "A")
    assert late is not None and {r[1] for r in late["an"]} == {77}  # min(77, 90)
    v = _ask(ours.port, "127.0.0.13", "9.9.9.9.acl.test", "TXT")
    assert v is not None and v["an"][0][4] == (b"zone acl says 127.0.0.13",)
    # a client with an ACL value: its names' datasets answer it, a generic name is NODATA
    g = _ask(ours.port, "127.0.0.63", "foo.gen.test", "A")
    assert g is not None and g["rcode"] == 0 and not g["an"]
    g = _ask(ours.port, "127.0.0.63", "test.acl.test", "A")
    assert g is not None and [r[4] for r in g["an"]] == ["127.0.0.66"]
    assert _ask(ours.port, "127.0.0.61", "foo.gen.test", "A") is None
    r = _ask(ours.port, "127.0.0.10", "acl.test", "SOA")
    assert r is not None and r["rcode"] == 5
