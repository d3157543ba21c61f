"""A private network namespace with a whole mail host inside: `rblmirror serve` on
127.0.0.1:5353, unbound on 127.0.0.1:53 (stub-zones to our server, from `rblmirror
snippets unbound`), and Postfix whose main.cf carries `rblmirror snippets postfix` and
`rblmirror snippets postscreen` (the zones the mail tests use: support/mailzones.py).

    lab = MailLab(workdir, zones=[...], addresses=["192.0.2.7"]).start()
    lab.smtp(25, source="127.0.0.2", mail_from="a@example.org")   # -> SMTPResult
    lab.maillog()                                                 # Postfix's log so far
    lab.stop()                                                    # always: kills, removes

`ip netns exec NS` bind-mounts every entry of /etc/netns/NS/ over /etc/: our
resolv.conf (nameserver 127.0.0.1) and our postfix/ config directory replace the host's
for the processes started in the namespace only, so Postfix is started with its default
config directory and nothing on the host changes. Only loopback inside the namespace is used.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.cli import RBLMIRROR
from support.dns import dig
from support.netns import Netns
from support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
SERVE_PORT = 5353

#: Postfix listeners (master.cf), each smtpd with its own client restrictions from main.cf
PORT_RBL = 25          # smtpd_client_restrictions etc. straight from `snippets postfix`
PORT_DNSWL = 2526      # the same with an allowlist ahead (`snippets postfix` incl. the wl zone)
PORT_POSTSCREEN = 2527  # postscreen with `snippets postscreen`, smtpd behind it unrestricted


@dataclass(frozen=True)
class SMTPResult:
    stage: str       # "connect", "helo", "mail", "rcpt", "data" where it stopped, or "ok"
    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return self.stage == "ok"


def rblmirror(*args: str, timeout: float = 120) -> str:
    r = subprocess.run([*RBLMIRROR, *args], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"rblmirror {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def zone_args(zones: list[str]) -> list[str]:
    out = []
    for z in zones:
        out += ["--zone", z]
    return out


class MailLab:
    #: set by a test module that uses them: the addresses it listed, and one it did not
    listed: list[str]
    unlisted: str

    def __init__(self, workdir: Path, zones: list[str], addresses: Sequence[str] = (),
                 postfix_zones: list[str] | None = None, dnswl_zones: list[str] | None = None,
                 postscreen_zones: list[str] | None = None):
        self.ns = f"rblm{os.getpid() % 100000}x{int(time.time() * 1000) % 100000}"
        self.netns = Netns(self.ns, addresses)
        self.workdir = Path(workdir)
        self.zones = zones
        self.addresses = list(addresses)
        self.postfix_zones = postfix_zones or zones
        self.dnswl_zones = dnswl_zones or zones
        self.postscreen_zones = postscreen_zones or zones
        self.etc = Path("/etc/netns") / self.ns
        # maillog_file must sit under maillog_file_prefixes (/var, /dev/stdout)
        self.logdir = Path("/var/tmp") / f"rblmirror-{self.ns}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.postfix_started = False
        self.snippets: dict[str, str] = {}

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> MailLab:
        return self.start_steps(self._netns, self.start_serve, self._unbound, self._postfix)

    def start_steps(self, *steps):
        """Run the steps of a start in order; any failing (or interrupted) stops what
        the earlier ones started, and re-raises. Returns self."""
        try:
            for step in steps:
                step()
        except BaseException:
            self.stop()
            raise
        return self

    def exec(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return self.netns.run(*cmd, **kw)

    def popen(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")
        p = subprocess.Popen(self.netns.argv(*cmd), stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = p
        return p

    def log(self, name: str) -> str:
        p = self.workdir / f"{name}.log"
        return p.read_text("utf-8", "replace") if p.exists() else ""

    def _netns(self) -> None:
        self.netns.start()
        (self.etc / "postfix").mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")

    # ---- rblmirror serve --------------------------------------------------------------
    def start_serve(self, timeout: float = 60) -> None:
        self.popen("serve", [*RBLMIRROR, "serve", "--no-fetch",
                             "--listen", f"127.0.0.1:{SERVE_PORT}", *zone_args(self.zones)])
        self.wait_dns(SERVE_PORT, self.zones[0].split(":")[0], "serve", timeout)

    def stop_serve(self) -> None:
        self._kill("serve")

    def wait_dns(self, port: int, name: str, proc: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[proc].poll() is not None:
                raise RuntimeError(f"{proc} exited:\n{self.log(proc)}")
            out = dig(port, name, "SOA", "+norec" if port == SERVE_PORT else "+rec",
                      ns=self.ns, time=1, tries=1)
            if "status: NOERROR" in out:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{proc} did not answer for {name}:\n{self.log(proc)}")

    # ---- unbound ----------------------------------------------------------------------
    def _unbound(self) -> None:
        snippet = rblmirror("snippets", "unbound", "--server", f"127.0.0.1:{SERVE_PORT}",
                            *zone_args(self.zones))
        self.snippets["unbound"] = snippet
        d = self.workdir / "unbound"
        d.mkdir(exist_ok=True)
        # the validator is on (root trust anchor), so domain-insecure in the snippet matters
        conf = f"""server:
    interface: 127.0.0.1
    port: 53
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    log-queries: yes
    do-ip6: no
    module-config: "validator iterator"
    trust-anchor: ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
