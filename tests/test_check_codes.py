"""`check` reads the A values of zones that serve a catalogued list: an error code (the
list refusing the query, a typo, over quota) is reported as an error, never as "listed";
a listing carries its meaning. A zone is catalogued by its name (the list's public zone)
or by its one mirrored source (named as the catalogue entry)."""
from __future__ import annotations

import json

from support.cli import cli
from support.mirror import write_config

import pytest


def _zen(tmp_path, name="zen.spamhaus.org"):
    z = tmp_path / "zen.zone"
    z.write_text(":127.0.0.4:Listed in XBL, see $\n192.0.2.4\n"
                 "192.0.2.9 :127.255.255.254:Error: open resolver\n"
                 "192.0.2.11 :127.0.0.11:PBL\n192.0.2.99 :127.0.0.99:odd\n")
    z2 = tmp_path / "zen2.zone"
    z2.write_text("192.0.2.11 :127.255.255.255:Error: over quota\n")
    return [f"{name}:ip4set:{z}", f"{name}:ip4set:{z2}"]


def check(*args):
    code, out, err = cli("check", *args)
    return code, out, err


def _args(zones):
    return [a for z in zones for a in ("--zone", z)]


def test_error_codes_are_errors_and_listings_have_meanings(tmp_path):
    zones = _args(_zen(tmp_path))
    code, out, err = check(*zones, "192.0.2.4", "192.0.2.9", "192.0.2.11", "192.0.2.99",
                           "192.0.2.200")
    assert code == 1, err
    rows = dict((r.split("\t")[0], r) for r in out.splitlines())
    assert rows["192.0.2.4"] == ("192.0.2.4\tzen.spamhaus.org\tLISTED\t127.0.0.4 (XBL: exploited"
                                 " or infected host)\tListed in XBL, see 192.0.2.4")
    assert rows["192.0.2.9"] == ("192.0.2.9\tzen.spamhaus.org\tERROR\t127.255.255.254: error: "
                                 "query via a public/open resolver (not a listing; use your own"
                                 " resolver or Spamhaus DQS)")
    # a listing and an error code together: listed, the error code named as one
    assert "LISTED\t127.0.0.11 (PBL: range not meant" in rows["192.0.2.11"]
    assert "127.255.255.255 (error: excessive number of queries" in rows["192.0.2.11"]
    assert "LISTED\t127.0.0.99 (not in the catalogue of spamhaus-zen)" in rows["192.0.2.99"]
    assert rows["192.0.2.200"].endswith("\tnot listed")
    # only the error code: nothing is listed, the answer is an error: exit 2
    code, out, _ = check(*zones, "192.0.2.9")
    assert code == 2 and "\tERROR\t127.255.255.254" in out


def test_json_names_the_list_and_the_meaning(tmp_path):
    code, out, _ = check(*_args(_zen(tmp_path)), "--json", "192.0.2.4", "192.0.2.9")
    a, b = map(json.loads, out.splitlines())
    assert a["list"] == "spamhaus-zen" and a["listed"] is True
    assert a["meaning"] == {"127.0.0.4": "XBL: exploited or infected host"}
    assert b["listed"] is False and b["a"] == [] and b["error"].startswith("127.255.255.254: ")
    assert "public/open resolver" in b["error"]


def test_uncatalogued_zone_is_read_as_before(tmp_path):
    code, out, _ = check(*_args(_zen(tmp_path, "bl.example.test")), "192.0.2.9", "--json")
    row = json.loads(out)
    assert code == 1 and row["listed"] is True and row["a"] == ["127.255.255.254"]
    assert set(row) == {"address", "zone", "listed", "a", "txt"}


@pytest.mark.integration
def test_mirrored_source_named_as_the_catalogue_entry(tmp_path):
    """A mirrored URIBL black: 127.0.0.1 is URIBL refusing the query, not a listing."""
    dump = tmp_path / "up" / "black.dnset"
    dump.parent.mkdir()
    dump.write_text("refused.example :127.0.0.1:Query Refused\n"
                    "spam.example :127.0.0.2:black\n")
    cfg = write_config(tmp_path, [{"name": "uribl-black", "url": str(dump), "format": "dnset"},
                                  {"name": "mine", "url": str(dump), "format": "dnset"}],
                       [{"name": "uribl.mirror.local", "datasets": ["uribl-black"]},
                        {"name": "mine.mirror.local", "datasets": ["mine"]}])
    code, out, err = cli("fetch", "--config", str(cfg))
    assert code == 0, out + err
    code, out, _ = check("--config", str(cfg), "refused.example", "spam.example")
    rows = out.splitlines()
    assert code == 1
    assert ("refused.example\turibl.mirror.local\tERROR\t127.0.0.1: error: query refused "
            "(see uribl.com/refused.shtml), not a listing") in rows
    assert "refused.example\tmine.mirror.local\tLISTED\t127.0.0.1\tQuery Refused" in rows
    assert any(r.startswith("spam.example\turibl.mirror.local\tLISTED\t127.0.0.2 (black: ")
               for r in rows), rows


def _scan(tmp_path, zones, fmt, *extra, addresses=("192.0.2.4", "192.0.2.9", "192.0.2.11",
                                                    "::ffff:c000:209", "192.0.2.200")):
    inp = tmp_path / f"in-{fmt}.txt"
    inp.write_text("\n".join(addresses) + "\n")
    return cli("scan", "--format", fmt, *extra, *_args(zones), str(inp))


def test_scan_reads_the_answers_as_check_does(tmp_path):
    zones = _zen(tmp_path) + [f"bl.example.test:ip4set:{tmp_path / 'zen.zone'}"]
    subjects = ["192.0.2.4", "192.0.2.9", "192.0.2.11", "::ffff:c000:209", "192.0.2.200"]
    code, out, err = _scan(tmp_path, zones, "jsonl")
    assert code == 1, err
    scanned = [json.loads(x) for x in out.splitlines()]
    code, out, _ = check(*_args(zones), "--json", *subjects)
    assert scanned == [json.loads(x) for x in out.splitlines()]
    by = {(r["address"], r["zone"]): r for r in scanned}
    assert by[("192.0.2.9", "zen.spamhaus.org")]["error"].startswith("127.255.255.254: error:")
    assert by[("::ffff:c000:209", "zen.spamhaus.org")]["listed"] is False  # the IPv4 path
    assert by[("192.0.2.9", "bl.example.test")]["listed"] is True  # not catalogued
    # the summary counts listings, not error codes
    summary = {ln.split()[0]: ln.split()[1] for ln in err.splitlines() if " listed " in ln}
    assert summary["zen.spamhaus.org"] == "2" and summary["bl.example.test"] == "4"
    code, out, _ = _scan(tmp_path, zones, "table")
    assert ("192.0.2.9\tzen.spamhaus.org\tERROR\t127.255.255.254: error: query via a "
            "public/open resolver") in out
    assert "192.0.2.4\tzen.spamhaus.org\tLISTED\t127.0.0.4 (XBL: exploited or infected host)" \
        in out
    code, out, _ = _scan(tmp_path, zones, "table", "--listed-only")
    assert "ERROR" not in out and "192.0.2.4\tzen.spamhaus.org\tLISTED" in out
    code, out, _ = _scan(tmp_path, zones, "csv")
    assert "192.0.2.9,zen.spamhaus.org,0,,127.255.255.254: error: query via" in out
    # addresses: listed by any zone; 192.0.2.9 only through the uncatalogued zone
    code, out, _ = _scan(tmp_path, _zen(tmp_path), "addresses")
    assert out.split() == ["192.0.2.4", "192.0.2.11"]
