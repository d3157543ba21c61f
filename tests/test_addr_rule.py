"""One rule for IPv6 addresses (ext/ipsearch.pxd v6_asks), seen alike by check, scan and
DNS, and equal to the real rbldnsd's answers: an IPv4-mapped address asks only the IPv4
data; a 6to4 one (2002:AABB:CCDD::/48) the IPv6 data, then the IPv4 address inside, and
`$` in the TXT is the address it was found as."""
from __future__ import annotations

import io
import ipaddress
import json
import os
import tempfile
from pathlib import Path

from rblmirror.data import addr
from rblmirror.tools.check import check
from rblmirror.tools.scan import Scanner
from rblmirror.dns.zone import Zone
from support.serve import Serve

import pytest

pytestmark = pytest.mark.integration

V4 = """:127.0.0.4:v4 $
192.0.2.0/24
127.0.0.2
"""
V6 = """:127.0.0.6:v6 $
2002:c000:205::/48
2001:db8::/32
::ffff:c000:209
"""
SUBJECTS = [
    "192.0.2.7",            # IPv4
    "::ffff:192.0.2.7",     # mapped: IPv4 data only
    "::ffff:192.0.2.9",     # mapped, also an IPv6 entry: rbldnsd never asks it
    "2002:c000:207::1",     # 6to4 of 192.0.2.7: IPv6 data misses, the IPv4 inside hits
    "2002:c000:205::1",     # 6to4 with its own IPv6 entry: the IPv6 answer
    "2002:7f00:2::1",       # 6to4 of the RFC 5782 test point (the reported case)
    "::192.0.2.7",          # "compatible": IPv6 only, not listed
    "2001:db8::5",
    "2001:db9::5",
]


def test_check_scan_and_dns_agree_with_rbldnsd(tmp_path, rbldnsd_server):
    d = Path(tempfile.mkdtemp(prefix="rblmirror-rule-", dir="/var/tmp"))  # rbldnsd's user
    os.chmod(d, 0o755)
    f4, f6 = d / "v4.zone", d / "v6.zone"
    f4.write_text(V4)
    f6.write_text(V6)
    for f in (f4, f6):
        os.chmod(f, 0o644)
    specs = [f"rule.test:ip4set:{f4}", f"rule.test:ip6trie:{f6}"]
    zones = Zone.from_specs(specs)
    checked = {r.subject: r for r in check(SUBJECTS, zones)}
    out = io.BytesIO()
    src = tmp_path / "subjects.txt"
    src.write_text("\n".join(SUBJECTS) + "\n")
    Scanner(zones).scan([str(src)], out, fmt="jsonl")
    scanned = {str(ipaddress.ip_address(r["address"])): r
               for r in map(json.loads, out.getvalue().decode().splitlines())}
    theirs = rbldnsd_server([("rule.test", "ip4set", [f4]), ("rule.test", "ip6trie", [f6])])
    with Serve(specs, log_dir=tmp_path) as ours:
        for s in SUBJECTS:
            fam, value = addr.parse(s)
            name = addr.to_reverse_name(fam, value, "rule.test")
            txt = lambda srv: sorted(b"".join(r.rdata.data).decode()  # noqa: E731
                                     for r in srv.query(name, "TXT").rr)
            a = lambda srv: sorted(str(r.rdata) for r in srv.query(name, "A").rr)  # noqa: E731
            c = checked[s]
            sc = scanned[str(ipaddress.ip_address(s))]
            assert (a(ours), txt(ours)) == (a(theirs), txt(theirs)), s
            assert (sorted(c.a), sorted(c.txt)) == (a(ours), txt(ours)), s
            assert (sc["a"], sc["txt"]) == (list(c.a), list(c.txt)), s
    # the cases really differ from each other
    assert checked["::ffff:192.0.2.7"].txt == ("v4 192.0.2.7",)
    assert checked["::ffff:192.0.2.9"].txt == ("v4 192.0.2.9",)  # its IPv6 entry unasked
    assert not checked["::192.0.2.7"].listed
    assert checked["2002:c000:207::1"].txt == ("v4 192.0.2.7",)
    # each dataset answers by the rule, and the answers merge
    assert checked["2002:c000:205::1"].txt == ("v4 192.0.2.5", "v6 2002:c000:205::1")
    assert checked["2002:7f00:2::1"].a == ("127.0.0.4",)
    for f in (f4, f6):
        f.unlink()
    d.rmdir()
