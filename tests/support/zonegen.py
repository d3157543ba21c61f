"""Random zones of every kind and random DNS names for the tests of the compiled path
(test_dnsfast: the packet path against the dnslib packing; test_decision: the decision
against its reference): hypothesis strategies for zone files (ip4set / ip4trie / ip4tset
/ plain with IPv4 and IPv6 lines / ip6trie / ip6tset / dnset / combined with subzones,
random CIDRs, exclusions, values with `$`/`$$`, SOA or not, TTLs), several datasets per
zone, zones inside zones; reverse names (complete, partial, v4-mapped, 6to4), queries."""
from __future__ import annotations

import ipaddress
import itertools
import random
import struct
from pathlib import Path

from hypothesis import strategies as st

from rblmirror.dns.zone import Zone, ZoneTable
from rblmirror.zonespec import ZoneSpec

_counter = itertools.count()
M128 = (1 << 128) - 1


def ip_text(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def ip6_text(v: int) -> str:
    return str(ipaddress.IPv6Address(v & M128))


def rev4(v: int) -> list[str]:
    return [str((v >> s) & 255) for s in (0, 8, 16, 24)]


def rev6(v: int) -> list[str]:
    return [format((v >> (4 * i)) & 15, "x") for i in range(32)]


TEXTS = ["Listed $", "see http://x.test/?$ ($$5)", "$$", "$$$", "plain reason", "$ $ $",
         "x" * 250 + " $", "é unicode $", "=over $", ""]
VALUES = ["", " :127.0.0.3:", " :3:", " :127.0.0.4:{t}", " {t}", " :127.0.0.2:{t}"]
FORMATS = ["ip4set", "ip4set", "ip4trie", "ip4tset", "plain", "ip6trie", "ip6trie",
           "ip6tset", "dnset", "combined", "generic"]
#: generic names (relative to the zone; `@` the zone itself)
GEN_NAMES = ["@", "test", "a", "mail.x1", "spam", "Mail", "*", "*.a", "x1.sub", "2.0.0.127"]
#: the clients the ACLs and the queries come from (None: no client known)
PEERS = [None, "127.0.0.1", "127.0.0.5", "10.1.2.3", "192.0.2.1", "::1", "2001:db8::5",
         "::ffff:10.1.2.3", "::10.1.2.3"]
ACL_SUBJECTS = ["127.0.0.0/8", "127.0.0.5", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "::1",
                "2001:db8::/32", "::ffff:0:0/96", "::/0", "192.0.2.0/24"]
ACL_VALUES = ["", " :refuse", " :pass", " :empty", " =ignore", " :127.0.0.9:acl $ here",
              " :5", " plain text $", " :REF", " :e", " =blackhole"]
SUBZONES = ["sub", "a.sub", "x"]
WORDS = ["test", "invalid", "a", "mail", "spam", "x1"]


def _soa_lines(draw, zname: str) -> list[str]:
    ns = draw(st.sampled_from([zname, "ns." + zname, "Ns.Other.test", "."]))
    rn = draw(st.sampled_from(["hostmaster." + zname, "hm.other.test", zname.upper()]))
    return [f"$SOA {draw(st.integers(0, 5000))} {ns} {rn} {draw(st.integers(0, 2**32 - 1))} "
            f"3600 900 604800 {draw(st.integers(0, 5000))}"]


def _v4_lines(draw, fmt: str, pool: list[int]) -> list[str]:
    lines = []
    if fmt == "ip4set" and draw(st.booleans()):
        lines.append(f":127.0.0.{draw(st.integers(2, 5))}:{draw(st.sampled_from(TEXTS))}")
    if fmt == "ip4tset":
        lines.append(f":127.0.0.{draw(st.integers(2, 5))}:{draw(st.sampled_from(TEXTS))}")
    for _ in range(draw(st.integers(0, 10))):
        base = draw(st.sampled_from(pool))
        bits = 32 if fmt == "ip4tset" else draw(st.sampled_from([32, 32, 32, 24, 16, 8, 30, 28]))
        net = base & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
        ent = ip_text(net) if bits == 32 else f"{ip_text(net)}/{bits}"
        if fmt == "plain":
            lines.append(ip_text(base) if draw(st.booleans()) else ent)
            continue
        if fmt != "ip4tset" and draw(st.integers(0, 5)) == 0:
            lines.append("!" + ent)
            continue
        val = draw(st.sampled_from(VALUES))
        lines.append(ent + ("" if fmt == "ip4tset" else val.format(t=draw(st.sampled_from(TEXTS)))))
    return lines


def _v6_lines(draw, fmt: str, pool6: list[int]) -> list[str]:
    lines = []
    if draw(st.booleans()) or fmt == "ip6tset":
        lines.append(f":127.0.0.{draw(st.integers(2, 9))}:{draw(st.sampled_from(TEXTS))}")
    for _ in range(draw(st.integers(0, 10))):
        base = draw(st.sampled_from(pool6))
        if fmt == "ip6tset":
            if draw(st.integers(0, 4)) == 0:
                lines.append("!" + ip6_text(base))
            else:
                groups = ipaddress.IPv6Address(base).exploded.split(":")[:4]
                lines.append(":".join(g.lstrip("0") or "0" for g in groups))
            continue
        bits = draw(st.sampled_from([128, 128, 64, 48, 32, 16, 96, 120, 112]))
        net = base & ((M128 << (128 - bits)) & M128)
        ent = f"{ip6_text(net)}/{bits}" if bits < 128 or draw(st.booleans()) else ip6_text(net)
        if fmt == "plain":
            lines.append(ent)
            continue
        if draw(st.integers(0, 6)) == 0:
            lines.append("!" + ent)
            continue
        lines.append(ent + draw(st.sampled_from(VALUES)).format(t=draw(st.sampled_from(TEXTS))))
    return lines


def _names_lines(draw) -> list[str]:
    lines = []
    if draw(st.booleans()):
        lines.append(f":127.0.0.{draw(st.integers(2, 5))}:{draw(st.sampled_from(TEXTS))}")
    for _ in range(draw(st.integers(0, 8))):
        n = ".".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))
        pre = draw(st.sampled_from(["", "", "*.", "."]))
        ex = "!" if draw(st.integers(0, 6)) == 0 else ""
        lines.append(f"{ex}{pre}{n}" + ("" if ex else draw(st.sampled_from(VALUES)).format(
            t=draw(st.sampled_from(TEXTS)))))
    return lines


