"""Postfix, through unbound, against `rblmirror serve` in a private network namespace.

The namespace holds: rblmirror serve on 127.0.0.1:5353 (the bundled RFC 5782 zones, an
allowlist, a dnset with extra names, and the real UCEPROTECT level 1 dump as
l1.rblmirror.test), unbound on 127.0.0.1:53 configured by `rblmirror snippets unbound`, and
Postfix whose main.cf holds `rblmirror snippets postfix` / `postscreen` verbatim.
"""
from __future__ import annotations

import os
import re

import pytest
from support.maillab import PORT_DNSWL, PORT_POSTSCREEN, PORT_RBL, MailLab
from support.mailzones import BL, DBL, L1, L1Z, WL, listed_addresses, unlisted_address
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    for tool in ("ip", "postfix", "unbound", "dig", "script", "ss"):
        require_tool(tool)
    require_root("network namespaces need root")
    if not L1.exists():
        pytest.skip(f"real dump not found at {L1}")
    work = tmp_path_factory.mktemp("mail")
    os.chmod(work, 0o755)
    dbl_extra = work / "dbl-extra.zone"
    dbl_extra.write_text(":127.0.0.2:Domain $ is listed for testing\n"
                         "spammer.example\n.wild.example\n!good.wild.example\n")
    dbl = [DBL[0] + f",{dbl_extra}"]
    listed = listed_addresses(4)
    unlisted = unlisted_address()
    lab = MailLab(work, zones=BL + L1Z + dbl + WL, addresses=listed + [unlisted],
                  postfix_zones=BL + L1Z + dbl, dnswl_zones=WL + BL + L1Z + dbl,
                  postscreen_zones=WL + BL + L1Z)
    lab.listed, lab.unlisted = listed, unlisted
    lab.start()
    yield lab
    lab.stop()


def rejected_by(r, zone: str, code: int = 554) -> bool:
    return r.code == code and f"blocked using {zone}" in r.text


def test_unbound_reaches_our_zones_with_qname_minimisation(lab):
    out = lab.resolve("2.0.0.127.bl.rblmirror.test", "TXT")
    assert "status: NOERROR" in out and "RFC 5782 test point" in out, out
    assert "status: NXDOMAIN" in lab.resolve("1.0.0.127.bl.rblmirror.test")
    assert "qname-minimisation: yes" in lab.snippets["unbound"]
    a = lab.listed[0]
    rev = ".".join(reversed(a.split(".")))
    assert "127.0.0.2" in lab.resolve(f"{rev}.l1.rblmirror.test")


def test_rfc5782_listed_client_gets_554_with_our_txt(lab):
    r = lab.smtp(PORT_RBL, "127.0.0.2", dest="127.0.0.1")
    assert r.stage == "rcpt", r
    assert rejected_by(r, "bl.rblmirror.test"), r
    assert "Listed: 127.0.0.2 is the RFC 5782 test point" in r.text
    assert re.search(r"reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 .*"
                     r"blocked using bl\.rblmirror\.test", lab.maillog())


def test_rfc5782_unlisted_client_accepted(lab):
    r = lab.smtp(PORT_RBL, "127.0.0.1")
    assert r.accepted, r


def test_real_dump_listed_client_rejected_unlisted_accepted(lab):
    a = lab.listed[0]
    r = lab.smtp(PORT_RBL, a)
    assert rejected_by(r, "l1.rblmirror.test"), r
    assert f"IP {a} is UCEPROTECT-Level 1 listed" in r.text  # the dump's TXT, $ expanded
    ok = lab.smtp(PORT_RBL, lab.unlisted)
    assert ok.accepted, ok


