"""A fresh Debian 12 machine as a chroot, for benchmarks/test_fresh_machine.py.

`make_base` debootstraps bookworm (minbase plus Debian's python3, git and ca-certificates)
from the host's apt mirror and gives it the host's apt sources, the apt settings for
reaching that mirror and the host's extra CA certificates (pip reaches PyPI through them),
so it can reach exactly what the host reaches. `Root` makes a copy of such a base a
machine to run things in: a mount point of its own (so `ip netns` would work inside) with
/proc and /dev, and on `close` kills what still runs in it, unmounts everything and deletes
it, refusing to delete while anything is still mounted below it.

The debootstrap download is cached as a tarball under /var/cache/rblmirror-test/ (a repeat
run unpacks it instead of downloading again); without the cache it is made first."""
from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
INCLUDE = "python3,git,ca-certificates"
CACHE = Path("/var/cache/rblmirror-test")
#: the environment of everything run inside: a login shell's, plus pip pointed at the
#: system CA bundle (which then holds the host's extra CAs)
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", "USER": "root", "LOGNAME": "root",
    "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
    "PIP_DEFAULT_TIMEOUT": "180", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def run(cmd: list[str], log: Path, timeout: float, **kw) -> subprocess.CompletedProcess:
    """Run cmd with its output appended to log; raise with the log's tail when it fails."""
    with open(log, "ab") as f:
        f.write(("\n$ " + " ".join(cmd) + "\n").encode())
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{tail(log)}")
    return r


