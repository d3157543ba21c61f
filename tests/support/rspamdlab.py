"""Debian's rspamd, its DNS pointed at `rblmirror serve`, in a private network namespace.

`RspamdLab` is support/maillab.py's MailLab without unbound and Postfix: our server on
127.0.0.1:5353 in a namespace of its own, and rspamd run from Debian's
/etc/rspamd/rspamd.conf (every default of the package, Debian's modules.d/rbl.conf
included) with its local configuration directory replaced by the lab's: local.d/ holds
the files of `rblmirror snippets rspamd` as printed, options.inc points rspamd's resolver
at our server, logging.inc writes a log with the rbl and monitored modules' debug lines.
rspamd works as its package's user _rspamd, so its directories sit under /var/tmp (MailLab's
logdir, removed on stop). `lab.scan(ip, ...)` is one `rspamc` run, parsed.
"""
from __future__ import annotations

import os
import pwd
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.maillab import SERVE_PORT, MailLab

CONFIG = "/etc/rspamd/rspamd.conf"
NORMAL = "127.0.0.1:11333"
#: a line that starts a file in `rblmirror snippets rspamd`
FILE_LINE = re.compile(r"^# /etc/rspamd/local\.d/(\S+) \(rblmirror snippets rspamd\)$", re.M)

MESSAGE = """From: {from_}
To: postmaster@example.test
Subject: hello
Date: Tue, 01 Dec 2026 07:00:00 +0000
Message-ID: <1@example.org>

Just a test message.
"""


def snippet_files(snippet: str) -> dict[str, str]:
    """local.d file name -> its text, split at the snippet's file lines."""
    starts = list(FILE_LINE.finditer(snippet))
    if not starts or starts[0].start() != 0:
        raise AssertionError(f"the rspamd snippet does not start with a file line:\n{snippet}")
    out = {}
    for m, nxt in zip(starts, starts[1:] + [None]):
        out[m.group(1)] = snippet[m.start():nxt.start() if nxt else len(snippet)]
    return out


@dataclass
class Scan:
    action: str
    score: float
    #: symbol -> (score, its options as rspamc prints them)
    symbols: dict[str, tuple[float, str]] = field(default_factory=dict)
    raw: str = ""


def parse_rspamc(out: str) -> Scan:
    action = re.search(r"^Action: (.+)$", out, re.M)
    score = re.search(r"^Score: (-?[\d.]+) /", out, re.M)
    if not action or not score:
        raise AssertionError(f"rspamc printed no verdict:\n{out}")
    syms = {m.group(1): (float(m.group(2)), m.group(3) or "")
            for m in re.finditer(r"^Symbol: (\S+) \((-?[\d.]+)\)(?:\[(.*)\])?$", out, re.M)}
    return Scan(action.group(1).strip(), float(score.group(1)), syms, out)


class RspamdLab(MailLab):
    #: rspamd's log once it monitored every zone (set by the test module's fixture)
    monitored_log: str

    def __init__(self, workdir: Path, zones: list[str], snippet: str):
        super().__init__(workdir, zones)
        self.snippet = snippet
        self.files = snippet_files(snippet)
        self.vars: list[str] = []

    def start(self) -> RspamdLab:
        return self.start_steps(self._netns, self.start_serve, self._rspamd)

    @property
    def rspamd_log(self) -> Path:
        return self.logdir / "log" / "rspamd.log"

    def _rspamd(self) -> None:
        self.logdir.mkdir(exist_ok=True)
        os.chmod(self.logdir, 0o755)
        local = self.logdir / "local"
        (local / "local.d").mkdir(parents=True)
        for name, text in self.files.items():
            (local / "local.d" / name).write_text(text)
        (local / "local.d" / "options.inc").write_text(
            '# written by tests/support/rspamdlab.py: rspamd asks our server\n'
            f'dns {{ nameserver = ["127.0.0.1:{SERVE_PORT}"]; }}\n')
        (local / "local.d" / "logging.inc").write_text(
            f'type = "file";\nfilename = "{self.rspamd_log}";\nlevel = "info";\n'
            'debug_modules = ["rbl", "monitored"];\n')
        pw = pwd.getpwnam("_rspamd")
        for d in ("db", "run", "log"):
            (self.logdir / d).mkdir()
            os.chown(self.logdir / d, pw.pw_uid, pw.pw_gid)
        self.vars = [f"--var=LOCAL_CONFDIR={local}", f"--var=DBDIR={self.logdir / 'db'}",
                     f"--var=RUNDIR={self.logdir / 'run'}", f"--var=LOGDIR={self.logdir / 'log'}"]
        self.configtest = self.exec("rspamadm", *self.vars, "configtest", "-c", CONFIG,
                                    timeout=120)
        self.popen("rspamd", ["rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", *self.vars,
                              "-c", CONFIG])
        self._wait_scanning()

    def _wait_scanning(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs["rspamd"].poll() is not None:
                raise RuntimeError(f"rspamd exited:\n{self.log('rspamd')}\n"
                                   f"{self.read_log()[-3000:]}")
            r = self.exec("rspamc", "-h", NORMAL, "-t", "5", "-i", "192.0.2.1",
                          input=MESSAGE.format(from_="a@example.org"), timeout=30)
            if r.returncode == 0 and "Action:" in r.stdout:
                return
            time.sleep(0.5)
        raise RuntimeError(f"rspamd does not scan:\n{self.read_log()[-3000:]}")

    def read_log(self) -> str:
        p = self.rspamd_log
        return p.read_text("utf-8", "replace") if p.exists() else ""

    def wait_monitored(self, zones: list[str], timeout: float = 90) -> str:
        """Wait until rspamd's monitoring has probed each zone; the log then."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.read_log()
            if all(f"dns callback for {z} in" in log for z in zones):
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"rspamd never probed {zones}:\n" + "\n".join(
                    line for line in log.splitlines() if "monitored" in line)[-4000:])
            time.sleep(0.5)

    def scan(self, ip: str, mail_from: str | None = None, helo: str | None = None,
             from_header: str = "Sender <sender@example.org>") -> Scan:
        cmd = ["rspamc", "-h", NORMAL, "-t", "20", "-i", ip]
        if mail_from is not None:
            cmd += ["-F", mail_from]
        if helo is not None:
            cmd += ["--helo", helo]
        r = self.exec(*cmd, input=MESSAGE.format(from_=from_header), timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stdout}{r.stderr}")
        return parse_rspamc(r.stdout)

    def stop(self) -> None:
        if self.logdir.exists():  # keep rspamd's log with the test's files
            try:
                (self.workdir / "rspamd.log").write_bytes(self.rspamd_log.read_bytes())
            except OSError:
                pass
        super().stop()
