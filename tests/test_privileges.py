"""`rblmirror serve --user`: binds port 53 as root (in a private network namespace), then
serves as the user (uid/gid from /proc/PID/status) and still reloads a changed zone."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rbldnsd_oracle import require_tool  # noqa: E402

from rblmirror import privileges  # noqa: E402

ZONE = """$SOA 3600 priv.rblmirror.test hostmaster.rblmirror.test 1 3600 900 604800 300
$NS 3600 localhost
$TTL 5
:127.0.0.2:Listed $
127.0.0.2
"""


def status_ids(pid: int) -> tuple[list[int], list[int], list[int]]:
    uid = gid = groups = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Groups:"):
            groups = [int(x) for x in line.split()[1:]]
    return uid, gid, groups


@pytest.fixture
def netns():
    require_tool("ip")
    require_tool("dig")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"rblmpriv{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def dig(ns: str, qname: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "dig", "+norec", "+time=1", "+tries=1",
                           "-p", "53", "@127.0.0.1", qname, "TXT"],
                          capture_output=True, text=True, timeout=30).stdout


def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def exposed_root(cmd: list[str], scratch: Path) -> list[str]:
    """The interpreter may live under /root (mode 0700, e.g. pyenv), where `nobody` cannot
    run it for the reload's compile child. In a private mount namespace (unshare -m, the
    host untouched) put a 0755 tmpfs over /root with only the needed folders bound back,
    as if Python were installed under /usr."""
    need = {Path(p).resolve() for p in (sys.executable, sys.prefix, os.path.dirname(os.__file__),
                                         Path(privileges.__file__).parents[1])}
    tops = sorted({p.relative_to("/root").parts[0] for p in need
                   if p.is_relative_to("/root") and p != Path("/root")})
    if not tops:
        return cmd
    hold = scratch / "root"
    hold.mkdir()
    script = [f"mount --bind /root {hold}", "mount -t tmpfs -o mode=755 tmpfs /root"]
    for t in tops:
        script += [f"mkdir -p /root/{t}", f"mount --bind {hold}/{t} /root/{t}"]
    script.append('exec "$@"')
    return ["unshare", "-m", "sh", "-ec", "; ".join(script), "sh", *cmd]


def test_serve_user_binds_53_then_runs_as_user_and_reloads(netns):
    user = pwd.getpwnam("nobody")
    # nobody must read the zone: not under pytest's 0700 tmp folders
    d = Path(tempfile.mkdtemp(prefix="rblmirror-priv-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    zone = d / "priv.zone"
    zone.write_text(ZONE)
    os.chmod(zone, 0o644)
    log = open(d / "serve.log", "wb")
    serve = [sys.executable, "-m", "rblmirror", "serve", "--no-fetch", "--user", "nobody",
             "--listen", "127.0.0.1:53", "--zone", f"priv.rblmirror.test:ip4set:{zone}"]
    proc = subprocess.Popen(["ip", "netns", "exec", netns, *exposed_root(serve, d)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: "Listed 127.0.0.2" in dig(netns, "2.0.0.127.priv.rblmirror.test"),
                        30), (d / "serve.log").read_text()
        # the serving process is the last of the exec chain (ip, unshare, sh exec python)
        uid, gid, groups = status_ids(proc.pid)
        assert uid == [user.pw_uid] * 4, uid     # real, effective, saved, fs
        assert gid == [user.pw_gid] * 4, gid
        assert 0 not in groups
        assert "running as user nobody" in (d / "serve.log").read_text()
        # still reloads a changed zone file, now as nobody
        assert "NXDOMAIN" in dig(netns, "9.2.0.192.priv.rblmirror.test")
        zone.write_text(ZONE + "192.0.2.9\n")
        assert wait_for(lambda: "Listed 192.0.2.9" in dig(netns, "9.2.0.192.priv.rblmirror.test"),
                        30), (d / "serve.log").read_text()
        assert "reloaded" in (d / "serve.log").read_text()
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def test_unknown_user_is_a_clean_error():
    r = subprocess.run([sys.executable, "-m", "rblmirror", "serve", "--user",
                        "no-such-user-rblmirror", "--listen", "127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "no such user: 'no-such-user-rblmirror'" in r.stderr


def test_lookup_groups():
    t = privileges.lookup("root")
    assert (t.uid, t.gid) == (0, 0) and 0 in t.groups
    with pytest.raises(privileges.PrivilegeError):
        privileges.lookup("root", group="no-such-group-rblmirror")
