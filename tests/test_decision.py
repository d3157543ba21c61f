"""The answer decision below a zone has one production home (decide() in
ext/dnsfast.pyx): held here to the plain test-only reference
(tests/support/reference_answer.py) on random zones of every kind (several datasets per zone, combined files with subzones,
the RFC 5782 test points, zones inside zones) and random names: complete and partial
IPv4/IPv6 reverse names, v4-mapped and 6to4 names, domain names, subzone names, random
case, odd labels (a dot inside a label, non-ASCII bytes, the Kelvin sign); every qtype
shape, ANY minimal or not. Then the callers of that one home: check and the DNS paths
(compiled packet path and dnslib packing) agree with it.
"""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rblmirror.dns.answer import NOERROR, NXDOMAIN, T_A, T_ANY, T_TXT
from rblmirror.tools.check import check
from rblmirror.errors import AddressError, ZoneSpecError
from rblmirror.dns.wire import respond
from rblmirror.data.values import txt_str
from rblmirror.dns.zone import Zone, ZoneTable
from rblmirror.zonespec import ZoneSettings, ZoneSpec, normalize_name

from support import reference_answer as ref
from support.zonegen import (SUBZONES, WORDS, build_query, make_table, rand_case, rev4,
                             rev6, subject_labels, zone_setup)

_dnsfast = pytest.importorskip("rblmirror._dnsfast")

ODD = [b"a.b", b"1.2", b"\xc3\xa9", b"\x80", "\u212a".encode(), b"TEST", b"Sub", b"t\x00t",
       b"*", b"-", b"A.sub"]


def _names(rnd: random.Random, pool, pool6, n=60) -> list[list[bytes]]:
    out = []
    for _ in range(n):
        texts, _complete = subject_labels(rnd, pool, pool6)
        labels = [x.encode("utf-8") for x in texts]
        r = rnd.random()
        if r < 0.15:  # an odd label somewhere
            labels.insert(rnd.randint(0, len(labels)), rnd.choice(ODD))
        elif r < 0.25:
            labels = [rnd.choice(ODD + [w.encode() for w in WORDS])
                      for _ in range(rnd.randint(1, 4))]
        sub = rnd.choice(["", "", ""] + SUBZONES)
        if sub:
            if rnd.random() < 0.1:
                labels = []
            labels += [rand_case(rnd, x).encode() for x in sub.split(".")]
        if labels:
            out.append(labels)
    return out


def _same(zone: Zone, labels: list[bytes], qtype: int, minimal_any: bool) -> None:
    want = ref.decide(zone, labels, qtype, minimal_any)
    p = zone.prepared()
    if p.compiled is None:
        p.below([b"x"], T_A)  # compiles the zone (answer.answer would)
    assert p.compiled is not None
    fast, zi = p.compiled
    assert fast.below(zi, labels, qtype, minimal_any) == want, (zone.name, labels, qtype)
    # answer.answer's way: minimal ANY asked as A
    asked = T_A if minimal_any and qtype == T_ANY else qtype
    assert p.below(labels, asked) == want, (zone.name, labels, qtype, minimal_any)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(setup=zone_setup(), seed=st.integers(0, 2**32), minimal_any=st.booleans())
def test_compiled_decision_equals_reference(setup, seed, minimal_any):
    pool, pool6, zones = setup
    with tempfile.TemporaryDirectory() as d:
        table = make_table(zones, Path(d))
    rnd = random.Random(seed)
    if seed % 2:  # the served table's compilation (zones at their numbers in it)
        fast = _dnsfast.FastPath(table, minimal_any=minimal_any)
        assert [z.prepared().compiled for z in table.zones] == \
            [(fast, i) for i in range(len(table.zones))]
    decided = set()
    for zone in table.zones:
        for labels in _names(rnd, pool, pool6):
            qtype = rnd.choice([T_A, T_TXT, T_ANY, T_ANY, 28, 15])
            _same(zone, labels, qtype, minimal_any)
            decided.add(zone.prepared().below(labels, T_ANY)[0])
        # the test point is listed in every zone with test points: the reference and the
        # compiled decision must find it (no vacuous agreement on NXDOMAIN only)
        if zone.settings.test_points and zone.prepared().subzones[-1][0] == ():
            rc, recs, listed = zone.prepared().below([b"2", b"0", b"0", b"127"], T_A)
            if any(not ds.is_names for ds in zone.prepared().subzones[-1][1]):
                assert listed and recs and rc == NOERROR
    assert decided <= {NOERROR, NXDOMAIN}


