"""Fuzzing the DNS paths: random and mutated packets (hypothesis) never raise, never get a
reply that is not a well-formed answer to them, and the compiled path agrees with the
reference path; against the running server they never crash, hang or leak it."""
from __future__ import annotations

import os
import random
import socket

import dnslib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.processes import status_kb
from support.serve import Serve

from rblmirror.dns.wire import respond
from rblmirror.dns.zone import Zone, ZoneTable

SOA = "$SOA 300 ns.f.test hostmaster.f.test 1 3600 900 604800 60\n$TTL 300\n"
ZONE = SOA + "127.0.0.2\n10.0.0.0/8 :127.0.0.3:reason $ $$\n!10.1.0.0/16\n::1\n"
#: several datasets at the apex (IPv4 and IPv6), subzones (combined), the test points
ZONE6 = "$TTL 600\n:127.0.0.9:v6 $\n2001:db8::/32\n2002:a00:1::/48 :127.0.0.4:6to4 $\n"
COMBINED = (SOA + "$DATASET ip4set @ sub\n10.0.0.0/8 :127.0.0.5:c $\n"
            "$DATASET ip6trie a.sub\n2001:db8::/32 :127.0.0.6:deep $\n"
            "$DATASET dnset dom\n:127.0.0.7:name $\ntest\n*.example.com\n.spam.test\n!x.spam.test\n")
_R6 = ".".join(format(((0x20010DB8 << 96 | 0x12) >> (4 * i)) & 15, "x") for i in range(32))
_R6TO4 = ".".join(format((((0x2002 << 112) | (0x0A000001 << 80)) >> (4 * i)) & 15, "x")
                  for i in range(32))
SEEDS_Q = [("2.0.0.127.f.test", "A"), ("4.3.2.10.f.test", "TXT"), ("f.test", "SOA"),
           ("0.127.f.test", "ANY"), ("a.b.f.test", "MX"), ("x.other.test", "A"),
           (f"{_R6}.f.test", "TXT"), (f"{_R6TO4}.f.test", "ANY"), ("8.b.d.0.1.0.0.2.f.test", "A"),
           ("4.3.2.10.sub.f.test", "ANY"), (f"{_R6}.a.sub.f.test", "TXT"), ("sub.f.test", "A"),
           ("a.b.example.com.dom.f.test", "TXT"), ("x.spam.test.dom.f.test", "ANY")]


def _seeds() -> list[bytes]:
    out = [dnslib.DNSRecord.question(n, t).pack() for n, t in SEEDS_Q]
    q = dnslib.DNSRecord.question("2.0.0.127.f.test", "TXT")
    q.add_ar(dnslib.EDNS0(udp_len=4096))
    return out + [q.pack()]


SEEDS = _seeds()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    z = tmp_path_factory.mktemp("fuzz") / "f.zone"
    z.write_text(ZONE)
    return ZoneTable(Zone.from_specs([f"f.test:ip4set:{z}"]))


@pytest.fixture(scope="module", params=["ip4", "mixed", "combined"])
def tables(request, tmp_path_factory):
    """The fuzz zone alone, with IPv6 data and a second IPv4 dataset, and as a combined
    zone with subzones (every one with the RFC 5782 test points)."""
    d = tmp_path_factory.mktemp("fuzz-" + request.param)
    for name, text in (("f.zone", ZONE), ("f6.zone", ZONE6), ("c.zone", COMBINED)):
        (d / name).write_text(text)
    specs = {"ip4": [f"f.test:ip4set:{d / 'f.zone'}"],
             "mixed": [f"f.test:ip4set:{d / 'f.zone'}", f"f.test:ip6trie:{d / 'f6.zone'}",
                       f"f.test:ip4trie:{d / 'f.zone'}"],
             "combined": [f"f.test:combined:{d / 'c.zone'}", f"f.test:plain:{d / 'f.zone'}"]}
    return ZoneTable(Zone.from_specs(specs[request.param]))


