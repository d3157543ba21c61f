"""rspamd runs `rblmirror snippets rspamd` for zones that serve catalogued lists (named as
their public zones, served from local files in a private network namespace): ZEN's
127.0.0.30 (BCL, outside the generic 127.0.0.[2..11]) fires the symbol, its open-resolver
error 127.255.255.254 does not; hostkarma's 127.0.0.3 (yellow: a listing, not a block)
does not fire, its 127.0.0.2 (black) does."""
from __future__ import annotations

import pytest
from support.maillab import rblmirror, zone_args
from support.mailzones import BL
from test_mail_rspamd import WEIGHT, lab_for, ours

pytestmark = pytest.mark.integration

ZEN = {"192.0.2.30": "127.0.0.30", "192.0.2.9": "127.255.255.254"}
KARMA = {"192.0.2.3": "127.0.0.3", "192.0.2.2": "127.0.0.2"}
ZEN_SYM, KARMA_SYM = "RBLMIRROR_ZEN_SPAMHAUS_ORG", "RBLMIRROR_HOSTKARMA_JUNKEMAILFILTER_COM"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("rspamd-codes-zones")
    zen, karma = work / "zen.zone", work / "karma.zone"
    zen.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in ZEN.items()))
    karma.write_text("".join(f"{a} :{c}:listed {c}\n" for a, c in KARMA.items()))
    zones = BL + [f"zen.spamhaus.org:ip4set:{zen}",
                  f"hostkarma.junkemailfilter.com:ip4set:{karma}"]
    snippet = rblmirror("snippets", "rspamd", *zone_args(zones))
    assert f'{ZEN_SYM} = ["127%.0%.0%.2", "127%.0%.0%.3",' in snippet
    assert f'{KARMA_SYM} = ["127%.0%.0%.2"];' in snippet
    lab = lab_for(tmp_path_factory, "rspamd-codes", zones, snippet)
    yield lab
    lab.stop()


def test_a_listing_code_outside_the_generic_set_fires(lab):
    s = lab.scan("192.0.2.30")
    assert ours(s) == {ZEN_SYM: (WEIGHT, "192.0.2.30:from")}, s.raw


def test_an_error_code_does_not_fire(lab):
    s = lab.scan("192.0.2.9")
    assert ours(s) == {}, s.raw
    assert "9.2.0.192.zen.spamhaus.org returned unknown result: 127.255.255.254" \
        in lab.read_log()


def test_a_no_block_listing_does_not_fire_and_a_block_does(lab):
    s = lab.scan("192.0.2.3")
    assert ours(s) == {}, s.raw
    assert "3.2.0.192.hostkarma.junkemailfilter.com returned unknown result: 127.0.0.3" \
        in lab.read_log()
    hit = lab.scan("192.0.2.2")
    assert ours(hit) == {KARMA_SYM: (WEIGHT, "192.0.2.2:from")}, hit.raw
