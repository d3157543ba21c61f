"""A private LAN of network namespaces (root only): one namespace per host, each with its
own address on a veth whose other end is on a bridge in a hub namespace, so the hosts
reach each other by address and nothing else (no route out, no host-side interface).

    with Lan("rblmr", {"primary": "192.0.2.2", "replica1": "192.0.2.3"}) as lan:
        lan["primary"].argv("rblmirror", "serve", ...)     # argv run on that host
        lan["replica1"].run("dig", "@192.0.2.2", ...)     # run to its end there
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from support.netns import Netns
from support.tools import require_root, require_tool

PREFIX_LEN = 24


class Lan:
    def __init__(self, prefix: str, hosts: Mapping[str, str]):
        #: namespace names unique to this process (other runs may have their own LAN)
        self.prefix = f"{prefix}{os.getpid() % 100000}"
        self.addresses = dict(hosts)
        self.hub = Netns(f"{self.prefix}-hub")
        self.hosts = {role: Netns(f"{self.prefix}-{role}") for role in hosts}

    def __getitem__(self, role: str) -> Netns:
        return self.hosts[role]

    def start(self) -> Lan:
        ip = require_tool("ip")
        require_root("network namespaces need root")
        try:
            self.hub.start()
            self._ip(ip, "-n", self.hub.name, "link", "add", "br0", "type", "bridge")
            self._ip(ip, "-n", self.hub.name, "link", "set", "br0", "up")
            for i, (role, ns) in enumerate(self.hosts.items()):
                ns.start()
                self._ip(ip, "link", "add", "eth0", "netns", ns.name, "type", "veth",
                         "peer", "name", f"p{i}", "netns", self.hub.name)
                self._ip(ip, "-n", self.hub.name, "link", "set", f"p{i}", "master", "br0")
                self._ip(ip, "-n", self.hub.name, "link", "set", f"p{i}", "up")
                self._ip(ip, "-n", ns.name, "addr", "add",
                         f"{self.addresses[role]}/{PREFIX_LEN}", "dev", "eth0")
                self._ip(ip, "-n", ns.name, "link", "set", "eth0", "up")
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _ip(*argv: str) -> None:
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")

    def stop(self) -> None:
        for ns in self.hosts.values():
            ns.stop()
        self.hub.stop()

    def __enter__(self) -> Lan:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
