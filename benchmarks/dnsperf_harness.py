"""Side-by-side DNS benchmark: rbldnsd and `rblmirror serve` on the same zone, dnsperf
against each in turn, in one run; prints queries/s, lost and the ratio. It starts both
servers with the test helpers (tests/support/), so tests/ goes on PYTHONPATH:

    PYTHONPATH=tests python benchmarks/dnsperf_harness.py          # 1M-entry zone, 10 s per run
    PYTHONPATH=tests python benchmarks/dnsperf_harness.py --entries 100000 --seconds 3 --workers 1,2
    PYTHONPATH=tests python benchmarks/dnsperf_harness.py --kinds ip4set,ip6trie,dnset,combined \
        --entries 200000 --seconds 10               # one zone of each kind, dnsperf -c 1

--kinds runs one zone per kind (ip4set, ip6trie, dnset, combined: an ip4set and an
ip6trie at the apex and a dnset subzone), half the questions listed, A and TXT mixed in
one query file, one dnsperf run per server and kind, and prints queries/s, CPU µs per
query of the server process (utime + stime from /proc/PID/stat over the run) and the
share of rblmirror's answers that its compiled path gave (its SIGUSR1 counters).

It also checks, before timing, that both servers give the same answers for a sample of
the queries (so speed never hides a wrong answer).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from support.dns import DNSClient
from support.dnsperf import parse as dnsperf_report
from support.processes import cpu_seconds
from support.rbldnsd import Rbldnsd
from support.serve import Serve

ZONE = "bench.rblmirror.test"


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


#: either server, started: .name, .proc, .port, .stop()
Server = Rbldnsd | Serve


def start_rbldnsd(zone: Path, workdir: Path, fmt: str = "ip4set",
                  probe: str | None = None) -> Rbldnsd:
    """rbldnsd -q (it answers before it has loaded): up once `probe` (default: the RFC
    5782 test point) answers NOERROR."""
    return Rbldnsd([(ZONE, fmt, [zone])], args=["-q", "-t", "300", "-c", "0"],
                   workdir=workdir, probe=(probe or f"2.0.0.127.{ZONE}", "A"),
                   noerror=True).start(timeout=60)


def start_rblmirror(zone: Path, workers: int, fmt: str = "ip4set", probe: str | None = None,
                    log: Path | None = None) -> Serve:
    """`rblmirror serve`, up once `probe` answers NOERROR; its log (stdout and stderr:
    the SIGUSR1 counters land there) in the folder of log, else in /tmp."""
    srv = Serve([f"{ZONE}:{fmt}:{zone}"], workers=workers,
                log_dir=log.parent if log is not None else None,
                probe=probe or f"2.0.0.127.{ZONE}", probe_type="A", noerror=True)
    return srv.start(timeout=60)


def same_answers(a: Server, b: Server, queries: Path, sample: int = 300) -> list[str]:
    """Compare rcode and answer RRs for a sample of the queries; returns the differences."""
    lines = queries.read_text().splitlines()[:sample]
    diffs = []
    with DNSClient(a.port) as ca, DNSClient(b.port) as cb:
        for line in lines:
            name, qtype = line.split()
            got = []
            for c in (ca, cb):
                r = c.query(name, qtype, tries=1)
                got.append((r.header.rcode, sorted((str(rr.rname).lower(), rr.rtype, rr.ttl,
                                                    str(rr.rdata)) for rr in r.rr)))
            if got[0] != got[1]:
                diffs.append(f"{line}: {a.name} {got[0]} != {b.name} {got[1]}")
    return diffs


def dnsperf(port: int, queries: Path, seconds: float, clients: int = 4,
            pid: int | None = None) -> dict:
    """One dnsperf run; with pid, also "cpu" (and "cpu_user"): that process's CPU seconds
    (in user mode) over the run."""
    cpu0 = cpu_seconds(pid, split=True) if pid is not None else None
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
                          "-l", str(seconds), "-c", str(clients), "-q", "200", "-t", "2"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu1 = cpu_seconds(pid, split=True) if pid is not None else None
    res = dnsperf_report(out)
    if pid is not None:
        res["cpu"] = sum(cpu1) - sum(cpu0)
        res["cpu_user"] = cpu1[0] - cpu0[0]
    return res


# ------------------------------------------------------------ one zone of each kind
KINDS = ("ip4set", "ip6trie", "dnset", "combined")
DEFAULT_TXT = "Listed: $ is in the benchmark zone, see http://example.test/?$"
#: a name each kind's zone lists, asked until the server answers NOERROR (loaded)
_READY_V6 = 0x20010DB8 << 96 | 0x5782
_READY_NAME = "ready.bench-rblmirror.test"
M128 = (1 << 128) - 1


def _ip4(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def _rev4(v: int) -> str:
    return f"{v & 255}.{(v >> 8) & 255}.{(v >> 16) & 255}.{v >> 24}"


def _ip6(v: int) -> str:
    import ipaddress
    return str(ipaddress.IPv6Address(v))


def _rev6(v: int) -> str:
    return ".".join("0123456789abcdef"[(v >> (4 * i)) & 15] for i in range(32))


def _gen4(rnd: random.Random, n: int, f) -> list:
    """n ip4set entries (9/10 single addresses, 1/10 CIDRs /16../29 with their own value);
    returns subjects: (kind, value) with kind 'a' (an address) or 'n' (network, bits)."""
    f.write(f":127.0.0.2:{DEFAULT_TXT}\n")
    seen, out = set(), []
    while len(out) < n:
        ip = rnd.getrandbits(32)
        if ip >> 24 in (0, 10, 127) or ip >> 28 >= 14 or ip in seen:
            continue
        seen.add(ip)
        if len(out) % 10 == 9:
            bits = rnd.randint(16, 29)
            net = ip & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
            f.write(f"{_ip4(net)}/{bits} :127.0.0.3:net $\n")
            out.append(("n", net, bits))
        else:
            f.write(f"{_ip4(ip)}\n")
            out.append(("a", ip, 32))
    f.write("127.0.0.2\n")
    return out


def _gen6(rnd: random.Random, n: int, f) -> list:
    """n ip6trie prefixes in 2000::/3 (/32../128, mostly /48 and /64), one in ten with
    its own value; returns (prefix, bits) subjects."""
    f.write(f":127.0.0.2:{DEFAULT_TXT}\n")
    seen, out = set(), []
    while len(out) < n:
        bits = rnd.choice((32, 40, 48, 48, 56, 64, 64, 64, 96, 128))
        v = ((1 << 125) | rnd.getrandbits(125)) & ((M128 << (128 - bits)) & M128)
        if (v, bits) in seen:
            continue
        seen.add((v, bits))
        own = " :127.0.0.4:v6 net $" if len(out) % 10 == 9 else ""
        f.write(f"{_ip6(v)}/{bits}{own}\n")
        out.append((v, bits))
    f.write(f"{_ip6(_READY_V6)}/128\n")
    return out


_WORDS = ["mail", "shop", "news", "cdn", "app", "web", "info", "go", "my", "the", "best",
          "cheap", "free", "top", "pro", "net", "online", "click", "deal", "win"]
_TLDS = ["com", "net", "org", "info", "biz", "xyz", "top", "ru", "cn", "de", "co.uk", "io"]


def _gen_names(rnd: random.Random, n: int, f) -> list:
    """n dnset entries (3/5 exact names, 1/5 `*.name`, 1/5 `.name`), one in ten with its
    own value; returns (kind, name) subjects."""
    f.write(":127.0.0.2:Domain $ listed, see http://example.test/?d=$\n")
    seen, out = set(), []
    while len(out) < n:
        label = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                        for _ in range(rnd.randint(5, 12)))
        name = f"{rnd.choice(_WORDS)}-{label}.{rnd.choice(_TLDS)}"
        if name in seen:
            continue
        seen.add(name)
        kind = rnd.choice("eeewd")
        pre = {"e": "", "w": "*.", "d": "."}[kind]
        own = " :127.0.0.5:own value for $" if len(out) % 10 == 9 else ""
        f.write(f"{pre}{name}{own}\n")
        out.append((kind, name))
    f.write(f"{_READY_NAME}\n")
    return out


def write_kind(kind: str, path: Path, entries: int, seed: int = 5782) -> dict:
    """A zone of `kind` with `entries` entries; returns what write_mixed_queries needs."""
    rnd = random.Random(seed)
    subjects = {}
    with open(path, "w") as f:
        f.write(f"$SOA 3600 {ZONE} hostmaster.{ZONE} 1 3600 900 604800 300\n$TTL 300\n")
        if kind == "ip4set":
            subjects["4"] = _gen4(rnd, entries, f)
        elif kind == "ip6trie":
            subjects["6"] = _gen6(rnd, entries, f)
        elif kind == "dnset":
            subjects["n"] = _gen_names(rnd, entries, f)
        elif kind == "combined":  # half IPv4, a quarter IPv6 at the apex, a dnset subzone
            f.write("$DATASET ip4set @\n")
            subjects["4"] = _gen4(rnd, entries // 2, f)
            f.write("$DATASET ip6trie @\n")
            subjects["6"] = _gen6(rnd, entries // 4, f)
            f.write("$DATASET dnset dbl\n")
            subjects["n"] = _gen_names(rnd, entries - entries // 2 - entries // 4, f)
        else:
            raise ValueError(f"unknown kind {kind!r}")
    return subjects


def probe_name(kind: str) -> str:
    if kind == "ip6trie":
        return f"{_rev6(_READY_V6)}.{ZONE}"
    if kind == "dnset":
        return f"{_READY_NAME}.{ZONE}"
    return f"2.0.0.127.{ZONE}"


def _listed_name(rnd: random.Random, family: str, subj) -> str:
    if family == "4":
        _, net, bits = subj
        return _rev4(net | rnd.getrandbits(32 - bits) if bits < 32 else net)
    if family == "6":
        v, bits = subj
        return _rev6(v | (rnd.getrandbits(128 - bits) if bits < 128 else 0))
    kind, name = subj
    if kind == "e" or (kind == "d" and rnd.random() < 0.5):
        return name
    return f"{rnd.choice(_WORDS)}{rnd.randint(0, 99)}.{name}"


def _random_name(rnd: random.Random, family: str) -> str:
    if family == "4":
        return _rev4(rnd.getrandbits(32))
    if family == "6":
        return _rev6((1 << 125) | rnd.getrandbits(125))
    label = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(5, 12)))
    return f"{label}.{rnd.choice(_TLDS)}"


def write_mixed_queries(path: Path, subjects: dict, n: int, seed: int = 1) -> None:
    """n questions: every other one listed (an entry, an address inside it, a name under
    a wildcard), the others random (mostly not listed); A or TXT at random; the families
    of a combined zone in turn (its names under the dbl subzone)."""
    rnd = random.Random(seed)
    fams = sorted(subjects)
    with open(path, "w") as f:
        for i in range(n):
            fam = fams[(i // 2) % len(fams)]
            name = _listed_name(rnd, fam, rnd.choice(subjects[fam])) if i % 2 == 0 \
                else _random_name(rnd, fam)
            sub = ".dbl" if fam == "n" and len(fams) > 1 else ""
            f.write(f"{name}{sub}.{ZONE} {rnd.choice(('A', 'TXT'))}\n")


def fast_share(srv: Serve, timeout: float = 10.0) -> float:
    """The share of the zone's queries rblmirror's compiled path answered (SIGUSR1)."""
    d = srv.counters(timeout)
    total = d["counters"].get(ZONE, {}).get("queries", 0)
    return d["fast"].get(ZONE, {}).get("queries", 0) / total if total else 0.0


def _median_run(runs: list[dict]) -> dict:
    """Several dnsperf runs of one server as one row: the median queries/s and CPU per
    query, the counts summed."""
    import statistics
    out = dict(runs[len(runs) // 2])
    for k in ("sent", "completed", "lost"):
        out[k] = sum(r[k] for r in runs)
    out["qps"] = statistics.median(r["qps"] for r in runs)
    out["cpu_us"] = statistics.median(r["cpu_us"] for r in runs)
    out["user_us"] = statistics.median(r["user_us"] for r in runs)
    out["rcodes"] = {}
    for r in runs:
        for c, n in r["rcodes"].items():
            out["rcodes"][c] = out["rcodes"].get(c, 0) + n
    out["runs"] = len(runs)
    return out


def run_kinds(kinds=KINDS, entries: int = 200_000, seconds: float = 10, clients: int = 1,
              nqueries: int = 200_000, sample: int = 300, rounds: int = 1,
              out=sys.stdout) -> list[dict]:
    """One zone per kind; per kind rbldnsd then rblmirror serve (one worker), each
    checked for the same answers on a sample, then one dnsperf run each (rounds > 1:
    that many each, the servers taking turns, and the row gives the medians)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="rblbench-") as td:
        tmp = Path(td)
        os.chmod(tmp, 0o755)  # rbldnsd drops root for user rbldns: it must read the zone
        for kind in kinds:
            zone = tmp / f"{kind}.zone"
            subjects = write_kind(kind, zone, entries)
            os.chmod(zone, 0o644)
            qfile = tmp / f"q-{kind}.txt"
            write_mixed_queries(qfile, subjects, nqueries)
            ref = start_rbldnsd(zone, tmp, kind, probe_name(kind))
            try:
                srv = start_rblmirror(zone, 1, kind, probe_name(kind), log=tmp / "serve.log")
                try:
                    diffs = same_answers(ref, srv, qfile, sample)
                    if diffs:
                        raise AssertionError(f"{kind}: answers differ:\n" + "\n".join(diffs[:10]))
                    runs = {ref.name: [], srv.name: []}
                    for i in range(rounds):
                        for s in ((ref, srv) if i % 2 == 0 else (srv, ref)):
                            r = dnsperf(s.port, qfile, seconds, clients, pid=s.proc.pid)
                            n = r["completed"] or 1
                            r["cpu_us"] = r["cpu"] / n * 1e6
                            r["user_us"] = r["cpu_user"] / n * 1e6
                            runs[s.name].append(r)
                    base = None
                    for s in (ref, srv):
                        r = _median_run(runs[s.name])
                        if base is None:
                            base = r
                        row = {"kind": kind, "server": s.name, **r,
                               "ratio": r["qps"] / base["qps"] if base["qps"] else 0.0,
                               "cpu_ratio": r["cpu_us"] / base["cpu_us"] if base["cpu_us"] else 0.0}
                        if s is srv:
                            row["compiled"] = fast_share(srv)
                        rows.append(row)
                finally:
                    srv.stop()
            finally:
                ref.stop()
    each = "one run per row" if rounds == 1 else f"median of {rounds} runs per row, " \
        "the servers taking turns"
    print(f"\n{entries} entries per zone, half the questions listed, A and TXT mixed, "
          f"dnsperf -c {clients} -q 200 -l {seconds} on loopback, {each}, "
          f"{os.cpu_count()} CPUs\n", file=out)
    print("| zone | server | queries/s | vs rbldnsd | CPU µs/query (user) | vs rbldnsd | "
          "lost | compiled path |", file=out)
    print("|---|---|---:|---:|---:|---:|---:|---:|", file=out)
    for r in rows:
        comp = f"{100 * r['compiled']:.1f} %" if "compiled" in r else "—"
        print(f"| {r['kind']} | {r['server']} | {r['qps']:,.0f} | {r['ratio']:.2f}x | "
              f"{r['cpu_us']:.2f} ({r['user_us']:.2f}) | {r['cpu_ratio']:.2f}x | "
              f"{r['lost']:.0f} | {comp} |", file=out)
    return rows


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
                servers.append(start_rblmirror(zone, w, log=tmp / "serve.log"))
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
    p.add_argument("--kinds", help="one zone per kind instead (ip4set,ip6trie,dnset,"
                   "combined), --entries each, dnsperf --clients, CPU per query")
    p.add_argument("--clients", type=int, default=1, help="dnsperf -c with --kinds")
    p.add_argument("--rounds", type=int, default=1, help="with --kinds: runs per server "
                   "(taking turns), the rows give the medians")
    a = p.parse_args(argv)
    if a.kinds:
        run_kinds(a.kinds.split(","), a.entries, a.seconds, a.clients, rounds=a.rounds)
        return 0
    run(a.entries, a.cidrs, a.seconds, [int(x) for x in a.workers.split(",")],
        a.qtypes.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
