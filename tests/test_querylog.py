"""The query log and the statistics file against the real rbldnsd's (`-l`, `-s`): the
same zone, the same questions, the same lines but for the time; the log reopened on
SIGHUP (logrotate's move, then HUP: nothing lost); whole lines from several workers."""
from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import dnslib
import pytest
from support.dns import question
from support.rbldnsd import Rbldnsd
from support.serve import Serve

pytestmark = pytest.mark.integration

ZONE = """$SOA 3600 ns.bl.test hostmaster.bl.test 7 3600 600 86400 60
:2:listed $
127.0.0.2
10.0.0.0/8 :3:ten
!10.0.0.7
"""
DBL = """$SOA 3600 ns.dbl.test hostmaster.dbl.test 7 3600 600 86400 60
:2:domain listed
listed.example
"""
#: one line of the log: time peer name type class: rcode/ancount/length
LINE = re.compile(r"^(\d+) (\S+) (\S+) (\S+) (\S+): (\S+)/(\d+)/(\d+)$")


def labels(*parts: bytes) -> dnslib.DNSLabel:
    return dnslib.DNSLabel(list(parts))


def questions() -> list[bytes]:
    """Raw queries (no OPT, so both reply within 512 bytes the same way): hits, misses,
    the apex, another zone, odd bytes that the log escapes, other types and classes."""
    out: list[bytes] = []
    qid = 100

    def q(name: str | dnslib.DNSLabel, qtype: str, qclass: int = 1) -> None:
        nonlocal qid
        qid += 1
        rec = question("x", qtype, qid=qid)
        rec.q.qname = name if isinstance(name, dnslib.DNSLabel) else dnslib.DNSLabel(name)
        rec.q.qclass = qclass
        out.append(rec.pack())

    for name in ("2.0.0.127.bl.test", "2.0.0.127.BL.Test", "3.0.0.127.bl.test",
                 "1.2.3.10.bl.test", "7.0.0.10.bl.test", "bl.test", "x.other.test",
                 "1.2.3.4.bl.test"):
        for t in ("A", "TXT", "ANY", "MX"):
            # (rbldnsd refuses the apex's ANY with no NS; and it compresses the SOA's
            # owner into a question of another case, dnslib does not: 7 bytes more)
            if (name, t) not in (("bl.test", "ANY"), ("2.0.0.127.BL.Test", "MX")):
                q(name, t)
    q("bl.test", "SOA")
    for name in ("listed.example.dbl.test", "other.example.dbl.test", "dbl.test"):
        q(name, "A")
        q(name, "TXT")
    for odd in (b"a.b", b"s p", b"q\"$@;\\", b"\x7fz\x00", b"\xc3\xa9"):
        q(labels(odd, b"bl", b"test"), "A")
    q("2.0.0.127.bl.test", "A", qclass=255)
    return out


def ask(port: int, packets: list[bytes], src: str = "127.0.0.1") -> int:
    """Send each packet and wait for its reply; the replies received."""
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(2)
        for p in packets:
            s.sendto(p, ("127.0.0.1", port))
            try:
                while s.recv(4096)[:2] != p[:2]:
                    pass
                got += 1
            except socket.timeout:
                pass
    return got


def untimed(text: str) -> list[str]:
    return [x.split(" ", 1)[1] for x in text.splitlines()]


def settled(path: Path) -> int:
    """The lines in the log once the start-up probes' lines are in (written after the
    replies they log)."""
    time.sleep(0.5)
    return path.read_text().count("\n") if path.exists() else 0


