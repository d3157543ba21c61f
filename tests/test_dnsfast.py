"""The compiled fast path (rblmirror._dnsfast) held to the dnslib reference path.

Random small zones (ip4set / ip4trie / plain, random CIDRs, exclusions, values with
`$`/`$$`, several datasets per zone, SOA present or not, TTLs) and random queries
(listed and unlisted addresses, random case, qtypes, OPT or not, IDs, RD, malformed
ones): whenever FastPath.answer returns bytes they must equal respond() byte for byte,
and the common shapes must actually be answered by the fast path.
"""
from __future__ import annotations

import itertools
import random
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_dnsfast = pytest.importorskip("rblmirror._dnsfast")

from rblmirror.server import Counters, respond  # noqa: E402
from rblmirror.zone import Zone, ZoneSpec, ZoneTable  # noqa: E402

_counter = itertools.count()


def ip_text(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


TEXTS = ["Listed $", "see http://x.test/?$ ($$5)", "$$", "$$$", "plain reason", "$ $ $",
         "x" * 250 + " $", "é unicode $", "=over $", ""]


@st.composite
def dataset_text(draw, fmt: str, pool: list[int], with_soa: bool, zname: str):
    lines = []
    if with_soa:
        ns = draw(st.sampled_from([zname, "ns." + zname, "Ns.Other.test", "."]))
        rn = draw(st.sampled_from(["hostmaster." + zname, "hm.other.test", zname.upper()]))
        lines.append(f"$SOA {draw(st.integers(0, 5000))} {ns} {rn} "
                     f"{draw(st.integers(0, 2**32 - 1))} 3600 900 604800 "
                     f"{draw(st.integers(0, 5000))}")
    if draw(st.booleans()):
        lines.append(f"$TTL {draw(st.integers(0, 100000))}")
    if fmt == "ip4set" and draw(st.booleans()):
        lines.append(f":127.0.0.{draw(st.integers(2, 5))}:{draw(st.sampled_from(TEXTS))}")
    for _ in range(draw(st.integers(0, 12))):
        base = draw(st.sampled_from(pool))
        bits = draw(st.sampled_from([32, 32, 32, 24, 16, 8, 30, 28]))
        net = base & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
        ent = ip_text(net) if bits == 32 else f"{ip_text(net)}/{bits}"
        if fmt == "plain":
            lines.append(ip_text(base))
            continue
        excl = fmt == "ip4set" and draw(st.integers(0, 5)) == 0
        if excl:
            lines.append("!" + ent)
            continue
        val = draw(st.sampled_from(["", " :127.0.0.3:", " :3:", " :127.0.0.4:{t}",
                                    " {t}", " :127.0.0.2:{t}"]))
        lines.append(ent + val.format(t=draw(st.sampled_from(TEXTS))))
    return "\n".join(lines) + "\n"


@st.composite
def zone_setup(draw):
    pool = [0x7F000002, 0x7F000001] + draw(
        st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=6))
    zones = []
    nz = draw(st.integers(1, 2))
    names = draw(st.lists(st.sampled_from(["bl.test", "Zen.Example.org", "a.b.c.d.test",
                                           "1.bl.test", "x.y"]), min_size=nz, max_size=nz,
                          unique=True))
    for zn in names:
        for _ in range(draw(st.integers(1, 3))):
            fmt = draw(st.sampled_from(["ip4set", "ip4set", "ip4trie", "plain"]))
            text = draw(dataset_text(fmt, pool, draw(st.booleans()), zn.lower()))
            zones.append((zn, fmt, text))
    return pool, zones


def make_table(zones, tmp: Path) -> ZoneTable:
    specs = []
    for zn, fmt, text in zones:
        p = tmp / f"z{next(_counter)}.txt"
        p.write_text(text, encoding="utf-8")
        specs.append(ZoneSpec.parse(f"{zn}:{fmt}:{p}"))
    return ZoneTable(Zone.from_specs(specs))


def build_query(qid, flags, name: bytes, qtype, qclass=1, opt=None, extra=b"",
                counts=None) -> bytes:
    qd, an, ns, ar = counts or (1, 0, 0, 1 if opt is not None else 0)
    wire = b"".join(bytes([len(x)]) + x for x in name.split(b".") if x) + b"\0"
    pkt = struct.pack("!HBBHHHH", qid, flags, 0, qd, an, ns, ar) + wire
    pkt += struct.pack("!HH", qtype, qclass)
    if opt is not None:
        size, rdata = opt
        pkt += b"\0" + struct.pack("!HHIH", 41, size, 0, len(rdata)) + rdata
    return pkt + extra


