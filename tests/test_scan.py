"""`rblmirror scan`: bulk lookups checked against a plain `ipaddress` reference and
against `check`, the compiled parsers against `ipaddress`, --extract on mail logs."""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from support.feeds import CORPUS, DATA, FEEDS

from rblmirror import _scan
from rblmirror.tools.check import check as run_check
from rblmirror.tools.scan import Scanner, ScanStats
from rblmirror.dns.zone import Zone



def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rblmirror", "scan", *args], input=stdin,
                          capture_output=True, timeout=120)


# ---- a generated world: zone files plus a reference built from the same entries -------
class World:
    """Three zones from generated entries and the answers computed with ipaddress.

    a.test  ip4set: /24 CIDRs (default value), single addresses with their own A/TXT,
            and single exclusions inside some /24s (the /32 level beats the /24 level).
    b.test  two datasets merged: a plain list of addresses, and an ip6trie of /48 and
            /64 networks.
    c.test  ip4trie: /16 and /28 networks (longest prefix wins)."""

    def __init__(self, tmp: Path, seed: int = 5):
        rnd = random.Random(seed)
        self.rnd = rnd
        ip4 = lambda: ipaddress.IPv4Address(rnd.getrandbits(32))  # noqa: E731
        self.a24 = {ipaddress.IPv4Network((rnd.getrandbits(24) << 8, 24)) for _ in range(300)}
        self.a32 = {}
        for i in range(400):
            a = ip4() if i % 2 else next(iter(rnd.sample(sorted(self.a24), 1)))[rnd.randrange(256)]
            self.a32[a] = f"127.0.0.{3 + i % 5}"
        self.a_excl = set()
        for net in rnd.sample(sorted(self.a24), 100):
            x = net[rnd.randrange(256)]
            if x not in self.a32:
                self.a_excl.add(x)
        lines = [":127.0.0.2:Listed $ by A, see http://a.test/?ip=$"]
        lines += [str(n) for n in self.a24]
        lines += [f"{a} :{v}:Own reason for $ ($$5 fee)" for a, v in self.a32.items()]
        lines += [f"!{a}" for a in self.a_excl]
        rnd.shuffle(lines[1:])
        (tmp / "a.zone").write_text("\n".join(lines) + "\n")

        self.b4 = {ip4() for _ in range(500)}
        (tmp / "b.txt").write_text("\n".join(map(str, self.b4)) + "\n")
        self.b6 = set()
        for i in range(150):
            bits = 48 if i % 2 else 64
            base = (0x2001 << 112) | (rnd.getrandbits(bits - 16) << (128 - bits))
            self.b6.add(ipaddress.IPv6Network((base, bits)))
        (tmp / "b6.zone").write_text(":127.0.0.9:v6 $\n" + "\n".join(map(str, self.b6)) + "\n")

        self.c = {}
        for i in range(200):
            bits = 16 if i % 4 == 0 else 28
            net = ipaddress.IPv4Network((rnd.getrandbits(32) >> (32 - bits) << (32 - bits), bits))
            self.c[net] = f"127.0.1.{i % 3 + 2}"
        (tmp / "c.zone").write_text("\n".join(f"{n} :{v}:" for n, v in self.c.items()) + "\n")
        self.specs = [f"a.test:ip4set:{tmp / 'a.zone'}", f"b.test:plain:{tmp / 'b.txt'}",
                      f"b.test:ip6trie:{tmp / 'b6.zone'}", f"c.test:ip4trie:{tmp / 'c.zone'}"]

    def expected(self, text: str) -> dict[str, tuple[bool, list[str], list[str]]]:
        """zone -> (listed, A values, TXT) for one address, from the entries alone."""
        # rbldnsd's rule (DESIGN.md): an IPv4-mapped address asks only the IPv4 data, a
        # 6to4 one the IPv6 data and then the IPv4 address inside; `$` is what was found
        ip = ipaddress.ip_address(text)
        v4 = ip if ip.version == 4 else (ip.ipv4_mapped or ip.sixtofour)
        ask6 = ip.version == 6 and ip.ipv4_mapped is None
        out = {}
        a = None
        if v4 is not None:
            if v4 in self.a_excl:
                a = None
            elif v4 in self.a32:
                a = (self.a32[v4], f"Own reason for {v4} ($5 fee)")
            elif any(v4 in n for n in self.a24):
                a = ("127.0.0.2", f"Listed {v4} by A, see http://a.test/?ip={v4}")
        out["a.test"] = (True, [a[0]], [a[1]]) if a else (False, [], [])
        if ask6 and any(ip in n for n in self.b6):
            out["b.test"] = (True, ["127.0.0.9"], [f"v6 {ip}"])
        elif v4 is not None and v4 in self.b4:
            out["b.test"] = (True, ["127.0.0.2"], [])
        else:
            out["b.test"] = (False, [], [])
        hits = [n for n in self.c if v4 is not None and v4 in n]
        if hits:
            best = max(hits, key=lambda n: n.prefixlen)
            out["c.test"] = (True, [self.c[best]], [])
        else:
            out["c.test"] = (False, [], [])
        return out

    def addresses(self, n: int) -> list[str]:
        """A mix: inside every kind of entry, random, IPv6 (plain and v4-mapped)."""
        rnd = self.rnd
        pools = [
            lambda: str(rnd.choice(sorted(self.a24))[rnd.randrange(256)]),
            lambda: str(rnd.choice(sorted(self.a32))),
            lambda: str(rnd.choice(sorted(self.a_excl))),
            lambda: str(rnd.choice(sorted(self.b4))),
            lambda: str(ipaddress.IPv4Address(rnd.getrandbits(32))),
            lambda: str(rnd.choice(sorted(self.c))[rnd.randrange(16)]),
            lambda: str(rnd.choice(sorted(self.b6))[rnd.getrandbits(64)]),
            lambda: str(ipaddress.IPv6Address(rnd.getrandbits(128))),
            lambda: "::ffff:" + str(rnd.choice(sorted(self.b4))),
            lambda: str(ipaddress.IPv6Address((0xFFFF << 32) | int(rnd.choice(sorted(self.a32))))),
        ]
        return [rnd.choice(pools)() for _ in range(n)]


