"""rspamd, from Debian's package, with the files of `rblmirror snippets rspamd` in its
local.d/ and its resolver pointed at `rblmirror serve` (tests/support/rspamdlab.py).

Our server holds the README's zones (the bundled RFC 5782 zones, the allowlist, the real
UCEPROTECT level 1 dump); rspamd runs on every default of Debian's package, so its own
`modules.d/rbl.conf` (default_unknown = true, exclude_local ...) applies. Hits and misses
are `rspamc -i ADDRESS` with `-F SENDER`, `--helo NAME` or a `From:` header; the module's
debug log shows what rspamd asked and what our server answered.
"""
from __future__ import annotations

import os
import re

import pytest
from support.maillab import rblmirror, zone_args
from support.mailzones import (CASES, ERROR_CODE, ERROR_CODE_CLIENT, L1, lab_zones,
                               listed_addresses, readme_block, unlisted_address)
from support.rspamdlab import RspamdLab
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration

BL, L1S, DBL, WL = (f"RBLMIRROR_{n}_RBLMIRROR_TEST" for n in ("BL", "L1", "DBL", "WL"))
OURS = (BL, L1S, DBL, WL)
WEIGHT = 7.0
#: what the snippet's comment says to add to a rule for trying it with 127.0.0.2
TRY_LOCAL = "    exclude_local = false;\n    exclude_private_ips = false;\n"
BAD_ZONE = "bad.rblmirror.test"


def rev(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def ours(scan) -> dict:
    return {s: v for s, v in scan.symbols.items() if s.startswith("RBLMIRROR_")}


def lab_for(tmp_path_factory, name: str, zones: list[str], snippet: str) -> RspamdLab:
    for tool in ("ip", "dig", "rspamd", "rspamc", "rspamadm"):
        require_tool(tool)
    require_root("network namespaces need root")
    work = tmp_path_factory.mktemp(name)
    os.chmod(work, 0o755)
    lab = RspamdLab(work, zones, snippet).start()
    try:
        lab.monitored_log = lab.wait_monitored(list(dict.fromkeys(
            z.split(":")[0] for z in zones)))
    except BaseException:
        lab.stop()
        raise
    return lab


@pytest.fixture(scope="module")
def addresses():
    if not L1.exists():
        pytest.skip(f"real dump not found at {L1}")
    return listed_addresses(3), unlisted_address()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, addresses):
    listed, _ = addresses
    work = tmp_path_factory.mktemp("rspamd-zones")
    zones = lab_zones("rspamd", work, allowlisted=[listed[1]])
    server = CASES["rspamd"][1]
    assert server is not None
    snippet = rblmirror("snippets", "rspamd", "--server", server, *zone_args(zones))
    assert snippet == readme_block("rspamd")  # the README shows what rspamd runs here
    lab = lab_for(tmp_path_factory, "rspamd", zones, snippet)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def local_lab(tmp_path_factory):
    """The blocklists' snippet (no allowlist) with the comment's two lines added to each
    rule, so that rspamd looks up 127.0.0.2; and a zone that fails rspamd's probe by
    listing 127.0.0.1 (BAD_ZONE), to show what the monitoring test looks for."""
    work = tmp_path_factory.mktemp("rspamd-local-zones")
    bad = work / "bad.zone"
    bad.write_text(":127.0.0.2:Listed: $\n127.0.0.1\n")
    zones = [z for z in lab_zones("rspamd", work) if not z.startswith("wl.")]
    zones.append(f"{BAD_ZONE}:ip4set:{bad}")
    snippet = rblmirror("snippets", "rspamd", *zone_args(zones))
    assert "`exclude_local = false; exclude_private_ips = false;`" in snippet
    tried = re.sub(r'(    rbl = "[^"]+";\n)', lambda m: m.group(1) + TRY_LOCAL, snippet)
    assert tried.count(TRY_LOCAL) == 4
    lab = lab_for(tmp_path_factory, "rspamd-local", zones, tried)
    yield lab
    lab.stop()


def test_configuration_loads_every_rule(lab):
    out = lab.configtest.stdout + lab.configtest.stderr
    assert lab.configtest.returncode == 0 and "syntax OK" in out, out[-3000:]
    # rspamadm says "syntax OK" even when the rbl module failed to load (as it does for
    # `checks = ["selector"]` in rspamd 3.4): look at the module's own lines
    assert "rbl.lua failed" not in out and "RBL is DISABLED" not in out, out[-3000:]
    for sym in OURS:
        assert f"added rbl rule {sym}" in lab.read_log()


