"""Postfix runs `rblmirror snippets postfix` for zones that serve catalogued lists (named
as their public zones, served from local files in a private network namespace): an
address Spamhaus ZEN answers with 127.0.0.30 (BCL, outside the generic 127.0.0.[2..11])
is rejected, one it answers with its open-resolver error 127.255.255.254 is not; one
hostkarma answers with 127.0.0.3 (yellow: a listing, not a block) is accepted, its
127.0.0.2 (black) rejected."""
from __future__ import annotations

import os

import pytest
from support.maillab import PORT_RBL, MailLab
from support.mailzones import BL
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration

ZEN = {"192.0.2.30": "127.0.0.30", "192.0.2.9": "127.255.255.254"}
KARMA = {"192.0.2.3": "127.0.0.3", "192.0.2.2": "127.0.0.2"}
UNLISTED = "192.0.2.200"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    for tool in ("ip", "postfix", "unbound", "dig", "script", "ss"):
        require_tool(tool)
    require_root("network namespaces need root")
    work = tmp_path_factory.mktemp("mailcodes")
    os.chmod(work, 0o755)
    zen, karma = work / "zen.zone", work / "karma.zone"
    zen.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in ZEN.items()))
    karma.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in KARMA.items()))
    zones = BL + [f"zen.spamhaus.org:ip4set:{zen}",
                  f"hostkarma.junkemailfilter.com:ip4set:{karma}"]
    lab = MailLab(work, zones=zones, addresses=[*ZEN, *KARMA, UNLISTED])
    lab.start()
    yield lab
    lab.stop()


def test_the_snippet_names_the_catalogue_codes(lab):
    s = lab.snippets["postfix"]
    assert "reject_rbl_client zen.spamhaus.org=127.0.0.[2..4;9..11;30]" in s
    assert "reject_rbl_client hostkarma.junkemailfilter.com=127.0.0.2" in s


def test_a_listing_code_outside_the_generic_set_rejects(lab):
    r = lab.smtp(PORT_RBL, "192.0.2.30")
    assert r.code == 554 and "blocked using zen.spamhaus.org" in r.text, r


def test_an_error_code_is_no_listing(lab):
    assert "127.255.255.254" in lab.resolve("9.2.0.192.zen.spamhaus.org")
    r = lab.smtp(PORT_RBL, "192.0.2.9")
    assert r.accepted, r


def test_a_no_block_listing_does_not_reject_and_a_block_does(lab):
    assert "127.0.0.3" in lab.resolve("3.2.0.192.hostkarma.junkemailfilter.com")
    ok = lab.smtp(PORT_RBL, "192.0.2.3")
    assert ok.accepted, ok
    r = lab.smtp(PORT_RBL, "192.0.2.2")
    assert r.code == 554 and "blocked using hostkarma.junkemailfilter.com" in r.text, r
    assert lab.smtp(PORT_RBL, UNLISTED).accepted
