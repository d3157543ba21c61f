"""Every rbldnsd syntax case of DESIGN.md, as tiny inline zones through Dataset.lookup().

Expected values come from the rbldnsd rules (man page + what rbldnsd 1.0~20210120
answered on loopback, see test_rbldnsd_differential.py), never from our own output.
"""
from __future__ import annotations

import gzip
import os
import time

import pytest

from rblmirror.data.dataset import Dataset
from rblmirror.errors import ZoneFileError
from rblmirror.data.values import Listing


def L(a="127.0.0.2", txt=None):
    return Listing(a, txt)


def ds(zone_file, text, fmt="ip4set"):
    return Dataset.from_file(zone_file(text), fmt)


# ------------------------------------------------------------------------- ip4set
def test_ip4set_forms(zone_file):
    d = ds(zone_file, "1.2.3.4\n5.6.7\n8.9\n10.0.0.0/30\n11.0.0.1-11.0.0.3\n"
                      "12.1-12.2\n127.0.0.1-255\n")
    listed = ["1.2.3.4", "5.6.7.0", "5.6.7.255", "8.9.0.0", "8.9.255.255", "10.0.0.3",
              "11.0.0.1", "11.0.0.3", "12.1.0.0", "12.2.255.255", "127.0.0.1", "127.0.0.255"]
    unlisted = ["1.2.3.5", "5.6.8.0", "8.10.0.0", "10.0.0.4", "11.0.0.0", "11.0.0.4",
                "12.0.255.255", "12.3.0.0", "127.0.0.0", "127.0.1.0"]
    for a in listed:
        assert d.lookup(a) == (L(),), a
    for a in unlisted:
        assert d.lookup(a) == (), a
    assert d.entries == 7 and d.warnings == []


def test_ip4set_values(zone_file):
    d = ds(zone_file, "1.0.0.1\n:3:IP $ listed\n1.0.0.4\n1.0.0.5 :5\n1.0.0.6 :6:\n"
                      "1.0.0.7 open relay $\n1.0.0.8 :127.0.0.8:own $ text\n"
                      "1.0.0.9 ; comment\n1.0.0.10 # comment\n")
    assert d.lookup("1.0.0.1") == (L(),)  # no value: 127.0.0.2, no TXT
    assert d.lookup("1.0.0.4") == (L("127.0.0.3", "IP 1.0.0.4 listed"),)
    assert d.lookup("1.0.0.5") == (L("127.0.0.5", "IP 1.0.0.5 listed"),)  # keeps default TXT
    assert d.lookup("1.0.0.6") == (L("127.0.0.6", None),)
    assert d.lookup("1.0.0.7") == (L("127.0.0.3", "open relay 1.0.0.7"),)  # bare TXT
    assert d.lookup("1.0.0.8") == (L("127.0.0.8", "own 1.0.0.8 text"),)
    assert d.lookup("1.0.0.9") == (L("127.0.0.3", "IP 1.0.0.9 listed"),)
    assert d.lookup("1.0.0.10") == (L("127.0.0.3", "IP 1.0.0.10 listed"),)


def test_default_scoped_to_file(zone_file):
    a = zone_file(":3:file A\n1.0.0.1\n")
    b = zone_file("1.0.0.2\n:4:file B\n1.0.0.3\n")
    d = Dataset.from_files([a, b], "ip4set")
    assert d.lookup("1.0.0.1") == (L("127.0.0.3", "file A"),)
    assert d.lookup("1.0.0.2") == (L(),)
    assert d.lookup("1.0.0.3") == (L("127.0.0.4", "file B"),)


def test_exclusions_and_levels(zone_file):
    d = ds(zone_file, ":2:net\n10.0.0.0/16\n!10.0.1.5\n10.0.2.0/24 :3:inner\n"
                      "!10.0.3.0/24\n10.0.3.0/24 :4:both\n10.0.4.4 :5:a\n10.0.4.4 :6:b\n"
                      "10.0.4.4 :6:b\n")
    assert d.lookup("10.0.1.4") == (L("127.0.0.2", "net"),)
    assert d.lookup("10.0.1.5") == ()                                # exclusion
    assert d.lookup("10.0.2.9") == (L("127.0.0.3", "inner"),)       # /24 level beats /16
    assert d.lookup("10.0.3.9") == ()        # exclusion beats a listing at the same level
    assert set(d.lookup("10.0.4.4")) == {L("127.0.0.5", "a"), L("127.0.0.6", "b")}
    assert d.lookup("10.0.4.5") == (L("127.0.0.2", "net"),)