BAD = ["1.2.3", "256.1.1.1", "hello", "1.2.3.4.5", "2001:db8:::1", "1.2.3.4 junk",
       "1.2.3.4/24", "1:2:3:4:5:6:7:8:9", "12345::1", "1.2.3.-4", "::ffff:1.2.3.04"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def zones(world):
    return Zone.from_specs(world.specs)


@pytest.fixture(scope="module")
def generated(world, tmp_path_factory):
    """(path, addresses, number of bad lines, number of blank/comment lines)."""
    addrs = world.addresses(3000)
    lines = list(addrs)
    rnd = random.Random(9)
    bad = skipped = 0
    for i in range(120):
        pos = rnd.randrange(len(lines))
        if i % 3 == 0:
            lines.insert(pos, rnd.choice(["", "   ", "# a comment", "\t#x"]))
            skipped += 1
        else:
            lines.insert(pos, rnd.choice(BAD))
            bad += 1
    # surrounding blanks and CRLF are not errors
    lines = [x + "\r" if i % 7 == 0 else (" " + x if i % 11 == 0 else x)
             for i, x in enumerate(lines)]
    p = tmp_path_factory.mktemp("input") / "addrs.txt"
    p.write_text("\n".join(lines))  # no final newline on purpose
    return p, addrs, bad, skipped


def scan_rows(zones, path, **kw) -> tuple[list[dict], ScanStats]:
    out = io.BytesIO()
    stats = Scanner(zones).scan([path], out, fmt="jsonl", **kw)
    return [json.loads(x) for x in out.getvalue().decode().splitlines()], stats


def test_rows_match_ipaddress_reference(zones, world, generated):
    path, addrs, bad, skipped = generated
    rows, stats = scan_rows(zones, path)
    assert stats.bad == bad and stats.skipped == skipped
    assert stats.addresses == len(addrs)
    assert stats.ipv6 == sum(":" in a for a in addrs)
    assert len(rows) == 3 * len(addrs)
    listed_any = 0
    per_zone = {"a.test": 0, "b.test": 0, "c.test": 0}
    for i, text in enumerate(addrs):
        want = world.expected(text)
        got = rows[3 * i:3 * i + 3]
        assert [r["zone"] for r in got] == ["a.test", "b.test", "c.test"]
        for r in got:
            assert r["address"] == str(ipaddress.ip_address(text))
            assert (r["listed"], r["a"], r["txt"]) == want[r["zone"]], (text, r)
            per_zone[r["zone"]] += r["listed"]
        listed_any += any(v[0] for v in want.values())
    assert stats.per_zone == per_zone
    assert stats.listed == listed_any
    # the sample hits every kind of answer
    assert all(0 < n < len(addrs) for n in per_zone.values())


def test_rows_equal_check_json(zones, generated):
    path, addrs, _, _ = generated
    rows, _ = scan_rows(zones, path)
    ref = [r.as_json() for r in run_check(addrs, zones)]
    for r in ref:  # check echoes the address as typed; scan prints it normalized
        r["address"] = str(ipaddress.ip_address(r["address"]))
    assert rows == ref


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_chunk_boundaries_do_not_matter(zones, generated, chunk):
    path = generated[0]
    big = io.BytesIO()
    Scanner(zones).scan([path], big, fmt="table")
    small = io.BytesIO()
    stats = Scanner(zones).scan([path], small, fmt="table", chunk_size=chunk)
    assert small.getvalue() == big.getvalue()
    assert stats.bad == generated[2]


def test_formats_agree_and_listed_only(zones, generated):
    path = generated[0]
    rows, _ = scan_rows(zones, path)
    out = io.BytesIO()
    Scanner(zones).scan([path], out, fmt="csv")
    got = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [(g["address"], g["zone"], g["listed"] == "1", g["a"].split(), g["txt"]) for g in got] \
        == [(r["address"], r["zone"], r["listed"], r["a"], "; ".join(r["txt"])) for r in rows]
    out = io.BytesIO()
    Scanner(zones).scan([path], out, fmt="table")
    lines = out.getvalue().decode().splitlines()
    for line, r in zip(lines, rows, strict=True):
        f = line.split("\t")
        assert f[:2] == [r["address"], r["zone"]]
        assert f[2] == ("LISTED" if r["listed"] else "not listed")
        if r["listed"]:
            assert f[3] == ",".join(r["a"]) and f[4:] == (["; ".join(r["txt"])] if r["txt"] else [])
    only, _ = scan_rows(zones, path, listed_only=True)
    assert only == [r for r in rows if r["listed"]]
    out = io.BytesIO()
    Scanner(zones).scan([path], out, fmt="addresses")
    listed = [rows[i]["address"] for i in range(0, len(rows), 3)
              if any(r["listed"] for r in rows[i:i + 3])]
    assert out.getvalue().decode().splitlines() == listed


def test_txt_cap_at_254_bytes_per_address(tmp_path):
    """A TXT with the address inside may pass rbldnsd's 254-byte cap only for longer
    addresses: those rows take the exact path, the others the prepared one."""
    filler = "x" * (254 - len("<>") - 7)  # room for 1.1.1.1 (7 bytes), not 10.0.0.10
    z = tmp_path / "long.zone"
    z.write_text(f":127.0.0.2:{filler}<$>\n0.0.0.0/1\n")
    zones = Zone.from_specs([f"l.test:ip4set:{z}"])
    addrs = ["1.1.1.1", "10.0.0.10", "100.100.100.100", "1.2.3.4", "::ffff:1.1.1.1"]
    p = tmp_path / "in.txt"
    p.write_text("\n".join(addrs) + "\n")
    rows, _ = scan_rows(zones, p)
    ref = [r.as_json() for r in run_check(addrs, zones)]
    assert [r["txt"] for r in rows] == [r["txt"] for r in ref]
    assert rows[0]["txt"][0].endswith("<1.1.1.1>")
    assert len(rows[1]["txt"][0].encode()) == 254 and rows[1]["txt"][0].endswith("<10.0.0.1")


def test_latin1_txt_survives(tmp_path):
    z = tmp_path / "l1.zone"
    z.write_bytes(b":127.0.0.2:Gr\xfc\xdfe $\n10.0.0.0/8\n")
    zones = Zone.from_specs([f"l.test:ip4set:{z}"])
    p = tmp_path / "in.txt"
    p.write_text("10.1.2.3\n")
    out = io.BytesIO()
    Scanner(zones).scan([p], out, fmt="table")
    assert out.getvalue() == b"10.1.2.3\tl.test\tLISTED\t127.0.0.2\tGr\xfc\xdfe 10.1.2.3\n"
    rows, _ = scan_rows(zones, p)  # JSON stays valid JSON
    assert rows[0]["txt"] == [b"Gr\xfc\xdfe".decode("utf-8", "surrogateescape") + " 10.1.2.3"]


# ---- compiled parsers against ipaddress ---------------------------------------------
def _v6_texts():
    addr = st.integers(0, (1 << 128) - 1).map(ipaddress.IPv6Address)
    return st.one_of(addr.map(str), addr.map(lambda a: a.exploded),
                     addr.map(lambda a: a.exploded.upper()),
                     st.integers(0, (1 << 32) - 1).map(
                         lambda v: f"::ffff:{ipaddress.IPv4Address(v)}"),
                     st.integers(0, (1 << 32) - 1).map(
                         lambda v: f"64:ff9b::{ipaddress.IPv4Address(v)}"))


@settings(max_examples=400, deadline=None)
@given(_v6_texts())
def test_parse_ip6_valid(text):
    assert _scan.parse_ip6(text) == int(ipaddress.IPv6Address(text))


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.", min_size=0, max_size=45))
def test_parse_ip6_same_verdict_as_ipaddress(text):
    try:
        want = int(ipaddress.IPv6Address(text))
    except ValueError:
        want = None
    assert _scan.parse_ip6(text) == want


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.integers(0, (1 << 32) - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
                          st.text(alphabet="0123456789.", max_size=17)), max_size=30))