def probe_failures(log: str, zone: str) -> list[str]:
    """rspamd's log lines saying a probe of zone got a wrong answer (it disables the zone
    after them), as seen with BAD_ZONE."""
    return [line for line in log.splitlines()
            if f"invalid return on resolving {zone}," in line
            or ("while 'no records with this name' was expected when querying for" in line
                and f".{zone}'" in line)]


def test_monitoring_keeps_our_zones_enabled(lab):
    log = lab.monitored_log
    for zone in ("bl.rblmirror.test", "l1.rblmirror.test", "dbl.rblmirror.test",
                 "wl.rblmirror.test"):
        assert re.search(rf"dns callback for {re.escape(zone)} in [\d.]+: "
                         "no records with this name", log), zone
        assert probe_failures(log, zone) == []


def test_monitoring_would_see_a_zone_that_lists_its_probe(local_lab):
    log = local_lab.monitored_log
    assert len(probe_failures(log, BAD_ZONE)) == 2, "\n".join(
        line for line in log.splitlines() if BAD_ZONE in line)
    for zone in ("bl.rblmirror.test", "l1.rblmirror.test", "dbl.rblmirror.test"):
        assert probe_failures(log, zone) == []


def test_listed_public_client_scores_the_weight(lab, addresses):
    (a, _, _), unlisted = addresses
    hit, miss = lab.scan(a), lab.scan(unlisted)
    assert ours(hit) == {L1S: (WEIGHT, f"{a}:from")}, hit.raw
    assert ours(miss) == {}, miss.raw
    assert hit.score - miss.score == pytest.approx(WEIGHT, abs=0.01)
    assert miss.action == "no action" and hit.action == "add header", (hit.raw, miss.raw)
    log = lab.read_log()  # the miss was asked, not skipped
    assert f"DNS RESPONSE: label={rev(unlisted)}.l1.rblmirror.test results=false " \
           "error=no records with this name" in log


def test_error_code_does_not_fire(lab):
    s = lab.scan(ERROR_CODE_CLIENT)
    assert ours(s) == {}, s.raw
    assert f"{rev(ERROR_CODE_CLIENT)}.bl.rblmirror.test returned unknown result: " \
           f"{ERROR_CODE}" in lab.read_log()


@pytest.mark.parametrize("kw,what", [
    ({"mail_from": "user@test"}, "test:smtp_from"),
    ({"mail_from": "user@spammer.example"}, "spammer.example:smtp_from"),
    ({"from_header": "Spammer <x@spammer.example>"}, "spammer.example:mime_from"),
    ({"helo": "test"}, "test:helo"),
])
def test_domain_hits(lab, addresses, kw, what):
    s = lab.scan(addresses[1], **kw)
    assert ours(s) == {DBL: (WEIGHT, what)}, s.raw


@pytest.mark.parametrize("kw,name", [
    ({"mail_from": "user@invalid"}, "invalid"),
    ({"helo": "mx.spammer.example"}, "mx.spammer.example"),
    ({"from_header": "A <a@example.org>"}, "example.org"),
])
def test_domain_misses_after_asking(lab, addresses, kw, name):
    s = lab.scan(addresses[1], **kw)
    assert ours(s) == {}, s.raw
    assert f"DNS RESPONSE: label={name}.dbl.rblmirror.test results=false" in lab.read_log()


def test_allowlisted_client_is_not_looked_up_in_the_blocklists(lab, addresses):
    a = addresses[0][1]  # the real dump lists it; the allowlist too (support.mailzones)
    s = lab.scan(a)
    assert ours(s) == {WL: (-2.0, f"{a}:from")}, s.raw
    assert f"label={rev(a)}.l1.rblmirror.test" not in lab.read_log()


def test_local_client_skipped_as_the_comment_says(lab):
    s = lab.scan("127.0.0.2")
    assert ours(s) == {}, s.raw
    assert "label=2.0.0.127.bl.rblmirror.test" not in lab.read_log()


def test_rfc5782_points_with_the_comments_lines(local_lab):
    def blocklists(scan):
        return {k: v for k, v in ours(scan).items() if k != "RBLMIRROR_BAD_RBLMIRROR_TEST"}
    hit = local_lab.scan("127.0.0.2")
    # the real dump lists the RFC 5782 point too
    assert blocklists(hit) == {BL: (WEIGHT, "127.0.0.2:from"),
                               L1S: (WEIGHT, "127.0.0.2:from")}, hit.raw
    assert blocklists(local_lab.scan("127.0.0.1")) == {}
    assert "DNS RESPONSE: label=1.0.0.127.bl.rblmirror.test results=false" \
        in local_lab.read_log()
