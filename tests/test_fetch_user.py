"""A fetch started as root (the README's cron line) runs as the service user: it switches
before touching the state dir, so the user's own fetches and `serve --user` keep working."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from support.cli import RBLMIRROR as CLI
from support.feeds import feed
from support.ports import free_port
from support.processes import status_ids, stop
from support.tools import require_root
from support.users import exposed_root

pytestmark = pytest.mark.integration


@pytest.fixture
def world(request):
    """A 0755 folder under /var/tmp (the service user must reach it), with a dump."""
    require_root()
    psbl = feed("psbl.txt")
    d = Path(tempfile.mkdtemp(prefix="rblmirror-user-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    up = d / "up"
    up.mkdir()
    shutil.copyfile(psbl, up / "psbl.txt")
    os.chmod(up / "psbl.txt", 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def config(d: Path, user: str | None = None) -> Path:
    p = d / "rblmirror.toml"
    head = f'user = "{user}"\n' if user else ""
    p.write_text(head + f'state_dir = "{d / "state"}"\n[[source]]\nname = "psbl"\n'
                 f'url = "{d / "up" / "psbl.txt"}"\nformat = "plain"\n')
    os.chmod(p, 0o644)
    return p


def run(d: Path, *args: str, as_user: str | None = None) -> subprocess.CompletedProcess:
    cmd = CLI + list(args)
    if as_user:
        cmd = ["setpriv", "--reuid", as_user, "--regid", str(pwd.getpwnam(as_user).pw_gid),
               "--clear-groups", *cmd]
    return subprocess.run(exposed_root(cmd, Path(tempfile.mkdtemp(dir=d))), capture_output=True,
                          text=True, timeout=120, cwd="/")


def owners(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
            out.add(pwd.getpwuid(os.lstat(n).st_uid).pw_name)
    return out


def test_root_fetch_runs_as_the_state_dirs_owner_and_repairs_root_files(world):
    nobody = pwd.getpwnam("nobody")
    state = world / "state"
    (state / "psbl").mkdir(parents=True)
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    # what an older root-run fetch left: a root-owned source folder and lock
    (state / "psbl" / "lock").write_text("1\n")
    conf = config(world)
    r = run(world, "fetch", "--config", str(conf))
    assert r.returncode == 0 and r.stdout.startswith("psbl: fetched: "), r.stdout + r.stderr
    assert owners(state) == {"nobody"}
    assert "given to user nobody" in r.stderr
    # the service user's own fetch (cron as that user, serve's background fetch) works
    r = run(world, "fetch", "--config", str(conf), "--force", as_user="nobody")
    assert r.returncode == 0 and "Permission denied" not in r.stdout + r.stderr, \
        r.stdout + r.stderr
    assert r.stdout.startswith("psbl: unchanged: ")


def test_root_fetch_creates_the_state_dir_for_the_configured_user(world):
    conf = config(world, user="nobody")
    r = run(world, "fetch", "--config", str(conf))
    assert r.returncode == 0 and r.stdout.startswith("psbl: fetched: "), r.stdout + r.stderr
    assert owners(world / "state") == {"nobody"}
    r = run(world, "rollback", "psbl", "--config", str(conf), "--list")
    assert r.returncode == 0 and r.stdout.startswith("* "), r.stdout + r.stderr


def test_fetch_user_option_errors(world):
    conf = config(world)
    r = run(world, "fetch", "--config", str(conf), "--user", "no-such-user-rblmirror")
    assert r.returncode == 2 and "no such user: 'no-such-user-rblmirror'" in r.stderr
    assert not (world / "state").exists()
    r = run(world, "fetch", "--config", str(conf), "--user", "root", as_user="nobody")
    assert r.returncode == 2 and "only root can switch to user root" in r.stderr


def test_serve_runs_as_the_configured_user_and_its_fetch_works(world):
    """`user = "nobody"` in the config: a root-started serve binds, hands the state dir
    (with a root-owned lock an older root run left) to nobody, drops, and its background
    fetch succeeds as nobody."""
    nobody = pwd.getpwnam("nobody")
    state = world / "state"
    (state / "psbl").mkdir(parents=True)
    (state / "psbl" / "lock").write_text("1\n")
    conf = config(world, user="nobody")
    with open(conf, "a") as f:
        f.write('[[zone]]\nname = "psbl.mirror.test"\ndatasets = ["psbl"]\n')
    port = free_port()
    log = open(world / "serve.log", "wb")
    cmd = exposed_root(CLI + ["serve", "--config", str(conf), "--listen",
                              f"127.0.0.1:{port}"], Path(tempfile.mkdtemp(dir=world)))
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd="/")
    try:
        st_path = state / "psbl" / "state.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                st_path.exists() and '"result": "fetched"' in st_path.read_text()):
            assert proc.poll() is None, (world / "serve.log").read_text()
            time.sleep(0.2)
        text = (world / "serve.log").read_text()
        assert '"result": "fetched"' in st_path.read_text(), text
        assert owners(state) == {"nobody"}, text
        uid, gid, _ = status_ids(proc.pid)
        assert uid == [nobody.pw_uid] * 4 and gid == [nobody.pw_gid] * 4
        assert "running as user nobody" in text and "given to user nobody" in text
    finally:
        stop(proc, 15)
        log.close()
