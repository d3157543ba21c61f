"""A local Postfix that delivers into a Maildir, inside a private network namespace: what
`sendmail -t` hands it (rblmirror watch's mail_to) lands in a mailbox the test reads.

    box = Mailbox(workdir, "ops@watch.test").start()
    box.exec(*RBLMIRROR, "watch", "--once", ...)   # run inside: its sendmail is this Postfix
    box.wait_messages(1)                           # [email.message.EmailMessage]
    box.stop()                                     # always: stops Postfix, removes it all

As in maillab.py, `ip netns exec NS` bind-mounts /etc/netns/NS/postfix over /etc/postfix
for the processes started in the namespace only, so /usr/sbin/sendmail there reads our
main.cf (our queue, our virtual mailbox) and the host's Postfix is never touched.
"""
from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

from support.netns import Netns

MASTER = """# written by tests/support/mailbox.py
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
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Mailbox:
    def __init__(self, workdir: Path, address: str = "ops@watch.test"):
        self.ns = f"rblmb{os.getpid() % 100000}x{int(time.time() * 1000) % 100000}"
        self.netns = Netns(self.ns)
        self.workdir = Path(workdir)
        self.address = address
        self.etc = Path("/etc/netns") / self.ns
        # the postfix and mailbox users must reach these (pytest's tmp dirs are 0700)
        self.root = Path("/var/tmp") / f"rblmirror-{self.ns}"
        self.maildir = self.root / "vmail" / "ops"
        self.started = False

    def start(self) -> Mailbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.netns.start()
        pf = self.etc / "postfix"
        pf.mkdir(parents=True, exist_ok=True)
        shutil.copytree("/etc/postfix", pf, symlinks=True, dirs_exist_ok=True)
        for d in ("spool", "data", "vmail"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(self.root / "data", pw.pw_uid, pw.pw_gid)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.root / "vmail", nobody.pw_uid, nobody.pw_gid)
        maps = self.root / "vmailbox"
        maps.write_text(f"{self.address} ops/\n")  # trailing slash: a Maildir
        domain = self.address.split("@", 1)[1]
        (pf / "main.cf").write_text(f"""# written by tests/support/mailbox.py for {self.ns}
compatibility_level = 3.6
queue_directory = {self.root / 'spool'}
data_directory = {self.root / 'data'}
mail_owner = postfix
myhostname = mx.rblmirror.test
mydomain = rblmirror.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
default_transport = discard
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {self.root / 'vmail'}
virtual_mailbox_maps = texthash:{maps}
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
maillog_file = {self.root / 'maillog'}
biff = no
""")
        (pf / "master.cf").write_text(MASTER)
        # with no syslog and no tty Postfix's fatal errors are silent: script(1) gives it one
        r = self.exec("script", "-qec", "postfix start", "/dev/null", timeout=120)
        self.started = True
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed:\n{r.stdout}\n{r.stderr}\n{self.maillog()}")

    def exec(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return self.netns.run(*cmd, **kw)

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text("utf-8", "replace") if p.exists() else ""

    def messages(self) -> list[EmailMessage]:
        """The delivered messages, oldest first."""
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        out = []
        for p in sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns):
            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out

    def wait_messages(self, n: int, timeout: float = 60) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= n:
                return got
            time.sleep(0.2)
        raise AssertionError(f"{len(self.messages())} of {n} messages delivered:\n"
                             f"{self.maillog()[-3000:]}")

    def queue_empty(self) -> bool:
        r = self.exec("postqueue", "-p")
        return "Mail queue is empty" in r.stdout

    def stop(self) -> None:
        if self.started:
            self.exec("postfix", "stop", timeout=60)
            self.started = False
            time.sleep(0.5)
        self.netns.stop()
        shutil.rmtree(self.etc, ignore_errors=True)
        if self.root.exists():
            try:
                shutil.copy(self.root / "maillog", self.workdir / "maillog")
            except OSError:
                pass
            shutil.rmtree(self.root, ignore_errors=True)