def _generic_lines(draw) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(GEN_NAMES))
        ttl = draw(st.sampled_from(["", "", " 60", " 0", " 10m", " 3600"]))
        cls = draw(st.sampled_from(["", "", " IN"]))
        kind = draw(st.sampled_from(["A", "a", "TXT", "txt", "MX"]))
        if kind.lower() == "a":
            data = draw(st.sampled_from(["127.0.0.2", "127.0.0.3", "2", "10.2", "0.0.0.0"]))
        elif kind.lower() == "txt":
            data = draw(st.sampled_from(['"quoted text"', "plain $ text", '""', '"', "x" * 300,
                                         "é"]))
        else:
            data = f"{draw(st.integers(0, 65535))} " + draw(
                st.sampled_from(["mx.example.com", "Mail.Test.", "a"]))
        lines.append(f"{name}{ttl}{cls} {kind} {data}")
    return lines


def acl_text(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"$TTL {draw(st.integers(1, 5000))}")
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from([":empty", ":127.0.0.7:default $", "=pass",
                                               ":refuse"])))
        lines.append(draw(st.sampled_from(ACL_SUBJECTS)) + draw(st.sampled_from(ACL_VALUES)))
    return "\n".join(lines) + "\n"


@st.composite
def dataset_text(draw, fmt: str, pool: list[int], pool6: list[int], with_soa: bool,
                 zname: str):
    lines = _soa_lines(draw, zname) if with_soa else []
    if draw(st.booleans()):
        lines.append(f"$TTL {draw(st.integers(0, 100000))}")
    if fmt == "combined":
        for _ in range(draw(st.integers(1, 3))):
            sub = draw(st.lists(st.sampled_from(["@"] + SUBZONES), min_size=1, max_size=2,
                                unique=True))
            kind = draw(st.sampled_from(["ip4set", "ip4trie", "ip6trie", "ip6tset", "dnset",
                                         "generic"]))
            lines.append(f"$DATASET {kind} {' '.join(sub)}")
            lines += body(draw, kind, pool, pool6)
    else:
        lines += body(draw, fmt, pool, pool6)
    return "\n".join(lines) + "\n"


def body(draw, fmt, pool, pool6):
    if fmt in ("ip6trie", "ip6tset"):
        return _v6_lines(draw, fmt, pool6)
    if fmt == "dnset":
        return _names_lines(draw)
    if fmt == "generic":
        return _generic_lines(draw)
    out = _v4_lines(draw, fmt, pool)
    if fmt == "plain":
        out += _v6_lines(draw, "plain", pool6)
    return out