def test_parse_chunk_ip4_matches_reference(items):
    r = _scan.parse_chunk(("\n".join(items) + "\n").encode())
    want = []
    for i, t in enumerate(items):
        parts = t.split(".")
        if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
            want.append((i, int(ipaddress.IPv4Address(".".join(str(int(p)) for p in parts)))))
    assert list(zip(r["line"].tolist(), r["v4"].tolist())) == want
    assert r["bad"] == sum(1 for t in items if t.strip()) - len(want)


def test_format_ip4_many():
    import numpy as np
    vals = [0, 1, 255, 256, 0x7F000001, 0xFFFFFFFF, 0x0A00000A, 3232235777]
    assert _scan.format_ip4_many(np.array(vals, np.uint32)) == \
        [str(ipaddress.IPv4Address(v)) for v in vals]


# ---- --extract -------------------------------------------------------------------------
LOG = """\
Jul  7 10:11:12 mx postfix/smtpd[1234]: connect from unknown[203.0.113.7]
Jul  7 10:11:13 mx postfix/smtpd[1234]: NOQUEUE: reject: RCPT from mail.example.com[198.51.100.23]: 554 5.7.1 Service unavailable; Client host [198.51.100.23] blocked using zen.spamhaus.org; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<x>
Jul  7 10:11:14 mx postfix/smtpd[1234]: connect from v6.example.net[2001:db8::25]
Jul  7 10:11:15 mx postfix/smtp[99]: 0A1B2C3D4E: to=<u@e.example>, relay=mx.e.example[IPv6:2001:db8:1::7]:25, delay=1.2
Jul  7 10:11:16 mx postfix/postscreen[77]: CONNECT from [192.0.2.99]:54321 to [10.0.0.1]:25
Jul  7 10:11:17 mx postfix/anvil[5]: statistics: max connection rate 1/60s for (smtp:192.0.2.15) at Jul  7 10:11:17
2026-07-07 10:11:18 1qXyZa-000123-AB <= a@b.example H=(helo.example) [203.0.113.99]:41234 P=esmtp S=1234
2026-07-07 10:11:19 1qXyZb-000124-CD H=mail.example.org [2001:db8:2::1]:25 F=<x@y.example> rejected RCPT <z@w.example>: blocked
2026-07-07 10:11:20 SMTP connection from (helo) [::ffff:198.51.100.200]:1234 lost
nothing here: 10:11:12 00:1a:2b:3c:4d:5e version 1.2.3 host-1-2-3-4.example ip-5.6.7.8.example a1.2.3.4 dead::beefy
sshd[1]: Failed password for root from 100.64.1.2 port 22 ssh2; client 100.64.1.3: gone. Also 100.64.1.4.
"""
LOG_EXPECTED = ["203.0.113.7", "198.51.100.23", "198.51.100.23", "2001:db8::25", "2001:db8:1::7",
                "192.0.2.99", "10.0.0.1", "192.0.2.15", "203.0.113.99", "2001:db8:2::1",
                "::ffff:c633:64c8", "100.64.1.2", "100.64.1.3", "100.64.1.4"]