def rand_case(rnd: random.Random, s: str) -> str:
    return "".join(c.upper() if rnd.random() < 0.3 else c for c in s)


def rand_queries(rnd: random.Random, pool, names, n=60):
    out = []
    for _ in range(n):
        base = rnd.choice(pool)
        ip = base if rnd.random() < 0.6 else (base ^ rnd.getrandbits(rnd.choice([1, 4, 8, 12])))
        o = [str((ip >> s) & 255) for s in (0, 8, 16, 24)]
        if rnd.random() < 0.1:
            o[rnd.randrange(4)] = "0" + o[0] if len(o[0]) < 3 else o[0]
        zone = rnd.choice(names)
        name = ".".join(o) + "." + rand_case(rnd, zone)
        r = rnd.random()
        if r < 0.03:
            name = ".".join(o[:3]) + "." + zone
        elif r < 0.05:
            name = "256." + ".".join(o[1:]) + "." + zone
        elif r < 0.06:
            name = "a." + name
        qtype = rnd.choice([1, 1, 16, 16, 255, 28, 15, 6, 2, 252, 99])
        opt = None
        if rnd.random() < 0.5:
            rdata = rnd.choice([b"", b"\x00\x0a\x00\x08" + bytes(8), b"\x00\x0a\x00\x09ab",
                                b"\x00\x01"])
            opt = (rnd.choice([0, 512, 1232, 4096, 700]), rdata)
        flags = rnd.choice([0, 1, 1, 0x80, 0x08, 0x04, 0x02])
        qclass = rnd.choice([1] * 10 + [3, 255])
        extra = b"\x00" if rnd.random() < 0.03 else b""
        out.append(build_query(rnd.getrandbits(16), flags, name.encode(), qtype, qclass,
                               opt, extra))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(setup=zone_setup(), seed=st.integers(0, 2**32))
def test_fast_path_equals_reference(setup, seed):
    pool, zones = setup
    with tempfile.TemporaryDirectory() as d:
        table = make_table(zones, Path(d))
    fast = _dnsfast.FastPath(table)
    rnd = random.Random(seed)
    names = sorted({z.name for z in table.zones})
    handled = 0
    for q in rand_queries(rnd, pool, names):
        got = fast.answer(q)
        if got is None:
            continue
        handled += 1
        want = respond(q, table, tcp=False)
        assert got == want, (q, got, want)
    # the plain shapes must go through the fast path (no vacuous pass)
    for zn in names:
        if zn not in fast.zone_names:
            continue
        for qtype, opt in ((1, None), (16, None), (255, (1232, b"")), (1, (512, b""))):
            q = build_query(7, 1, f"2.0.0.127.{zn}".encode(), qtype, opt=opt)
            want = respond(q, table, tcp=False)
            got = fast.answer(q)
            if len(want) <= 512 or opt:
                assert got is not None or len(want) > (512 if opt is None else opt[0]), q
            if got is not None:
                handled += 1
                assert got == want
    assert handled or not fast.zone_names


def test_common_shapes_handled_and_identical(tmp_path):
    z = tmp_path / "z"
    z.write_text("$SOA 3600 bl.test hostmaster.bl.test 1 3600 900 604800 300\n$TTL 300\n"
                 ":127.0.0.2:Listed $ see http://x/?$ $$\n127.0.0.2\n10.0.0.0/8 :3:net\n"
                 "!10.1.0.0/16\n")
    z2 = tmp_path / "z2"
    z2.write_text("127.0.0.2 :127.0.0.2:Listed 127.0.0.2 see http://x/?127.0.0.2 $\n"
                  "127.0.0.2 :127.0.0.9:other\n")
    table = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}", f"bl.test:ip4trie:{z2}"]))
    fast = _dnsfast.FastPath(table)
    assert fast.zone_names == ["bl.test"]
    cases = []
    for name in ["2.0.0.127.bl.test", "2.0.0.127.BL.Test", "1.0.0.127.bl.test",
                 "5.5.5.10.bl.test", "5.5.1.10.bl.test", "002.0.0.127.bl.test"]:
        for qtype in (1, 16, 255, 28):
            for opt in (None, (4096, b""), (100, b"\x00\x0a\x00\x08" + bytes(8))):
                cases.append(build_query(0x1234, 1, name.encode(), qtype, opt=opt))
    for q in cases:
        got = fast.answer(q)
        assert got is not None, q
        assert got == respond(q, table, tcp=False), q
    # not handled: apex, partial names, IPv6, other zones, NOTIMP shapes
    for q in [build_query(1, 0, b"bl.test", 6), build_query(1, 0, b"0.127.bl.test", 1),
              build_query(1, 0, b"2.0.0.127.other.test", 1),
              build_query(1, 0, b"2.0.0.127.bl.test", 252),
              build_query(1, 0x08, b"2.0.0.127.bl.test", 1),
              build_query(1, 0, b"2.0.0.127.bl.test", 1, qclass=3)]:
        assert fast.answer(q) is None


