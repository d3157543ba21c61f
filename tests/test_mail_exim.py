"""Exim, from Debian's exim4-daemon-light, with `rblmirror snippets exim` in its RCPT ACL.

In a private network namespace (tests/support/eximlab.py): our server on 127.0.0.1:5353 with the
README's zones (the bundled RFC 5782 zones, the allowlist, and the real UCEPROTECT level 1
dump), unbound on 127.0.0.1:53 from `rblmirror snippets unbound`, and the system resolver
of the namespace pointing at unbound, as on a real mail host. Each test is one `exim -bh
ADDRESS` session; its ACL trace shows what Exim looked up.
"""
from __future__ import annotations

import os

import pytest
from support.eximlab import EximLab, exim_tree
from support.maillab import rblmirror, zone_args
from support.mailzones import (ERROR_CODE, ERROR_CODE_CLIENT, L1, lab_zones,
                               listed_addresses, readme_block, unlisted_address)
from support.tools import require_root, require_tool

import rblmirror as rbl

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    for tool in ("ip", "unbound", "dig"):
        require_tool(tool)
    require_root("network namespaces need root")
    if not L1.exists():
        pytest.skip(f"real dump not found at {L1}")
    tree = exim_tree()
    work = tmp_path_factory.mktemp("exim")
    os.chmod(work, 0o755)
    zones = lab_zones("exim", work)
    snippet = rblmirror("snippets", "exim", *zone_args(zones))
    assert snippet == readme_block("exim")  # the README shows what Exim runs here
    # the same without the allowlist, for the listed RFC 5782 point (wl lists it too)
    blocklists = rblmirror("snippets", "exim", *zone_args(
        [z for z in zones if not z.startswith("wl.")]))
    lab = EximLab(work, zones, {"main": snippet, "blocklists": blocklists}, tree).start()
    lab.snippet = snippet
    yield lab
    lab.stop()


def test_rfc5782_listed_point_rejected_with_the_zones_txt(lab):
    s = lab.exim("127.0.0.2", conf="blocklists")
    assert s.code == 550, s
    assert s.text == ("127.0.0.2 is listed at bl.rblmirror.test: "
                      "Listed: 127.0.0.2 is the RFC 5782 test point of this rblmirror zone"), s


def test_rfc5782_unlisted_point_accepted(lab):
    for conf in ("main", "blocklists"):
        s = lab.exim("127.0.0.1", conf=conf)
        assert s.accepted, s
        assert "new DNS lookup for 1.0.0.127.bl.rblmirror.test" in s.trace, s.trace[-3000:]


def test_allowlisted_client_skips_the_address_checks_only(lab):
    assert "!dnslists = wl.rblmirror.test" in lab.snippet
    s = lab.exim("127.0.0.2")  # bl lists it (above), wl too
    assert s.accepted, s
    assert "new DNS lookup for 2.0.0.127.wl.rblmirror.test" in s.trace
    s = lab.exim("127.0.0.2", mail_from="a@test")  # the domain checks still apply
    assert s.code == 550 and "sender domain test is listed" in s.text, s


def test_real_dump_listed_client_rejected(lab):
    a = listed_addresses(1)[0]
    s = lab.exim(a)
    assert s.code == 550, s
    assert f"{a} is listed at l1.rblmirror.test: IP {a} is UCEPROTECT-Level 1 listed" in s.text


def test_unlisted_public_client_accepted_after_asking(lab):
    a = unlisted_address()
    s = lab.exim(a)
    assert s.accepted, s
    rev = ".".join(reversed(a.split(".")))
    assert f"new DNS lookup for {rev}.l1.rblmirror.test" in s.trace


def test_error_code_does_not_reject(lab):
    ds = rbl.Dataset.from_file(L1, format="ip4set")
    assert not ds.lookup(ERROR_CODE_CLIENT)
    s = lab.exim(ERROR_CODE_CLIENT)
    assert s.accepted, s
    rev = ".".join(reversed(ERROR_CODE_CLIENT.split(".")))
    assert f"DNS lookup for {rev}.bl.rblmirror.test succeeded (yielding {ERROR_CODE})" \
        in s.trace, s.trace[-3000:]


@pytest.mark.parametrize("sender,listed", [
    ("a@test", True),              # RFC 5782: TEST listed
    ("a@spammer.example", True),
    ("a@invalid", False),          # RFC 5782: INVALID not listed
    ("a@example.org", False),
])
def test_sender_domain(lab, sender, listed):
    s = lab.exim("127.0.0.1", mail_from=sender)
    domain = sender.split("@")[1]
    assert f"new DNS lookup for {domain}.dbl.rblmirror.test" in s.trace
    if listed:
        assert s.code == 550, s
        assert f"sender domain {domain} is listed at dbl.rblmirror.test" in s.text
    else:
        assert s.accepted, s


def test_null_sender_accepted(lab):
    s = lab.exim("127.0.0.1", mail_from="")
    assert s.accepted, s


@pytest.mark.parametrize("helo,listed", [
    ("test", True),
    ("spammer.example", True),
    ("mx.spammer.example", False),  # only the exact name is listed
    ("invalid", False),
])
def test_helo_name(lab, helo, listed):
    s = lab.exim("127.0.0.1", helo=helo)
    assert f"new DNS lookup for {helo}.dbl.rblmirror.test" in s.trace
    if listed:
        assert s.code == 550, s
        assert f"HELO name {helo} is listed at dbl.rblmirror.test" in s.text
        assert "Listed:" in s.text or "listed for testing" in s.text  # the zone's TXT
    else:
        assert s.accepted, s


@pytest.mark.parametrize("helo", ["[127.0.0.1]", "127.0.0.1"])
def test_address_helo_is_not_looked_up(lab, helo):
    s = lab.exim("127.0.0.1", helo=helo)
    assert s.accepted, s
    assert f"{helo}.dbl.rblmirror.test" not in s.trace
    assert "new DNS lookup for example.org.dbl.rblmirror.test" in s.trace  # the sender


def test_zz_server_down_client_passes(lab):
    """Exim treats a failed lookup as not listed. Runs last (zz): it stops our server."""
    a = listed_addresses(2)[1]  # listed, never asked before (unbound has no cache of it)
    lab.stop_serve()
    try:
        s = lab.exim(a)
        assert s.accepted, s
        rev = ".".join(reversed(a.split(".")))
        assert f"new DNS lookup for {rev}.l1.rblmirror.test" in s.trace
    finally:
        lab.start_serve()
    assert lab.exim(listed_addresses(3)[2]).code == 550
