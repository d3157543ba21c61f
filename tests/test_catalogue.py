"""The bundled catalogue of public lists: every entry complete and well-formed, answers
classified (listing / error / unknown), the loader refusing a bad file with the entry
named, and `rblmirror lists` showing it."""
from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from rblmirror.data import catalogue as cat
from rblmirror.mirror.config import _SOURCE_NAME, parse_duration, source_kind
from rblmirror.errors import CatalogueError
from rblmirror.zonespec import normalize_name
from rblmirror.data.formats import REGISTRY

ROOT = Path(__file__).resolve().parents[1]

#: the lists the issue names, by a zone each must have
NAMED = {"zen.spamhaus.org", "sbl.spamhaus.org", "xbl.spamhaus.org", "pbl.spamhaus.org",
         "dbl.spamhaus.org", "zrd.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org",
         "psbl.surriel.com", "dnsbl-1.uceprotect.net", "dnsbl-2.uceprotect.net",
         "dnsbl-3.uceprotect.net", "ips.backscatterer.org", "dnsbl.sorbs.net",
         "bl.mailspike.net", "bl.0spam.org", "bl.nordspam.com", "bl.blocklist.de",
         "hostkarma.junkemailfilter.com", "multi.surbl.org", "multi.uribl.com",
         "list.dnswl.org"}


@pytest.fixture(scope="module")
def catalogue() -> cat.Catalogue:
    return cat.load()


def test_every_named_list_is_there(catalogue):
    zones = {z for x in catalogue for z in x.zones}
    assert NAMED <= zones, NAMED - zones
    assert catalogue.for_zone("dnsbl.sorbs.net").status == "shut-down"


def test_entries_are_complete_and_well_formed(catalogue):
    raw = tomllib.loads((ROOT / "rblmirror" / "data" / "catalogue.toml").read_text())
    assert len(catalogue) == len(raw["list"]) >= 25
    for x in catalogue:
        assert _SOURCE_NAME.match(x.name), x.name       # usable as a [[source]] name
        assert x.title and x.kind in cat.KINDS and x.status in cat.STATUSES
        assert x.docs and all(re.match(r"https?://\S+\Z", d) for d in x.docs), x.name
        for z in x.zones:
            assert normalize_name(z) == z and "." in z, z
        for code, meaning in x.codes + x.errors:
            octets = code.split(".")
            assert octets[0] == "127" and meaning, (x.name, code)
            if "*" not in code:
                assert ipaddress.IPv4Address(code) in ipaddress.IPv4Network("127.0.0.0/8")
        if x.bitmask:
            assert all(bin(int(c.rsplit(".", 1)[1])).count("1") == 1 for c, _ in x.codes)
        for tpl in (x.lookup_url, x.delist_url):
            if tpl:
                url = tpl.format(subject="192.0.2.1")
                assert re.match(r"https?://[^\s/]+", url) and "{" not in url, tpl
        # a fact left out is said to be left out
        assert x.codes or x.unconfirmed, x.name
        m = x.mirror
        if m is not None:
            assert m.terms in cat.TERMS and m.docs
            if m.url:
                assert source_kind(m.url) in ("rsync", "http"), m.url
            if m.format:
                assert m.format in REGISTRY, m.format
            if m.min_interval:
                assert parse_duration(m.min_interval, x.name) > 0
            assert m.url or m.note or x.unconfirmed, x.name  # how to get the address


def test_lookup_templates_take_the_subject(catalogue):
    assert catalogue.get("spamcop").lookup("192.0.2.7") == \
        "https://www.spamcop.net/bl.shtml?192.0.2.7"
    assert catalogue.get("blocklist-de").lookup(" 192.0.2.7 ").endswith("?ip=192.0.2.7")
    assert catalogue.get("spamhaus-dbl").lookup("x.example") is None


