"""Child processes the tests start: stopping one, and what /proc says about one."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def stop(proc: subprocess.Popen | None, timeout: float = 10.0, sig=signal.SIGTERM) -> int | None:
    """Send sig (SIGTERM) if it still runs, wait up to timeout, then SIGKILL; its exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def status_kb(pid: int, key: str = "VmRSS") -> int:
    """A kB field (VmRSS, VmHWM, ...) of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def status_ids(pid: int) -> tuple[list[int], list[int], list[int]]:
    """(Uid, Gid, Groups) of /proc/PID/status: real, effective, saved, fs ids and groups."""
    uid: list[int] = []
    gid: list[int] = []
    groups: list[int] = []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Groups:"):
            groups = [int(x) for x in line.split()[1:]]
    if not uid or not gid:
        raise RuntimeError(f"no Uid/Gid in /proc/{pid}/status")
    return uid, gid, groups


def cpu_seconds(pid: int, split: bool = False):
    """utime + stime of a process (all its threads), from /proc/PID/stat, in seconds
    (split: the pair)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    u, s = int(fields[11]) / tck, int(fields[12]) / tck
    return (u, s) if split else u + s
