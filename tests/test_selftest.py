"""`rblmirror selftest` against a running server, a broken zone, rbldnsd and no server."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import Serve

pytestmark = pytest.mark.integration

ZONES = Path(__file__).resolve().parents[1] / "zones"
BL = [f"bl.rblmirror.test:ip4set:{ZONES / 'rfc5782-ip4.zone'}",
      f"bl.rblmirror.test:ip6trie:{ZONES / 'rfc5782-ip6.zone'}"]
DBL = [f"dbl.rblmirror.test:dnset:{ZONES / 'rfc5782-names.zone'}"]


def selftest(port: int, zones: list[str], extra: Sequence[str] = ()) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rblmirror", "selftest", "--server", f"127.0.0.1:{port}",
           "--timeout", "0.5"]
    for z in zones:
        cmd += ["--zone", z]
    return subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=60)


def rows(out: str) -> dict[tuple[str, str], str]:
    got = {}
    for line in out.splitlines()[1:-1]:
        zone, rest = line.split(None, 1)
        for res in ("pass", "FAIL"):
            if f"  {res}" in rest:
                check = rest.split(f"  {res}")[0].strip()
                got[(zone, check)] = res
    return got


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    with Serve(BL + DBL, log_dir=tmp_path_factory.mktemp("serve")) as s:
        yield s


def test_selftest_passes_against_serve(good):
    r = selftest(good.port, BL + DBL)
    assert r.returncode == 0, r.stdout + r.stderr
    got = rows(r.stdout)
    for check in ("127.0.0.2 A", "127.0.0.2 TXT", "127.0.0.1", "empty non-terminal",
                  "::ffff:7f00:2 A", "::ffff:7f00:1", "apex SOA", "TCP", "EDNS0"):
        assert got[("bl.rblmirror.test", check)] == "pass"
    for check in ("TEST A", "TEST TXT", "INVALID", "TCP", "EDNS0"):
        assert got[("dbl.rblmirror.test", check)] == "pass"
    assert "0 failed" in r.stdout
    assert "RFC 5782 test point" in r.stdout  # the TXT the server sent


def test_selftest_fails_for_a_zone_without_test_points(tmp_path):
    z = tmp_path / "no-tp.zone"
    # 127.0.0.1 listed, 127.0.0.2 not, and the zone's test points turned off in the
    # config: both RFC 5782 checks must fail
    z.write_text(":127.0.0.2:listed\n127.0.0.1\n192.0.2.0/24\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[[zone]]\nname = "bad.test"\ndatasets = ["ip4set:{z}"]\n'
                    "test_points = false\n")
    with Serve([], ["--config", str(conf)], log_dir=tmp_path, probe="bad.test") as s:
        r = selftest(s.port, [], ["--config", str(conf)])
    assert r.returncode == 1, r.stdout
    got = rows(r.stdout)
    assert got[("bad.test", "127.0.0.2 A")] == "FAIL"
    assert got[("bad.test", "127.0.0.1")] == "FAIL"
    assert got[("bad.test", "apex SOA")] == "pass"  # synthesized: the dump has no $SOA
    assert "NOERROR (127.0.0.2), expected NXDOMAIN" in r.stdout
    # by default the zone serves the test point, so only the listed 127.0.0.1 fails
    spec = [f"bad.test:ip4set:{z}"]
    with Serve(spec, log_dir=tmp_path) as s:
        r = selftest(s.port, spec)
    got = rows(r.stdout)
    assert r.returncode == 1 and got[("bad.test", "127.0.0.2 A")] == "pass", r.stdout
    assert got[("bad.test", "127.0.0.1")] == "FAIL"


def test_selftest_passes_on_a_dump_without_soa_or_test_points(tmp_path):
    """psbl.txt as fetched: a plain list with no $SOA/$NS and no 127.0.0.2. Every check
    passes: the zone answers like a real zone (synthesized SOA/NS, served test points)."""
    z = tmp_path / "psbl.txt"
    z.write_text("192.0.2.7\n198.51.100.0/24\n")
    spec = [f"psbl.mirror.local:plain:{z}"]
    with Serve(spec, log_dir=tmp_path) as s:
        r = selftest(s.port, spec)
    assert r.returncode == 0, r.stdout
    assert "FAIL" not in r.stdout and len(rows(r.stdout)) >= 6


def test_selftest_fails_against_rbldnsd(rbldnsd_server):
    """rbldnsd has no TCP and answers NXDOMAIN for empty non-terminals (its issue #17)."""
    r0 = rbldnsd_server([("bl.rblmirror.test", "ip4set", [ZONES / "rfc5782-ip4.zone"])])
    r = selftest(r0.port, BL[:1])
    assert r.returncode == 1, r.stdout
    got = rows(r.stdout)
    assert got[("bl.rblmirror.test", "127.0.0.2 A")] == "pass"
    assert got[("bl.rblmirror.test", "127.0.0.1")] == "pass"
    assert got[("bl.rblmirror.test", "empty non-terminal")] == "FAIL"
    assert got[("bl.rblmirror.test", "TCP")] == "FAIL"


def test_selftest_fails_with_no_server():
    r = selftest(free_port(), DBL)
    assert r.returncode == 1
    assert set(rows(r.stdout).values()) == {"FAIL"}
    assert "0 passed" in r.stdout
