"""Every zone answers like a real zone: SOA/NS from the dump, else from the [[zone]]'s
soa/ns settings, else defaults (serial from the data); the RFC 5782 test points served
for every IP and domain zone unless turned off, and seen alike by check and DNS."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rblmirror.mirror.config import load_config
from rblmirror.errors import ConfigError
from rblmirror.dns.answer import SOAData
from rblmirror.dns.zone import Found, Zone
from support.cli import cli
from support.feeds import copy_feed
from support.mirror import write_config
from support.serve import Serve

SOA = "$SOA 3600 ns.dump.test hostmaster.dump.test 77 600 300 86400 60\n$NS 3600 ns.dump.test\n"


def config(tmp_path, zone_lines: str, name: str = "c.toml"):
    p = tmp_path / name
    p.write_text(zone_lines)
    return load_config(p)


def soa_ns(z: Zone):
    p = z.prepared()
    s = p.soa_rr.data
    assert isinstance(s, SOAData)
    return (s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minttl,
            p.soa_rr.ttl, p.soa_neg.ttl), [r.data for r in p.ns_rrs]


def test_dump_soa_wins_over_defaults_and_config_wins_over_dump(tmp_path):
    (tmp_path / "dump.zone").write_text(SOA + "$TTL 900\n192.0.2.1\n")
    (tmp_path / "bare.zone").write_text("192.0.2.1\n")
    cfg = config(tmp_path, """
[[zone]]
name = "dump.test"
datasets = ["ip4set:dump.zone"]
[[zone]]
name = "bare.test"
datasets = ["ip4set:bare.zone"]
[[zone]]
name = "own.test"
datasets = ["ip4set:dump.zone"]
soa = { mname = "ns1.own.test.", rname = "dns.own.test", serial = 2026120101, refresh = "2h", retry = "15m", expire = "2w", minimum = "1m", ttl = "10m" }
ns = ["ns1.own.test", "ns2.own.test"]
""")
    zones = {z.name: z for z in Zone.from_specs(cfg.zone_specs)}
    assert soa_ns(zones["dump.test"]) == (
        ("ns.dump.test", "hostmaster.dump.test", 77, 600, 300, 86400, 60, 3600, 60),
        ["ns.dump.test"])
    mtime = int((tmp_path / "bare.zone").stat().st_mtime)
    assert soa_ns(zones["bare.test"]) == (
        ("localhost", "hostmaster.bare.test", mtime, 3600, 600, 604800, 300, 2100, 300),
        ["localhost"])
    assert soa_ns(zones["own.test"]) == (
        ("ns1.own.test", "dns.own.test", 2026120101, 7200, 900, 1209600, 60, 600, 60),
        ["ns1.own.test", "ns2.own.test"])


@pytest.mark.parametrize("lines, needle", [
    ('soa = "ns.x"', "soa must be a table"),
    ('soa = { mname = "a b" }', "soa.mname must be a domain name"),
    ('soa = { serial = -1 }', "soa.serial must be an integer"),
    ('soa = { refresh = "soon" }', "soa.refresh: expected a duration"),
    ('soa = { minttl = 5 }', "unknown key(s) minttl"),
    ('ns = []', "ns must be a list of name server names"),
    ('test_points = "yes"', "test_points must be true or false"),
])
def test_zone_setting_errors(tmp_path, lines, needle):
    (tmp_path / "z.zone").write_text("192.0.2.1\n")
    with pytest.raises(ConfigError) as e:
        config(tmp_path, f'[[zone]]\nname = "x.test"\ndatasets = ["ip4set:z.zone"]\n{lines}\n')
    assert needle in str(e.value) and "x.test" in str(e.value)


def test_test_points_per_kind_and_never_merged(tmp_path):
    (tmp_path / "ip.zone").write_text("192.0.2.1\n")
    (tmp_path / "own.zone").write_text(":127.0.0.4:own point\n127.0.0.2\n")
    (tmp_path / "names.zone").write_text("spam.example\n")
    (tmp_path / "v6.zone").write_text("2001:db8::/32\n")
    cfg = config(tmp_path, """