def test_extract_postfix_and_exim(tmp_path, zones):
    p = tmp_path / "mail.log"
    p.write_text(LOG)
    r = _scan.parse_chunk(LOG.encode(), extract=True)
    assert len(r["fam"]) == len(LOG_EXPECTED)
    out = io.BytesIO()
    z = tmp_path / "z.zone"
    z.write_text("198.51.100.23\n2001:db8:2::/48\n192.0.2.0/24\n")
    zz = Zone.from_specs([f"x.test:ip4set:{z}", f"x.test:ip6trie:{z}"])
    stats = Scanner(zz).scan([p], out, fmt="jsonl", extract=True)
    rows = [json.loads(x) for x in out.getvalue().decode().splitlines()]
    assert [x["address"] for x in rows] == LOG_EXPECTED
    assert [x["address"] for x in rows if x["listed"]] == [
        "198.51.100.23", "198.51.100.23", "192.0.2.99", "192.0.2.15", "2001:db8:2::1"]
    assert stats.lines == LOG.count("\n") and stats.skipped == 1 and stats.bad == 0


# ---- the command ---------------------------------------------------------------------
@pytest.mark.integration
def test_cli_exit_codes_summary_and_bad_lines(world, generated):
    path, addrs, bad, _ = generated
    zargs = [a for s in world.specs for a in ("--zone", s)]
    r = cli(*zargs, "--format", "jsonl", "--listed-only", str(path))
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode()
    assert f"{bad:,} bad" in err and "not an IP address" in err
    assert f"{len(addrs):,} addresses" in err
    for z in ("a.test", "b.test", "c.test"):
        assert z in err
    assert all(json.loads(x)["listed"] for x in r.stdout.decode().splitlines())
    # nothing listed: exit 0 (stdin input)
    r = cli(*zargs, "-q", stdin=b"192.0.2.1\n# only unlisted\n2001:db8:ffff::1\n")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"" and r.stdout.decode().count("not listed") == 6