def test_counters_match_reference(tmp_path):
    z = tmp_path / "z"
    z.write_text("$SOA 3600 bl.test hm.bl.test 1 3600 900 604800 300\n127.0.0.2\n")
    table = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}"]))
    fast = _dnsfast.FastPath(table)
    ref = Counters()
    qs = [build_query(i, 1, f"{i % 3}.0.0.127.bl.test".encode(), 1) for i in range(10)]
    for q in qs:
        assert fast.answer(q) is not None
        respond(q, table, counters=ref)
    assert fast.counters()["bl.test"] == ref.snapshot()["bl.test"]
    # a reload carries the counts over
    fast2 = _dnsfast.FastPath(table, previous=fast)
    assert fast2.counters() == fast.counters()


def test_expired_zone_not_handled(tmp_path):
    z = tmp_path / "z"
    z.write_text("$TIMESTAMP 2020010100 2020010200\n127.0.0.2\n")
    table = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}"]))
    fast = _dnsfast.FastPath(table)
    q = build_query(1, 0, b"2.0.0.127.bl.test", 1)
    assert respond(q, table)[3] & 15 == 2  # SERVFAIL from the reference path
    assert fast.answer(q) is None
    z.write_text("$TIMESTAMP 2020010100 +1000w\n127.0.0.2\n")
    table = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}"]))
    fast = _dnsfast.FastPath(table)
    assert fast.answer(q) == respond(q, table)


def test_subzone_served_as_zone_falls_back(tmp_path):
    z = tmp_path / "z"
    z.write_text("127.0.0.2\n")
    table = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}", f"0.127.bl.test:ip4set:{z}"]))
    fast = _dnsfast.FastPath(table)
    assert "bl.test" not in fast.zone_names
    assert fast.answer(build_query(1, 0, b"2.0.0.127.bl.test", 1)) is None


class _Zones:
    def __init__(self, table, fast):
        self.table, self.fast = table, fast


def test_udp_loop_batches_swaps_and_stops(tmp_path):
    """The recvmmsg/sendmmsg loop: fast answers and slow-path answers identical to
    respond(), a swapped FastPath is used for the next batch, stop() ends it quickly."""
    import socket
    import threading

    z = tmp_path / "z"
    z.write_text("$SOA 3600 bl.test hm.bl.test 1 3600 900 604800 300\n127.0.0.2 :2:old $\n")
    t1 = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z}"]))
    z2 = tmp_path / "z2"
    z2.write_text("$SOA 3600 bl.test hm.bl.test 2 3600 900 604800 300\n127.0.0.3 :3:new $\n")
    t2 = ZoneTable(Zone.from_specs([f"bl.test:ip4set:{z2}"]))
    zones = _Zones(t1, _dnsfast.FastPath(t1))
    slow_calls = []

    def slow(data):
        slow_calls.append(data)
        return respond(data, zones.table)

    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 100_000))
    loop = _dnsfast.UdpLoop(srv.fileno(), zones, slow)
    th = threading.Thread(target=loop.run, daemon=True)
    th.start()
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.settimeout(3)
    addr = srv.getsockname()
    try:
        def ask_many(qs):
            for q in qs:
                cli.sendto(q, addr)
            got = {}
            for _ in qs:
                r = cli.recv(4096)
                got[r[:2]] = r
            return [got[q[:2]] for q in qs]

        qs = [build_query(i, 1, f"{2 + i % 2}.0.0.127.bl.test".encode(), 16) for i in range(50)]
        qs.append(build_query(999, 0, b"bl.test", 6))  # apex SOA: the slow path
        replies = ask_many(qs)
        assert replies == [respond(q, t1) for q in qs]
        assert len(slow_calls) == 1 and loop.fast_answers == 50
        zones.table, zones.fast = t2, _dnsfast.FastPath(t2)
        replies = ask_many(qs)
        assert replies == [respond(q, t2) for q in qs]
        assert b"new 127.0.0.3" in replies[1]
        assert loop.fast_answers == 100
    finally:
        loop.stop()
        th.join(2)
        assert not th.is_alive()
        srv.close()
        cli.close()
