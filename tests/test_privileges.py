"""`rblmirror serve --user`: binds port 53 as root (in a private network namespace), then
serves as the user (uid/gid from /proc/PID/status) and still reloads a changed zone."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from support.cli import RBLMIRROR
from support.dns import dig
from support.netns import Netns
from support.poll import until
from support.processes import status_ids, stop
from support.tools import require_tool
from support.users import exposed_root

from rblmirror import privileges

ZONE = """$SOA 3600 priv.rblmirror.test hostmaster.rblmirror.test 1 3600 900 604800 300
$NS 3600 localhost
$TTL 5
:127.0.0.2:Listed $
127.0.0.2
"""


@pytest.fixture
def netns():
    require_tool("dig")
    with Netns(f"rblmpriv{os.getpid() % 100000}") as ns:
        yield ns


def dig53(ns: Netns, qname: str) -> str:
    return dig(53, "+norec", qname, "TXT", ns=ns.name, time=1, tries=1)


@pytest.mark.integration
def test_serve_user_binds_53_then_runs_as_user_and_reloads(netns):
    user = pwd.getpwnam("nobody")
    # nobody must read the zone: not under pytest's 0700 tmp folders
    d = Path(tempfile.mkdtemp(prefix="rblmirror-priv-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    zone = d / "priv.zone"
    zone.write_text(ZONE)
    os.chmod(zone, 0o644)
    log = open(d / "serve.log", "wb")
    serve = [*RBLMIRROR, "serve", "--no-fetch", "--user", "nobody",
             "--listen", "127.0.0.1:53", "--zone", f"priv.rblmirror.test:ip4set:{zone}"]
    proc = subprocess.Popen(netns.argv(*exposed_root(serve, d)),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert until(lambda: "Listed 127.0.0.2" in dig53(netns, "2.0.0.127.priv.rblmirror.test"),
                     30, 0.2), (d / "serve.log").read_text()
        # the serving process is the last of the exec chain (ip, unshare, sh exec python)
        uid, gid, groups = status_ids(proc.pid)
        assert uid == [user.pw_uid] * 4, uid     # real, effective, saved, fs
        assert gid == [user.pw_gid] * 4, gid
        assert 0 not in groups
        assert "running as user nobody" in (d / "serve.log").read_text()
        # still reloads a changed zone file, now as nobody
        assert "NXDOMAIN" in dig53(netns, "9.2.0.192.priv.rblmirror.test")
        zone.write_text(ZONE + "192.0.2.9\n")
        assert until(lambda: "Listed 192.0.2.9" in dig53(netns, "9.2.0.192.priv.rblmirror.test"),
                     30, 0.2), (d / "serve.log").read_text()
        assert "reloaded" in (d / "serve.log").read_text()
        assert proc.poll() is None
    finally:
        stop(proc, 10)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.integration
def test_unknown_user_is_a_clean_error():
    r = subprocess.run([*RBLMIRROR, "serve", "--user",
                        "no-such-user-rblmirror", "--listen", "127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "no such user: 'no-such-user-rblmirror'" in r.stderr


def test_lookup_groups():
    t = privileges.lookup("root")
    assert (t.uid, t.gid) == (0, 0) and 0 in t.groups
    with pytest.raises(privileges.PrivilegeError):
        privileges.lookup("root", group="no-such-group-rblmirror")
