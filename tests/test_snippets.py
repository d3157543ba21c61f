"""`rblmirror snippets`: zone classification, and the output accepted by the real tools
(unbound-checkconf, spamassassin --lint, postconf). The end-to-end use is in test_mail_*
(Exim and rspamd are run only there)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.tools import require_tool

from rblmirror.tools import snippets as sn

ROOT = Path(__file__).resolve().parents[1]
ZONES = ROOT / "zones"
SPECS = [f"bl.rblmirror.test:ip4set:{ZONES / 'rfc5782-ip4.zone'}",
         f"bl.rblmirror.test:ip6trie:{ZONES / 'rfc5782-ip6.zone'}",
         f"dbl.rblmirror.test:dnset:{ZONES / 'rfc5782-names.zone'}",
         f"wl.rblmirror.test:ip4set:{ZONES / 'rfc5782-wl.zone'}",
         f"l1.mirror.local:ip4set:{ZONES / 'rfc5782-ip4.zone'}"]


def run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rblmirror", "snippets", *args]
    for z in SPECS:
        cmd += ["--zone", z]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_classification():
    infos = {z.name: z for z in sn.zone_infos(SPECS)}
    assert infos["bl.rblmirror.test"].kind == "ip" and infos["bl.rblmirror.test"].has_ipv6
    assert infos["dbl.rblmirror.test"].kind == "domain"
    assert infos["wl.rblmirror.test"].kind == "allowlist"
    assert infos["l1.mirror.local"].kind == "ip" and not infos["l1.mirror.local"].has_ipv6
    assert sn.looks_like_allowlist("list.dnswl.org")
    assert sn.looks_like_allowlist("ips.whitelisted.org")
    assert not sn.looks_like_allowlist("zen.spamhaus.org")
    forced = {z.name: z for z in sn.zone_infos(SPECS, allowlist=["l1.mirror.local"])}
    assert forced["l1.mirror.local"].kind == "allowlist"


def test_bundled_config_zones():
    infos = sn.zone_infos(config_path=str(ZONES / "rblmirror.toml"))
    names = [z.name for z in infos]
    assert names[:2] == ["bl.rblmirror.test", "dbl.rblmirror.test"]
    assert "psbl.mirror.local" in names  # a mirrored source's zone counts too


@pytest.mark.integration
def test_postfix_lines():
    r = run("postfix")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    client = out.split("smtpd_client_restrictions =")[1].split("\nsmtpd_")[0]
    items = [x.strip().rstrip(",") for x in client.strip().splitlines()]
    assert items == ["permit_dnswl_client wl.rblmirror.test=127.0.[0..255].[1..3]",
                     "reject_rbl_client bl.rblmirror.test=127.0.0.[2..11]",
                     "reject_rbl_client l1.mirror.local=127.0.0.[2..11]"]
    assert "reject_rhsbl_sender dbl.rblmirror.test=127.0.0.[2..11]" in out
    assert "reject_rhsbl_helo dbl.rblmirror.test=127.0.0.[2..11]" in out


@pytest.mark.integration
def test_postscreen_weights():
    r = run("postscreen", "--weight", "l1.mirror.local=2", "--threshold", "4")
    assert r.returncode == 0, r.stderr
    assert "wl.rblmirror.test=127.0.[0..255].[1..3]*-5," in r.stdout
    assert "bl.rblmirror.test=127.0.0.[2..11]*3," in r.stdout
    assert "l1.mirror.local=127.0.0.[2..11]*2\n" in r.stdout
    assert "postscreen_dnsbl_threshold = 4" in r.stdout
    assert "dbl.rblmirror.test" not in r.stdout  # postscreen asks address lists only
    bad = run("postscreen", "--weight", "nonsense")
    assert bad.returncode == 2


@pytest.mark.integration
def test_unknown_allowlist_is_an_error():
    r = run("postfix", "--allowlist", "nope.example")
    assert r.returncode == 2 and "nope.example" in r.stderr


@pytest.mark.integration
def test_unbound_snippet_passes_unbound_checkconf(tmp_path):
    checkconf = require_tool("unbound-checkconf")
    r = run("unbound", "--server", "127.0.0.1:5353")
    assert r.returncode == 0, r.stderr
    assert 'local-zone: "test." nodefault' in r.stdout
    assert r.stdout.count("stub-zone:") == 4
    assert "stub-addr: 127.0.0.1@5353" in r.stdout
    conf = tmp_path / "unbound.conf"
    conf.write_text(r.stdout.replace("server:\n", f'server:\n    chroot: ""\n'
                                     f'    username: ""\n    directory: "{tmp_path}"\n', 1))
    c = subprocess.run([checkconf, str(conf)], capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stdout + c.stderr


def test_unbound_no_nodefault_outside_special_names():
    infos = sn.zone_infos([f"bl.mirror.example:ip4set:{ZONES / 'rfc5782-ip4.zone'}"])
    assert "nodefault" not in sn.render("unbound", infos)


@pytest.mark.integration
def test_spamassassin_snippet_lints(tmp_path):
    sa = require_tool("spamassassin")
    r = run("spamassassin", "--server", "127.0.0.1:5353")
    assert r.returncode == 0, r.stderr
    assert "dns_server 127.0.0.1:5353" in r.stdout
    for pre in Path("/etc/spamassassin").glob("*.pre"):  # the plugin loaders
        (tmp_path / pre.name).write_bytes(pre.read_bytes())
    (tmp_path / "local.cf").write_text(r.stdout)
    c = subprocess.run([sa, "--lint", "-D", "config", "--siteconfigpath", str(tmp_path)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HOME": str(tmp_path)})
    assert c.returncode == 0, c.stderr[-3000:]
    for rule in ("RBLMIRROR_BL_RBLMIRROR_TEST", "RBLMIRROR_WL_RBLMIRROR_TEST",
                 "RBLMIRROR_DBL_RBLMIRROR_TEST"):
        assert rule in r.stdout


@pytest.mark.integration
def test_postfix_snippet_accepted_by_postconf(tmp_path):
    postconf = require_tool("postconf")
    r = run("postfix")
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n" + r.stdout)
    (tmp_path / "master.cf").write_text("")
    c = subprocess.run([postconf, "-c", str(tmp_path), "-n", "smtpd_client_restrictions"],
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stderr
    assert "reject_rbl_client bl.rblmirror.test=127.0.0.[2..11]" in c.stdout
    assert "warning" not in c.stderr


@pytest.mark.integration
def test_exim_lines():
    r = run("exim")
    assert r.returncode == 0, r.stderr
    deny = [line for line in r.stdout.splitlines() if line.startswith("  deny")]
    # two address zones (each behind the allowlist), the sender and the HELO check
    assert len(deny) == 4, r.stdout
    assert deny[0] == "  deny    !dnslists = wl.rblmirror.test"
    assert "dnslists = dbl.rblmirror.test=127.0.0.2," in r.stdout
    assert "127.0.0.11/$sender_address_domain" in r.stdout
    assert "127.0.0.11/$sender_helo_name" in r.stdout
    assert "  accept" not in r.stdout  # an accept in the RCPT ACL would skip the relay check


@pytest.mark.integration
def test_rspamd_files_and_weights():
    r = run("rspamd", "--weight", "l1.mirror.local=5")
    assert r.returncode == 0, r.stderr
    files = [line for line in r.stdout.splitlines() if line.startswith("# /etc/rspamd/")]
    assert files == ["# /etc/rspamd/local.d/rbl.conf (rblmirror snippets rspamd)",
                     "# /etc/rspamd/local.d/rbl_group.conf (rblmirror snippets rspamd)"]
    rules, scores = r.stdout.split(files[1])
    assert rules.count("unknown = false;") == 4  # one per zone
    assert "from('smtp'):domain" in rules and "from('mime'):domain" in rules
    assert "checks" not in rules  # rspamd 3.4 drops a `checks = ["selector"]` rule's selector
    weights = dict(re.findall(r'"(RBLMIRROR_\w+)" \{\n    weight = (-?[\d.]+);', scores))
    assert weights == {"RBLMIRROR_BL_RBLMIRROR_TEST": "7.0", "RBLMIRROR_DBL_RBLMIRROR_TEST": "7.0",
                       "RBLMIRROR_WL_RBLMIRROR_TEST": "-2.0", "RBLMIRROR_L1_MIRROR_LOCAL": "5.0"}


def test_dnsdist_lines_and_errors():
    infos = [sn.ZoneInfo("dbl.rblmirror.test", ("dnset",)),
             sn.ZoneInfo("bl.rblmirror.test", ("ip4set", "ip6trie"))]
    out = sn.dnsdist(infos, ["192.0.2.3", "192.0.2.4:5353", "[2001:db8::3]:53", "2001:db8::4"],
                     "127.0.0.1:53")
    servers = [x for x in out.splitlines() if x.startswith("newServer(")]
    # the first address zone's name above the test point, for every replica
    assert [re.findall(r'address="([^"]+)"', x)[0] for x in servers] == \
        ["192.0.2.3:53", "192.0.2.4:5353", "[2001:db8::3]:53", "[2001:db8::4]:53"]
    assert all('checkName="0.0.127.bl.rblmirror.test.", checkType="A", mustResolve=true'
               in x for x in servers)
    assert 'setLocal("127.0.0.1:53")' in out and "setSecurityPollSuffix(\"\")" in out
    assert "checkInterval=5" in sn.dnsdist(infos, ["192.0.2.3"], interval=5)
    errors = {
        "needs --replica": lambda: sn.dnsdist(infos, []),
        "bad --replica 'replica1'": lambda: sn.dnsdist(infos, ["replica1"]),
        "bad --replica '192.0.2.3:0'": lambda: sn.dnsdist(infos, ["192.0.2.3:0"]),
        "a domain list has no 2.0.0.127": lambda: sn.dnsdist(infos, ["192.0.2.3"],
                                                             zone="dbl.rblmirror.test"),
        "--check-zone nosuch.test: no such zone": lambda: sn.dnsdist(infos, ["192.0.2.3"],
                                                                     zone="nosuch.test"),
        "no address zone": lambda: sn.dnsdist(infos[:1], ["192.0.2.3"]),
        "bad --listen": lambda: sn.dnsdist(infos, ["192.0.2.3"], listen="53"),
        "balances replicas: give --replica": lambda: sn.render("dnsdist", infos),
    }
    for why, call in errors.items():
        with pytest.raises(sn.RblmirrorError) as e:
            call()
        assert why in str(e.value), (why, str(e.value))


@pytest.mark.integration
def test_dnsdist_snippet_passes_dnsdist_check_config(tmp_path):
    dnsdist = require_tool("dnsdist")
    r = run("dnsdist", "--replica", "192.0.2.3", "--replica", "[2001:db8::4]:5353",
            "--listen", "127.0.0.1:5399")
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "dnsdist.conf"
    conf.write_text(r.stdout)
    chk = subprocess.run([dnsdist, "--check-config", "-C", str(conf)], capture_output=True,
                         text=True, timeout=60)
    assert chk.returncode == 0 and "OK" in chk.stdout, chk.stdout + chk.stderr
    # a mistake in it is caught by the same check (the check can fail)
    conf.write_text(r.stdout.replace("mustResolve=true", "mustResolve=tru e"))
    bad = subprocess.run([dnsdist, "--check-config", "-C", str(conf)], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0
    other = run("postfix", "--replica", "192.0.2.3")
    assert other.returncode == 2 and "--replica is for the dnsdist snippet" in other.stderr
