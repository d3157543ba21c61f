"""`rblmirror serve` as a process group: an address it cannot bind fails at once (exit 2,
one line, nothing loaded or fetched, no state dir made); SIGTERM at any moment stops
every worker with exit 0; workers end with a parent that is SIGKILLed; a worker that
dies stops the group (exit 1). Every process serve starts carries a marker in its
environment, so /proc shows whatever is left behind."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dnslib
import pytest

from support.mirror import write_config
from support.poll import until
from support.ports import free_port

pytestmark = pytest.mark.integration

MARK = "RBLMIRROR_TEST_MARK"
ZONE = "$SOA 60 ns.p.test h.p.test 1 600 300 86400 30\n127.0.0.2\n192.0.2.1\n"
QUERY = dnslib.DNSRecord.question("2.0.0.127.p.test", "A")


# ------------------------------------------------------------------------ /proc
def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # gone meanwhile
        return b""


def marked(mark: str) -> list[int]:
    """Live processes whose environment carries the marker (a zombie's environ is empty)."""
    want = f"{MARK}={mark}".encode()
    return [int(d) for d in os.listdir("/proc")
            if d.isdigit() and want in _read(f"/proc/{d}/environ").split(b"\0")]


def children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, cmdline) of pid's live children."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        stat = _read(f"/proc/{d}/stat")
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] != b"Z" and int(fields[1]) == pid:
            out.append((int(d), _read(f"/proc/{d}/cmdline")))
    return out


def sigterm_caught(pid: int) -> bool:
    """serve has a handler for SIGTERM: from here on it must exit 0 (before, the kernel's
    default applies; blocked alone is not enough, as numpy's OpenBLAS thread, started on
    import, has it unblocked)."""
    if b"rblmirror\0serve" not in _read(f"/proc/{pid}/cmdline"):  # not exec'd yet
        return False
    for line in _read(f"/proc/{pid}/status").decode().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False



