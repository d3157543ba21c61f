"""A private network namespace (root only): made with its loopback up, ended with every
process still in it; only its own loopback is used.

    with Netns("rblmpriv") as ns:
        ns.run("ip", "addr")                 # a CompletedProcess, inside the namespace
        ns.argv("dig", ...)                  # argv that runs inside (for Popen)
"""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

from support.tools import require_root, require_tool


class Netns:
    def __init__(self, name: str, addresses: Sequence[str] = ()):
        self.name = name
        self.addresses = list(addresses)
        self.created = False

    def start(self) -> Netns:
        self.ip = require_tool("ip")
        require_root("network namespaces need root")
        subprocess.run([self.ip, "netns", "add", self.name], check=True, capture_output=True)
        self.created = True
        subprocess.run([self.ip, "-n", self.name, "link", "set", "lo", "up"], check=True)
        for a in self.addresses:
            subprocess.run([self.ip, "-n", self.name, "addr", "add", f"{a}/32", "dev", "lo"],
                           check=True)
        return self

    def argv(self, *cmd: str) -> list[str]:
        """cmd run inside the namespace."""
        return [self.ip, "netns", "exec", self.name, *cmd]

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        """cmd inside the namespace, run to its end (output captured as text, 60 s)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(self.argv(*cmd), **kw)

    def stop(self) -> None:
        """End what is left in the namespace (a stray child is ours: by pid), delete it."""
        if not self.created:
            return
        r = subprocess.run([self.ip, "netns", "pids", self.name], capture_output=True,
                           text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run([self.ip, "netns", "del", self.name], capture_output=True)
        self.created = False

    def __enter__(self) -> Netns:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
