"""Debian's Exim, unpacked, asking `rblmirror serve` through unbound in a private namespace.

Exim and Postfix cannot be installed on one Debian host (the host has Postfix), so
`exim_tree()` fetches Debian's exim4-daemon-light, exim4-base and exim4-config, plus
the libraries they need that the host lacks, with `apt-get download` and unpacks them with
`dpkg -x` into a cache folder under /var/cache/rblmirror-test/ (one per candidate
version; a repeat run reuses it). The binary runs with the host's libraries (checked with
ldd) and LD_LIBRARY_PATH for the extra ones.

`EximLab` is support/maillab.py's MailLab without Postfix: a network namespace with our server
on 127.0.0.1:5353 and unbound (configured by `rblmirror snippets unbound`) on 127.0.0.1:53,
the namespace's resolv.conf pointing at it. `ip netns exec` also bind-mounts the lab's
passwd and group over /etc: they add the Debian-exim user the binary was built for, for the
namespace's processes only. `lab.exim(address, ...)` runs `exim -bh ADDRESS` (the ACLs of
one simulated SMTP session, no daemon) with a configuration holding `rblmirror snippets
exim` verbatim in its RCPT ACL.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.maillab import MailLab

CACHE = Path("/var/cache/rblmirror-test")
PACKAGES = ("exim4-daemon-light", "exim4-base", "exim4-config")
ARCH_LIBDIR = "usr/lib/x86_64-linux-gnu"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, **kw)


def candidate_version(package: str) -> str:
    """The version apt would install (from the local package lists: no network)."""
    out = _run(["apt-cache", "policy", package]).stdout
    m = re.search(r"Candidate:\s*(\S+)", out)
    if not m or m.group(1) == "(none)":
        pytest.skip(f"apt knows no {package} (run apt-get update)")
    return m.group(1)


def _installed(package: str) -> bool:
    r = _run(["dpkg-query", "-W", "-f=${Status}", package])
    return r.returncode == 0 and "install ok installed" in r.stdout


def _missing_dependencies(debs: list[Path]) -> list[str]:
    """The first alternative of every Depends of debs that the host does not have."""
    out = []
    for deb in debs:
        depends = _run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
        for group in depends.split(","):
            name = group.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name and name not in PACKAGES and not name.startswith("debconf") \
                    and not _installed(name) and name not in out:
                out.append(name)
    return out


def _download(packages: list[str], where: Path) -> list[Path]:
    before = set(where.glob("*.deb"))
    r = _run(["apt-get", "download", *packages], cwd=where)
    if r.returncode != 0:
        pytest.skip(f"apt-get download {' '.join(packages)} failed: {r.stderr[-1000:]}")
    return sorted(set(where.glob("*.deb")) - before)


def exim_tree() -> Path:
    """A folder holding Debian's Exim (usr/sbin/exim4) and the libraries the host lacks."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb", "dpkg-query", "ldd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool!r} is not installed (needed to unpack Debian's Exim)")
    version = candidate_version(PACKAGES[0])
    tree = CACHE / f"exim4-{version}"
    if not (tree / ".complete").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        part = CACHE / f".exim4-{version}.{os.getpid()}"  # another run may unpack one too
        shutil.rmtree(part, ignore_errors=True)
        (part / "debs").mkdir(parents=True)
        os.chmod(part / "debs", 0o777)  # apt's _apt user writes the downloads
        debs = _download(list(PACKAGES), part / "debs")
        extra = _missing_dependencies(debs)
        if extra:
            debs += _download(extra, part / "debs")
        for deb in debs:
            r = _run(["dpkg-deb", "-x", str(deb), str(part / "root")])
            if r.returncode != 0:
                raise RuntimeError(f"dpkg-deb -x {deb} failed: {r.stderr}")
        (part / "root" / ".complete").write_text(" ".join(d.name for d in debs) + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        (part / "root").rename(tree)
        shutil.rmtree(part, ignore_errors=True)
    r = _run(["ldd", str(tree / "usr/sbin/exim4")], env=_env(tree))
    missing = [line.strip() for line in r.stdout.splitlines() if "not found" in line]
    if r.returncode != 0 or missing:
        raise RuntimeError(f"Exim from {tree} cannot run with the host's libraries: "
                           f"{missing or r.stderr}")
    return tree


def _env(tree: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LD_LIBRARY_PATH": str(tree / ARCH_LIBDIR), "LANG": "C"}


def _free_id(path: str, start: int = 899) -> int:
    used = {int(line.split(":")[2]) for line in Path(path).read_text().splitlines()
            if line.count(":") >= 2 and line.split(":")[2].isdigit()}
    for n in range(start, 100, -1):
        if n not in used:
            return n
    raise RuntimeError(f"no free id in {path}")


@dataclass(frozen=True)
class Session:
    """What `exim -bh` answered to RCPT, and its ACL trace (stderr)."""

    code: int
    text: str
    trace: str

    @property
    def accepted(self) -> bool:
        return self.code == 250


def replies(stdout: str) -> list[tuple[int, str]]:
    """SMTP replies in order: (code, the lines' text joined by a space)."""
    out, cur = [], []
    for line in stdout.splitlines():
        m = re.match(r"^(\d{3})([ -])(.*)$", line)
        if not m:
            continue
        cur.append(m.group(3))
        if m.group(2) == " ":
            out.append((int(m.group(1)), " ".join(cur)))
            cur = []
    return out


class EximLab(MailLab):
    """A namespace with our server, unbound and an unpacked Exim run as `exim -bh`."""

    #: the main snippet the lab runs with (set by the test module, for its tests)
    snippet: str

    def __init__(self, workdir: Path, zones: list[str], snippets: dict[str, str], tree: Path):
        """snippets: name -> the lines for the RCPT ACL of configuration `name`."""
        super().__init__(workdir, zones)
        self.exim_snippets = snippets
        self.tree = tree

    def start(self) -> EximLab:
        return self.start_steps(self._netns, self._exim_user, self.start_serve, self._unbound,
                                self._exim_conf)

    def _exim_user(self) -> None:
        uid, gid = _free_id("/etc/passwd"), _free_id("/etc/group")
        # Exim works as Debian-exim: its spool and log sit where that user can reach them
        # (pytest's tmp dirs are 0700); MailLab.stop removes self.logdir
        self.logdir.mkdir(exist_ok=True)
        os.chmod(self.logdir, 0o755)
        spool = self.logdir / "spool"
        spool.mkdir(exist_ok=True)
        user = f"Debian-exim:x:{uid}:{gid}::{spool}:/usr/sbin/nologin\n"
        (self.etc / "passwd").write_text(Path("/etc/passwd").read_text() + user)
        (self.etc / "group").write_text(Path("/etc/group").read_text() + f"Debian-exim:x:{gid}:\n")
        (self.logdir / "log").mkdir(exist_ok=True)
        for d in (spool, self.logdir / "log"):
            os.chown(d, uid, gid)

    def conf(self, name: str) -> Path:
        return self.workdir / f"exim-{name}.conf"

    def _exim_conf(self) -> None:
        for name, snippet in self.exim_snippets.items():
            self.conf(name).write_text(f"""# written by tests/support/eximlab.py
primary_hostname = mx.rblmirror.test
spool_directory = {self.logdir / 'spool'}
log_file_path = {self.logdir / 'log'}/%slog
host_lookup =
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
{snippet}  accept

begin routers

begin transports
""")

    def exim(self, address: str, helo: str = "client.example.org",
             mail_from: str = "sender@example.org",
             rcpt: str = "postmaster@example.test", conf: str = "main") -> Session:
        """One simulated session from address (EHLO, MAIL, RCPT, QUIT) under the
        configuration named conf; RCPT's reply."""
        smtp = f"EHLO {helo}\r\nMAIL FROM:<{mail_from}>\r\nRCPT TO:<{rcpt}>\r\nQUIT\r\n"
        r = self.exec("env", *(f"{k}={v}" for k, v in _env(self.tree).items()),
                      str(self.tree / "usr/sbin/exim4"), "-C", str(self.conf(conf)),
                      "-bh", address,
                      input=smtp, timeout=120)
        got = replies(r.stdout)
        if len(got) < 4:
            raise RuntimeError(f"exim -bh {address} answered {got}:\n{r.stdout}\n{r.stderr}")
        code, text = got[3]  # greeting, EHLO, MAIL, RCPT
        return Session(code, text, r.stderr)