remote-control:
    control-enable: no
{snippet}"""
        (d / "unbound.conf").write_text(conf)
        self.popen("unbound", ["unbound", "-d", "-c", str(d / "unbound.conf")])
        zone = self.zones[0].split(":")[0]
        self.wait_dns(53, zone, "unbound", 30)

    def resolve(self, name: str, qtype: str = "A") -> str:
        """dig through unbound (port 53) inside the namespace; the whole output."""
        return dig(53, name, qtype, ns=self.ns, time=3, tries=1)

    # ---- postfix ----------------------------------------------------------------------
    def _postfix(self) -> None:
        pf = self.etc / "postfix"
        # the host's postfix-files, dynamicmaps.cf, postfix-script ...: `postfix start`
        # reads them from the config directory, which our copy replaces in the namespace
        shutil.copytree("/etc/postfix", pf, symlinks=True, dirs_exist_ok=True)
        # the postfix user must reach these (pytest's tmp dirs are 0700): /var/tmp/...
        self.logdir.mkdir(exist_ok=True)
        os.chmod(self.logdir, 0o755)
        spool = self.logdir / "spool"
        data = self.logdir / "data"
        spool.mkdir(exist_ok=True)
        data.mkdir(exist_ok=True)
        pw = pwd.getpwnam("postfix")
        os.chown(data, pw.pw_uid, pw.pw_gid)  # data_directory must belong to postfix
        postfix = rblmirror("snippets", "postfix", *zone_args(self.postfix_zones))
        dnswl = rblmirror("snippets", "postfix", *zone_args(self.dnswl_zones))
        postscreen = rblmirror("snippets", "postscreen", *zone_args(self.postscreen_zones))
        self.snippets.update(postfix=postfix, dnswl=dnswl, postscreen=postscreen)
        # the allowlisting listener takes the same snippet's lines, under its own names
        dnswl_named = "\n".join(
            ("dnswl_" + line) if line.startswith("smtpd_") else line
            for line in dnswl.splitlines())
        main = f"""# written by tests/support/maillab.py for namespace {self.ns}
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
myhostname = mx.rblmirror.test
mydomain = rblmirror.test
myorigin = $myhostname
mydestination =
relay_domains = example.test
relay_transport = discard
default_transport = discard
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
maillog_file = {self.logdir}/maillog
postscreen_greet_wait = 1s
postscreen_dnsbl_timeout = 5s
biff = no

