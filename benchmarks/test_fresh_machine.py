"""The README's first command on a fresh Debian 12 machine, and on one that runs Exim.

A debootstrapped bookworm (minbase with Debian's python3 and git: "nothing but Python
installed") gets a clone of this checkout's HEAD in /opt/rblmirror, and there runs
`scripts/bootstrap serve` as the README says, with only --listen (a free loopback port:
the chroot shares the host's network) and --no-fetch (the bundled PSBL source would reach
for its public rsync mirror; this machine may only talk to loopback and its package
mirrors) appended. Checked: it serves (2.0.0.127.bl.rblmirror.test A from the host is
127.0.0.2); the install added no MTA, browser or X11/GTK/Mesa package, removed nothing and
enabled no service (no new *.wants/ link, no new SysV start link). A second copy of the
fresh machine first gets exim4-daemon-light; after `scripts/bootstrap serve` there, Exim
is still installed. Every mount, process and root is gone afterwards, pass or fail.

It takes a few minutes (apt and pip downloads, the compiled core built twice); under
CI=true a missing debootstrap or not being root is a failure (tests/ci_rule.py)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import freshroot
from dnslib import QTYPE
from support.dns import query
from support.ports import free_port
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[1]
#: how long `scripts/bootstrap serve` may take to install everything and answer
SERVE_TIMEOUT = 480
EXIM = ["exim4-daemon-light", "exim4-base", "exim4-config"]

MTA = re.compile(r"^(postfix.*|exim4.*|sendmail.*|opensmtpd|nullmailer|msmtp-mta|dma|ssmtp"
                 r"|courier-mta|esmtp-run|masqmail|citadel-mta)$")
BROWSER = re.compile(r"^(chromium.*|firefox.*|epiphany.*|konqueror|midori|falkon"
                     r"|qutebrowser|surf|lynx|w3m|links2?|elinks)$")
X11 = re.compile(r"^(libx11-\d+|libx11-.*|libxcb\d*.*|x11-common|xserver-.*|xorg.*|libgtk.*"
                 r"|.*mesa.*|libgl1.*|libegl.*|libgbm\d+|libwayland-.*|libdrm\d*.*)$")
DPKG_FORMAT = r"${db:Status-Abbrev}\t${Package}\t${Provides}\n"


def packages(root: freshroot.Root) -> dict[str, str]:
    """Installed package -> its Provides (db status installed or half-way there)."""
    out = {}
    for line in root.output(f"dpkg-query -W -f='{DPKG_FORMAT}'").splitlines():
        status, name, provides = (line.split("\t") + ["", ""])[:3]
        if len(status) >= 2 and status[1] not in "nc":
            out[name] = provides
    return out


def started_services(root: freshroot.Root) -> set[str]:
    """The systemd *.wants/ links and SysV start links: what boots with the machine."""
    links = set()
    for pattern in ["etc/systemd/system/*.wants/*", "etc/systemd/system/*/*.wants/*",
                    "etc/rc[2345S].d/S*"]:
        for p in root.path.glob(pattern):
            links.add(str(p.relative_to(root.path)))
    return links


def ask_a(port: int, name: str, timeout: float = 1.0) -> tuple[int, list[str]] | None:
    """(rcode, A values) of name from 127.0.0.1:port, None without an answer."""
    try:
        r = query(port, name, "A", timeout=timeout, tries=1)
    except (OSError, TimeoutError):
        return None
    return r.header.rcode, [str(rr.rdata) for rr in r.rr if rr.rtype == QTYPE.A]


def serve_and_check(root: freshroot.Root, logs: Path, label: str) -> dict:
    """Run the README's first command in root; check it serves, then what it installed."""
    before_pk, before_links = packages(root), started_services(root)
    port = free_port()
    log = logs / f"{label}-serve.log"
    t0 = time.monotonic()
    serve = root.start(f"cd /opt/rblmirror && exec scripts/bootstrap serve "
                       f"--listen 127.0.0.1:{port} --no-fetch", log)
    answer = None
    try:
        while time.monotonic() - t0 < SERVE_TIMEOUT:
            if serve.poll() is not None:
                pytest.fail(f"{label}: scripts/bootstrap serve exited {serve.returncode} "
                            f"before answering:\n{freshroot.tail(log)}")
            answer = ask_a(port, "2.0.0.127.bl.rblmirror.test")
            if answer is not None:
                break
            time.sleep(2)
        took = time.monotonic() - t0
        assert answer is not None, (f"{label}: no DNS answer on 127.0.0.1:{port} after "
                                    f"{SERVE_TIMEOUT} s:\n{freshroot.tail(log)}")
        assert answer == (0, ["127.0.0.2"]), answer
        assert ask_a(port, "1.0.0.127.bl.rblmirror.test")[0] == 3  # NXDOMAIN: not listed
    finally:
        root.stop(serve)
    assert serve.returncode is not None
    print(f"{label}: serve stopped by SIGTERM, exit status {serve.returncode}")
    out = log.read_text(errors="replace")
    after_pk, after_links = packages(root), started_services(root)
    new = sorted(set(after_pk) - set(before_pk))
    removed = sorted(set(before_pk) - set(after_pk))
    print(f"\n{label}: answered after {took:.0f} s; {len(new)} packages installed: "
          f"{' '.join(new)}")
    assert not removed, f"{label}: scripts/bootstrap serve removed {removed}"
    provides = {p: after_pk[p] for p in new}
    mta = [p for p in new if MTA.match(p) or "mail-transport-agent" in provides[p]]
    browser = [p for p in new if BROWSER.match(p) or "www-browser" in provides[p]]
    x11 = [p for p in new if X11.match(p)]
    assert not mta, f"{label}: an MTA was installed: {mta}"
    assert not browser, f"{label}: a browser was installed: {browser}"
    assert not x11, f"{label}: X11/GTK/Mesa packages were installed: {x11}"
    assert after_links == before_links, (
        f"{label}: services enabled: {sorted(after_links - before_links)}")
    assert not (root.path / "usr/sbin/policy-rc.d").exists(), "policy-rc.d left behind"
    assert "bootstrap: installing" in out and "newly installed" in out, out[-3000:]
    return {"new": new, "took": took}