@pytest.mark.parametrize("sender,listed", [
    ("a@spammer.example", True),          # exact entry
    ("a@host.wild.example", True),        # under a .name wildcard
    ("a@wild.example", True),             # .name includes the name itself
    ("a@good.wild.example", False),       # an exclusion beats the wildcard
    ("a@test", True),                     # RFC 5782: TEST listed
    ("a@invalid", False),                 # RFC 5782: INVALID not listed
    ("a@example.org", False),
])
def test_rhsbl_sender(lab, sender, listed):
    r = lab.smtp(PORT_RBL, "127.0.0.1", mail_from=sender)
    if listed:
        assert r.code == 554 and "blocked using dbl.rblmirror.test" in r.text, r
        assert f"Sender address [{sender}] blocked" in r.text
    else:
        assert r.accepted, r


def test_rhsbl_helo(lab):
    r = lab.smtp(PORT_RBL, "127.0.0.1", helo="mx.spammer.example")
    assert r.accepted, r  # mx.spammer.example is not listed: only the exact name is
    r = lab.smtp(PORT_RBL, "127.0.0.1", helo="mx.wild.example")
    assert r.code == 554 and "Helo command [mx.wild.example] blocked" in r.text, r
    assert "blocked using dbl.rblmirror.test" in r.text


def test_dnswl_permits_ahead_of_a_blocklist_that_lists_the_client(lab):
    assert "permit_dnswl_client wl.rblmirror.test" in lab.snippets["dnswl"]
    r = lab.smtp(PORT_DNSWL, "127.0.0.2", dest="127.0.0.1")
    assert r.accepted, r  # bl lists 127.0.0.2 too (see the 554 test on port 25)
    # a client the allowlist does not list still meets the blocklists there
    a = lab.listed[1]
    r = lab.smtp(PORT_DNSWL, a)
    assert rejected_by(r, "l1.rblmirror.test"), r


def test_postscreen_weights_and_threshold(lab):
    snip = lab.snippets["postscreen"]
    assert "wl.rblmirror.test=127.0.[0..255].[1..3]*-5" in snip
    assert "postscreen_dnsbl_threshold = 3" in snip
    # l1 lists it: 3 >= 3, postscreen enforces (550 at RCPT)
    a = lab.listed[2]
    r = lab.smtp(PORT_POSTSCREEN, a)
    assert r.stage == "rcpt" and r.code == 550, r
    assert "blocked using l1.rblmirror.test" in r.text
    # bl (+3) and wl (-5) both list 127.0.0.2: -2 < 3, it passes to smtpd
    r = lab.smtp(PORT_POSTSCREEN, "127.0.0.2", dest="127.0.0.1")
    assert r.accepted, r
    log = lab.maillog()
    assert re.search(rf"postscreen\[\d+\]: DNSBL rank 3 for \[{re.escape(a)}\]", log), log[-3000:]
    assert not re.search(r"DNSBL rank -?\d+ for \[127\.0\.0\.2\]", log) or \
        re.search(r"DNSBL rank -2 for \[127\.0\.0\.2\]", log)
    r = lab.smtp(PORT_POSTSCREEN, lab.unlisted)
    assert r.accepted, r


def test_zz_server_down_postfix_passes_client_and_logs_why(lab):
    """Postfix: a DNSBL lookup that fails temporarily does not reject (the restriction is
    skipped), and smtpd logs a warning. Runs last (zz): it stops and restarts our server."""
    a = lab.listed[3]  # listed, never asked before (unbound has no cache of it)
    lab.stop_serve()
    try:
        r = lab.smtp(PORT_RBL, a, timeout=60)
        assert r.accepted, r
        log = lab.maillog()
        rev = ".".join(reversed(a.split(".")))
        assert re.search(rf"warning: {re.escape(rev)}\.l1\.rblmirror\.test: RBL lookup error",
                         log), log[-3000:]
    finally:
        lab.start_serve()
    # our server answers again (unbound itself keeps the server marked down for a while:
    # `unbound-control flush_infra all` shortens that in production)
    rev = ".".join(reversed(a.split(".")))
    out = lab.exec("dig", "+norec", "-p", "5353", "@127.0.0.1", f"{rev}.l1.rblmirror.test").stdout
    assert "status: NOERROR" in out and "127.0.0.2" in out, out
