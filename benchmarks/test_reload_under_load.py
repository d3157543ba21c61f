"""Reload under load: dnsperf keeps querying `rblmirror serve` while a large zone file is
replaced underneath it; no query may be lost and the new data must be answered after.

Scale with RBLMIRROR_RELOAD_ENTRIES (default 1,000,000).
"""
from __future__ import annotations

import os
import shutil
import threading
import time

import dnslib

import dnsperf_harness as h
from support.dns import query
from support.tools import require_tool

import pytest

pytestmark = pytest.mark.integration

ENTRIES = int(os.environ.get("RBLMIRROR_RELOAD_ENTRIES", "1000000"))


def _ask(port: int, name: str) -> dnslib.DNSRecord:
    return query(port, name, "A", timeout=2, tries=1)


def test_reload_of_large_zone_loses_no_query(tmp_path):
    require_tool("dnsperf")
    zone = tmp_path / "big.zone"
    listed = h.write_zone(zone, ENTRIES, ENTRIES // 20)
    queries = tmp_path / "q.txt"
    h.write_queries(queries, listed, "A", 100_000)
    marker = "4.3.2.1"  # 1.2.3.4 is added by the new file only
    srv = h.start_rblmirror(zone, 1)
    try:
        assert _ask(srv.port, f"{marker}.{h.ZONE}").header.rcode == dnslib.RCODE.NXDOMAIN
        result = {}
        t = threading.Thread(target=lambda: result.update(h.dnsperf(srv.port, queries, 12)))
        t.start()
        time.sleep(3)
        new = tmp_path / "big.zone.new"
        shutil.copyfile(zone, new)
        with open(new, "a") as f:
            f.write("1.2.3.4 :127.0.0.9:added by the reload\n")
        os.replace(new, zone)  # the server notices the mtime/size change and reloads
        t.join(60)
        assert not t.is_alive()
        assert result["completed"] > 0
        assert result["lost"] == 0, result
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = _ask(srv.port, f"{marker}.{h.ZONE}")
            if r.header.rcode == 0:
                break
            time.sleep(0.5)
        assert [str(rr.rdata) for rr in r.rr] == ["127.0.0.9"]
    finally:
        srv.stop()