def tail(log: Path, n: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def host_mirror() -> str:
    """The host's apt mirror for Debian's main archive (where debootstrap fetches from)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in Path(path).read_text().split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if (SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "")
                    and fields.get("Enabled", "yes") != "no"):
                return fields["URIs"].split()[0]
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.exists(path):
            for line in Path(path).read_text().splitlines():
                m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line + " ")
                if m:
                    return m.group(1)
    return "http://deb.debian.org/debian"


def _arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def debootstrap(root: Path, work: Path, log: Path) -> None:
    """Debootstrap into root (from the cached tarball when there is one)."""
    mirror = host_mirror()
    arch = _arch()
    base = ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", f"--arch={arch}"]
    tarball = CACHE / f"{SUITE}-minbase-{INCLUDE.replace(',', '+')}-{arch}.tgz"
    if not tarball.exists():
        try:
            CACHE.mkdir(parents=True, exist_ok=True)
            part = CACHE / f".{tarball.stem}.{os.getpid()}.tgz"  # another run may make one too
            run(base + [f"--make-tarball={part}", SUITE, str(work / "mk"), mirror], log, 900)
            part.rename(tarball)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            with open(log, "a") as f:
                f.write(f"\n(no tarball cache: {e})\n")
    if tarball.exists():
        try:
            run(base + [f"--unpack-tarball={tarball}", SUITE, str(root), mirror], log, 900)
            return
        except (RuntimeError, subprocess.TimeoutExpired):  # a bad cache: without it
            tarball.unlink(missing_ok=True)
            subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)
            root.mkdir(mode=0o755)
    run(base + [SUITE, str(root), mirror], log, 900)


def make_base(root: Path, work: Path, log: Path) -> None:
    """A fresh bookworm in root (an empty directory), set up to reach what the host reaches."""
    root.mkdir(mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)
    debootstrap(root, work, log)
    # the host's apt sources and the settings for reaching its mirror (not its other
    # apt settings: those belong to the host)
    etc = root / "etc" / "apt"
    (etc / "sources.list").unlink(missing_ok=True)
    if os.path.exists("/etc/apt/sources.list"):
        shutil.copy2("/etc/apt/sources.list", etc / "sources.list")
    for f in glob.glob("/etc/apt/sources.list.d/*.sources") + glob.glob(
            "/etc/apt/sources.list.d/*.list"):
        shutil.copy2(f, etc / "sources.list.d")
    for f in glob.glob("/etc/apt/apt.conf.d/*"):
        text = Path(f).read_text(errors="replace")
        if re.search(r"^\s*Acquire::", text, re.M) and not re.search(
                r"^\s*(APT|DPkg|Dpkg|Dir)::", text, re.M):
            shutil.copy2(f, etc / "apt.conf.d")
    for f in glob.glob("/etc/apt/trusted.gpg.d/*") + glob.glob("/etc/apt/keyrings/*"):
        dest = root / f.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    for f in re.findall(r"Signed-By:\s*(/\S+)", "\n".join(
            Path(p).read_text() for p in glob.glob(str(etc / "sources.list.d" / "*")))):
        if os.path.exists(f) and not (root / f.lstrip("/")).exists():
            (root / f.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, root / f.lstrip("/"))
    shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf", follow_symlinks=True)
    # the host's extra CAs, made part of the system bundle inside
    cas = root / "usr" / "local" / "share" / "ca-certificates"
    cas.mkdir(parents=True, exist_ok=True)
    for f in glob.glob("/usr/local/share/ca-certificates/**/*.crt", recursive=True):
        shutil.copy2(f, cas / os.path.basename(f))
    run(["chroot", str(root), "update-ca-certificates"], log, 120, env=ENV)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below path (from /proc/self/mountinfo), deepest first."""
    p = str(path).rstrip("/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == p or target.startswith(p + "/"):
                out.append(target)
    return sorted(out, key=len, reverse=True)


def pids_inside(path: Path) -> list[int]:
    """Processes whose root directory is path (or below it)."""
    p = str(path).rstrip("/")
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                r = os.readlink(f"/proc/{d}/root")
            except OSError:
                continue
            if r == p or r.startswith(p + "/"):
                out.append(int(d))
    return out


class Root:
    """A machine in a directory: mount point with /proc and /dev; close() undoes it all."""

    def __init__(self, path: Path, log: Path):
        self.path, self.log = path, log
        self.procs: list[subprocess.Popen] = []
        os.chmod(path, 0o755)
        try:
            subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
            subprocess.run(["mount", "--make-private", str(path)], check=True)
            subprocess.run(["mount", "-t", "proc", "proc", str(path / "proc")], check=True)
            subprocess.run(["mount", "--rbind", "/dev", str(path / "dev")], check=True)
            subprocess.run(["mount", "--make-rslave", str(path / "dev")], check=True)
        except BaseException:
            self.close(delete=False)
            raise

    def run(self, script: str, timeout: float, **kw) -> subprocess.CompletedProcess:
        return run(["chroot", str(self.path), "/bin/sh", "-ec", script], self.log, timeout,
                   env={**ENV, **kw.pop("env", {})}, **kw)

    def output(self, script: str, timeout: float = 120) -> str:
        r = subprocess.run(["chroot", str(self.path), "/bin/sh", "-ec", script], env=ENV,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"{script!r} exited {r.returncode}: {r.stderr[-2000:]}")
        return r.stdout

    def start(self, script: str, log: Path) -> subprocess.Popen:
        """Start script inside in a process group of its own, output to log."""
        f = open(log, "ab")
        try:
            p = subprocess.Popen(["chroot", str(self.path), "/bin/sh", "-ec", script],
                                 stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=ENV, start_new_session=True)
        finally:
            f.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen, grace: float = 20) -> None:
        """SIGTERM to the process group, SIGKILL after grace seconds."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # whatever of the group is left
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def close(self, delete: bool = True) -> None:
        for p in self.procs:
            self.stop(p)
        for sig in (signal.SIGTERM, signal.SIGKILL):  # anything else still running inside
            pids = pids_inside(self.path)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while pids and pids_inside(self.path) and time.monotonic() < deadline:
                time.sleep(0.1)
        remove_tree(self.path, delete)


def remove_tree(path: Path, delete: bool = True) -> None:
    """Unmount everything at and below path (lazily if need be), then delete it."""
    if mounts_below(path):
        subprocess.run(["umount", "-R", str(path)], capture_output=True)
    if mounts_below(path):
        subprocess.run(["umount", "-R", "-l", str(path)], capture_output=True)
    for m in mounts_below(path):  # one by one, deepest first
        subprocess.run(["umount", "-l", m], capture_output=True)
    left = mounts_below(path)
    if left:
        raise RuntimeError(f"still mounted below {path}, not deleted: {left}")
    if delete and path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)
