"""A zone that serves a catalogued list gets, in every snippet, exactly that list's listing
codes: never its error codes (an open-resolver or over-quota answer is no listing), and a
blocklist's no_block codes (hostkarma's whitelist/yellow answers) never block. A zone is
catalogued by its name (the public zone) or by its one mirrored source named as the entry;
zones outside the catalogue keep the generic code sets."""
from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest

from support.mirror import write_config
from support.tools import require_tool

from rblmirror.data import catalogue as cat
from rblmirror.tools import snippets as sn

ROOT = Path(__file__).resolve().parents[1]
ZONES = ROOT / "zones"
IP4, NAMES = ZONES / "rfc5782-ip4.zone", ZONES / "rfc5782-names.zone"
SPECS = [f"zen.spamhaus.org:ip4set:{IP4}", f"dbl.spamhaus.org:dnset:{NAMES}",
         f"multi.surbl.org:dnset:{NAMES}", f"hostkarma.junkemailfilter.com:ip4set:{IP4}",
         f"list.dnswl.org:ip4set:{IP4}", f"bl.rblmirror.test:ip4set:{IP4}"]
CANDIDATES = [f"127.0.{c}.{d}" for c in range(4) for d in range(256)] + [
    "127.255.255.252", "127.255.255.254", "127.255.255.255", "127.0.1.255"]


def expected(name: str) -> set[str]:
    """A plain reference: the entry's listing answers among CANDIDATES, for a blocking
    snippet (no_block left out; a bitmask list: any answer made of its documented bits)."""
    e = cat.load().get(name)
    assert e is not None
    out = set()
    for a in CANDIDATES:
        head, _, last = a.rpartition(".")
        if e.bitmask:
            bits = [int(c.rpartition(".")[2]) for c, _ in e.codes if c.rpartition(".")[0] == head]
            if int(last) and all(b in bits for b in range(256) if int(last) & b and b & (b - 1) == 0):
                out.add(a)
        elif any(all(p in ("*", o) for p, o in zip(c.split("."), a.split(".")))
                 for c, _ in e.codes if c not in e.no_block):
            out.add(a)
    assert out and not out & {c for c, _ in e.errors}
    return out


def postfix_matches(filt: str) -> set[str]:
    """The answers one Postfix d.d.d.d filter ([a;b..c] per octet) accepts."""
    def octet(o: str) -> set[int]:
        vals: set[int] = set()
        for part in o.strip("[]").split(";"):
            lo, _, hi = part.partition("..")
            vals.update(range(int(lo), int(hi or lo) + 1))
        return vals
    return {".".join(map(str, t)) for t in itertools.product(
        *map(octet, re.findall(r"\[[^\]]*\]|\d+", filt)))}


def snippet(kind: str, specs=SPECS, **kw) -> str:
    return sn.render(kind, sn.zone_infos(specs, **kw))


def test_zone_infos_carry_the_catalogue_codes():
    infos = {z.name: z for z in sn.zone_infos(SPECS)}
    zen = infos["zen.spamhaus.org"]
    assert (zen.catalogue, zen.codes) == ("spamhaus-zen", (
        "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "127.0.0.10", "127.0.0.11",
        "127.0.0.30"))
    assert infos["hostkarma.junkemailfilter.com"].codes == ("127.0.0.2",)
    assert infos["multi.surbl.org"].bitmask and len(infos["multi.surbl.org"].codes) == 15
    assert infos["list.dnswl.org"].kind == "allowlist"
    assert infos["list.dnswl.org"].codes == ("127.0.*.0", "127.0.*.1", "127.0.*.2", "127.0.*.3")
    plain = infos["bl.rblmirror.test"]
    assert (plain.catalogue, plain.codes) == (None, ())


def test_a_source_named_as_an_entry_catalogues_its_zone(tmp_path):
    dump = tmp_path / "zen.txt"
    dump.write_text("192.0.2.2\n")
    cfg = write_config(tmp_path, [{"name": "spamhaus-zen", "url": str(dump), "format": "ip4set"},
                                  {"name": "mine", "url": str(dump), "format": "ip4set"}],
                       [{"name": "zen.mirror.local", "datasets": ["spamhaus-zen"]},
                        {"name": "mine.mirror.local", "datasets": ["mine"]}])
    out = sn.render("postfix", sn.zone_infos(config_path=str(cfg)))
    assert "reject_rbl_client zen.mirror.local=127.0.0.[2..4;9..11;30]" in out
    assert f"reject_rbl_client mine.mirror.local={sn.BLOCK_CODES}" in out


@pytest.mark.parametrize("kind", ["postfix", "postscreen"])
def test_postfix_filters_match_exactly_the_listing_codes(kind):
    out = snippet(kind)
    got: dict[str, set[str]] = {}
    for zone, filt in re.findall(r"(?:client |helo |sender |^    )([a-z0-9.]+)=([0-9.\[\];]+)",
                                 out, re.M):
        got.setdefault(zone, set()).update(postfix_matches(filt) & set(CANDIDATES))
    assert got["zen.spamhaus.org"] == expected("spamhaus-zen")
    assert got["hostkarma.junkemailfilter.com"] == expected("hostkarma") == {"127.0.0.2"}
    assert got["bl.rblmirror.test"] == {f"127.0.0.{i}" for i in range(2, 12)}
    allow = {a for a in CANDIDATES if a.startswith("127.0.") and int(a.split(".")[3]) <= 3}
    assert got["list.dnswl.org"] == allow - {"127.0.1.255"}
    assert "127.0.0.255" not in got["list.dnswl.org"]
    if kind == "postfix":
        assert got["dbl.spamhaus.org"] == expected("spamhaus-dbl")
        assert got["multi.surbl.org"] == expected("surbl-multi")
        assert "# multi.surbl.org: a bitmask list" in out


