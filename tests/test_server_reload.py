"""Hot reload of `rblmirror serve`: SIGHUP and a file change bring new data; a broken
file keeps the last good data (rbldnsd would drop the zone to SERVFAIL). Plus counters
(SIGUSR1) and a fuzz run that must leave the server answering."""
from __future__ import annotations

import json
import os
import random
import signal
import time

import dnslib
import pytest

from support.serve import Serve

pytestmark = pytest.mark.integration

SOA = "$SOA 60 ns.r.test h.r.test 1 600 300 86400 30\n"


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_reload_on_sighup_mtime_and_broken_file(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text(SOA + "127.0.0.2\n")
    with Serve([f"r.test:ip4set:{p}"]) as s:
        assert s.query("2.0.0.127.r.test").header.rcode == 0
        assert s.query("3.0.0.127.r.test").header.rcode == 3
        # a file change (size and mtime) is picked up without a signal
        p.write_text(SOA + "127.0.0.2\n127.0.0.3\n")
        assert _wait(lambda: s.query("3.0.0.127.r.test").header.rcode == 0)
        # SIGHUP: same size, mtime put back, so only the signal can trigger it
        st = os.stat(p)
        p.write_text(SOA + "127.0.0.2\n127.0.0.4\n")
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        time.sleep(1.5)
        assert s.query("4.0.0.127.r.test").header.rcode == 3
        s.signal(signal.SIGHUP)
        assert _wait(lambda: s.query("4.0.0.127.r.test").header.rcode == 0)
        # a broken file (unreadable: a directory in its place) keeps the last good data
        p.unlink()
        p.mkdir()
        time.sleep(2.5)
        s.signal(signal.SIGHUP)
        time.sleep(1.0)
        assert s.query("4.0.0.127.r.test").header.rcode == 0
        assert s.query("2.0.0.127.r.test").header.rcode == 0
        assert "keeping the previous data" in s.log


def test_counters_on_sigusr1(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text(SOA + "127.0.0.2\n")
    with Serve([f"r.test:ip4set:{p}"]) as s:
        for _ in range(3):
            s.query("2.0.0.127.r.test")
        s.query("1.0.0.127.r.test")
        s.query("2.0.0.127.elsewhere.test")
        s.signal(signal.SIGUSR1)
        assert _wait(lambda: '"counters"' in s.log)
        line = [x for x in s.log.splitlines() if x.startswith("{")][-1]
        c = json.loads(line)["counters"]
        assert c["r.test"]["listed"] >= 3 and c["r.test"]["not_listed"] >= 1
        assert c["*"]["refused"] >= 1
        assert c["r.test"]["bytes"] > 0


def test_workers_share_the_port(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text(SOA + "127.0.0.2\n")
    with Serve([f"r.test:ip4set:{p}"], workers=2) as s:
        for _ in range(20):
            assert s.query("2.0.0.127.r.test").header.rcode == 0

        def listening() -> set[str]:  # the pids that logged their sockets
            return {x.split("[")[1].split("]")[0] for x in s.log.splitlines()
                    if "listening on" in x}
        deadline = time.monotonic() + 20  # the second worker may start a moment later
        while len(listening()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(listening()) == 2, s.log


def test_fuzz_random_and_mutated_packets_keep_it_answering(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text(SOA + "127.0.0.2\n10.0.0.0/8 :127.0.0.3:reason $\n")
    rng = random.Random(7)
    seeds = [dnslib.DNSRecord.question(n, t).pack() for n, t in
             (("2.0.0.127.r.test", "A"), ("1.2.3.10.r.test", "TXT"), ("r.test", "SOA"))]
    q = dnslib.DNSRecord.question("2.0.0.127.r.test", "TXT")
    q.add_ar(dnslib.EDNS0(udp_len=4096))
    seeds.append(q.pack())
    with Serve([f"r.test:ip4set:{p}"]) as s:
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(3000):
                if i % 3 == 0:
                    pkt = rng.randbytes(rng.randint(0, 80))
                else:
                    b = bytearray(rng.choice(seeds))
                    for _ in range(rng.randint(1, 4)):
                        op = rng.random()
                        if op < 0.6 and b:
                            b[rng.randrange(len(b))] = rng.randrange(256)
                        elif op < 0.8 and b:
                            del b[rng.randrange(len(b)):]
                        else:
                            b += rng.randbytes(rng.randint(1, 10))
                    pkt = bytes(b)
                sock.sendto(pkt, ("127.0.0.1", s.port))
        assert s.proc.poll() is None
        r = s.query("2.0.0.127.r.test")
        assert r.header.rcode == 0 and str(r.rr[0].rdata) == "127.0.0.2"
        assert "Traceback" not in s.log