@st.composite
def packets(draw):
    if draw(st.booleans()):
        return draw(st.binary(max_size=120))
    b = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.integers(0, 3))
        if op == 0 and b:
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        elif op == 1 and b:
            del b[draw(st.integers(0, len(b) - 1)):]
        elif op == 2:
            b += draw(st.binary(min_size=1, max_size=12))
        elif b:  # flip header flag bits
            i = draw(st.integers(2, min(11, len(b) - 1))) if len(b) > 2 else 0
            b[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(b)


def _name_end(b: bytes, pos: int) -> int:
    """Offset after an uncompressed name at pos (queries carry no pointers)."""
    while b[pos]:
        pos += b[pos] + 1
    return pos + 1


def check_reply(pkt: bytes, out: bytes | None) -> None:
    """A reply answers this query: same id, QR set, a known rcode, and the question echoed
    byte for byte (labels may be any octets, so this reads the wire, not dnslib)."""
    if out is None:
        return
    assert len(pkt) >= 12 and len(out) >= 12 and out[:2] == pkt[:2]
    assert out[2] & 0x80
    assert out[3] & 0x0F in (0, 1, 2, 3, 4, 5)
    qd = int.from_bytes(out[4:6], "big")
    assert qd in (0, 1)
    if qd:
        end = _name_end(out, 12) + 4
        assert out[12:end] == pkt[12:end]


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(pkt=packets())
def test_reference_path_never_raises_and_replies_are_well_formed(table, pkt):
    check_reply(pkt, respond(pkt, table))
    check_reply(pkt, respond(pkt, table, tcp=True))


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(pkt=packets(), minimal_any=st.booleans())
def test_compiled_path_agrees_on_garbage(tables, pkt, minimal_any):
    _dnsfast = pytest.importorskip("rblmirror._dnsfast")
    fast = _dnsfast.FastPath(tables, minimal_any=minimal_any)
    got = fast.answer(pkt)
    if got is not None:
        assert got == respond(pkt, tables, minimal_any=minimal_any)


def test_compiled_path_answers_the_seeds(tables):
    """The seeds below the zone (IPv4, IPv6, 6to4, partial, subzone names, ANY) are the
    fast path's: the fuzzing above mutates shapes it really answers."""
    _dnsfast = pytest.importorskip("rblmirror._dnsfast")
    fast = _dnsfast.FastPath(tables)
    for pkt, (name, _) in zip(map(bytes, SEEDS), SEEDS_Q):
        if name.endswith(".f.test"):
            assert fast.answer(pkt) == respond(pkt, tables), name


@pytest.mark.integration
def test_server_survives_fuzz_without_leaking(tmp_path):
    z = tmp_path / "f.zone"
    z.write_text(ZONE)
    rng = random.Random(5782)
    base = SEEDS

    def burst(sock, n=3000):
        for i in range(n):
            if i % 3 == 0:
                pkt = rng.randbytes(rng.randint(0, 100))
            else:
                b = bytearray(rng.choice(base))
                for _ in range(rng.randint(1, 4)):
                    if rng.random() < 0.7 and b:
                        b[rng.randrange(len(b))] = rng.randrange(256)
                    else:
                        b += rng.randbytes(rng.randint(1, 8))
                pkt = bytes(b)
            sock.sendto(pkt, ("127.0.0.1", s.port))

    with Serve([f"f.test:ip4set:{z}"], log_dir=tmp_path) as s:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            burst(sock)  # warm-up: caches, buffers, the allocator's arenas
            assert s.query("2.0.0.127.f.test").header.rcode == 0
            before = status_kb(s.proc.pid, "VmRSS")
            for _ in range(5):
                burst(sock)
            r = s.query("2.0.0.127.f.test")
            after = status_kb(s.proc.pid, "VmRSS")
        assert s.proc.poll() is None, s.log
        assert r.header.rcode == 0 and str(r.rr[0].rdata) == "127.0.0.2"
        assert after - before < 4096, f"RSS grew {after - before} kB over 15,000 packets"
        assert "Traceback" not in s.log
    assert os.path.exists(z)