def test_exim_lists_exactly_the_listing_codes():
    out = snippet("exim")
    got: dict[str, set[str]] = {}
    for zone, codes in re.findall(r"dnslists = ([a-z0-9.]+)=([0-9.,]+)", out):
        got.setdefault(zone, set()).update(codes.split(","))
    assert got["zen.spamhaus.org"] == expected("spamhaus-zen")
    assert got["dbl.spamhaus.org"] == expected("spamhaus-dbl")
    assert got["multi.surbl.org"] == expected("surbl-multi")
    assert got["hostkarma.junkemailfilter.com"] == {"127.0.0.2"}
    assert got["list.dnswl.org"] & set(CANDIDATES) == {
        a for a in CANDIDATES if a.startswith("127.0.") and int(a.split(".")[3]) <= 3} - {
        "127.0.1.255"}
    assert "127.0.0.255" not in got["list.dnswl.org"]


def test_spamassassin_patterns_match_exactly_the_listing_codes():
    out = snippet("spamassassin")
    got = {zone: {a for a in CANDIDATES if re.search(pat, a)}
           for zone, pat in re.findall(r"check_rbl\w*\('[a-z0-9_]+', '([a-z0-9.]+)\.', '(.+)'\)", out)}
    assert got["zen.spamhaus.org"] == expected("spamhaus-zen")
    assert got["dbl.spamhaus.org"] == expected("spamhaus-dbl")
    assert got["multi.surbl.org"] == expected("surbl-multi")
    assert got["hostkarma.junkemailfilter.com"] == {"127.0.0.2"}
    assert "127.0.0.255" not in got["list.dnswl.org"] and "127.0.3.3" in got["list.dnswl.org"]
    assert got["bl.rblmirror.test"] == {f"127.0.0.{i}" for i in range(2, 12)}


def lua_match(pattern: str, s: str) -> bool:
    """rspamd's string.find(ip, '^' .. code .. '$') for the patterns the snippet writes
    (%. a dot, %d+ digits, . any character, [1-3] a class)."""
    rx = re.sub(r"%\.|%d\+|\.", lambda m: {"%.": r"\.", "%d+": r"\d+", ".": "."}[m.group()],
                pattern)
    return re.fullmatch(rx, s) is not None


def test_rspamd_returncodes_match_exactly_the_listing_codes():
    out = snippet("rspamd")
    got = {}
    for zone, codes in re.findall(r'rbl = "([a-z0-9.]+)";.*?= \[([^\]]*)\];', out, re.S):
        pats = re.findall(r'"([^"]+)"', codes)
        got[zone] = {a for a in CANDIDATES if any(lua_match(p, a) for p in pats)}
    assert got["zen.spamhaus.org"] == expected("spamhaus-zen")
    assert got["multi.surbl.org"] == expected("surbl-multi")
    assert got["hostkarma.junkemailfilter.com"] == {"127.0.0.2"}
    assert "127.0.0.255" not in got["list.dnswl.org"] and "127.0.3.3" in got["list.dnswl.org"]


def test_no_block_is_validated(tmp_path):
    text = Path(cat.PATH).read_text()
    bad = tmp_path / "c.toml"
    bad.write_text(text.replace('no_block = ["127.0.0.1", "127.0.0.3"]',
                                'no_block = ["127.0.0.1", "127.0.0.99"]'))
    with pytest.raises(cat.CatalogueError, match=r"hostkarma.*no_block: 127\.0\.0\.99 is not"):
        cat.load(str(bad))
    bad.write_text(text.replace('no_block = ["127.0.0.1", "127.0.0.3"]',
                                'no_block = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]'))
    with pytest.raises(cat.CatalogueError, match="nothing left to block"):
        cat.load(str(bad))


@pytest.mark.integration
def test_postconf_reads_the_catalogued_filters(tmp_path):
    postconf = require_tool("postconf")
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n" + snippet("postfix"))
    (tmp_path / "master.cf").write_text("")
    c = subprocess.run([postconf, "-c", str(tmp_path), "-n", "smtpd_client_restrictions",
                        "smtpd_sender_restrictions"], capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stderr
    assert "reject_rbl_client zen.spamhaus.org=127.0.0.[2..4;9..11;30]" in c.stdout
    assert "permit_dnswl_client list.dnswl.org=127.0.[0..255].[0..3]" in c.stdout
    assert "reject_rhsbl_sender dbl.spamhaus.org=127.0.1.[2;4..6;102..106]" in c.stdout
    assert "warning" not in c.stderr


@pytest.mark.integration
def test_spamassassin_lints_the_catalogued_rules(tmp_path):
    sa = require_tool("spamassassin")
    for pre in Path("/etc/spamassassin").glob("*.pre"):  # the plugin loaders
        (tmp_path / pre.name).write_bytes(pre.read_bytes())
    (tmp_path / "local.cf").write_text(snippet("spamassassin"))
    c = subprocess.run([sa, "--lint", "--siteconfigpath", str(tmp_path)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HOME": str(tmp_path)})
    assert c.returncode == 0, c.stderr[-3000:]


def test_lists_shows_the_no_block_codes():
    karma, zen = cat.load().get("hostkarma"), cat.load().get("spamhaus-zen")
    assert karma is not None and zen is not None
    assert "listings that are not blocks: 127.0.0.1, 127.0.0.3" in karma.details()
    assert "not blocks" not in zen.details()
