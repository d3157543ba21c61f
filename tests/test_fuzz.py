"""Fuzzing the DNS paths: random and mutated packets (hypothesis) never raise, never get a
reply that is not a well-formed answer to them, and the compiled path agrees with the
reference path; against the running server they never crash, hang or leak it."""
from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

import dnslib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_server_support import Serve  # noqa: E402

from rblmirror.server import respond  # noqa: E402
from rblmirror.zone import Zone, ZoneTable  # noqa: E402

SOA = "$SOA 300 ns.f.test hostmaster.f.test 1 3600 900 604800 60\n$TTL 300\n"
ZONE = SOA + "127.0.0.2\n10.0.0.0/8 :127.0.0.3:reason $ $$\n!10.1.0.0/16\n::1\n"
SEEDS_Q = [("2.0.0.127.f.test", "A"), ("4.3.2.10.f.test", "TXT"), ("f.test", "SOA"),
           ("0.127.f.test", "ANY"), ("a.b.f.test", "MX"), ("x.other.test", "A")]


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


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(pkt=packets())
def test_compiled_path_agrees_on_garbage(table, pkt):
    _dnsfast = pytest.importorskip("rblmirror._dnsfast")
    fast = _dnsfast.FastPath(table)
    got = fast.answer(pkt)
    if got is not None:
        assert got == respond(pkt, table)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


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
            before = _rss_kb(s.proc.pid)
            for _ in range(5):
                burst(sock)
            r = s.query("2.0.0.127.f.test")
            after = _rss_kb(s.proc.pid)
        assert s.proc.poll() is None, s.log
        assert r.header.rcode == 0 and str(r.rr[0].rdata) == "127.0.0.2"
        assert after - before < 4096, f"RSS grew {after - before} kB over 15,000 packets"
        assert "Traceback" not in s.log
    assert os.path.exists(z)