@pytest.fixture
def fresh_roots(tmp_path):
    """(fresh, exim): two copies of one fresh bookworm, in a scratch folder that is gone
    afterwards (its mounts and processes too)."""
    require_tool("debootstrap")
    require_root("building a chroot needs root")
    free = shutil.disk_usage("/var/tmp").free
    assert free > 4 << 30, f"/var/tmp has {free >> 20} MiB free; the two roots need ~3 GiB"
    logs = tmp_path / "logs"
    logs.mkdir()
    scratch = Path(tempfile.mkdtemp(prefix="rblmirror-fresh-", dir="/var/tmp"))
    os.chmod(scratch, 0o755)
    roots: list[freshroot.Root] = []
    try:
        base = scratch / "fresh"
        t0 = time.monotonic()
        freshroot.make_base(base, scratch, logs / "debootstrap.log")
        print(f"\nfresh bookworm root made in {time.monotonic() - t0:.0f} s")
        subprocess.run(["cp", "-a", str(base), str(scratch / "exim")], check=True)
        for name in ("fresh", "exim"):
            roots.append(freshroot.Root(scratch / name, logs / f"{name}.log"))
        for r in roots:  # the checkout's committed HEAD, as `git clone` gives it
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(CHECKOUT),
                            str(r.path / "opt" / "rblmirror")], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        yield roots[0], roots[1], logs
    finally:
        errors = []
        for r in roots:
            try:
                r.close()
            except Exception as e:  # keep cleaning the rest
                errors.append(e)
        try:
            freshroot.remove_tree(scratch)
        except Exception as e:
            errors.append(e)
        assert not freshroot.mounts_below(scratch)
        assert not errors, errors


def test_bootstrap_serve_on_a_fresh_machine(fresh_roots):
    fresh, exim, logs = fresh_roots
    # the bare machine: nothing but Python and git
    base = packages(fresh)
    assert "python3" in base and "git" in base
    assert not [p for p in base if MTA.match(p) or X11.match(p) or BROWSER.match(p)]
    assert not (fresh.path / "opt/rblmirror/.venv").exists()

    got = serve_and_check(fresh, logs, "fresh")
    for p in ("gcc", "libc6-dev", "python3-dev", "python3-venv", "rsync"):
        assert p in got["new"] or p in base, p
    assert "build-essential" not in got["new"] and "g++" not in got["new"]
    # the README's promise: the venv holds the compiled core without the test extra
    core = list((fresh.path / "opt/rblmirror/rblmirror").glob("_index*.so"))
    assert core, "the Cython core was not built"
    venv = fresh.output("/opt/rblmirror/.venv/bin/python -m pip list --format=freeze")
    assert "pytest" not in venv.lower() and "matplotlib" not in venv.lower(), venv
    assert fresh.output("cat /opt/rblmirror/.venv/rblmirror-build.sha").split()[1:] == []

    # the Exim machine: Exim is the MTA, and stays
    exim.run("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; "
             "chmod 755 /usr/sbin/policy-rc.d; "
             "apt-get update -qq; "
             "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
             + " ".join(EXIM) + "; rm -f /usr/sbin/policy-rc.d", 600)
    before = packages(exim)
    assert all(p in before for p in EXIM), sorted(before)
    serve_and_check(exim, logs, "exim")
    after = packages(exim)
    assert all(p in after for p in EXIM), [p for p in EXIM if p not in after]
