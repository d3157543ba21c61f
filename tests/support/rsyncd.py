"""A real `rsync --daemon` on loopback, serving a temporary module folder.

    d = Rsyncd(tmp_path / "upstream").start()      # module "feeds" -> that folder
    d.url("psbl.txt")   # rsync://127.0.0.1:PORT/feeds/psbl.txt
    d.kill()            # SIGKILL the daemon and its per-connection children
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.ports import free_tcp_port
from support.tools import require_tool

MODULE = "feeds"


class Rsyncd:
    def __init__(self, folder: Path, bwlimit_kbps: int | None = None):
        self.rsync = require_tool("rsync")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.workdir = self.folder.parent / f".rsyncd-{self.folder.name}"
        self.workdir.mkdir(exist_ok=True)
        self.bwlimit = bwlimit_kbps
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def url(self, name: str) -> str:
        return f"rsync://127.0.0.1:{self.port}/{MODULE}/{name}"

    def start(self, port: int | None = None, timeout: float = 10.0) -> Rsyncd:
        self.port = port or free_tcp_port()
        conf = self.workdir / "rsyncd.conf"
        ids = f"uid = {os.getuid()}\ngid = {os.getgid()}\n"  # root would drop to nobody
        conf.write_text(f"use chroot = no\n{ids}log file = {self.workdir / 'rsyncd.log'}\n"
                        f"[{MODULE}]\npath = {self.folder}\nread only = yes\n")
        cmd = [self.rsync, "--daemon", "--no-detach", f"--config={conf}",
               f"--port={self.port}", "--address=127.0.0.1"]
        if self.bwlimit:
            cmd.append(f"--bwlimit={self.bwlimit}")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsync --daemon exited {self.proc.returncode}: {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rsync --daemon did not listen on {self.port}: {self.log}")

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