def test_bad_lines_warn_and_continue(zone_file):
    p = zone_file("1.2.3.4\nfoo bar\n1.2.3.5/24\n1.2.3.6 :5 # c\n1.2.3.7 :0:\n0/0\n10\n"
                  "1.2.3.8\r\n1.2.3.9\n$BOGUS x\n")
    d = Dataset.from_file(p, "ip4set")
    assert [(w.file, w.line) for w in d.warnings] == [(str(p), n) for n in (2, 3, 4, 5, 6, 7, 8, 10)]
    msgs = [w.message for w in d.warnings]
    assert msgs[1] == "invalid range (non-zero host part)"
    assert msgs[2] == "unrecognized value for an entry" and msgs[3] == "invalid A RR"
    assert msgs[-1] == "invalid or unrecognized special entry"
    assert d.lookup("1.2.3.4") and d.lookup("1.2.3.9")
    for a in ("1.2.3.5", "1.2.3.6", "1.2.3.7", "1.2.3.8", "9.9.9.9"):
        assert d.lookup(a) == (), a


# ------------------------------------------------------------------------- tries
def test_ip4trie(zone_file):
    d = ds(zone_file, "10.0.0.0/8 :2:wide\n10.1.0.0/16 :3:mid\n10.1.2.0/24 :4:first\n"
                      "10.1.2.0/24 :5:second\n!10.1.2.128/25\n10.1.2.200 :6:host\n"
                      "10.2 :7:\n", "ip4trie")
    assert d.lookup("10.9.9.9") == (L("127.0.0.2", "wide"),)
    assert d.lookup("10.1.9.9") == (L("127.0.0.3", "mid"),)
    assert d.lookup("10.1.2.1") == (L("127.0.0.4", "first"),)     # first duplicate kept
    assert d.lookup("10.1.2.129") == ()
    assert d.lookup("10.1.2.200") == (L("127.0.0.6", "host"),)
    assert d.lookup("10.2.0.1") == (L("127.0.0.7"),)
    assert [w.message for w in d.warnings] == ["duplicated entry for 10.1.2.0/24"]


def test_ip4tset(zone_file):
    d = ds(zone_file, "1.0.0.1\n:3:tset $\n:4:ignored\n1.0.0.2 text ignored\n!1.0.0.3\n"
                      "1.0.0.4/32\n", "ip4tset")
    assert d.lookup("1.0.0.1") == (L("127.0.0.3", "tset 1.0.0.1"),)  # first default, all
    assert d.lookup("1.0.0.2") == (L("127.0.0.3", "tset 1.0.0.2"),)
    assert d.lookup("1.0.0.3") == d.lookup("1.0.0.4") == ()
    assert [w.line for w in d.warnings] == [5, 6]