# ------------------------------------------------------------------------ serve
class Group:
    """`rblmirror serve --workers N` on a free port, its processes marked."""

    def __init__(self, tmp_path: Path, workers: int, *extra: str):
        self.mark = uuid.uuid4().hex
        self.port = free_port()
        self.workers = workers
        self.tmp = tmp_path / f"tmp-{self.mark[:8]}"  # TMPDIR: the snapshot scratch dirs
        self.tmp.mkdir()
        zone = tmp_path / "p.zone"
        if not zone.exists():
            zone.write_text(ZONE)
        self.log_path = tmp_path / f"serve-{self.mark[:8]}.log"
        env = dict(os.environ, **{MARK: self.mark, "TMPDIR": str(self.tmp)})
        cmd = [sys.executable, "-m", "rblmirror", "serve", "--zone", f"p.test:ip4set:{zone}",
               "--listen", f"127.0.0.1:{self.port}", "--workers", str(workers), "--no-fetch",
               *extra]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)

    @property
    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def answers(self, timeout: float = 0.2) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(QUERY.pack(), ("127.0.0.1", self.port))
                return dnslib.DNSRecord.parse(s.recv(4096)).header.rcode == 0
            except OSError:  # timeout, or ICMP port unreachable
                return False

    def tcp_open(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def workers_now(self) -> list[int]:
        return [p for p, cmd in children(self.proc.pid) if b"rblmirror.data.compile" not in cmd]

    def compiling(self) -> bool:
        """A compile child under the parent or under a worker."""
        pids = [self.proc.pid] + self.workers_now()
        return any(b"rblmirror.data.compile" in cmd for p in pids for _, cmd in children(p))

    def wait_answer(self, timeout: float = 30.0) -> None:
        assert until(lambda: self.proc.poll() is None and self.answers(), timeout, 0.02), \
            self.log

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for pid in marked(self.mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def reach(g: Group, moment: str) -> None:
    """Wait for `moment` in the life of g (or for g to be past it)."""
    if moment == "spawn":  # as soon as serve handles SIGTERM
        until(lambda: sigterm_caught(g.proc.pid) or g.proc.poll() is not None, 10, 0.0005)
    elif moment == "load":  # the parent's compile child runs
        until(lambda: g.compiling() or g.workers_now() or g.proc.poll() is not None, 10, 0.001)
    elif moment == "forked":  # the first worker exists, the others may not yet
        until(lambda: g.workers_now() or g.proc.poll() is not None, 10, 0.001)
    elif moment == "answer":  # one worker answered (the last may still be starting)
        g.wait_answer()
    elif moment == "serving":  # every worker listens
        g.wait_answer()
        assert until(lambda: g.log.count("listening on") == g.workers, 10, 0.01), g.log
        assert len(g.workers_now()) == g.workers, (children(g.proc.pid), g.log)
    elif moment == "reload":  # SIGHUP forwarded: the workers' reload compiles run
        g.wait_answer()
        g.proc.send_signal(signal.SIGHUP)
        until(g.compiling, 2, 0.001)
    else:
        raise ValueError(moment)


MOMENTS = ("spawn", "load", "forked", "answer", "reload")


@pytest.mark.parametrize("workers", [2, 4])
def test_sigterm_at_any_moment_stops_the_whole_group_with_exit_0(tmp_path, workers):
    rng = random.Random(workers)
    runs = [m for m in MOMENTS for _ in range(4)]  # 20
    rng.shuffle(runs)
    for i, moment in enumerate(runs):
        g = Group(tmp_path, workers)
        try:
            reach(g, moment)
            time.sleep(rng.random() * 0.01)
            g.proc.send_signal(signal.SIGTERM)
            rc = g.proc.wait(15)
            what = f"run {i} ({moment}), workers {workers}:\n{g.log}"
            assert rc == 0, what
            # the parent waited for its workers; a compile child ends with its parent
            assert until(lambda: not marked(g.mark), 2, 0.01), (marked(g.mark), what)
            assert "Traceback" not in g.log, what
            if moment in ("forked", "answer", "reload"):  # loaded: every scratch dir removed
                assert not list(g.tmp.iterdir()), (list(g.tmp.iterdir()), what)
            if moment in ("answer", "reload"):
                assert g.log.count('"counters"') == workers, what  # each stopped cleanly
        finally:
            g.cleanup()


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("moment", ["load", "forked", "serving"])
def test_workers_end_with_a_sigkilled_parent(tmp_path, workers, moment):
    g = Group(tmp_path, workers)
    try:
        reach(g, moment)
        before = g.workers_now()
        g.proc.kill()
        g.proc.wait(5)
        t0 = time.monotonic()
        assert until(lambda: not marked(g.mark), 2.5, 0.01), (marked(g.mark), g.log)
        gone = time.monotonic() - t0
        assert not g.answers(0.3) and not g.tcp_open(), g.log
        if moment == "serving":  # each worker saw SIGTERM (PR_SET_PDEATHSIG) and stopped
            assert len(before) == workers
            assert g.log.count("gone: stopped") == workers, g.log
        print(f"{workers} workers, SIGKILL at {moment}: all gone {gone:.2f}s later")
    finally:
        g.cleanup()


def test_a_worker_that_dies_stops_the_group_with_exit_1(tmp_path):
    g = Group(tmp_path, 3)
    try:
        reach(g, "serving")
        workers = g.workers_now()
        # SIGHUP and SIGUSR1 reach every worker
        g.proc.send_signal(signal.SIGUSR1)
        assert until(lambda: g.log.count('"counters"') == 3, 5, 0.02), g.log
        os.kill(workers[1], signal.SIGKILL)
        assert g.proc.wait(10) == 1, g.log
        assert f"(pid {workers[1]}) ended unexpectedly (killed by SIGKILL)" in g.log
        assert until(lambda: not marked(g.mark), 2, 0.01), g.log
        assert not g.answers(0.3), g.log
    finally:
        g.cleanup()


# ------------------------------------------------------------------------ fail fast
def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rblmirror", "serve", *args],
                          capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


def _mirror_config(tmp_path: Path) -> Path:
    """A config with a fetched source (from a local file) and a local zone."""
    up = tmp_path / "up.txt"
    up.write_text("192.0.2.7\n")
    (tmp_path / "p.zone").write_text(ZONE)
    return write_config(tmp_path, [{"name": "src", "url": str(up), "format": "plain",
                                    "min_interval": "0s"}],
                        [{"name": "src.test", "datasets": ["src"]},
                         {"name": "p.test", "datasets": [f"ip4set:{tmp_path / 'p.zone'}"]}])


def _nothing_done(r: subprocess.CompletedProcess, tmp_path: Path, state: Path) -> None:
    assert "loaded" not in r.stderr and "zone" not in r.stderr and "fetch" not in r.stderr
    assert not state.exists() and not (tmp_path / "state").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_address_not_on_the_host_fails_before_anything_loads(tmp_path, workers):
    cfg = _mirror_config(tmp_path)
    state = tmp_path / "no-such-state-dir"
    good = free_port()
    r = _serve(tmp_path, "--config", str(cfg), "--state-dir", str(state), "--workers",
               workers, "--listen", f"127.0.0.1:{good}", "--listen", "1.2.3.4:5353")
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("rblmirror: error: cannot listen on 1.2.3.4:5353 (udp): "
                        "[Errno 99] Cannot assign requested address\n")
    _nothing_done(r, tmp_path, state)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", good))  # the address bound before the bad one was let go


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_a_port_in_use_fails_before_anything_loads(tmp_path, kind, workers):
    cfg = _mirror_config(tmp_path)
    state = tmp_path / "no-such-state-dir"
    with socket.socket(socket.AF_INET,
                       socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == "tcp":
            taken.listen(1)
        port = taken.getsockname()[1]
        r = _serve(tmp_path, "--config", str(cfg), "--state-dir", str(state), "--workers",
                   workers, "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"rblmirror: error: cannot listen on 127.0.0.1:{port} ({kind}): "
                        "[Errno 98] Address already in use\n")
    _nothing_done(r, tmp_path, state)


def test_a_metrics_port_in_use_fails_before_anything_loads(tmp_path):
    cfg = _mirror_config(tmp_path)
    state = tmp_path / "no-such-state-dir"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = _serve(tmp_path, "--config", str(cfg), "--state-dir", str(state),
                   "--listen", f"127.0.0.1:{free_port()}", "--metrics", f"127.0.0.1:{port}")
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"rblmirror: error: cannot listen on 127.0.0.1:{port} (metrics): "
                        "[Errno 98] Address already in use\n")
    _nothing_done(r, tmp_path, state)
