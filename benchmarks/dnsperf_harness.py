"""Side-by-side DNS benchmark: rbldnsd and `rblmirror serve` on the same zone, dnsperf
against each in turn, in one run; prints queries/s, lost and the ratio.

    python benchmarks/dnsperf_harness.py                  # 1M-entry zone, 10 s per run
    python benchmarks/dnsperf_harness.py --entries 100000 --seconds 3 --workers 1,2

It also checks, before timing, that both servers give the same answers for a sample of
the queries (so speed never hides a wrong answer).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ZONE = "bench.rblmirror.test"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_zone(path: Path, entries: int, cidrs: int, seed: int = 5782) -> list[int]:
    """An ip4set of `entries` random /32s and `cidrs` CIDRs; returns the listed /32s."""
    rnd = random.Random(seed)
    listed = set()
    with open(path, "w") as f:
        f.write(f"$SOA 3600 {ZONE} hostmaster.{ZONE} 1 3600 900 604800 300\n$TTL 300\n")
        f.write(":127.0.0.2:Listed: $ is in the benchmark zone, see http://example.test/?$\n")
        while len(listed) < entries:
            ip = rnd.getrandbits(32)
            if ip >> 24 in (0, 10, 127) or ip in listed:
                continue
            listed.add(ip)
        for ip in listed:
            f.write(f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}\n")
        for _ in range(cidrs):
            bits = rnd.randint(16, 29)
            net = rnd.getrandbits(32) & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
            f.write(f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/{bits}"
                    f" :127.0.0.3:net $\n")
        f.write("127.0.0.2\n")
    return sorted(listed)


def write_queries(path: Path, listed: list[int], qtype: str, n: int, seed: int = 1) -> None:
    """Half listed addresses, half random ones (mostly unlisted)."""
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            ip = rnd.choice(listed) if i % 2 == 0 else rnd.getrandbits(32)
            f.write(f"{ip & 255}.{(ip >> 8) & 255}.{(ip >> 16) & 255}.{ip >> 24}.{ZONE} {qtype}\n")


def wait_udp(port: int, timeout: float = 60.0) -> None:
    import dnslib
    q = dnslib.DNSRecord.question(f"2.0.0.127.{ZONE}", "A").pack()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                s.sendto(q, ("127.0.0.1", port))
                r = s.recvfrom(4096)[0]
                if r[3] & 15 == 0:  # NOERROR for the RFC 5782 test point: zone loaded
                    return
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"no DNS server answering on 127.0.0.1:{port}")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_rbldnsd(zone: Path, workdir: Path) -> Server:
    exe = shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"
    port = free_port()
    proc = subprocess.Popen([exe, "-n", "-q", "-b", f"127.0.0.1/{port}", "-w", str(workdir),
                             "-t", "300", "-c", "0", f"{ZONE}:ip4set:{zone}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_udp(port)
    return Server("rbldnsd", proc, port)


def start_rblmirror(zone: Path, workers: int) -> Server:
    port = free_port()
    exe = [sys.executable, "-m", "rblmirror", "serve", "--zone", f"{ZONE}:ip4set:{zone}",
           "--listen", f"127.0.0.1:{port}", "--workers", str(workers)]
    proc = subprocess.Popen(exe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_udp(port)
    return Server(f"rblmirror x{workers}", proc, port)


def same_answers(a: Server, b: Server, queries: Path, sample: int = 300) -> list[str]:
    """Compare rcode and answer RRs for a sample of the queries; returns the differences."""
    import dnslib
    lines = queries.read_text().splitlines()[:sample]
    diffs = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for line in lines:
            name, qtype = line.split()
            got = []
            for srv in (a, b):
                q = dnslib.DNSRecord.question(name, qtype)
                s.sendto(q.pack(), ("127.0.0.1", srv.port))
                r = dnslib.DNSRecord.parse(s.recvfrom(65535)[0])
                got.append((r.header.rcode, sorted((str(rr.rname).lower(), rr.rtype, rr.ttl,
                                                    str(rr.rdata)) for rr in r.rr)))
            if got[0] != got[1]:
                diffs.append(f"{line}: {a.name} {got[0]} != {b.name} {got[1]}")
    return diffs


_FIELDS = {"sent": r"Queries sent:\s+(\d+)", "completed": r"Queries completed:\s+(\d+)",
           "lost": r"Queries lost:\s+(\d+)", "qps": r"Queries per second:\s+([\d.]+)"}


def dnsperf(port: int, queries: Path, seconds: float, clients: int = 4) -> dict:
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
                          "-l", str(seconds), "-c", str(clients), "-q", "200", "-t", "2"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    res = {}
    for k, rx in _FIELDS.items():
        m = re.search(rx, out)
        if not m:
            raise RuntimeError(f"cannot read dnsperf output:\n{out}")
        res[k] = float(m.group(1))
    # "Response codes: NOERROR 500 (50.00%), NXDOMAIN 500 (50.00%)" -> {"NOERROR": 500, ...}
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = {c: int(n) for c, n in re.findall(r"(\w+) (\d+) \(", m.group(1))} \
        if m else {}
    return res


def run(entries: int, cidrs: int, seconds: float, workers: list[int], qtypes: list[str],
        out=sys.stdout) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rblbench-") as td:
        tmp = Path(td)
        os.chmod(tmp, 0o755)  # rbldnsd drops root for user rbldns: it must read the zone
        zone = tmp / "bench.zone"
        listed = write_zone(zone, entries, cidrs)
        qfiles = {}
        for qt in qtypes:
            qfiles[qt] = tmp / f"q-{qt}.txt"
            write_queries(qfiles[qt], listed, qt, 200_000)
        ref = start_rbldnsd(zone, tmp)
        try:
            servers = [ref]
            for w in workers:
                servers.append(start_rblmirror(zone, w))
            try:
                for srv in servers[1:]:
                    for qt in qtypes:
                        diffs = same_answers(ref, srv, qfiles[qt])
                        if diffs:
                            raise AssertionError("answers differ:\n" + "\n".join(diffs[:10]))
                for qt in qtypes:
                    base = None
                    for srv in servers:
                        r = dnsperf(srv.port, qfiles[qt], seconds)
                        base = base or r["qps"]
                        rows.append({"server": srv.name, "qtype": qt, **r,
                                     "ratio": r["qps"] / base if base else 0.0})
            finally:
                for srv in servers[1:]:
                    srv.stop()
        finally:
            ref.stop()
    print(f"\n{entries} /32 + {cidrs} CIDR ip4set, dnsperf -c 4 -q 200 -l {seconds} on "
          f"loopback, {os.cpu_count()} CPUs\n", file=out)
    print("| server | qtype | queries/s | lost | vs rbldnsd |", file=out)
    print("|---|---|---:|---:|---:|", file=out)
    for r in rows:
        print(f"| {r['server']} | {r['qtype']} | {r['qps']:,.0f} | {r['lost']:.0f} | "
              f"{r['ratio']:.2f}x |", file=out)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--cidrs", type=int, default=50_000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--qtypes", default="A,TXT")
    a = p.parse_args(argv)
    run(a.entries, a.cidrs, a.seconds, [int(x) for x in a.workers.split(",")],
        a.qtypes.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