def test_ip6tset(zone_file):
    d = ds(zone_file, ":3:six $\n2001:db8:1:2\n!2001:db8:1:2::5\n2001:db8:1:3::\n"
                      "!2001:db8:1:4\n2001:db8:1:6 ignored\n", "ip6tset")
    assert d.lookup("2001:db8:1:2::1") == (L("127.0.0.3", "six 2001:db8:1:2::1"),)
    assert d.lookup("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert d.lookup("2001:db8:1:2::5") == ()                         # /128 exclusion
    assert d.lookup("2001:db8:1:3::1") == ()                         # not 4 groups
    assert d.lookup("2001:db8:1:6::9")
    assert [w.message for w in d.warnings] == [
        "invalid address for regular entry (should be 64 bits)",
        "invalid address for exclusion (should be 128 bits)"]


def test_ip6trie(zone_file):
    d = ds(zone_file, ":3:t6 $\n2001:db8:1/48\n2001:db8:1:5::/64 :4:inner\n!2001:db8:1:5::7\n"
                      "::1\n2001:db8:2::/48 :5:\n2001:db8:2::/48 :6:dup\n::ffff:1.2.3.4\n",
           "ip6trie")
    assert d.lookup("2001:db8:1:ffff::1") == (L("127.0.0.3", "t6 2001:db8:1:ffff::1"),)
    assert d.lookup("2001:db8:1:5::8") == (L("127.0.0.4", "inner"),)
    assert d.lookup("2001:db8:1:5::7") == ()
    assert d.lookup("::1") == (L("127.0.0.3", "t6 ::1"),)            # '::' is an address
    assert d.lookup("2001:db8:2::1") == (L("127.0.0.5"),)
    assert [w.line for w in d.warnings] == [7, 8]


# ------------------------------------------------------------------------- dnset
def test_dnset(zone_file):
    d = ds(zone_file, ":3:dn $\nexample.com\n*.wild.com :4:w $\n.dot.com :5:d $\n"
                      "!ex.dot.com\na.b.wild.com :7:exact\n*.b.wild.com :8:longer $\n", "dnset")
    assert d.lookup("example.com") == (L("127.0.0.3", "dn example.com"),)
    assert d.lookup("www.example.com") == ()
    assert d.lookup("wild.com") == ()
    assert d.lookup("x.y.wild.com") == (L("127.0.0.4", "w wild.com"),)  # $ = matched entry
    assert d.lookup("dot.com") == (L("127.0.0.5", "d dot.com"),)
    assert d.lookup("ex.dot.com") == ()                  # exact exclusion beats the wildcard
    assert d.lookup("sub.ex.dot.com") == (L("127.0.0.5", "d dot.com"),)
    assert d.lookup("A.B.Wild.COM") == (L("127.0.0.7", "exact"),)
    assert d.lookup("c.b.wild.com") == (L("127.0.0.8", "longer b.wild.com"),)


# ------------------------------------------------------------------------- combined
def test_combined(zone_file):
    d = ds(zone_file, "$SOA 60 ns.x. admin.x. 7 1h 1h 1w 5m\n$1 g1\n"
                      "$DATASET ip4set:one one @\n:2:one $1\n1.2.3.4\n"
                      "$DATASET ip4trie two\n1.2.3.0/24 :3:two\n"
                      "$DATASET ip4set three @\n1.2.3.4 :5:three\n", "combined")
    assert set(d.lookup("1.2.3.4")) == {L("127.0.0.2", "one g1"), L("127.0.0.5", "three")}
    assert d.lookup("1.2.3.5") == ()                 # 'two' is not attached to @
    subs = {sz: ch for szs, ch in d.children for sz in szs}
    assert subs["two"].lookup("1.2.3.5") == (L("127.0.0.3", "two"),)
    assert d.meta.soa.serial == 7


# ------------------------------------------------------------------------- plain
def test_plain(zone_file):
    d = ds(zone_file, "# psbl\n1.2.3.4\n5.6.0.0/16 ; SBL123\n7.7.7.1-7.7.7.3\n"
                      "2001:db8::/32\n", "plain")
    assert d.lookup("1.2.3.4") == (L(),)
    assert d.lookup("5.6.200.1") == (L(),) and d.lookup("5.7.0.0") == ()
    assert d.lookup("7.7.7.3") == (L(),) and d.lookup("7.7.7.4") == ()
    assert d.lookup("2001:db8:ffff::1") == (L(),) and d.lookup("2001:db9::") == ()


# ------------------------------------------------------------------------- specials
def test_soa_ns_ttl(zone_file):
    p = zone_file("$SOA 0 ns1.ex.com. admin.ex.com. 0 2h 1h 1w 5m\n$NS 1d ns1.ex.com ns2.ex.com\n"
                  "$TTL 35m\n1.2.3.4\n")
    os.utime(p, (1_700_000_000, 1_700_000_000))
    m = Dataset.from_file(p, "ip4set").meta
    assert m.soa is not None and m.ns is not None
    assert (m.soa.origin, m.soa.person, m.soa.refresh, m.soa.minttl) == \
        ("ns1.ex.com", "admin.ex.com", 7200, 300)
    assert m.soa.serial == 0 and int(m.mtime) == 1_700_000_000  # serial 0: file mtime
    assert m.ns.names == ("ns1.ex.com", "ns2.ex.com") and m.ns.ttl == 86400
    assert m.ttl == 2100


def test_timestamp(zone_file):
    d = ds(zone_file, "$TIMESTAMP 2020:01:02:03:04:05 +1d\n1.2.3.4\n")
    assert d.meta.timestamp == 1577934245 and d.meta.expires == 1577934245 + 86400
    future = time.strftime("%Y%m%d", time.gmtime(time.time() + 3 * 86400))
    with pytest.raises(ZoneFileError):
        ds(zone_file, f"$TIMESTAMP {future}\n1.2.3.4\n")


def test_maxrange4(zone_file):
    d = ds(zone_file, "$MAXRANGE4 /20\n$MAXRANGE4 256\n$MAXRANGE4 /16\n1.0.0.0/24\n2.0.0.0/23\n")
    assert d.lookup("1.0.0.9") and d.lookup("2.0.0.9") == ()
    assert [w.message for w in d.warnings] == [
        "ignoring attempt to increase $MAXRANGE4 from 256 to 65536",
        "too large range (512) ignored (256 max)"]


def test_substitutions(zone_file):
    d = ds(zone_file, "$1 See http://bl/x\n$2 for details\n$1 second ignored\n"
                      "127.0.0.2 $1/spammer/$ $2\n127.0.0.4 This spammer wants some $$$$.  $1/$\n"
                      "127.0.0.5 [$7] $=\n")
    assert d.lookup("127.0.0.2") == (L(txt="See http://bl/x/spammer/127.0.0.2 for details"),)
    assert d.lookup("127.0.0.4") == (L(txt="This spammer wants some $$.  See http://bl/x/127.0.0.4"),)
    assert d.lookup("127.0.0.5") == (L(txt="[$7] [$7] $="),)  # undefined $7 stays; $= = itself


def test_base_template(zone_file):
    d = ds(zone_file, "$= See http://bl?$= ($) for details\n127.0.0.2 r123\n127.0.0.3\n"
                      "127.0.0.4 =See other lists about $\n127.0.0.6 :6:\n127.0.0.7 x$y\n")
    assert d.lookup("127.0.0.2") == (L(txt="See http://bl?r123 (127.0.0.2) for details"),)
    assert d.lookup("127.0.0.3") == (L(txt="See http://bl?127.0.0.3 (127.0.0.3) for details"),)
    assert d.lookup("127.0.0.4") == (L(txt="See other lists about 127.0.0.4"),)
    assert d.lookup("127.0.0.6") == (L("127.0.0.6", "See http://bl?127.0.0.6 (127.0.0.6) for details"),)
    assert d.lookup("127.0.0.7") == (L(txt="See http://bl?x$y (127.0.0.7) for details"),)


def test_txt_caps(zone_file):
    d = ds(zone_file, "1.0.0.1 " + "a" * 300 + "\n1.0.0.2 " + "b" * 250 + "$\n")
    assert d.lookup("1.0.0.1")[0].txt == "a" * 254             # loads 255, emits 254
    assert d.lookup("1.0.0.2")[0].txt == ("b" * 250 + "1.0.0.2")[:254]
    assert [w.message for w in d.warnings] == ["TXT RR truncated to 255 bytes"]


def test_long_line_read_whole(zone_file):
    d = ds(zone_file, "1.0.0.1 " + "x" * 600 + "\n1.0.0.2\n")
    assert d.lookup("1.0.0.1")[0].txt == "x" * 254 and d.lookup("1.0.0.2") == (L(),)


def test_gzip_and_latin1(zone_file):
    raw = b"# \xa92001 UCEPROTECT\xae\n:2:caf\xe9 $\n1.2.3.4\n"
    d = Dataset.from_file(zone_file(gzip.compress(raw), "z.gz"), "ip4set")
    got = d.lookup("1.2.3.4")[0].txt
    assert got is not None and got.encode("utf-8", "surrogateescape") == b"caf\xe9 1.2.3.4"
    assert d.warnings == []


def test_special_prefixes(zone_file):
    d = ds(zone_file, "#$1 hash\n:$2 colon\n;$3 semi\n; a comment\n1.2.3.4 $1 $2 $3\n")
    assert d.lookup("1.2.3.4") == (L(txt="hash colon semi"),) and d.warnings == []
