"""rblmirror against the real rbldnsd: same files, thousands of DNS questions, same answers.

For each zone (generated edge-case zones of every rbldnsd type, plus two real feeds),
rbldnsd serves the file on loopback and Dataset.lookup() answers the same subject; the
A set and the TXT set must agree (sets: RR order is not significant and rbldnsd drops
identical RRs in one answer), and "listed" must agree with NOERROR vs NXDOMAIN.
The generators are seeded, so every run asks the same questions.
"""
from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest
from support.dns import answer_sets, summary
from support.feeds import feed
from support.rbldnsd import Rbldnsd, is_partial_ip, synthesized
from support.serve import Serve
from support.tools import require_tool

from rblmirror.data import addr
from rblmirror.data.dataset import Dataset
from rblmirror.data.values import txt_bytes

pytestmark = pytest.mark.integration

SEED = 20260727
M32 = 0xFFFFFFFF


def ip4(v: int) -> str:
    return str(ipaddress.IPv4Address(v & M32))


def ip6(v: int) -> str:
    return str(ipaddress.IPv6Address(v & ((1 << 128) - 1)))


def edges(lo: int, hi: int, top: int) -> list[int]:
    return [x for x in (lo - 1, lo, lo + 1, (lo + hi) // 2, hi - 1, hi, hi + 1) if 0 <= x <= top]


# ------------------------------------------------------------------ zone generators
VALUES = [
    "", "", "", " :3:", " :4:listed $ here", " :6:", " :5", " bare text for $",
    " :127.0.0.9:dollar $$ sign", " ; comment", " # comment", " :10.1.2:x",
]


def gen_ip4set(rnd: random.Random) -> tuple[str, list[int]]:
    lines = [":2:default $", "$1 var-one"]
    probes: list[int] = [0x7F000001, 0x7F000002]
    lines += ["127.0.0.2 test point", "!127.0.0.1"]
    nets = [10, 11, 172]
    for i in range(700):
        n = rnd.choice(nets)
        kind = rnd.random()
        v = rnd.choice(VALUES)
        if rnd.random() < 0.03:
            lines.append(rnd.choice([":3:new default $", ":7:", ":8:d $1"]))
        b, c, d = rnd.randrange(4), rnd.randrange(256), rnd.randrange(256)
        if kind < 0.35:
            a = (n << 24) | (b << 16) | (c << 8) | d
            lines.append(f"{ip4(a)}{v}")
            lo = hi = a
        elif kind < 0.45:
            a = (n << 24) | (b << 16) | (c << 8)
            lines.append(f"{n}.{b}.{c}{v}")
            lo, hi = a, a + 255
        elif kind < 0.5:
            a = (n << 24) | (b << 16)
            lines.append(f"{n}.{b}{v}")
            lo, hi = a, a + 65535
        elif kind < 0.75:
            bits = rnd.randint(17, 32)
            a = ((n << 24) | (b << 16) | (c << 8) | d) & ((M32 << (32 - bits)) & M32)
            lines.append(f"{ip4(a)}/{bits}{v}")
            lo, hi = a, a | (M32 >> bits)
        elif kind < 0.85:
            lo = (n << 24) | (b << 16) | (c << 8) | d
            hi = min(lo + rnd.randint(0, 3000), (n << 24) | 0xFFFFFF)
            lines.append(f"{ip4(lo)}-{ip4(hi)}{v}")
        elif kind < 0.9:
            c2 = rnd.randint(c, 255)
            lines.append(f"{n}.{b}.{c}-{c2}{v}")
            lo, hi = (n << 24) | (b << 16) | (c << 8), (n << 24) | (b << 16) | (c2 << 8) | 255
        else:
            a = (n << 24) | (b << 16) | (c << 8) | d
            lines.append(f"!{ip4(a)}")
            lo = hi = a
        probes += edges(lo, hi, M32)
        if rnd.random() < 0.05:  # the same subject twice, another value
            lines.append(lines[-1].split(" ")[0].lstrip("!") + " :4:again $")
    probes += [(rnd.choice(nets) << 24) | rnd.randrange(1 << 18) for _ in range(600)]
    return "\n".join(lines) + "\n", probes


def gen_ip4trie(rnd: random.Random) -> tuple[str, list[int]]:
    lines = [":2:trie $", "127.0.0.2/32 test", "!127.0.0.1"]
    probes = [0x7F000001, 0x7F000002]
    for _ in range(600):
        bits = rnd.choice([8, 12, 16, 20, 22, 24, 25, 28, 30, 31, 32, 32, 32])
        a = ((10 << 24) | rnd.randrange(1 << 20)) & ((M32 << (32 - bits)) & M32)
        v = rnd.choice(VALUES)
        ex = "!" if rnd.random() < 0.12 else ""
        text = ip4(a) if bits == 32 and rnd.random() < 0.5 else f"{ip4(a)}/{bits}"
        lines.append(f"{ex}{text}{'' if ex else v}")
        probes += edges(a, a | (M32 >> bits), M32)
    probes += [(10 << 24) | rnd.randrange(1 << 20) for _ in range(500)]
    return "\n".join(lines) + "\n", probes


def gen_ip4tset(rnd: random.Random) -> tuple[str, list[int]]:
    lines = ["10.0.0.1", ":5:tset $ listed", ":6:ignored second default"]
    probes = []
    for _ in range(500):
        a = (10 << 24) | rnd.randrange(1 << 12)
        lines.append(ip4(a) + rnd.choice(["", "", " text ignored", " ; c"]))
        probes += [a - 1, a, a + 1]
    probes += [(10 << 24) | rnd.randrange(1 << 12) for _ in range(300)]
    return "\n".join(lines) + "\n", probes


def _g(rnd, n=4) -> str:
    return ":".join(f"{rnd.randrange(4):x}" for _ in range(n))


def gen_ip6tset(rnd: random.Random) -> tuple[str, list[int]]:
    lines = [":3:six $"]
    probes = []
    base = 0x20010DB8 << 96
    for _ in range(300):
        p = base | (rnd.randrange(1 << 10) << 64)
        g = ip6(p).split("::")[0]
        groups = ipaddress.IPv6Address(p).exploded.split(":")[:4]
        lines.append(":".join(x.lstrip("0") or "0" for x in groups))
        probes += [p - 1, p, p + 1, p | ((1 << 64) - 1), p + (1 << 64)]
        if rnd.random() < 0.2:
            x = p | rnd.randrange(1 << 16)
            lines.append("!" + ip6(x))
            probes += [x - 1, x, x + 1]
        del g
    probes += [base | rnd.randrange(1 << 76) for _ in range(300)]
    return "\n".join(lines) + "\n", probes


def gen_ip6trie(rnd: random.Random) -> tuple[str, list[int]]:
    lines = [":3:t6 $"]
    probes = []
    base = 0x20010DB8 << 96
    for _ in range(400):
        bits = rnd.choice([32, 40, 48, 48, 56, 64, 64, 96, 112, 127, 128, 128])
        v = (base | rnd.randrange(1 << 80)) & ~((1 << (128 - bits)) - 1)
        val = rnd.choice(VALUES)
        if bits == 48 and rnd.random() < 0.5:  # short form: trailing groups omitted
            text = ":".join(ipaddress.IPv6Address(v).exploded.split(":")[:3])
        elif bits == 128 and rnd.random() < 0.5:
            text = ip6(v)
        else:
            text = f"{ip6(v)}/{bits}"
        ex = "!" if rnd.random() < 0.12 else ""
        lines.append(f"{ex}{text}{'' if ex else val}")
        probes += edges(v, v | ((1 << (128 - bits)) - 1), (1 << 128) - 1)
    probes += [base | rnd.randrange(1 << 80) for _ in range(300)]
    return "\n".join(lines) + "\n", probes


def gen_dnset(rnd: random.Random) -> tuple[str, list[str]]:
    words = ["a", "b", "mail", "x1", "spam", "ok"]
    tlds = ["com", "org", "test"]
    lines = [":2:name $ listed", "test :2:rfc5782 test point"]
    names = ["test", "invalid"]
    for _ in range(400):
        depth = rnd.randint(1, 3)
        n = ".".join(rnd.choice(words) for _ in range(depth)) + "." + rnd.choice(tlds)
        pre = rnd.choice(["", "", "*.", "."])
        ex = "!" if rnd.random() < 0.12 else ""
        lines.append(f"{ex}{pre}{n}{'' if ex else rnd.choice(VALUES)}")
        names += [n, "x." + n, "y.x." + n, n.split(".", 1)[1], n.upper()]
    return "\n".join(lines) + "\n", names


def gen_combined(rnd: random.Random) -> tuple[str, dict[str, list[int]]]:
    s4, p4 = gen_ip4set(rnd)
    t4, q4 = gen_ip4trie(rnd)
    text = ("$1 global one\n$DATASET ip4set:set s4 @\n" + s4.replace("$1", "[$1]")
            + "$DATASET ip4trie:trie t4 @\n$2 local two\n" + t4.replace(" $", " $ $2"))
    return text, {"": p4 + q4, "s4": p4, "t4": q4}


GENERATED = {
    "ip4set": gen_ip4set, "ip4trie": gen_ip4trie, "ip4tset": gen_ip4tset,
    "ip6tset": gen_ip6tset, "ip6trie": gen_ip6trie,
}


def feed_probes(path: Path, rnd: random.Random, n_entries: int, n_random: int) -> list[int]:
    """Subjects from a real feed: sampled entries with their edges, plus random ones."""
    subjects = []
    for raw in path.read_bytes().decode("latin-1").splitlines():
        tok = raw.strip().lstrip("!").split(" ")[0].split("\t")[0]
        try:
            net = ipaddress.IPv4Network(tok, strict=False)
        except ValueError:
            continue
        subjects.append((int(net.network_address), int(net.broadcast_address)))
    probes = [0x7F000001, 0x7F000002]
    for lo, hi in rnd.sample(subjects, min(n_entries, len(subjects))):
        probes += edges(lo, hi, M32)
        probes.append(rnd.randint(lo, hi))
    probes += [rnd.randrange(1 << 32) for _ in range(n_random)]
    return probes


# ------------------------------------------------------------------------ the oracle
@pytest.fixture(scope="module")
def oracle():
    require_tool("rbldnsd")
    rnd = random.Random(SEED)
    r = Rbldnsd(args=("-t", "3600"))
    cases: list[tuple[str, Dataset, list, int | None]] = []  # (zone, dataset, probes, family)
    for t, gen in GENERATED.items():
        text, probes = gen(rnd)
        p = r.write(f"{t}.zone", text)
        r.add_zone(f"{t}.test", t, [p])
        cases.append((f"{t}.test", Dataset.from_file(p, t), probes,
                      addr.V6 if t.startswith("ip6") else addr.V4))
    text, names = gen_dnset(rnd)
    p = r.write("dnset.zone", text)
    r.add_zone("dnset.test", "dnset", [p])
    cases.append(("dnset.test", Dataset.from_file(p, "dnset"), names, None))
    base = r.write("base.zone", "$= base [$=] for $ ($1)\n$1 v1\n"
                   + gen_ip4set(rnd)[0].replace(":2:default $\n", ""))
    r.add_zone("base.test", "ip4set", [base])
    cases.append(("base.test", Dataset.from_file(base, "ip4set"), gen_ip4set(random.Random(SEED))[1], addr.V4))
    # hand-written edge lines (each settled against rbldnsd; see test_zonefmt.py)
    syntax = ("; comment line\n;$1 semi\n#$2 hash\n:$3 colon\n1.0.0.1 [$1][$2][$3][$4]\n"
              "1.0.0.2\r\n1.0.0.3 tx\r\n1.0.0.4 :5 # c\n1.0.0.5 :0:\n0/0\n1.0.0.6 :127.5:\n"
              "1.0.0.7 :10.1.2:\n1.0.0.8 =eq $ $= x\n1.0.0.9 $=\n1.0.0.10 =\n1.0.0.11/24\n"
              "1.0.0.12 :6:text # not a comment\n1.0.0.13 ; c\n10\n11/8\n")
    p = r.write("syntax.zone", syntax)
    r.add_zone("syntax.test", "ip4set", [p])
    cases.append(("syntax.test", Dataset.from_file(p, "ip4set"),
                  [0x01000000 + i for i in range(0, 300)] + [0x0B000001, 0x0A000001], addr.V4))
    text, comb_probes = gen_combined(rnd)
    p = r.write("combined.zone", text)
    r.add_zone("combined.test", "combined", [p])
    comb = Dataset.from_file(p, "combined")
    cases.append(("combined.test", comb, comb_probes[""], addr.V4))
    for subzones, child in comb.children:
        for sz in subzones:
            if sz != "@":
                cases.append((f"{sz}.combined.test", child, comb_probes[sz], addr.V4))
    for name, zone, n in (("dnsbl-2.uceprotect.net", "uce2.test", 1500),
                          ("ips.backscatterer.org", "bs.test", 1500)):
        f = feed(name)
        r.add_zone(zone, "ip4set", [f])
        cases.append((zone, Dataset.from_file(f, "ip4set"), feed_probes(f, rnd, n, 800), addr.V4))
    r.start()
    yield r, cases
    r.cleanup()


def expected(ds: Dataset, subject) -> tuple[bool, set[str], set[bytes]]:
    got = ds.lookup(subject)
    return (bool(got), {x.a for x in got},
            {txt_bytes(x.txt) for x in got if x.txt is not None})


def compare(r: Rbldnsd, zone: str, ds: Dataset, subjects, family) -> list[str]:
    bad = []
    for s in dict.fromkeys(subjects):
        if family is None:
            name, subject = f"{s}.{zone}", s
        else:
            name, subject = addr.to_reverse_name(family, s, zone), s if family == addr.V4 else ipaddress.IPv6Address(s)
        listed, a_exp, t_exp = expected(ds, subject)
        # a large EDNS0 payload: without it rbldnsd silently drops the RRs past 512
        # bytes (test_no_edns_drops_rrs_silently), which is transport, not data
        ra = r.query(name, "A", edns=4096)
        rt = r.query(name, "TXT", edns=4096)
        a_got, _ = answer_sets(ra)
        _, t_got = answer_sets(rt)
        r_listed = ra.header.rcode == 0
        if (listed, a_exp, t_exp) != (r_listed, a_got, t_got):
            shown = ip4(s) if family == addr.V4 else ip6(s) if family == addr.V6 else s
            bad.append(f"{zone} {shown}: rblmirror listed={listed} A={sorted(a_exp)} "
                       f"TXT={sorted(t_exp)} | rbldnsd rcode={ra.header.rcode} "
                       f"A={sorted(a_got)} TXT={sorted(t_got)}")
    return bad


ZONES = ["syntax.test", "ip4set.test", "ip4trie.test", "ip4tset.test", "ip6tset.test", "ip6trie.test",
         "dnset.test", "base.test", "combined.test", "s4.combined.test", "t4.combined.test",
         "uce2.test", "bs.test"]


@pytest.mark.parametrize("zone", ZONES)
def test_same_answers_as_rbldnsd(oracle, zone):
    r, cases = oracle
    [(z, ds, subjects, family)] = [c for c in cases if c[0] == zone]
    assert len(dict.fromkeys(subjects)) > 100
    bad = compare(r, z, ds, subjects, family)
    assert not bad, f"{len(bad)} mismatches, first ones:\n" + "\n".join(bad[:15])


def test_no_edns_drops_rrs_silently(oracle):
    """Settled: without EDNS0, rbldnsd drops the TXT RRs that do not fit in 512 bytes and
    does not set TC (DESIGN.md: we set TC instead). With EDNS0 it sends them all."""
    r, cases = oracle
    [ds] = [c[1] for c in cases if c[0] == "uce2.test"]
    want = {txt_bytes(x.txt) for x in ds.lookup("196.216.12.1")}
    assert len(want) == 4  # /24, /23, /22 and the /21 expanded at the /24 level
    plain = r.query(addr.to_reverse_name(addr.V4, 0xC4D80C01, "uce2.test"), "TXT")
    _, got = answer_sets(plain)
    assert got < want and plain.header.tc == 0 and len(plain.pack()) <= 512
    big = r.query(addr.to_reverse_name(addr.V4, 0xC4D80C01, "uce2.test"), "TXT", edns=4096)
    assert answer_sets(big)[1] == want


def test_listed_and_unlisted_both_exercised(oracle):
    """The probes are not all one-sided: each zone has listed and unlisted subjects."""
    _, cases = oracle
    for zone, ds, subjects, family in cases:
        subj = list(dict.fromkeys(subjects))[:400]
        conv = (lambda s: s) if family != addr.V6 else ipaddress.IPv6Address
        hits = sum(bool(ds.lookup(conv(s))) for s in subj)
        assert 0 < hits < len(subj), zone


# ------------------------------------------------------- the same files, over the wire
#: the generated zones asked through `rblmirror serve` and rbldnsd side by side
WIRE_ZONES = ["ip4set.test", "ip4trie.test", "ip4tset.test", "ip6tset.test", "ip6trie.test",
              "dnset.test", "base.test", "syntax.test", "combined.test", "s4.combined.test",
              "t4.combined.test"]


@pytest.fixture(scope="module")
def wire(oracle):
    """rbldnsd (its default TTL, and -a: no NS in positive answers, as serve answers) and
    `rblmirror serve` on the oracle's generated files; an in-process table of the same
    specs for the compiled path's own answers."""
    from rblmirror.dns.zone import Zone, ZoneTable
    from rblmirror.zonespec import ZoneSpec
    r, _ = oracle
    specs = [(n, t, fs) for n, t, fs in r.zones if n in WIRE_ZONES]
    theirs = Rbldnsd(specs, args=["-a"])
    texts = [f"{n}:{t}:{','.join(str(f) for f in fs)}" for n, t, fs in specs]
    ours = Serve(texts)
    try:
        theirs.start()
        ours.start()
        table = ZoneTable(Zone.from_specs([ZoneSpec.parse(x) for x in texts]))
        yield theirs, ours, table
    finally:
        ours.stop()
        theirs.cleanup()


def _wire_names(zone: str, ds, subjects, family, rnd: random.Random) -> list[str]:
    subj = list(dict.fromkeys(subjects))
    subj = rnd.sample(subj, min(150, len(subj)))
    if family is None:
        return [f"{s}.{zone}" for s in subj]
    names = [addr.to_reverse_name(family, s, zone) for s in subj]
    for s in subj[:10]:  # partial names (empty non-terminals where something lies below)
        labels = addr.to_reverse_name(family, s).split(".")
        names.append(".".join(labels[rnd.randint(1, len(labels) - 1):]) + "." + zone)
    return names


@pytest.mark.parametrize("zone", WIRE_ZONES)
def test_serve_answers_like_rbldnsd_through_the_compiled_path(oracle, wire, zone):
    """Every generated zone kind (ip6trie/ip6tset, dnset, combined and its subzones),
    A, TXT and ANY asked of rbldnsd and of `rblmirror serve`: the same answers but for
    the documented differences (synthesized SOA/NS and test points, empty non-terminals,
    TC). The server's reply is byte for byte the in-process compiled path's answer, and
    the compiled path answered every one of them (its counters grew by the count)."""
    import dnslib
    from rblmirror._dnsfast import FastPath
    from rblmirror.dns.wire import respond
    theirs, ours, table = wire
    _, cases = oracle
    [(_, ds, subjects, family)] = [c for c in cases if c[0] == zone]
    fast = FastPath(table)
    rnd = random.Random(zone)
    counted = table.find(zone.split("."))[0].name  # a subzone counts for its zone
    before = ours.counters()["fast"].get(counted, {"queries": 0})["queries"]
    by_fast = 0
    diffs = []
    for i, name in enumerate(_wire_names(zone, ds, subjects, family, rnd)):
        for t in ("A", "TXT", "ANY"):
            q = dnslib.DNSRecord.question(name, t)
            q.header.id, q.header.rd = (i * 3 + len(t)) & 0xFFFF, 0
            pkt = bytes(q.pack())
            mine, other = ours.raw(pkt), theirs.raw(pkt)
            assert mine == respond(pkt, table), (name, t)
            got = fast.answer(pkt)
            if got is not None:
                by_fast += 1
                assert got == mine, (name, t)
            else:
                assert mine[2] & 2, (name, t, "not compiled: only a reply that needs TC is handed back")
            a, b = summary(dnslib.DNSRecord.parse(mine)), summary(dnslib.DNSRecord.parse(other))
            if a == b or synthesized(name, t, a, b):
                continue
            if (is_partial_ip(name, zone) and b["rcode"] == 3 and a["rcode"] == 0
                    and not a["an"]):
                continue  # an empty non-terminal: NODATA, where rbldnsd says NXDOMAIN
            if a["tc"] and not a["an"] and b["rcode"] == 0:
                continue  # we set TC where rbldnsd drops records (TCP has them all)
            diffs.append((name, t, a, b))
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:3]}"
    after = ours.counters()["fast"].get(counted, {"queries": 0})["queries"]
    assert after - before == by_fast
    assert by_fast
    assert counted in fast.zone_names
