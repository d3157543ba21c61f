"""The multi-host setup of the README's "Outgrow one host", in a private LAN of network
namespaces (support.lan), each host on its own address:

    upstream  192.0.2.1  a real `rsync --daemon` with a real dump (the list's mirror)
    primary   192.0.2.2  `rblmirror serve` fetching upstream, exporting on :8873
    replica1  192.0.2.3  `rblmirror serve`, source format = "snapshot" from the primary
    replica2  192.0.2.4  the same, with a short max_age (it goes stale first)
    dnsdist   192.0.2.5  dnsdist with `rblmirror snippets dnsdist` (the client too)

    with ReplicaLab(tmp_path).start() as lab:
        lab.dig("replica1", "2.0.0.127." + ZONE)      # (rcode, [addresses]) asked there
        lab.kill("replica1"); lab.start_replica("replica1")
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support.cli import RBLMIRROR
from support.dnsperf import parse as dnsperf_report
from support.feeds import copy_feed
from support.lan import Lan
from support.poll import until
from support.processes import stop
from support.rsyncd import Rsyncd
from support.tools import require_tool

FEED = "psbl.txt"  # plain, 20k addresses (PSBL's public rsync mirror, as the README's)
SOURCE = "psbl"
ZONE = "psbl.mirror.local"
HOSTS = {"upstream": "192.0.2.1", "primary": "192.0.2.2", "replica1": "192.0.2.3",
         "replica2": "192.0.2.4", "dnsdist": "192.0.2.5"}
REPLICAS = ("replica1", "replica2")
EXPORT_PORT = 8873
METRICS_PORT = 9100
#: the data's max_age on each replica: replica2's data turns stale soon after upstream
#: stops answering, replica1's never within a test
MAX_AGE = {"replica1": "1h", "replica2": "12s"}
#: the primary asks upstream this often (each unchanged fetch moves the upstream time on)
PRIMARY_INTERVAL = "2s"


def primary_config(state_dir: Path, upstream_url: str) -> str:
    hosts = ", ".join(f'"{HOSTS[r]}"' for r in REPLICAS)
    return f"""state_dir = "{state_dir}"
[server]
listen = ["{HOSTS['primary']}:53"]
[export]
listen = "{HOSTS['primary']}:{EXPORT_PORT}"
hosts_allow = [{hosts}]
[[source]]
name = "{SOURCE}"
url = "{upstream_url}"
format = "plain"
min_interval = "{PRIMARY_INTERVAL}"
max_age = "1h"
[[zone]]
name = "{ZONE}"
datasets = ["{SOURCE}"]
"""


def replica_config(role: str, state_dir: Path) -> str:
    return f"""state_dir = "{state_dir}"