@pytest.mark.parametrize("name,answer,kind,word", [
    ("spamhaus-zen", "127.0.0.2", cat.LISTING, "SBL"),
    ("spamhaus-zen", "127.0.0.11", cat.LISTING, "PBL"),
    ("spamhaus-zen", "127.255.255.252", cat.ERROR, "typing"),
    ("spamhaus-zen", "127.255.255.254", cat.ERROR, "public/open resolver"),
    ("spamhaus-zen", "127.255.255.255", cat.ERROR, "excessive"),
    ("spamhaus-zen", "127.0.0.77", cat.UNKNOWN, "not a documented"),
    ("spamhaus-dbl", "127.0.1.255", cat.ERROR, "IP queries"),
    ("spamhaus-dbl", "127.0.1.104", cat.LISTING, "phishing"),
    ("uribl-multi", "127.0.0.1", cat.ERROR, "refused"),
    ("uribl-multi", "127.0.0.14", cat.LISTING, "black"),
    ("uribl-black", "127.0.0.1", cat.ERROR, "refused"),
    ("surbl-multi", "127.0.0.24", cat.LISTING, "PH: phishing; MW: malware"),
    ("surbl-multi", "127.0.0.2", cat.UNKNOWN, "bits"),
    ("dnswl", "127.0.11.3", cat.LISTING, "trust high"),
    ("dnswl", "127.0.0.255", cat.ERROR, "fair-use"),
    ("psbl", "127.0.0.2", cat.LISTING, "spamtrap"),
    ("psbl", "10.0.0.2", cat.UNKNOWN, "outside 127.0.0.0/8"),
    ("psbl", "not-an-address", cat.UNKNOWN, "not an IPv4"),
    ("spamcop", "127.0.0.2", cat.UNKNOWN, "not a documented"),
])
def test_classify(catalogue, name, answer, kind, word):
    v = catalogue.get(name).classify(answer)
    assert v.kind == kind and word in v.meaning, v


def test_bitmask_meanings_name_every_bit(catalogue):
    v = catalogue.get("uribl-multi").classify("127.0.0.14")
    assert [m.split(":")[0] for m in v.meaning.split("; ")] == ["black", "grey", "red"]


def test_match_by_zone_or_source(catalogue):
    assert catalogue.match("ZEN.spamhaus.org.").name == "spamhaus-zen"
    assert catalogue.match("psbl.mirror.local", ("psbl",)).name == "psbl"
    assert catalogue.match("psbl.mirror.local", ("psbl", "local")) is None
    assert catalogue.match("bl.example", ()) is None


GOOD = """schema = 1
[[list]]
name = "x"
title = "X"
kind = "ip"
zones = ["bl.example.org"]
status = "active"
docs = ["https://example.org/docs"]
[list.codes]
"127.0.0.2" = "listed"
"""


@pytest.mark.parametrize("change,message", [
    (lambda s: s.replace('kind = "ip"\n', ""), "missing kind"),
    (lambda s: s.replace('"ip"', '"ipv4"'), "kind must be one of"),
    (lambda s: s.replace('"127.0.0.2"', '"128.0.0.2"'), "not a 127.x.y.z answer"),
    (lambda s: s.replace('"127.0.0.2"', '"127.0.0.256"'), "not a 127.x.y.z answer"),
    (lambda s: s.replace('"127.0.0.2"', '"127.0.0.02"'), "not a 127.x.y.z answer"),
    (lambda s: s.replace("bl.example.org", "bl_x.example.org"), "not a valid lowercase zone"),
    (lambda s: s.replace("bl.example.org", "localhost"), "not a valid lowercase zone"),
    (lambda s: s.replace("https://example.org/docs", "the docs"), "not an http(s) URL"),
    (lambda s: s.replace("[list.codes]", 'lookup_url = "https://x.example/{ip}"\n[list.codes]'),
     "placeholder is {subject}"),
    (lambda s: s.replace('[list.codes]\n"127.0.0.2" = "listed"\n', ""), "say in unconfirmed"),
    (lambda s: s + '[list.errors]\n"127.0.0.2" = "refused"\n', "both a listing and an error"),
    (lambda s: s.replace("status", "bitmask = true\nstatus").replace('"127.0.0.2"', '"127.0.0.6"'),
     "is not one bit"),
    (lambda s: s + s.split("\n", 1)[1], "used twice"),
    (lambda s: s + '[list.mirror]\nterms = "cheap"\ndocs = ["https://e.org/"]\n', "terms must be"),
    (lambda s: s + '[list.mirror]\nterms = "free"\n', "docs must name"),
    (lambda s: s + '[list.mirror]\nterms = "free"\nurl = "ftp://e.org/x"\ndocs = ["https://e.org/"]\n',
     "rsync:// or https://"),
    (lambda s: s.replace("schema = 1", "schema = 2"), "schema = 1"),
    (lambda s: s.replace("[list.codes]", "colour = 1\n[list.codes]"), "unknown key"),
])
def test_bad_catalogue_is_refused_with_the_entry_named(tmp_path, change, message):
    entry = cat.load(str(_write(tmp_path, GOOD))).get("x")
    assert entry is not None and entry.classify("127.0.0.2").kind == \
        cat.LISTING  # the unchanged file is good
    p = _write(tmp_path, change(GOOD), "bad.toml")
    with pytest.raises(CatalogueError) as e:
        cat.load(str(p))
    assert message in str(e.value) and str(p) in str(e.value), e.value
    if message not in ("schema = 1",):
        assert "[[list]] #" in str(e.value)