[[zone]]
name = "ip.test"
datasets = ["ip4set:ip.zone"]
[[zone]]
name = "own.test"
datasets = ["ip4set:own.zone"]
[[zone]]
name = "names.test"
datasets = ["dnset:names.zone"]
[[zone]]
name = "v6.test"
datasets = ["ip6trie:v6.zone"]
[[zone]]
name = "off.test"
datasets = ["ip4set:ip.zone"]
test_points = false
""")
    z = {x.name: x for x in Zone.from_specs(cfg.zone_specs)}
    tp = z["ip.test"].lookup("127.0.0.2")
    assert tp.a == ("127.0.0.2",) and "RFC 5782 test point" in tp.txt[0]
    assert not z["ip.test"].lookup("127.0.0.1").listed
    assert z["ip.test"].entries == 1  # the test point is not the list's entry
    assert z["own.test"].lookup("127.0.0.2") == Found(True, ("127.0.0.4",), ("own point",))
    assert z["names.test"].lookup("test").a == ("127.0.0.2",)
    assert not z["names.test"].lookup("invalid").listed
    assert not z["names.test"].lookup("127.0.0.2").listed
    # an IPv6 zone: ::FFFF:7F00:2 is an IPv4-mapped name, answered from the IPv4 points
    ans = z["v6.test"].answer("2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20, 1)
    assert ans.rcode == 0 and [r.data for r in ans.answer] == ["127.0.0.2"]
    assert z["off.test"].lookup("127.0.0.2") == Found(False)


@pytest.mark.integration
def test_check_and_dns_agree_on_the_test_point(tmp_path):
    psbl = tmp_path / "psbl.txt"
    psbl.write_text("192.0.2.7\n")
    spec = f"psbl.test:plain:{psbl}"
    r = subprocess.run([sys.executable, "-m", "rblmirror", "check", "--json", "127.0.0.2",
                        "127.0.0.1", "--zone", spec], capture_output=True, text=True,
                       timeout=60)
    got = {j["address"]: j for j in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 1 and got["127.0.0.2"]["listed"] and not got["127.0.0.1"]["listed"]
    with Serve([spec], log_dir=tmp_path) as s:
        rr = s.query("2.0.0.127.psbl.test", "TXT").rr
        assert [b"".join(x.rdata.data).decode() for x in rr] == got["127.0.0.2"]["txt"]
        assert [str(x.rdata) for x in s.query("2.0.0.127.psbl.test", "A").rr] == \
            got["127.0.0.2"]["a"]


@pytest.mark.integration
def test_fetched_psbl_passes_selftest(tmp_path):
    """The reported case: after a successful PSBL fetch (no 127.0.0.2, no $SOA in the
    dump) `selftest` passes every check, as it did before the fetch for the test points."""
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain"}],
                        [{"name": "psbl.mirror.local", "datasets": ["psbl"]}])

    def selftest(port):
        return subprocess.run([sys.executable, "-m", "rblmirror", "selftest", "--server",
                               f"127.0.0.1:{port}", "--timeout", "0.5", "--config",
                               str(conf)], capture_output=True, text=True, timeout=60)

    with Serve([], ["--config", str(conf), "--no-fetch"], log_dir=tmp_path,
               probe="psbl.mirror.local") as s:
        before = selftest(s.port)
        # never fetched: the test points and the apex answer, everything else SERVFAILs
        assert "127.0.0.2 A" in before.stdout and s.query("psbl.mirror.local", "SOA").header.rcode == 0
        assert s.query("8.2.0.192.psbl.mirror.local", "A").header.rcode == 2
    code, out, _ = cli("fetch", "--config", str(conf))
    assert code == 0 and out.startswith("psbl: fetched: "), out
    with Serve([], ["--config", str(conf), "--no-fetch"], log_dir=tmp_path,
               probe="psbl.mirror.local") as s:
        after = selftest(s.port)
        assert after.returncode == 0 and "FAIL" not in after.stdout, after.stdout
        listed = up.read_text().split()[0]
        name = ".".join(reversed(listed.split("."))) + ".psbl.mirror.local"
        assert s.query(name, "A").header.rcode == 0
        nx = s.query("1.0.0.127.psbl.mirror.local", "A")
        assert nx.header.rcode == 3 and [r.rtype for r in nx.auth] == [6]