[server]
listen = ["{HOSTS[role]}:53"]
[[source]]
name = "{SOURCE}"
url = "rsync://{HOSTS['primary']}:{EXPORT_PORT}/rblmirror/{SOURCE}"
format = "snapshot"
min_interval = "1s"
max_age = "{MAX_AGE[role]}"
[[zone]]
name = "{ZONE}"
datasets = ["{SOURCE}"]
"""


def dnsdist_snippet_args(config: Path) -> list[str]:
    """`rblmirror snippets dnsdist ...` for the lab (the README shows its output)."""
    args = ["snippets", "dnsdist", "--config", str(config),
            "--listen", f"{HOSTS['dnsdist']}:53"]
    for r in REPLICAS:
        args += ["--replica", HOSTS[r]]
    return args


def dnsdist_snippet(config: Path) -> str:
    return subprocess.run([*RBLMIRROR, *dnsdist_snippet_args(config)], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def rev(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + "." + ZONE


class ReplicaLab:
    def __init__(self, work: Path, dnsdist_extra: str = ""):
        self.work = Path(work)
        self.lan = Lan("rblmr", HOSTS)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.configs: dict[str, Path] = {}
        self.dnsdist_extra = dnsdist_extra
        self.upstream: Rsyncd | None = None
        self.feed = self.work / "upstream" / FEED

    # ---- setup --------------------------------------------------------------------
    def start(self) -> ReplicaLab:
        require_tool("rsync")
        require_tool("dig")
        self.dnsdist_bin = require_tool("dnsdist")
        copy_feed(FEED, self.feed)
        self.lan.start()
        try:
            self.upstream = Rsyncd(self.feed.parent, address=HOSTS["upstream"],
                                   netns=self.lan["upstream"]).start(873)
            p = self.work / "primary"
            p.mkdir()
            self.configs["primary"] = p / "rblmirror.toml"
            self.configs["primary"].write_text(primary_config(p / "state",
                                                              self.upstream.url(FEED)))
            for r in REPLICAS:
                d = self.work / r
                d.mkdir()
                self.configs[r] = d / "rblmirror.toml"
                self.configs[r].write_text(replica_config(r, d / "state"))
            self.start_serve("primary")
            for r in REPLICAS:
                self.start_serve(r)
            for r in REPLICAS:  # each has pulled the primary's snapshot and answers from it
                assert until(lambda r=r: self.dig(r, f"2.0.0.127.{ZONE}")[0] == "NOERROR"
                             and self.status(r)["state"] == "fresh", 60), self.log(r)
            self.start_dnsdist()
        except BaseException:
            self.stop()
            raise
        return self

    def start_serve(self, role: str, timeout: float = 60.0) -> None:
        log = self.work / f"{role}.log"
        self.logs[role] = log
        argv = [*RBLMIRROR, "serve", "--config", str(self.configs[role]),
                "--metrics", f"{HOSTS[role]}:{METRICS_PORT}"]
        with open(log, "ab") as f:
            self.procs[role] = subprocess.Popen(self.lan[role].argv(*argv), stdout=f,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)
        ok = until(lambda: self.procs[role].poll() is not None or
                   self.dig(role, ZONE, "SOA")[0] == "NOERROR", timeout)
        assert ok and self.procs[role].poll() is None, self.log(role)

    def start_dnsdist(self) -> None:
        conf = self.work / "dnsdist.conf"
        conf.write_text(dnsdist_snippet(self.configs["replica1"]) + self.dnsdist_extra)
        log = self.work / "dnsdist.log"
        self.logs["dnsdist"] = log
        with open(log, "ab") as f:
            self.procs["dnsdist"] = subprocess.Popen(
                self.lan["dnsdist"].argv(self.dnsdist_bin, "--supervised", "--disable-syslog",
                                         "-C", str(conf)),
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        assert until(lambda: self.procs["dnsdist"].poll() is not None or
                     self.ask_dnsdist(f"2.0.0.127.{ZONE}")[0] == "NOERROR", 30), \
            self.log("dnsdist")
        assert self.procs["dnsdist"].poll() is None, self.log("dnsdist")

    def log(self, role: str, tail: int | None = 4000) -> str:
        """The role's log (its last `tail` characters; None: all of it)."""
        try:
            text = self.logs[role].read_text("utf-8", "replace")
            return text[-tail:] if tail else text
        except (KeyError, OSError):
            return ""

    # ---- asking -------------------------------------------------------------------
    def dig(self, role: str, name: str, qtype: str = "A", at: str | None = None
            ) -> tuple[str, list[str]]:
        """(rcode, the A addresses) of `name` asked at `role`'s address, from the dnsdist
        host ("TIMEOUT" when nothing answered)."""
        r = self.lan["dnsdist"].run("dig", f"@{at or HOSTS[role]}", "-p", "53", name, qtype,
                                    "+tries=1", "+time=1", "+norecurse", "+noall",
                                    "+comments", "+answer", timeout=20)
        status = "TIMEOUT"
        for line in r.stdout.splitlines():
            if "status:" in line:
                status = line.split("status:")[1].split(",")[0].strip()
        addrs = sorted(x.split()[-1] for x in r.stdout.splitlines()
                       if x and not x.startswith(";") and x.split()[3:4] == ["A"])
        return status, addrs

    def ask_dnsdist(self, name: str, qtype: str = "A") -> tuple[str, list[str]]:
        return self.dig("dnsdist", name, qtype)

    def metrics(self, role: str) -> dict[str, float]:
        """The replica's Prometheus metrics, as {"name{labels}": value}."""
        url = f"http://{HOSTS[role]}:{METRICS_PORT}/metrics"
        code = ("import sys, urllib.request; "
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")
        r = self.lan[role].run(sys.executable, "-c", code, url, timeout=30)
        out = {}
        for line in r.stdout.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def listed_answers(self, role: str) -> float:
        """How many listed answers `role` has given (client queries: the health check
        asks a name that lists nothing)."""
        return self.metrics(role).get(f'rblmirror_dns_listed_total{{zone="{ZONE}"}}', 0.0)

    def status(self, role: str) -> dict:
        """`rblmirror status --json` of the role's state dir: its one source."""
        r = subprocess.run([*RBLMIRROR, "status", "--json", "--config",
                            str(self.configs[role])], capture_output=True, text=True,
                           timeout=60)
        return json.loads(r.stdout)["sources"][0]

    def upstream_clients(self) -> list[str]:
        """The address of each connection the upstream rsync daemon logged (but its own
        readiness probe's, from its own address)."""
        assert self.upstream is not None
        out = []
        for line in self.upstream.log.splitlines():
            if "connect from" in line:
                out.append(line.rsplit("(", 1)[1].rstrip(")"))
        return [a for a in out if a != HOSTS["upstream"]]

    def dnsperf(self, queries: Path, seconds: float, rate: int | None = None,
                clients: int = 2, at: str = "dnsdist") -> subprocess.Popen:
        """dnsperf against `at` (from the dnsdist host), started: read() its report."""
        argv = ["dnsperf", "-s", HOSTS[at], "-p", "53", "-d", str(queries),
                "-l", str(seconds), "-c", str(clients), "-t", "1"]
        if rate:
            argv += ["-Q", str(rate)]
        else:
            argv += ["-q", "200"]
        return subprocess.Popen(self.lan["dnsdist"].argv(*argv), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    @staticmethod
    def report(p: subprocess.Popen, timeout: float = 120) -> dict:
        out, _ = p.communicate(timeout=timeout)
        return dnsperf_report(out)

    # ---- failures -----------------------------------------------------------------
    def kill(self, role: str) -> None:
        p = self.procs.get(role)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)

    def pause(self, role: str) -> None:
        os.kill(self.procs[role].pid, signal.SIGSTOP)

    def resume(self, role: str) -> None:
        os.kill(self.procs[role].pid, signal.SIGCONT)

    def stop(self) -> None:
        for role, p in list(self.procs.items()):
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            stop(p, 10)
        if self.upstream is not None:
            self.upstream.stop()
        self.lan.stop()

    def __enter__(self) -> ReplicaLab:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def write_queries(path: Path, listed: list[str], unlisted: list[str], n: int) -> None:
    """n dnsperf lines, A questions alternating listed and unlisted addresses."""
    names = [rev(ip) for pair in zip(listed, unlisted) for ip in pair]
    path.write_text("".join(f"{names[i % len(names)]} A\n" for i in range(n)))



