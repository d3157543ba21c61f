"""A real `rsync --daemon` on loopback, serving a temporary module folder.

    d = Rsyncd(tmp_path / "upstream").start()      # module "feeds" -> that folder
    d.url("psbl.txt")   # rsync://127.0.0.1:PORT/feeds/psbl.txt
    d.kill()            # SIGKILL the daemon and its per-connection children
    Rsyncd(folder, address="192.0.2.1", netns=ns).start(873)   # on a host of a Lan
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.netns import Netns
from support.ports import free_tcp_port
from support.tools import require_tool

MODULE = "feeds"


class Rsyncd:
    def __init__(self, folder: Path, bwlimit_kbps: int | None = None,
                 address: str = "127.0.0.1", netns: Netns | None = None):
        self.address, self.netns = address, netns
        self.rsync = require_tool("rsync")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.workdir = self.folder.parent / f".rsyncd-{self.folder.name}"
        self.workdir.mkdir(exist_ok=True)
        self.bwlimit = bwlimit_kbps
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def url(self, name: str) -> str:
        return f"rsync://{self.address}:{self.port}/{MODULE}/{name}"

    def start(self, port: int | None = None, timeout: float = 10.0) -> Rsyncd:
        self.port = port or free_tcp_port(self.address if self.netns is None else "127.0.0.1")
        conf = self.workdir / "rsyncd.conf"
        ids = f"uid = {os.getuid()}\ngid = {os.getgid()}\n"  # root would drop to nobody
        conf.write_text(f"use chroot = no\n{ids}log file = {self.workdir / 'rsyncd.log'}\n"
                        f"[{MODULE}]\npath = {self.folder}\nread only = yes\n")
        cmd = [self.rsync, "--daemon", "--no-detach", f"--config={conf}",
               f"--port={self.port}", f"--address={self.address}"]
        if self.bwlimit:
            cmd.append(f"--bwlimit={self.bwlimit}")
        if self.netns is not None:
            cmd = self.netns.argv(*cmd)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsync --daemon exited {self.proc.returncode}: {self.log}")
            if self._listening():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rsync --daemon did not listen on {self.port}: {self.log}")

    def _listening(self) -> bool:
        if self.netns is not None:  # ask from inside its namespace: list the modules
            return self.netns.run(self.rsync, "--contimeout=1",
                                  f"rsync://{self.address}:{self.port}/").returncode == 0
        try:
            with socket.create_connection((self.address, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "rsyncd.log").read_text("utf-8", "replace")
        except OSError:
            return ""

    def _signal_group(self, sig) -> bool:
        """Signal the daemon's process group (the listener and any transfer in flight);
        whether it was still running."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        return True

    def kill(self) -> None:
        """SIGKILL the daemon's process group (the listener and any transfer in flight)."""
        if self._signal_group(signal.SIGKILL) and self.proc is not None:
            self.proc.wait(5)

    def stop(self) -> None:
        if self._signal_group(signal.SIGTERM) and self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