def test_table_and_own_compilation_agree(tmp_path):
    """A zone answers from the served table's compiled decision once the table is
    compiled, and from its own before: the same answers."""
    z = tmp_path / "z"
    z.write_text(":127.0.0.3:L $\n10.0.0.0/8\n!10.1.0.0/16\n2002:a00::/24\n")
    own = Zone.from_specs([ZoneSpec.parse(f"bl.test:plain:{z}")])[0]
    names = [rev4(0x0A020304), rev4(0x0A010304), rev4(0x0A020304)[1:], rev6(0x2002 << 112 | 0x0A02 << 96)]
    before = [own.prepared().below([x.encode() for x in n], T_ANY) for n in names]
    compiled = own.prepared().compiled
    assert compiled is not None and compiled[0].zone_names == ["bl.test"]
    table = ZoneTable(Zone.from_specs([ZoneSpec.parse(f"x.test:plain:{z}"),
                                       ZoneSpec.parse(f"bl.test:plain:{z}")]))
    fast = _dnsfast.FastPath(table)
    served = table.zones[1]
    assert served.prepared().compiled == (fast, 1)
    after = [served.prepared().below([x.encode() for x in n], T_ANY) for n in names]
    assert before == after
    assert [b[0] for b in before] == [NOERROR, NXDOMAIN, NOERROR, NOERROR]
    assert before[0][1] == [(T_A, 2100, bytes([127, 0, 0, 3])), (T_TXT, 2100, b"L 10.2.3.4")]


def test_odd_labels_one_rule_on_every_path(tmp_path):
    """A dot inside a label is a byte of that label; non-ASCII bytes compare exactly;
    ASCII letters case-insensitively: check, the decision and both DNS paths agree."""
    dn = tmp_path / "dn"
    dn.write_text(":127.0.0.3:D $\n*.example.com\nb.example.com :4:exact $\n"
                  "*.b.example.com :5:deep $\nk.test\n")
    comb = tmp_path / "comb"
    comb.write_text("$DATASET ip4set @\n127.0.0.3\n$DATASET ip4set k\n127.0.0.3 :127.0.0.9:k\n")
    table = ZoneTable(Zone.from_specs([f"d.test:dnset:{dn}", f"c.test:combined:{comb}"]))
    fast = _dnsfast.FastPath(table)
    d, c = table.zones
    # "a.b" is one label below example.com: the wildcard lists it ($ = the entry)
    assert d.prepared().below([b"a.b", b"example", b"com"], T_TXT) == \
        (NOERROR, [(T_TXT, 2100, b"D example.com")], True)
    # the same bytes as two labels fall under the longer wildcard *.b.example.com
    assert d.prepared().below([b"a", b"b", b"example", b"com"], T_TXT)[1] == \
        [(T_TXT, 2100, b"deep b.example.com")]
    assert d.prepared().below([b"B", b"EXAMPLE", b"com"], T_TXT)[1] == \
        [(T_TXT, 2100, b"exact b.example.com")]
    # the Kelvin sign is not k (Python's str.lower() says it is)
    assert d.prepared().below(["\u212a".encode(), b"test"], T_A)[0] == NXDOMAIN
    assert c.prepared().below([b"3", b"0", b"0", b"127", b"K"], T_A)[1] == \
        [(T_A, 2100, bytes([127, 0, 0, 9]))]
    assert c.prepared().below([b"3", b"0", b"0", b"127", "\u212a".encode()], T_A)[0] == \
        NXDOMAIN
    for wire_labels in ([b"a.b", b"example", b"com"], [b"\xc3\xa9", b"example", b"com"],
                        [b"3", b"0", b"0", b"127", "\u212a".encode()], [b"x\x80", b"k"]):
        zone = d if wire_labels[-1] in (b"com", b"test") else c
        name = wire_labels + zone.name.encode().split(b".")
        pkt = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
               b"".join(bytes([len(x)]) + x for x in name) + b"\x00\x00\x10\x00\x01")
        got = fast.answer(pkt)
        assert got is not None and got == respond(pkt, table), wire_labels
    assert ref.decide(d, [b"a.b", b"example", b"com"], T_TXT) == \
        d.prepared().below([b"a.b", b"example", b"com"], T_TXT)