@pytest.mark.parametrize("args,needle", [
    (["--format", "xml"], "--format"),
    (["--zone", "broken"], "bad zone spec"),
    (["--zone", "x.test:ip4set:/nonexistent/file"], "nonexistent"),
    (["--zone", "x.test:ip4set:{zone}", "/nonexistent/input"], "cannot read /nonexistent/input"),
    (["--zone", "x.test:dnset:{zone}"], "no IP zone"),
])
@pytest.mark.integration
def test_cli_errors(tmp_path, args, needle):
    z = tmp_path / "z.zone"
    z.write_text("10.0.0.0/8\n")
    r = cli(*[a.format(zone=z) for a in args], stdin=b"10.0.0.1\n")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr.decode()


@pytest.mark.integration
def test_cli_progress_bar_on_request(tmp_path):
    z = tmp_path / "z.zone"
    z.write_text("10.0.0.0/8\n")
    p = tmp_path / "in.txt"
    p.write_text("10.0.0.1\n" * 200_000)
    r = cli("--zone", f"x.test:ip4set:{z}", "--progress", "--listed-only", "-q", str(p))
    assert r.returncode == 1
    assert b"lines" in r.stderr and b"\r" in r.stderr
    assert r.stdout.count(b"\n") == 200_000


def test_real_feeds_and_corpus_against_check():
    if not FEEDS.is_dir() or not CORPUS.is_dir():
        pytest.skip(f"real data not found under {DATA}")
    zones = Zone.from_specs([f"u1:ip4set:{FEEDS / 'dnsbl-1.uceprotect.net'}",
                             f"u2:ip4set:{FEEDS / 'dnsbl-2.uceprotect.net'}",
                             f"psbl:plain:{FEEDS / 'psbl.txt'}"])
    p = CORPUS / "mailport-probers.txt"
    rows, stats = scan_rows(zones, p)
    addrs = [x.strip() for x in p.read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert stats.addresses == len(addrs) and stats.bad == 0
    ref = [r.as_json() for r in run_check(addrs, zones)]
    assert rows == ref
    assert stats.listed > 0


def _scan_equals_check(zones, addrs, tmp_path) -> list[dict]:
    p = tmp_path / "in.txt"
    p.write_text("\n".join(addrs) + "\n")
    rows, stats = scan_rows(zones, p)
    ref = [r.as_json() for r in run_check(addrs, zones)]
    for r in ref:
        r["address"] = str(ipaddress.ip_address(r["address"]))
    assert rows == ref
    only, _ = scan_rows(zones, p, listed_only=True)
    assert only == [r for r in ref if r["listed"]]
    per_zone = {z.name: sum(r["listed"] for r in ref if r["zone"] == z.name) for z in zones}
    assert stats.per_zone == per_zone
    return rows


def test_txt_that_render_alike_merge_once_as_dns(tmp_path):
    """Two datasets whose TXT templates render to one text for some addresses (`$` and
    the address spelled out): DNS sends that TXT once, and so do check and scan; where
    they differ, both."""
    a = tmp_path / "a.zone"
    a.write_text(":127.0.0.2:$\n10.0.0.0/8\n")
    b = tmp_path / "b.zone"
    b.write_text("10.1.2.3 :127.0.0.3:10.1.2.3\n10.1.2.4 :127.0.0.3:10.1.2.3\n"
                 "10.1.2.5 :127.0.0.3:other $\n")
    zones = Zone.from_specs([f"m.test:ip4set:{a}", f"m.test:ip4set:{b}"])
    rows = _scan_equals_check(zones, ["10.1.2.3", "10.1.2.4", "10.1.2.5", "10.9.9.9"], tmp_path)
    assert [r["txt"] for r in rows] == [["10.1.2.3"], ["10.1.2.4", "10.1.2.3"],
                                        ["10.1.2.5", "other 10.1.2.5"], ["10.9.9.9"]]
    assert rows[0]["a"] == ["127.0.0.2", "127.0.0.3"]


def test_zones_only_the_exact_path_answers(tmp_path):
    """A domain list at the zone itself sees a reverse name as a domain name, and a
    subzone can catch a reverse name: DNS (the compiled decision) says what is listed,
    and scan's rows and counts follow it."""
    ip = tmp_path / "ip.zone"
    ip.write_text(":127.0.0.2:ip $\n10.0.0.0/8\n")
    dn = tmp_path / "dn.zone"
    dn.write_text(":127.0.0.5:dom $\n*.9.9.10\n")  # the reverse names of 10.9.9.0/24
    comb = tmp_path / "comb.zone"
    comb.write_text("$DATASET ip4set @\n10.0.0.0/8 :127.0.0.2:base $\n"
                    "$DATASET dnset 10\n*.3.2 :127.0.0.7:caught $\n")
    zones = Zone.from_specs([f"mixed.test:ip4set:{ip}", f"mixed.test:dnset:{dn}",
                             f"sub.test:combined:{comb}", f"plain.test:ip4set:{ip}"])
    addrs = ["10.9.9.3", "10.1.1.1", "192.0.2.1", "4.3.2.1", "10.2.3.4", "127.0.0.2"]
    rows = _scan_equals_check(zones, addrs, tmp_path)
    by = {(r["address"], r["zone"]): r for r in rows}
    assert by[("10.9.9.3", "mixed.test")]["txt"] == ["ip 10.9.9.3", "dom 9.9.10"]
    assert not by[("192.0.2.1", "mixed.test")]["listed"]
    # 10.2.3.4's name 4.3.2.10.sub.test falls into subzone 10 (a domain list there: the
    # wildcard *.3.2 lists it), not into the zone's own 10/8; 10.5.3.4 is not listed there
    assert by[("10.2.3.4", "sub.test")]["txt"] == ["caught 3.2"]
    assert by[("10.2.3.4", "sub.test")]["a"] == ["127.0.0.7"]
    assert not by[("10.1.1.1", "sub.test")]["listed"]
    assert by[("10.1.1.1", "plain.test")]["listed"]