@st.composite
def zone_setup(draw, formats=FORMATS):
    pool = [0x7F000002, 0x7F000001] + draw(
        st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5))
    pool6 = [0xFFFF7F000002, (0x2002 << 112) | (pool[2] << 80)] + draw(
        st.lists(st.sampled_from([0x20010DB8 << 96, 0x2002 << 112, 0, 0xFFFF << 32, 1 << 127]),
                 min_size=1, max_size=4).map(
            lambda xs: [x | draw(st.integers(0, 2**96 - 1)) for x in xs]))
    zones = []
    nz = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(["bl.test", "Zen.Example.org", "a.b.c.d.test",
                                           "1.bl.test", "sub.bl.test", "x.y"]),
                          min_size=nz, max_size=nz, unique=True))
    for zn in names:
        for _ in range(draw(st.integers(1, 3))):
            fmt = draw(st.sampled_from(formats))
            text = draw(dataset_text(fmt, pool, pool6, draw(st.booleans()), zn.lower()))
            zones.append((zn, fmt, text))
        if draw(st.integers(0, 3)) == 0:  # the zone's ACL
            zones.append((zn, "acl", acl_text(draw)))
    if draw(st.integers(0, 4)) == 0:  # the global ACL
        zones.append(("", "acl", acl_text(draw)))
    return pool, pool6, zones


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


def subject_labels(rnd: random.Random, pool, pool6) -> tuple[list[str], bool]:
    """Reverse-name labels of a subject, and whether it is a complete address."""
    r = rnd.random()
    if r < 0.4:
        base = rnd.choice(pool)
        ip = base if rnd.random() < 0.6 else (base ^ rnd.getrandbits(rnd.choice([1, 4, 8, 12])))
        o = rev4(ip)
        if rnd.random() < 0.1:
            i = rnd.randrange(4)
            o[i] = ("0" + o[i])[-3:] if len(o[i]) < 3 else o[i]
        if rnd.random() < 0.1:
            return o[rnd.randint(1, 3):], False  # a partial name (most significant octets)
        return o, True
    if r < 0.85:
        k = rnd.random()
        if k < 0.15:
            v = 0xFFFF00000000 | rnd.choice(pool)  # v4-mapped
        elif k < 0.3:
            v = (0x2002 << 112) | (rnd.choice(pool) << 80) | rnd.getrandbits(80)  # 6to4
        elif k < 0.35:
            v = rnd.choice(pool)  # ::a.b.c.d (compatible: not mapped)
        else:
            v = rnd.choice(pool6)
            if rnd.random() < 0.4:
                v ^= 1 << rnd.randrange(128)
        labels = [rand_case(rnd, x) for x in rev6(v)]
        if rnd.random() < 0.15:
            return labels[rnd.randint(1, 31):], False
        return labels, True
    if r < 0.93:
        return [rnd.choice(WORDS + ["TEST", "foo"]) for _ in range(rnd.randint(1, 3))], False
    return [rnd.choice(["256", "1.2", "a", "-1", "0x1", "é", "ab"])] + rev4(rnd.choice(pool))[1:], False


def rand_queries(rnd: random.Random, pool, pool6, names, n=80):
    """(packet, plain, name): plain marks a normal header, class IN, qtype A/TXT/ANY/AAAA
    (with expect_fast: a query the fast path must answer)."""
    out = []
    for _ in range(n):
        labels, complete = subject_labels(rnd, pool, pool6)
        zone = rnd.choice(names)
        sub = rnd.choice(["", "", ""] + SUBZONES)
        if sub and rnd.random() < 0.1:
            labels = []  # the subzone's own name
        name = ".".join(labels + ([sub] if sub else []) + [rand_case(rnd, zone)])
        if rnd.random() < 0.02:
            name = rand_case(rnd, zone)  # the apex
        qtype = rnd.choice([1, 1, 16, 16, 255, 255, 28, 15, 6, 2, 252, 99])
        opt = None
        if rnd.random() < 0.5:
            rdata = rnd.choice([b"", b"\x00\x0a\x00\x08" + bytes(8), b"\x00\x0a\x00\x09ab",
                                b"\x00\x01"])
            opt = (rnd.choice([0, 512, 1232, 4096, 700]), rdata)
        flags = rnd.choice([0, 1, 1, 1, 0, 0x80, 0x08, 0x04, 0x02])
        qclass = rnd.choice([1] * 10 + [3, 255])
        extra = b"\x00" if rnd.random() < 0.03 else b""
        plain = (flags in (0, 1) and qclass == 1 and qtype in (1, 16, 255, 28) and not extra
                 and (opt is None or opt[1] in (b"", b"\x00\x0a\x00\x08" + bytes(8))))
        out.append((build_query(rnd.getrandbits(16), flags, name.encode(), qtype, qclass, opt,
                                extra), plain, name))
    return out