def _write(tmp_path: Path, text: str, name: str = "good.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_packaged_as_package_data():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "catalogue.toml" in py["tool"]["setuptools"]["package-data"]["rblmirror.data"]
    assert Path(cat.PATH) == ROOT / "rblmirror" / "data" / "catalogue.toml"


def run(*args):
    return subprocess.run([sys.executable, "-m", "rblmirror", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.integration
def test_lists_command(catalogue):
    r = run("lists")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(catalogue) + 2
    assert re.search(r"^psbl\s+ip\s+active\s+free\s+psbl\.surriel\.com$", r.stdout, re.M)
    assert re.search(r"^sorbs\s+ip\s+shut-down\s+-\s+dnsbl\.sorbs\.net$", r.stdout, re.M)
    r = run("lists", "--json")
    got = json.loads(r.stdout)
    assert [x["name"] for x in got] == [x.name for x in catalogue]
    zen = next(x for x in got if x["name"] == "spamhaus-zen")
    assert zen["errors"]["127.255.255.254"].startswith("error:")
    assert zen["codes"]["127.0.0.4"].startswith("XBL")
    r = run("lists", "uribl-multi")
    assert r.returncode == 0 and "errors (never listings):" in r.stdout
    assert "127.0.0.1" in r.stdout and "bits of the last octet" in r.stdout
    r = run("lists", "spamhous-zen")
    assert r.returncode == 2 and "did you mean spamhaus-zen" in r.stderr


def test_aliases_and_delisting(catalogue):
    """The names bounces use for a list ("Spamhaus", "barracudacentral.org/rbl") map to
    its entries in catalogue order; the delisting page is delist_url, else lookup_url."""
    by = catalogue.by_alias()
    assert [x.name for x in by["spamhaus"]][:2] == ["spamhaus-zen", "spamhaus-sbl"]
    assert [x.name for x in by["spamhaus.org"]] == [x.name for x in by["spamhaus"]]
    assert [x.name for x in by["barracudacentral.org"]] == ["barracuda"]
    assert [x.name for x in by["spamcop"]] == ["spamcop"]
    assert [x.name for x in by["psbl.org"]] == ["psbl"]  # its lookup page's host
    assert not set(by) & {z for x in catalogue for z in x.zones}  # zones are not aliases
    assert all(a == a.lower() and not a.startswith("www.") for a in by)
    b = catalogue.get("barracuda")
    assert b.delisting("192.0.2.1") == "https://www.barracudacentral.org/rbl/removal-request"
    u = catalogue.get("uceprotect-1")
    assert u.delisting("192.0.2.1") == "http://www.uceprotect.net/rblcheck.php?ipr=192.0.2.1"
    assert catalogue.get("spamhaus-zen").delisting("192.0.2.1") is None
