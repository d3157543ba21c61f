"""Exim runs `rblmirror snippets exim` for zones that serve catalogued lists (named as
their public zones, served from local files in a private network namespace): ZEN's
127.0.0.30 (BCL, outside the generic 127.0.0.[2..11]) is denied, its open-resolver
error 127.255.255.254 is not; hostkarma's 127.0.0.3 (yellow: a listing, not a block) is
accepted, its 127.0.0.2 (black) denied."""
from __future__ import annotations

import os

import pytest
from support.eximlab import EximLab, exim_tree
from support.maillab import rblmirror, zone_args
from support.mailzones import BL
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration

ZEN = {"192.0.2.30": "127.0.0.30", "192.0.2.9": "127.255.255.254"}
KARMA = {"192.0.2.3": "127.0.0.3", "192.0.2.2": "127.0.0.2"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    for tool in ("ip", "unbound", "dig"):
        require_tool(tool)
    require_root("network namespaces need root")
    tree = exim_tree()
    work = tmp_path_factory.mktemp("eximcodes")
    os.chmod(work, 0o755)
    zen, karma = work / "zen.zone", work / "karma.zone"
    zen.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in ZEN.items()))
    karma.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in KARMA.items()))
    zones = BL + [f"zen.spamhaus.org:ip4set:{zen}",
                  f"hostkarma.junkemailfilter.com:ip4set:{karma}"]
    snippet = rblmirror("snippets", "exim", *zone_args(zones))
    lab = EximLab(work, zones, {"main": snippet}, tree).start()
    lab.snippet = snippet
    yield lab
    lab.stop()


def test_the_snippet_lists_the_catalogue_codes(lab):
    assert ("dnslists = zen.spamhaus.org=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.9,"
            "127.0.0.10,127.0.0.11,127.0.0.30") in lab.snippet
    assert "dnslists = hostkarma.junkemailfilter.com=127.0.0.2\n" in lab.snippet


def test_a_listing_code_outside_the_generic_set_is_denied(lab):
    s = lab.exim("192.0.2.30")
    assert s.code == 550 and "listed at zen.spamhaus.org" in s.text, s


def test_an_error_code_is_no_listing(lab):
    s = lab.exim("192.0.2.9")
    assert s.accepted, s
    assert "9.2.0.192.zen.spamhaus.org" in s.trace, s.trace[-3000:]


def test_a_no_block_listing_is_accepted_and_a_block_denied(lab):
    s = lab.exim("192.0.2.3")
    assert s.accepted, s
    assert "3.2.0.192.hostkarma.junkemailfilter.com" in s.trace, s.trace[-3000:]
    d = lab.exim("192.0.2.2")
    assert d.code == 550 and "listed at hostkarma.junkemailfilter.com" in d.text, d
