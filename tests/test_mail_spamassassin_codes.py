"""SpamAssassin runs `rblmirror snippets spamassassin` for zones that serve catalogued lists
(named as their public zones, served by `rblmirror serve` from local files):
blocklist.de's 127.0.0.20 (outside the generic 127.0.0.[2..11]) hits the rule;
hostkarma's 127.0.0.3 (yellow: a listing, not a block) does not, its 127.0.0.2 (black)
does. The relays are public addresses (SpamAssassin skips reserved ones); the zones list
them only here. Not zen.spamhaus.org: SpamAssassin's stock rules look that zone up too,
sharing the query, and our rule then did not fire reliably."""
from __future__ import annotations

import pytest
from support.mailzones import L1, listed_addresses
from test_mail_spamassassin import BL, sa_for

pytestmark = pytest.mark.integration

DE_RULE, KARMA_RULE = "RBLMIRROR_BL_BLOCKLIST_DE", "RBLMIRROR_HOSTKARMA_JUNKEMAILFILTER_COM"


@pytest.fixture(scope="module")
def relays():
    if not L1.exists():
        pytest.skip(f"real dump not found at {L1}")
    return listed_addresses(4)


@pytest.fixture(scope="module")
def sa(tmp_path_factory, relays):
    work = tmp_path_factory.mktemp("sa-codes-zones")
    de, karma = work / "de.zone", work / "karma.zone"
    de.write_text(f"{relays[0]} :127.0.0.20:manual listing\n{relays[1]} :127.0.0.99:odd\n")
    karma.write_text(f"{relays[2]} :127.0.0.3:yellow\n{relays[3]} :127.0.0.2:black\n")
    yield from sa_for(tmp_path_factory, BL + [f"bl.blocklist.de:ip4set:{de}",
                                              f"hostkarma.junkemailfilter.com:ip4set:{karma}"])


def hits(sa, ip: str) -> str:
    r = sa(ip)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    rev = ".".join(reversed(ip.split(".")))
    assert rev in r.stderr, r.stderr[-3000:]  # it asked (a miss is "not listed")
    return r.stdout


def test_catalogued_codes(sa, relays):
    assert r"'^(?:127\.0\.0\.2)$'" in sa.snippet
    out = hits(sa, relays[0])
    assert DE_RULE in out, out
    assert DE_RULE not in hits(sa, relays[1])  # not a documented code
    assert KARMA_RULE not in hits(sa, relays[2])
    assert KARMA_RULE in hits(sa, relays[3])