def wait_lines(path: Path, n: int, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.count("\n") >= n:
            return text
        time.sleep(0.05)
    return path.read_text() if path.exists() else ""


def settled_line(s: Serve, path: Path, tries: int = 20) -> str:
    """A statistics line (SIGUSR1) equal to the one before it but for the time: every
    start-up probe counted, a late one too (a probe sent again under load is answered,
    and counted, after the first reply let Serve return)."""
    last = None
    for _ in range(tries):
        n = path.read_text().count("\n") if path.exists() else 0
        s.signal(signal.SIGUSR1)
        line = wait_lines(path, n + 1).splitlines()[n]
        if last is not None and line.split()[1:] == last.split()[1:]:
            return line
        last = line
        time.sleep(0.3)
    raise AssertionError(f"the statistics did not settle: {last}")


@pytest.fixture
def rbldnsd_logged(tmp_path):
    r = Rbldnsd(args=["-t", "3600", "-a", "-l", "+queries.log", "-s", "stats"])
    os.chmod(r.workdir, 0o777)  # rbldnsd writes its log as its own user
    z = r.write("bl", ZONE)
    d = r.write("dbl", DBL)
    r.add_zone("dbl.test", "dnset", [d])  # (the statistics list the zones in this order)
    r.add_zone("bl.test", "ip4set", [z])
    with r:
        yield r, [f"dbl.test:dnset:{d}", f"bl.test:ip4set:{z}"]


def test_log_lines_equal_rbldnsd(rbldnsd_logged, tmp_path):
    r, z = rbldnsd_logged
    qs = questions()
    rlog = r.workdir / "queries.log"
    before = settled(rlog)  # (its start-up probe is logged too)
    assert ask(r.port, qs) == len(qs)
    theirs = untimed(wait_lines(rlog, before + len(qs)))[before:]
    log = tmp_path / "q.log"
    with Serve(z, ["--query-log", f"+{log}"]) as s:
        before = settled(log)  # (the start-up probes are logged too)
        assert ask(s.port, qs) == len(qs)
        ours = untimed(wait_lines(log, before + len(qs)))[before:]
    assert len(theirs) == len(qs)
    assert ours == theirs
    # every line well formed, the time now
    for ln in log.read_text().splitlines():
        m = LINE.match(ln)
        assert m, ln
        assert abs(int(m[1]) - time.time()) < 120


def test_stats_line_equals_rbldnsd(rbldnsd_logged, tmp_path):
    r, z = rbldnsd_logged
    qs = questions() + [b"\x00\x01garbage"]  # a malformed one: an error of no zone
    # the start-up probes count too: take a line before the questions and subtract
    r.proc.send_signal(signal.SIGUSR1)
    t1 = wait_lines(r.workdir / "stats", 2).splitlines()[1]
    ask(r.port, qs)
    r.proc.send_signal(signal.SIGUSR1)
    theirs = wait_lines(r.workdir / "stats", 3).splitlines()
    stats = tmp_path / "stats"
    with Serve(z, ["--stats-file", str(stats)]) as s:
        first = settled_line(s, stats)
        n = stats.read_text().count("\n")
        ask(s.port, qs)
        s.signal(signal.SIGUSR1)
        second = wait_lines(stats, n + 1).splitlines()[n]
    assert re.fullmatch(r"\d+", theirs[0])

    def fields(line: str) -> dict[str, list[int]]:
        return {p.split(":")[0]: [int(x) for x in p.split(":")[1:]]
                for p in line.split()[1:]}

    def delta(one: str, two: str) -> dict[str, list[int]]:
        a, b = fields(one), fields(two)
        return {k: [y - x for x, y in zip(a[k], b[k])] for k in b}

    b = fields(second)
    ours = delta(first, second)
    assert ours == delta(t1, theirs[2])
    assert ours["bl.test"][0] > 30 and ours["bl.test"][2] > 5  # (not all zeros)
    assert ours["dbl.test"][:3] == [6, 4, 2]
    assert [p.split(":")[0] for p in second.split()[1:]] == ["dbl.test", "bl.test", "*"]
    assert [p.split(":")[0] for p in theirs[2].split()[1:]] == ["dbl.test", "bl.test", "*"]
    # at exit: the last line, then the time alone
    tail = stats.read_text().splitlines()
    assert re.fullmatch(r"\d+", tail[-1]) and fields(tail[-2])["bl.test"][0] >= b["bl.test"][0]


def test_sighup_reopens_the_log_and_loses_nothing(tmp_path, zone_file):
    z = zone_file(ZONE)
    log = tmp_path / "q.log"
    with Serve([f"bl.test:ip4set:{z}"], ["--query-log", str(log)]) as s:  # buffered
        got = [0]
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                got[0] += ask(s.port, [question("2.0.0.127.bl.test", "A").pack()] * 20)

        t = threading.Thread(target=client)
        t.start()
        time.sleep(1.0)
        os.rename(log, tmp_path / "q.log.1")  # logrotate's move
        s.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        stop.set()
        t.join()
    # (stop() flushed the buffer at exit)
    old = (tmp_path / "q.log.1").read_text().splitlines()
    new = log.read_text().splitlines()
    assert old and new, "lines before and after the HUP"
    assert all(LINE.match(x) for x in old + new)
    asked = [x for x in old + new if " 2.0.0.127.bl.test A IN: NOERROR/" in x]
    assert len(asked) == got[0] > 100
    assert max(int(x.split()[0]) for x in old) <= min(int(x.split()[0]) for x in new)


def test_workers_write_whole_lines(tmp_path, zone_file):
    z = zone_file(ZONE)
    log = tmp_path / "q.log"
    with Serve([f"bl.test:ip4set:{z}"], ["--query-log", f"+{log}"], workers=2) as s:
        n = 0
        threads = []
        counts = [0] * 4

        def client(i: int) -> None:
            counts[i] = ask(s.port, [question(f"{i}.0.0.127.bl.test", "TXT").pack()] * 300)

        for i in range(4):
            threads.append(threading.Thread(target=client, args=(i,)))
            threads[-1].start()
        for t in threads:
            t.join()
        n = sum(counts)
        # SIGHUP to the parent: forwarded, every worker reopens (the old file then stays
        # as it is)
        time.sleep(0.5)
        os.rename(log, tmp_path / "q.log.1")
        s.signal(signal.SIGHUP)
        time.sleep(1.5)
        kept = (tmp_path / "q.log.1").read_text()
        # (from 20 sockets: their source ports spread them over both workers)
        n2 = sum(ask(s.port, [question(f"{i}.0.0.127.bl.test", "TXT").pack()
                              for i in range(4)] * 5) for _ in range(20))
        time.sleep(0.5)
        assert (tmp_path / "q.log.1").read_text() == kept
    lines = kept.splitlines() + log.read_text().splitlines()
    assert all(LINE.match(x) for x in lines)
    asked = [x for x in lines if re.search(r" [0-3]\.0\.0\.127\.bl\.test TXT IN: ", x)]
    assert len(asked) == n + n2 and n > 1000 and n2 == 400
