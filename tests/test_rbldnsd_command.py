"""rblmirror in rbldnsd's place: the same argument vectors given to the real rbldnsd and
to our rblmirror-rbldnsd, each on its own loopback port, compared at the wire; rbldnsd's
option errors; the daemon's life (fork and wait, pid file, signals); and Debian's own
start path with only the binary swapped (rbldnsd.wrapper and a defaults file, in a private
mount namespace, under systemd-socket-activate with a NOTIFY_SOCKET listener)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support.dns import DNSClient, dig, summary, wait_answer
from support.ports import free_port
from support.processes import stop
from support.rbldnsd import Rbldnsd, synthesized, world_readable
from support.tools import require_tool
from support.users import exposed_root

pytestmark = pytest.mark.integration

#: our entry point, installed beside this interpreter
OURS = str(Path(sys.executable).parent / "rblmirror-rbldnsd")
WRAPPER = "/usr/sbin/rbldnsd.wrapper"

IP4 = """$SOA 3600 ns1.bl.test. hostmaster.bl.test. 42 600 300 86400 120
$NS 7200 ns1.bl.test.
$TTL {ttl}
:127.0.0.2:Listed, see http://bl.test/?$
127.0.0.2
10.0.0.0/24
10.1.2.3 :127.0.0.4:single $
!10.0.0.7
"""
NAMES = """$SOA 3600 ns1.dn.test. hostmaster.dn.test. 7 600 300 86400 120
$NS 7200 ns1.dn.test.
$TTL {ttl}
:127.0.0.2:domain $ listed
test
spam.example
*.wild.example :127.0.0.3:wild
"""
QUESTIONS = [("bl.test", n, t) for n in ("2.0.0.127", "5.0.0.10", "7.0.0.10", "3.2.1.10",
                                           "1.1.1.1", "")
             for t in ("A", "TXT", "ANY")] + \
    [("bl.test", "", "SOA"), ("bl.test", "", "NS")] + \
    [("dn.test", n, t) for n in ("test", "spam.example", "a.wild.example", "ok.example", "")
     for t in ("A", "TXT")]


@pytest.fixture
def scratch():
    """A folder the user the daemons become (rbldns) can reach: under /tmp itself, not
    pytest's folder (which another pytest run on the machine may make 0700 again)."""
    d = Path(tempfile.mkdtemp(prefix="rblmirror-rbldnsd-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Ours(Rbldnsd):
    """Our entry point where rbldnsd's binary was, the command line untouched. Started as
    root, it becomes `rbldns` as rbldnsd does: the interpreter is made reachable for that
    user first (support.users.exposed_root)."""

    def __init__(self, *a, binary: str = OURS, **kw):
        super().__init__(*a, binary=binary, **kw)
        self.name = "rblmirror-rbldnsd"

    def command(self, port: int) -> list[str]:
        return exposed_root(super().command(port), Path(tempfile.mkdtemp(dir=self.workdir)))

    def start(self, timeout: float = 90.0) -> Ours:
        """(a Python start and the compile child: slower than rbldnsd on a busy machine)"""
        super().start(timeout)
        return self


def both(zones_text: dict[str, tuple[str, str]], args: list[str], scratch: Path,
         binary: str = OURS, world_writable: bool = False):
    """rbldnsd and ours on the same files and argument vector (started, to be cleaned up).
    world_writable: their -w folders writable by the user they become (for -l, -s)."""
    work = scratch / "zones"
    work.mkdir()
    zones = []
    for name, (fmt, text) in zones_text.items():
        p = work / f"{name}.{fmt}"
        p.write_text(text)
        world_readable(p)
        zones.append((name, fmt, [p]))
    (scratch / "r").mkdir()
    (scratch / "o").mkdir()
    ref = Rbldnsd(zones, args=args, workdir=scratch / "r")
    ours = Ours(zones, args=args, workdir=scratch / "o", binary=binary)
    if world_writable:
        for srv in (ref, ours):
            os.chmod(srv.workdir, 0o777)
    ref.start()
    try:
        ours.start()
    except BaseException:
        ref.cleanup()
        raise
    return ref, ours


def compare(ref: Rbldnsd, ours: Rbldnsd, lazy: bool) -> int:
    """Every QUESTION asked of both; equal answers (or a documented difference). Returns
    how many were compared. Not `lazy` (rbldnsd without -a): rbldnsd adds the zone's NS
    records to a positive reply's AUTH section, ours never does (as rbldnsd -a)."""
    n = 0
    for zone, name, t in QUESTIONS:
        q = f"{name}.{zone}" if name else zone
        b, a = summary(ref.query(q, t)), summary(ours.query(q, t))
        if not lazy and b["ns"] and not a["ns"] and all(r[2] == 2 for r in b["ns"]):
            b = {**b, "ns": []}
        if a != b:
            assert synthesized(q, t, a, b), f"{q} {t}\nrbldnsd: {b}\nours:    {a}"
        n += 1
    return n


@pytest.mark.parametrize("args,ttl,expect", [
    (["-t", "3600"], "", 3600),  # no $TTL: -t's default
    (["-a"], "", 2100),  # rbldnsd's own default, 35m
    (["-a", "-t", "300:0:600"], "86400", 600),  # the data's $TTL held to -t's maximum
    (["-at:1000", "-c", "0"], "10", 1000),  # ... and to its minimum
    (["-4", "-c", "5s", "-vv", "-q", "-a"], "77", 77),
    # accepted with a warning, the answers unchanged
    (["-a", "-e", "-f", "-C", "-Fmail", "-v"], "", 2100),
])
def test_same_vectors_same_answers(scratch, args, ttl, expect):
    require_tool("rbldnsd")
    ip4 = IP4.replace("$TTL {ttl}\n", f"$TTL {ttl}\n" if ttl else "")
    names = NAMES.replace("$TTL {ttl}\n", f"$TTL {ttl}\n" if ttl else "")
    ref, ours = both({"bl.test": ("ip4set", ip4), "dn.test": ("dnset", names)}, args, scratch)
    try:
        assert compare(ref, ours, "-a" in args) == len(QUESTIONS)
        # the TTL asked about is there, in both (not only equal)
        for srv in (ref, ours):
            r = srv.query("5.0.0.10.bl.test", "A")
            assert [x.ttl for x in r.rr] == [expect], srv.name
        # and real dig reads ours as it reads rbldnsd
        for srv in (ref, ours):
            assert srv.port is not None
            out = dig(srv.port, "+short", "3.2.1.10.bl.test", "TXT")
            assert out.strip() == '"single 10.1.2.3"', (srv.name, out)
        if "-Fmail" in args:
            for opt in ("-e", "-f", "-C", "-F mail", "-v"):
                assert f"rblmirror-rbldnsd: warning: {opt}:" in ours.stderr, opt
    finally:
        ref.cleanup()
        ours.cleanup()


def test_the_click_command_serves_the_same(scratch):
    """`rblmirror rbldnsd ARGS` is the same program: it serves the same answers."""
    shim = scratch / "rblmirror-rbldnsd-click"
    shim.write_text(f"#!/bin/sh\nexec {Path(sys.executable).parent / 'rblmirror'} rbldnsd "
                    '"$@"\n')
    shim.chmod(0o755)
    ip4 = IP4.replace("$TTL {ttl}\n", "")
    names = NAMES.replace("$TTL {ttl}\n", "")
    ref, ours = both({"bl.test": ("ip4set", ip4), "dn.test": ("dnset", names)},
                     ["-a", "-t", "600"], scratch, binary=str(shim))
    try:
        assert compare(ref, ours, True) == len(QUESTIONS)
        assert "rbldnsd[" in ours.stderr  # rbldnsd's name on the lines, as from the script
    finally:
        ref.cleanup()
        ours.cleanup()


@pytest.mark.parametrize("argv", [
    ["-z", "bl:ip4set:/dev/null"],
    ["-b"],
    ["-n", "-b", "127.0.0.1/1"],
    ["-n", "bl:ip4set:/dev/null"],
    ["-n", "-b", "1.2.3.4.5", "bl:ip4set:/dev/null"],
    ["-n", "-b", "/53", "bl:ip4set:/dev/null"],
    ["-n", "-t", "foo", "-b", "127.0.0.1/1", "bl:ip4set:/dev/null"],
    ["-n", "-t", "10:20", "-b", "127.0.0.1/1", "bl:ip4set:/dev/null"],
    ["-n", "-c", "1y", "-b", "127.0.0.1/1", "bl:ip4set:/dev/null"],
    ["-n", "-u", "no-such-user-here", "-b", "127.0.0.1/1", "bl:ip4set:/dev/null"],
    ["-n", "-u", "root", "-b", "127.0.0.1/1", "bl:ip4set:/dev/null"],
])
def test_option_errors_as_rbldnsd(argv):
    """Each bad vector: exit 1 from both, and rbldnsd's message (our program's name in
    place of rbldnsd's) on stderr."""
    ref = subprocess.run([require_tool("rbldnsd"), *argv], capture_output=True, text=True,
                         timeout=30)
    ours = subprocess.run([OURS, *argv], capture_output=True, text=True, timeout=60)
    assert ref.returncode == ours.returncode == 1, (ref, ours)
    want = ref.stderr.replace("rbldnsd", "rblmirror-rbldnsd").splitlines()
    got = [x for x in ours.stderr.splitlines() if ": warning: " not in x]
    assert got == want, (ours.stderr, ref.stderr)


def test_help_and_no_arguments():
    for argv, code in ((["-h"], 0), ([], 1)):
        ref = subprocess.run([require_tool("rbldnsd"), *argv], capture_output=True, text=True)
        ours = subprocess.run([OURS, *argv], capture_output=True, text=True)
        assert ref.returncode == ours.returncode == code
        for flag in ("-u user[:group]", "-b address[/port]", "-t ttl", "-n ", "-d "):
            assert flag in ref.stdout and flag in ours.stdout, flag
    # the same through the click command
    r = subprocess.run([str(Path(sys.executable).parent / "rblmirror"), "rbldnsd", "-h"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Usage is: rbldnsd options zonespec" in r.stdout


def _zone(scratch: Path, text: str = "127.0.0.2\n10.0.0.1\n") -> Path:
    p = scratch / "list"
    p.write_text(text)
    return world_readable(p)


def test_daemon_forks_writes_and_removes_its_pidfile_and_takes_signals(scratch):
    """Without -n: the command returns 0 once the zones answer; the pid file names the
    daemon (running as rbldns); SIGHUP reloads (-c 0: nothing else does), SIGUSR2
    answers and the daemon lives on; SIGTERM stops it and removes the pid file."""
    zone = _zone(scratch)
    piddir = scratch / "run"
    piddir.mkdir(mode=0o777)
    os.chmod(piddir, 0o777)
    pidfile = piddir / "rbldnsd.pid"
    port = free_port()
    cmd = exposed_root([OURS, "-b", f"127.0.0.1/{port}", "-p", str(pidfile), "-c", "0",
                        f"bl.test:ip4set:{zone}"], Path(tempfile.mkdtemp(dir=scratch)))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        assert Path(f"/proc/{pid}").exists()
        uid = int(next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if x.startswith("Uid:")).split()[1])
        import pwd
        assert uid == pwd.getpwnam("rbldns").pw_uid
        with DNSClient(port) as c:
            assert c.query("1.0.0.10.bl.test").header.rcode == 0
            assert c.query("9.0.0.10.bl.test").header.rcode == 3
            zone.write_text("127.0.0.2\n10.0.0.9\n")
            time.sleep(1.5)
            assert c.query("9.0.0.10.bl.test").header.rcode == 3  # -c 0: no automatic reload
            os.kill(pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            while c.query("9.0.0.10.bl.test").header.rcode != 0:
                assert time.monotonic() < deadline, "SIGHUP did not reload"
                time.sleep(0.2)
            os.kill(pid, signal.SIGUSR2)
            os.kill(pid, signal.SIGUSR1)
            assert c.query("9.0.0.10.bl.test").header.rcode == 0
        assert Path(f"/proc/{pid}").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    assert not pidfile.exists()


def test_root_and_workdir_find_the_same_files(scratch):
    """-r ROOT -w DIR with a relative and an absolute file: rbldnsd chroots and opens them
    inside; we read them below ROOT. Both answer from the same files."""
    root = scratch / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "rel").write_text("10.0.0.1 :127.0.0.5:relative\n")
    (root / "abs").write_text("10.0.0.2 :127.0.0.6:absolute\n")
    for p in (root / "sub" / "rel", root / "abs"):
        world_readable(p)
    spec = "bl.test:ip4set:rel,/abs"
    procs = []
    try:
        for binary in (require_tool("rbldnsd"), OURS):
            port = free_port()
            argv = [binary, "-n", "-r", str(root), "-w", "/sub", "-b", f"127.0.0.1/{port}",
                    spec]
            if binary == OURS:
                argv = exposed_root(argv, Path(tempfile.mkdtemp(dir=scratch)))
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            procs.append(proc)
            assert wait_answer(port, "1.0.0.10.bl.test", "A", timeout=90, noerror=True,
                               alive=lambda: proc.poll() is None), binary
            with DNSClient(port) as c:
                got = [str(r.rdata) for n in ("1.0.0.10", "2.0.0.10")
                       for r in c.query(f"{n}.bl.test", "A").rr]
            assert got == ["127.0.0.5", "127.0.0.6"], binary
    finally:
        for p in procs:
            stop(p, 10)


def _counter_line(srv: Rbldnsd, sig: int) -> dict:
    """The JSON counter line `sig` makes it log on stderr."""
    assert srv.proc is not None
    before = srv.stderr.count('"fast"')
    srv.proc.send_signal(sig)
    deadline = time.monotonic() + 20
    while srv.stderr.count('"fast"') == before:
        assert time.monotonic() < deadline, srv.stderr
        time.sleep(0.05)
    return json.loads([x for x in srv.stderr.splitlines() if x.startswith("{")][-1])


def test_sigusr2_logs_then_counts_anew(scratch):
    """SIGUSR1 logs the counters; SIGUSR2 logs them and starts a new sample period, as
    rbldnsd's do (the metrics' own totals never go back)."""
    zone = _zone(scratch)
    srv = Ours([("bl.test", "ip4set", [zone])], args=["-c", "0"])
    srv.start()
    try:
        for name in ("1.0.0.10", "2.0.0.10", "3.0.0.10"):
            srv.query(f"{name}.bl.test", "A")
        first = _counter_line(srv, signal.SIGUSR2)["counters"]["bl.test"]
        assert first["queries"] >= 3 and first["listed"] >= 1 and first["not_listed"] >= 2
        srv.query("1.0.0.10.bl.test", "A")
        second = _counter_line(srv, signal.SIGUSR1)["counters"]["bl.test"]
        assert (second["queries"], second["listed"], second["not_listed"]) == (1, 1, 0)
        again = _counter_line(srv, signal.SIGUSR1)["counters"]["bl.test"]
        assert again["queries"] == 1  # SIGUSR1 alone resets nothing
    finally:
        srv.cleanup()


def test_daemon_that_cannot_load_fails_the_command(scratch):
    """The parent waits: a zone file that cannot be read is exit 1, with the reason."""
    port = free_port()
    cmd = exposed_root([OURS, "-b", f"127.0.0.1/{port}", f"bl.test:ip4set:{scratch}/missing"],
                       Path(tempfile.mkdtemp(dir=scratch)))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert f"{scratch}/missing" in r.stderr
    ref = subprocess.run(["rbldnsd", "-b", f"127.0.0.1/{port}",
                          f"bl.test:ip4set:{scratch}/missing"], capture_output=True, text=True)
    assert ref.returncode == 1


# ---- Debian's start path with only the binary swapped -----------------------------------
def _debian(scratch: Path, rbldnsd_line: str, outer: list[str]) -> list[str]:
    """The unmodified rbldnsd.wrapper in a private mount namespace where our entry point
    is bind-mounted over /usr/sbin/rbldnsd and a test defaults file over
    /etc/default/rbldnsd (the host's files untouched); `outer` (systemd-socket-activate
    ...) runs inside, around the wrapper."""
    require_tool("unshare")
    if not os.path.exists(WRAPPER):
        pytest.skip("Debian's rbldnsd package (rbldnsd.wrapper) is not installed")
    defaults = scratch / "rbldnsd.default"
    defaults.write_text(f'RBLDNSD="{rbldnsd_line}"\n')
    shim = scratch / "rbldnsd-shim"
    shim.write_text(f"#!/bin/sh\nexec {OURS} \"$@\"\n")
    shim.chmod(0o755)
    mounts = (f"mount --bind {shim} /usr/sbin/rbldnsd; "
              f"mount --bind {defaults} /etc/default/rbldnsd; ")
    inner = exposed_root([*outer, WRAPPER], Path(tempfile.mkdtemp(dir=scratch)))
    if inner[:3] == ["unshare", "-m", "sh"]:  # exposed_root's namespace: ours go first
        return [*inner[:4], mounts + inner[4], *inner[5:]]
    return ["unshare", "-m", "sh", "-ec", mounts + 'exec "$@"', "sh", *inner]


def _notify_listener(scratch: Path) -> tuple[socket.socket, str]:
    """The service manager's notification socket, writable by the user the daemon
    becomes (as systemd's /run/systemd/notify is)."""
    path = scratch / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    world_readable(path)
    os.chmod(path, 0o666)
    s.settimeout(60)
    return s, str(path)


def _ready(notify: socket.socket, proc: subprocess.Popen) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + 60
    while "READY=1" not in got:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, got
        try:
            got += notify.recv(4096).decode().split("\n")
        except socket.timeout:
            continue
    return got


def test_debian_wrapper_socket_activated_with_ready_notification(scratch):
    """rbldnsd.service (Type=notify) with rbldnsd.socket: systemd passes the UDP socket
    (the wrapper drops -b then) and waits for READY=1, sent once the zones answer."""
    activate = require_tool("systemd-socket-activate")
    zone = _zone(scratch)
    port = free_port()
    line = f"- -b 127.0.0.9/{port} -c 0 bl.test:ip4set:{zone}"
    notify, path = _notify_listener(scratch)
    # (systemd passes NOTIFY_SOCKET to a Type=notify service; socket-activate only what -E names)
    cmd = _debian(scratch, line, [activate, "--datagram", "-l", f"127.0.0.1:{port}",
                                   "-E", "NOTIFY_SOCKET"])
    env = {**os.environ, "NOTIFY_SOCKET": path}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # socket activation starts the service on the first datagram
        deadline = time.monotonic() + 60
        assert wait_answer(port, "1.0.0.10.bl.test", "A", timeout=60,
                           alive=lambda: proc.poll() is None, noerror=True), \
            proc.stderr.read() if proc.poll() is not None and proc.stderr else "no answer"
        got = _ready(notify, proc)
        assert "READY=1" in got and time.monotonic() < deadline
        with DNSClient(port) as c:
            assert c.query("1.0.0.10.bl.test").header.rcode == 0
            assert c.query("3.0.0.10.bl.test").header.rcode == 3
        # -b was dropped by the wrapper: nothing listens on 127.0.0.9
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.9", port))
    finally:
        stop(proc, 15)
        notify.close()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_debian_wrapper_with_plain_b(scratch):
    """The same path without socket activation: the wrapper keeps -b, READY=1 comes."""
    zone = _zone(scratch)
    port = free_port()
    line = f"- -b 127.0.0.1/{port} bl.test:ip4set:{zone}"
    notify, path = _notify_listener(scratch)
    cmd = _debian(scratch, line, [])
    proc = subprocess.Popen(cmd, env={**os.environ, "NOTIFY_SOCKET": path},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = _ready(notify, proc)
        assert "READY=1" in got
        with DNSClient(port) as c:  # READY=1 means answering now
            assert c.query("1.0.0.10.bl.test").header.rcode == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert "STOPPING=1" in notify.recv(4096).decode().split("\n")
    finally:
        stop(proc, 15)
        notify.close()


def test_serve_takes_activated_sockets_and_notifies(scratch):
    """Socket activation and READY=1 are the server's, not the rbldnsd command's only."""
    activate = require_tool("systemd-socket-activate")
    zone = _zone(scratch)
    port = free_port()
    notify, path = _notify_listener(scratch)
    rblmirror = str(Path(sys.executable).parent / "rblmirror")
    proc = subprocess.Popen([activate, "--datagram", "-l", f"127.0.0.1:{port}",
                             "-E", "NOTIFY_SOCKET", rblmirror,
                             "serve", "--zone", f"bl.test:ip4set:{zone}"],
                            env={**os.environ, "NOTIFY_SOCKET": path},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_answer(port, "1.0.0.10.bl.test", "A", timeout=60,
                           alive=lambda: proc.poll() is None, noerror=True)
        assert "READY=1" in _ready(notify, proc)
    finally:
        stop(proc, 15)
        notify.close()


def test_serve_with_workers_notifies_once_they_answer(scratch):
    """Several workers: READY=1 from the parent (the main process systemd watches),
    once the workers are forked on their bound sockets."""
    zone = _zone(scratch)
    port = free_port()
    notify, path = _notify_listener(scratch)
    rblmirror = str(Path(sys.executable).parent / "rblmirror")
    proc = subprocess.Popen([rblmirror, "serve", "--workers", "2", "--listen",
                             f"127.0.0.1:{port}", "--zone", f"bl.test:ip4set:{zone}"],
                            env={**os.environ, "NOTIFY_SOCKET": path},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "READY=1" in _ready(notify, proc)
        with DNSClient(port) as c:
            assert c.query("1.0.0.10.bl.test").header.rcode == 0
    finally:
        stop(proc, 15)
        notify.close()
    assert proc.returncode == 0


def _lines(path: Path, n: int, timeout: float = 20.0) -> list[str]:
    """The file's whole lines once it holds n (or what it holds at the timeout; a line
    still being written is not one)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.count("\n") >= n:
            break
        time.sleep(0.05)
    return text[:text.rfind("\n") + 1].splitlines()


def _stats_after(srv: Rbldnsd, asked: dict[str, int], timeout: float = 30.0
                 ) -> dict[str, list[int]]:
    """The statistics line SIGUSR1 makes srv write once it counts every zone asked about
    at least as often as `asked` says ({zone: [queries, ...]}). Signalled again until then:
    a line written before the last replies were counted (our UDP thread counts, the
    loop writes) is not the one to compare."""
    assert srv.proc is not None
    path = srv.workdir / "stats"
    deadline = time.monotonic() + timeout
    got: dict[str, list[int]] = {}
    while time.monotonic() < deadline:
        before = len(_lines(path, 0, 0))
        srv.proc.send_signal(signal.SIGUSR1)
        lines = _lines(path, before + 1, 5.0)
        if lines:
            # "TIMESTAMP zone:queries:answered:nxdomain:bytes-in:bytes-out ..."
            got = {f.split(":")[0]: [int(x) for x in f.split(":")[1:]]
                   for f in lines[-1].split()[1:]}
            if all(got.get(z, [0])[0] >= n for z, n in asked.items()):
                return got
        time.sleep(0.3)
    raise AssertionError(f"{srv.name}: no statistics line counting {asked}: {got}")


def test_query_log_and_stats_file_as_rbldnsd(scratch):
    """-l +FILE and -s FILE given to both programs (relative: in -w's folder): the same
    questions make the same log lines (but the time); SIGUSR1 makes our statistics
    line, counting each zone asked."""
    require_tool("rbldnsd")
    args = ["-a", "-t", "3600", "-l", "+queries.log", "-s", "stats", "-c", "0"]
    ip4 = IP4.replace("$TTL {ttl}\n", "")
    names = NAMES.replace("$TTL {ttl}\n", "")
    ref, ours = both({"bl.test": ("ip4set", ip4), "dn.test": ("dnset", names)}, args,
                     scratch, world_writable=True)
    try:
        logs = {}
        for srv in (ref, ours):
            log = srv.workdir / "queries.log"
            before = len(_lines(log, 0, 0.5))  # (start-up probes are logged too)
            for zone, name, t in QUESTIONS:
                srv.query(f"{name}.{zone}" if name else zone, t)
            got = _lines(log, before + len(QUESTIONS))[before:]
            assert len(got) == len(QUESTIONS), (srv.name, got)
            for ln in got:
                stamp, rest = ln.split(" ", 1)
                assert abs(int(stamp) - time.time()) < 300, ln
            logs[srv.name] = [ln.split(" ", 1)[1] for ln in got]
        mine, theirs = logs["rblmirror-rbldnsd"], logs[ref.name]
        # the same question, rcode and answer count on every line; the reply's size too,
        # but at a zone's apex, where our replies pack the SOA/NS names differently
        # (dnslib's compression: the difference compare() allows)
        assert [x.rsplit("/", 1)[0] for x in mine] == [x.rsplit("/", 1)[0] for x in theirs]
        below = [i for i, (_, name, _) in enumerate(QUESTIONS) if name]
        assert [mine[i] for i in below] == [theirs[i] for i in below]
        # -s: our statistics file, where rbldnsd's -s puts it (in -w's folder), a line at
        # SIGUSR1 with every zone and the total, each zone counting at least the questions
        # asked (the line's format is held to rbldnsd's own, field for field, by
        # test_querylog.test_stats_line_equals_rbldnsd)
        asked = {z: sum(1 for q in QUESTIONS if q[0] == z) for z, _, _ in QUESTIONS}
        ours_ = _stats_after(ours, asked)
        assert set(ours_) == {"bl.test", "dn.test", "*"}, ours_
        assert all(len(v) == 5 for v in ours_.values()), ours_
        assert ours_["*"][0] >= sum(ours_[z][0] for z in asked), ours_
    finally:
        ref.cleanup()
        ours.cleanup()