def test_check_is_the_decision_for_the_subjects_name(tmp_path):
    """check gives the DNS answer for ANY at the subject's name: 6to4 and mapped
    addresses, a dnset's matched entry for `$`, the subzone the name falls into."""
    z = tmp_path / "z"
    z.write_text(":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.0/8 :127.0.0.3:net $\n")
    dn = tmp_path / "dn"
    dn.write_text("$DATASET dnset @\n.bad.example :127.0.0.4:dom $\n"
                  "$DATASET dnset shop\nbad.example :127.0.0.5:shop $\n")
    zones = Zone.from_specs([f"bl.test:ip4set:{z}", f"dbl.test:combined:{dn}"])
    table = ZoneTable(zones)
    for subject in ("2002:7f00:2::1", "::ffff:10.9.8.7", "10.1.2.3", "192.0.2.1",
                    "2002:c000:201::1"):
        [r] = check([subject], [zones[0]])
        rcode, recs, listed = zones[0].prepared().below(_rev(subject), T_ANY)
        assert r.listed == bool(recs)
        assert list(r.a) == [".".join(map(str, d)) for t, _, d in recs if t == T_A]
        assert list(r.txt) == [txt_str(d) for t, _, d in recs if t == T_TXT]
        name = ".".join(_rev(subject)) + ".bl.test"
        pkt = build_query(5, 1, name.encode(), T_ANY)
        assert fast_equal(pkt, table)
    [r] = check(["2002:7f00:2::1"], [zones[0]])
    assert r.listed and r.a == ("127.0.0.2",) and r.txt == ("Listed 127.0.0.2",)
    [r] = check(["::ffff:10.9.8.7"], [zones[0]])
    assert r.txt == ("net 10.9.8.7",)
    [r] = check(["www.BAD.example"], [zones[1]])
    assert r.listed and r.txt == ("dom bad.example",)
    [r] = check(["bad.example.shop"], [zones[1]])  # the subzone shop answers it, as DNS
    assert r.listed and r.a == ("127.0.0.5",) and r.txt == ("shop bad.example",)


def fast_equal(pkt: bytes, table: ZoneTable) -> bool:
    fast = _dnsfast.FastPath(table)
    got = fast.answer(pkt)
    return got is not None and got == respond(pkt, table)


def _rev(subject: str) -> list[str]:
    """The address's reverse-name labels, most specific first."""
    from rblmirror.data import addr
    return addr.to_reverse_name(*addr.parse(subject)).split(".")


def test_every_zone_is_compiled_or_refused():
    """What the compiled decision cannot hold is a configuration error, not a zone left
    to another copy of the rules."""
    with pytest.raises(ZoneSpecError, match="not ASCII"):
        normalize_name("bl.\u00e9xample")
    a = Zone("bl.test")
    b = Zone("bl.test")
    with pytest.raises(ZoneSpecError, match="configured twice"):
        ZoneTable([a, b])
    long = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters: a full DNS name
    assert len(normalize_name(long)) == 253
    with pytest.raises(ZoneSpecError, match="SOA rname 'hostmaster.a+.*' is not a DNS name"):
        _dnsfast.FastPath([Zone(long)])  # (hostmaster.{zone}: the default)
    z = Zone(long, settings=ZoneSettings(soa=(("rname", "hm.test"),)))
    fast = _dnsfast.FastPath([z])
    assert fast.zone_names == [long]
    assert z.answer(["x"], T_A).rcode == NXDOMAIN


def test_names_longer_than_dns_allows_are_refused(tmp_path):
    z = tmp_path / "dn"
    z.write_text("*.example\n")
    zones = Zone.from_specs([f"d.test:dnset:{z}"])
    longest = ".".join(["a" * 63] * 3 + ["b" * 53, "example"])  # 253 characters
    assert check([longest], zones)[0].listed
    with pytest.raises(AddressError, match="not an IP address or a domain name"):
        check(["c" + longest], zones)
    with pytest.raises(ValueError, match="longer than a DNS name"):
        zones[0].prepared().below([b"a" * 63] * 4 + [b"example"], T_A)
    with pytest.raises(AddressError, match="not a domain name"):
        zones[0].lookup("\u00e9" * 40 + ".example")  # 80 bytes in one label