{postfix}
{dnswl_named}
{postscreen}"""
        (pf / "main.cf").write_text(main)
        base = "n       -       n       -       -"
        master = f"""# written by tests/support/maillab.py
{PORT_RBL}        inet  {base}       smtpd
{PORT_DNSWL}      inet  {base}       smtpd
  -o smtpd_client_restrictions=$dnswl_smtpd_client_restrictions
  -o smtpd_helo_restrictions=$dnswl_smtpd_helo_restrictions
  -o smtpd_sender_restrictions=$dnswl_smtpd_sender_restrictions
{PORT_POSTSCREEN} inet  n       -       n       -       1       postscreen
smtpd     pass  -       -       n       -       -       smtpd
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
dnsblog   unix  -       -       n       -       0       dnsblog
tlsproxy  unix  -       -       n       -       0       tlsproxy
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
        (pf / "master.cf").write_text(master)
        # with no syslog and no tty Postfix's fatal errors are silent: script(1) gives it one
        r = self.exec("script", "-qec", "postfix start", "/dev/null", timeout=120)
        self.postfix_started = True
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed:\n{r.stdout}\n{r.stderr}\n{self.maillog()}")
        self._wait_port(PORT_RBL)
        self._wait_port(PORT_POSTSCREEN)

    def _wait_port(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.exec("ss", "-Hltn", f"sport = :{port}")
            if r.stdout.strip():
                return
            time.sleep(0.2)
        raise RuntimeError(f"postfix does not listen on {port}:\n{self.maillog()}")

    def maillog(self) -> str:
        p = self.logdir / "maillog"
        return p.read_text("utf-8", "replace") if p.exists() else ""

    # ---- an SMTP client inside the namespace ------------------------------------------
    def smtp(self, port: int, source: str, mail_from: str = "sender@example.org",
             rcpt: str = "postmaster@example.test", helo: str = "client.example.org",
             dest: str | None = None, timeout: float = 30) -> SMTPResult:
        """One SMTP session from `source` to `dest` (default: `source` itself, so the
        client address is exactly `source`); stops at the first rejection."""
        script = SMTP_CLIENT
        args = json.dumps(dict(host=dest or source, port=port, source=source, helo=helo,
                               mail_from=mail_from, rcpt=rcpt, timeout=timeout))
        r = self.exec(sys.executable, "-c", script, args, timeout=timeout + 10)
        if r.returncode != 0:
            raise RuntimeError(f"SMTP client failed: {r.stderr}")
        return SMTPResult(**json.loads(r.stdout))

    # ---- teardown -----------------------------------------------------------------------
    def _kill(self, name: str) -> None:
        stop(self.procs.pop(name, None), 10)

    def stop(self) -> None:
        if self.postfix_started:
            self.exec("postfix", "stop", timeout=60)
            self.postfix_started = False
            time.sleep(0.5)
        for name in list(self.procs):
            self._kill(name)
        # anything left in the namespace (a stray Postfix child) is ours: ended by pid
        self.netns.stop()
        shutil.rmtree(self.etc, ignore_errors=True)
        if self.logdir.exists():
            try:
                shutil.copy(self.logdir / "maillog", self.workdir / "maillog")
            except OSError:
                pass
            shutil.rmtree(self.logdir, ignore_errors=True)


#: run by the namespace's Python: one SMTP session, JSON result on stdout
SMTP_CLIENT = r"""
import json, smtplib, sys
a = json.loads(sys.argv[1])
def out(stage, code, text):
    print(json.dumps({"stage": stage, "code": code,
                      "text": text.decode() if isinstance(text, bytes) else str(text)}))
    sys.exit(0)
try:
    s = smtplib.SMTP(timeout=a["timeout"], source_address=(a["source"], 0))
    code, msg = s.connect(a["host"], a["port"])
except smtplib.SMTPConnectError as e:
    out("connect", e.smtp_code, e.smtp_error)
except smtplib.SMTPServerDisconnected as e:
    out("connect", 0, str(e))
if code != 220:
    out("connect", code, msg)
for stage, fn in (("helo", lambda: s.ehlo(a["helo"])),
                  ("mail", lambda: s.mail(a["mail_from"])),
                  ("rcpt", lambda: s.rcpt(a["rcpt"]))):
    try:
        code, msg = fn()
    except smtplib.SMTPServerDisconnected as e:
        out(stage, 0, str(e))
    if code >= 400:
        s.close()
        out(stage, code, msg)
try:
    s.quit()
except Exception:
    pass
out("ok", code, msg)
"""
