"""`rblmirror check` as a user runs it: the real console script, exit codes, output."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.feeds import FEEDS

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rblmirror", "check", *args],
                          capture_output=True, text=True, timeout=60)


def zone_file(tmp_path: Path, text: str, name: str = "z.zone") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bundled_zones_rfc5782_points():
    r = run("--json", "127.0.0.2", "127.0.0.1", "::ffff:7f00:2", "::ffff:7f00:1", "test", "invalid")
    assert r.returncode == 1, r.stderr
    rows = {(d["address"], d["zone"]): d for d in map(json.loads, r.stdout.splitlines())}
    assert rows[("127.0.0.2", "bl.rblmirror.test")]["listed"] is True
    assert rows[("127.0.0.2", "bl.rblmirror.test")]["a"] == ["127.0.0.2"]
    assert "127.0.0.2" in rows[("127.0.0.2", "bl.rblmirror.test")]["txt"][0]
    assert rows[("127.0.0.1", "bl.rblmirror.test")]["listed"] is False
    assert rows[("::ffff:7f00:2", "bl.rblmirror.test")]["listed"] is True
    assert rows[("::ffff:7f00:1", "bl.rblmirror.test")]["listed"] is False
    assert rows[("test", "dbl.rblmirror.test")]["listed"] is True
    assert rows[("invalid", "dbl.rblmirror.test")]["listed"] is False
    # addresses are not checked against the domain zone, names not against the IP zone
    assert ("127.0.0.2", "dbl.rblmirror.test") not in rows
    assert ("test", "bl.rblmirror.test") not in rows


ZONES = Path(__file__).resolve().parents[1] / "zones"


def test_exit_zero_when_nothing_listed():
    r = run("--zone", f"bl.rblmirror.test:ip4set:{ZONES / 'rfc5782-ip4.zone'}",
            "127.0.0.1", "192.0.2.1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("not listed") == 2


def test_bundled_config_unfetched_mirror_is_an_error(tmp_path, monkeypatch):
    """The bundled config mirrors PSBL: never fetched, serve answers it SERVFAIL, so check
    says ERROR for it (never "not listed") and exits 2 when nothing else lists."""
    monkeypatch.setenv("RBLMIRROR_STATE_DIR", str(tmp_path / "empty-state"))
    r = run("198.51.100.1", "192.0.2.1")
    assert r.returncode == 2, r.stderr
    assert r.stdout.count("bl.rblmirror.test\tnot listed") == 2
    assert r.stdout.count("psbl.mirror.local\tERROR\tsource(s) psbl not fetched yet") == 2
    r = run("127.0.0.2", "192.0.2.1")  # a listing wins over the error: exit 1
    assert r.returncode == 1
    # the RFC 5782 test point still answers in the failing zone, as serve answers it
    assert "127.0.0.2\tpsbl.mirror.local\tLISTED\t127.0.0.2" in r.stdout
    assert "192.0.2.1\tpsbl.mirror.local\tERROR" in r.stdout


def test_json_shape_and_dollar_substitution(tmp_path):
    z = zone_file(tmp_path, ":127.0.0.3:Listed $ see http://x/?ip=$\n10.0.0.0/8\n!10.1.0.0/16\n"
                            "10.2.3.4 :127.0.0.4:own reason for $$5\n")
    r = run("--json", "--zone", f"t.local:ip4set:{z}", "10.9.9.9", "10.1.2.3", "10.2.3.4")
    assert r.returncode == 1
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [set(g) for g in got] == [{"address", "zone", "listed", "a", "txt"}] * 3
    assert got[0] == {"address": "10.9.9.9", "zone": "t.local", "listed": True, "a": ["127.0.0.3"],
                      "txt": ["Listed 10.9.9.9 see http://x/?ip=10.9.9.9"]}
    assert got[1]["listed"] is False and got[1]["a"] == [] and got[1]["txt"] == []
    assert got[2]["a"] == ["127.0.0.4"] and got[2]["txt"] == ["own reason for $5"]


def test_real_feed_against_ipaddress_reference():
    """Addresses inside a level-2 CIDR are listed unless excluded by an exact '!' line."""
    f = FEEDS / "dnsbl-2.uceprotect.net"
    if not f.exists():
        pytest.skip(f"{f} missing")
    nets, excluded = [], set()
    for line in f.read_bytes().decode("latin-1").splitlines():
        if line.startswith("!") and "/" not in line:
            excluded.add(line[1:].split()[0])
        elif line[:1].isdigit() and "/" in line.split()[0]:
            nets.append(ipaddress.ip_network(line.split()[0]))
    net = nets[len(nets) // 2]
    inside = str(net.network_address + 1)
    ex = next(x for x in sorted(excluded) if any(ipaddress.ip_address(x) in n for n in nets[:2000]))
    r = run("--json", "--zone", f"l2:ip4set:{f}", inside, ex)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows[0]["listed"] is (inside not in excluded)
    assert rows[1]["listed"] is False
    assert inside in rows[0]["txt"][0] and str(net) in rows[0]["txt"][0]


@pytest.mark.parametrize("args, needle", [
    (["1.2.3.999"], "not an IP address or a domain name"),
    (["1.2.3.4", "--zone", "broken"], "expected NAME:FORMAT:FILE"),
    (["1.2.3.4", "--zone", "x:ip4set:/nonexistent/file"], "cannot read /nonexistent/file"),
    (["1.2.3.4", "--zone", "x:nosuchformat:/etc/hostname"], "unknown dataset format"),
    (["example.org", "--zone", "x:ip4set:/dev/null"], "no domain zone"),
])
def test_errors_exit_2_with_one_line(args, needle):
    r = run(*args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_bad_zone_lines_are_warned_and_rest_loads(tmp_path):
    z = zone_file(tmp_path, "192.0.2.1\n300.1.1.1\n192.0.2.3\n")
    r = run("--zone", f"w:ip4set:{z}", "192.0.2.3")
    assert r.returncode == 1
    assert f"{z}:2: invalid address" in r.stderr


def test_config_file(tmp_path):
    zone_file(tmp_path, "203.0.113.0/24 :127.0.0.9:cfg\n", "a.zone")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[zone]]\nname = "cfg.local"\ndatasets = ["ip4set:a.zone"]\n')
    r = run("--config", str(cfg), "--json", "203.0.113.9")
    assert r.returncode == 1
    assert json.loads(r.stdout)["a"] == ["127.0.0.9"]
    cfg.write_text('[[zone]]\nname = "cfg.local"\ndatsets = ["ip4set:a.zone"]\n')
    r = run("--config", str(cfg), "203.0.113.9")
    assert r.returncode == 2 and "unknown key(s) datsets" in r.stderr
