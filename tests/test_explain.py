"""`rblmirror explain`: a corpus of real-shaped bounces (tests/data/bounces/, written from
each MTA's documented wording: Postfix, Exim, Sendmail, MDaemon, Exchange/Office 365,
Gmail, and the issue's own examples), each read for the right list and subject and
answered from small zones built here, through the real CLI: error codes are never
listings, a list that is not mirrored is named with its catalogue entry and how to mirror
it, exit status as `check`'s."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import rblmirror.tools.explain as explain_module
from rblmirror.tools.bounce import parse
from support.cli import cli, run
from support.mirror import write_config

CORPUS = Path(__file__).resolve().parent / "data" / "bounces"


def bounce(name: str) -> str:
    return (CORPUS / f"{name}.txt").read_text()


@pytest.fixture
def zones(tmp_path) -> list[str]:
    """--zone arguments: Spamhaus ZEN (IPv4 and IPv6) and DBL, SpamCop and UCEPROTECT 1
    under their public names (so catalogued), and a local zone the catalogue does not know."""
    d = tmp_path / "zones"
    d.mkdir()
    (d / "zen.zone").write_text(
        ":127.0.0.4:Listed in XBL, see https://www.spamhaus.org/query/ip/$\n"
        "203.0.113.7\n"
        "198.51.100.20 :127.0.0.11:Listed in PBL, see https://www.spamhaus.org/query/ip/$\n"
        "192.0.2.9 :127.255.255.254:Error: open resolver\n")
    (d / "zen6.zone").write_text("2001:db8:7::/48 :127.0.0.4:Listed in XBL (IPv6) $\n")
    (d / "dbl.zone").write_text(
        "spam.example :127.0.1.2:Listed in DBL, see https://www.spamhaus.org/query/domain/$\n"
        "ipquery.example :127.0.1.255:Error: IP queries prohibited\n")
    (d / "scbl.zone").write_text(
        "203.0.113.7 :127.0.0.2:Blocked - see https://www.spamcop.net/bl.shtml?$\n")
    (d / "uce1.zone").write_text(":127.0.0.2:Net $ is listed in UCEPROTECT-Level1\n"
                                 "198.51.100.30\n")
    (d / "local.zone").write_text("203.0.113.9 :127.0.0.5:our own list\n")
    (d / "dnswl.zone").write_text("198.51.100.20 :127.0.5.1:example ISP\n")
    specs = [f"zen.spamhaus.org:ip4set:{d / 'zen.zone'}",
             f"zen.spamhaus.org:ip6trie:{d / 'zen6.zone'}",
             f"dbl.spamhaus.org:dnset:{d / 'dbl.zone'}",
             f"bl.spamcop.net:ip4set:{d / 'scbl.zone'}",
             f"dnsbl-1.uceprotect.net:ip4set:{d / 'uce1.zone'}",
             f"bl.local.test:ip4set:{d / 'local.zone'}",
             f"list.dnswl.org:ip4set:{d / 'dnswl.zone'}"]
    return [a for s in specs for a in ("--zone", s)]


def explain(zones, text, *extra):
    code, out, err = cli("explain", *zones, *extra, "--", text)
    return code, out, err


def explain_json(zones, text):
    code, out, err = explain(zones, text, "--json")
    assert out, err
    return code, json.loads(out)


# (bounce, mta, subject, list as named, catalogue entry, status of that list, exit status)
CASES = [
    ("postfix_smtpd_log", "postfix", "203.0.113.7", "zen.spamhaus.org", "spamhaus-zen",
     "listed", 1),
    ("postfix_dsn", "postfix", "203.0.113.7", "zen.spamhaus.org", "spamhaus-zen", "listed", 1),
    ("postfix_rhsbl_sender", "postfix", "spam.example", "dbl.spamhaus.org", "spamhaus-dbl",
     "listed", 1),
    ("postfix_ipv6", "postfix", "2001:db8:7::25", "zen.spamhaus.org", "spamhaus-zen",
     "listed", 1),
    ("postfix_postscreen", "postfix", "198.51.100.30", "dnsbl-1.uceprotect.net",
     "uceprotect-1", "listed", 1),
    ("postfix_error_code", "postfix", "192.0.2.9", "zen.spamhaus.org", "spamhaus-zen",
     "error", 2),
    ("exim_listed_at", "exim", "203.0.113.7", "bl.spamcop.net", "spamcop", "listed", 1),
    ("exim_black_list_dsn", "exim", "198.51.100.30", "dnsbl-1.uceprotect.net",
     "uceprotect-1", "listed", 1),
    ("exim_rhsbl_domain", "exim", "spam.example", "dbl.spamhaus.org", "spamhaus-dbl",
     "listed", 1),
    ("sendmail_check_relay", "sendmail", "203.0.113.7", "bl.spamcop.net", "spamcop",
     "listed", 1),
    ("sendmail_dsn", "sendmail", "198.51.100.20", "zen.spamhaus.org", "spamhaus-zen",
     "listed", 1),
    ("mdaemon_log", "mdaemon", "198.51.100.40", "relays.ordb.org", "ordb", "not mirrored", 2),
    ("mdaemon_psbl", "mdaemon", "198.51.100.77", "psbl.surriel.com", "psbl", "not mirrored",
     2),
    ("exchange_606", "exchange", "203.0.113.8", None, None, None, 0),
    ("exchange_s3150", "exchange", "203.0.113.7", None, None, None, 1),
    ("exchange_online_spamhaus", "exchange", "198.51.100.20", "spamhaus", "spamhaus-zen",
     "listed", 1),
    ("exchange_forefront", "exchange", "203.0.113.9", "88.blocklist.zap", None,
     "not mirrored", 1),
    ("gmail_not_authorized", "gmail", "198.51.100.20", None, None, None, 1),
    ("gmail_style_barracuda", "postfix", "203.0.113.7", "b.barracudacentral.org", "barracuda",
     "not mirrored", 1),
    ("dbl_only_domain", "postfix", "spam.example", "dbl.spamhaus.org", "spamhaus-dbl",
     "listed", 1),
    ("issue_postfix", "postfix", "203.0.113.7", "zen.spamhaus.org", "spamhaus-zen", "listed",
     1),
]


def test_the_corpus_is_all_here():
    assert sorted(p.stem for p in CORPUS.glob("*.txt")) == sorted(
        [c[0] for c in CASES] + ["issue_no_smtpd", "issue_possible_abuse"])


@pytest.mark.parametrize("name,mta,subject,named,entry,status,code", CASES,
                         ids=[c[0] for c in CASES])
def test_corpus(zones, name, mta, subject, named, entry, status, code):
    got_code, e = explain_json(zones, bounce(name))
    assert (e["mta"], e["subject"], e["status"], got_code) == (mta, subject, status, code)
    if named is None:
        assert e["named"] is None
    else:
        assert (e["named"]["written"], e["named"]["list"]) == (named, entry)
        assert e["named"]["mirrored"] == (status not in ("not mirrored", None))
    # the named list's rows are check's rows for its zones; "listed" only for a listing
    mine = e["answers"]
    assert all(r["address"] == subject for r in mine + e["others"] + e["errors"])
    assert (status == "listed") == any(r["listed"] for r in mine)
    assert e["since"] is None  # local zones: no listing history (see test_history.py)
    # everything listed is what `check` says for the same zones, row for row
    ccode, out, _ = cli("check", *zones, "--json", subject)
    rows = [json.loads(x) for x in out.splitlines()]
    mine_zones = {r["zone"] for r in mine}
    assert mine_zones == set(e["named"]["zones"] if named else ())
    assert sorted(mine + e["others"] + e["errors"], key=lambda r: r["zone"]) == sorted(
        [r for r in rows if r["listed"] or "error" in r or r["zone"] in mine_zones],
        key=lambda r: r["zone"])
    assert sorted(e["not_listed"]) == sorted(r["zone"] for r in rows if not r["listed"] and
                                             "error" not in r and r["zone"] not in mine_zones)
    assert got_code == ccode or status in ("not mirrored", "error")


def test_listed_answer_has_code_meaning_reason_and_others(zones):
    code, e = explain_json(zones, bounce("postfix_dsn"))
    assert code == 1
    [row] = e["answers"]
    assert row["zone"] == "zen.spamhaus.org" and row["a"] == ["127.0.0.4"]
    assert row["meaning"] == {"127.0.0.4": "XBL: exploited or infected host"}
    assert e["reason"] == ["Listed in XBL, see https://www.spamhaus.org/query/ip/203.0.113.7"]
    assert e["links"] == ["https://www.spamhaus.org/query/ip/203.0.113.7"]
    assert [r["zone"] for r in e["others"]] == ["bl.spamcop.net"]
    assert "dnsbl-1.uceprotect.net" in e["not_listed"]
    # the MX's own address and the Received line's are seen, never taken
    code, out, _ = explain(zones, bounce("postfix_dsn"))
    assert out.splitlines()[0] == "203.0.113.7 was blocked by zen.spamhaus.org (Postfix wording)."
    assert "  LISTED now in zone zen.spamhaus.org:" in out
    assert "    127.0.0.4  XBL: exploited or infected host" in out
    assert "    reason: Listed in XBL, see https://www.spamhaus.org/query/ip/203.0.113.7" in out
    assert "    listed since: not known (no listing history)" in out
    assert "Other zones here that list 203.0.113.7:" in out
    assert "  203.0.113.7\tbl.spamcop.net\tLISTED\t127.0.0.2" in out
    assert "198.51.100.25" not in out and "192.0.2.50" not in out


def test_an_allowlist_that_lists_it_says_so(zones):
    code, out, _ = explain(zones, bounce("gmail_not_authorized"))
    assert code == 1
    assert ("  198.51.100.20\tlist.dnswl.org\tLISTED\t127.0.5.1 (trust low: reduce the chance "
            "of false positives)\texample ISP (an allowlist: it vouches for the address)") in out
    [zen] = [ln for ln in out.splitlines() if "\tzen.spamhaus.org\t" in ln]
    assert "\tLISTED\t127.0.0.11 (PBL" in zen and "allowlist" not in zen


def test_the_delisting_page_comes_from_the_catalogue(zones):
    code, e = explain_json(zones, bounce("exim_black_list_dsn"))
    assert e["delisting"] == "http://www.uceprotect.net/rblcheck.php?ipr=198.51.100.30"
    assert e["answers"][0]["meaning"]["127.0.0.2"].startswith("UCEPROTECT Level 1")
    code, out, _ = explain(zones, bounce("exim_black_list_dsn"))
    assert "  delisting: http://www.uceprotect.net/rblcheck.php?ipr=198.51.100.30" in out


def test_error_codes_are_never_listings(zones):
    """Spamhaus's 127.255.255.254 (open resolver) and DBL's 127.0.1.255 (IP query): the
    list did not answer the question; nothing is listed, exit 2."""
    code, e = explain_json(zones, bounce("postfix_error_code"))
    assert code == 2 and e["status"] == "error" and e["reason"] == []
    [row] = e["answers"]
    assert row["listed"] is False and row["error"].startswith("127.255.255.254: error: query ")
    assert e["others"] == [] and e["errors"] == []
    code, out, _ = explain(zones, bounce("postfix_error_code"))
    assert "LISTED" not in out
    assert "  zone zen.spamhaus.org could not answer: 127.255.255.254: error: query via a " \
           "public/open resolver" in out
    # another zone's error code is among the errors, never among the zones that list it
    code, e = explain_json(zones, "Rejected: 192.0.2.9 listed at bl.spamcop.net")
    assert (code, e["status"], e["others"]) == (2, "not listed", [])
    assert [(r["zone"], r["listed"]) for r in e["errors"]] == [("zen.spamhaus.org", False)]
    code, out, _ = explain(zones, "Rejected: 192.0.2.9 listed at bl.spamcop.net")
    assert "No other zone here lists 192.0.2.9.\nZones here that could not answer:\n" \
           "  192.0.2.9\tzen.spamhaus.org\tERROR\t127.255.255.254: error: query via" in out
    code, e = explain_json(zones, "550 5.7.1 Service unavailable; Sender address "
                                  "[ipquery.example] blocked using dbl.spamhaus.org")
    assert code == 2 and e["status"] == "error" and e["subject"] == "ipquery.example"
    assert e["answers"][0]["error"].startswith("127.0.1.255: error: IP queries")


def test_not_mirrored_lists_name_the_entry_and_how_to_mirror_it(zones):
    code, e = explain_json(zones, bounce("mdaemon_psbl"))
    assert e["named"]["mirror"] == {"possible": True, "how": "rblmirror sources add psbl"}
    assert e["delisting"] == "https://psbl.org/listing"
    code, out, _ = explain(zones, bounce("mdaemon_psbl"))
    assert "psbl.surriel.com: psbl, PSBL (Passive Spam Block List)" in out
    assert "  not mirrored here: no configured zone serves it, so this mirror cannot say " \
           "whether it lists 198.51.100.77 now." in out
    assert "  to mirror it: rblmirror sources add psbl" in out
    # a list without a mirror says so (the reason `sources add` would refuse it with)
    code, out, _ = explain(zones, bounce("gmail_style_barracuda"))
    assert "b.barracudacentral.org: barracuda, Barracuda Reputation Block List (BRBL)" in out
    assert "offers no mirror that rblmirror could fetch" in out
    assert "  delisting: https://www.barracudacentral.org/rbl/removal-request" in out
    assert "the bounce links" not in out  # its one link is the delisting page
    assert code == 1  # ZEN and SpamCop list 203.0.113.7 here
    # a list that has shut down says so (ORDB: since 2008 it answers every query)
    code, out, _ = explain(zones, bounce("mdaemon_log"))
    assert code == 2
    assert "relays.ordb.org: ordb, ORDB (Open Relay DataBase)" in out
    assert "has shut down" in out and "must stop querying it" in out
    assert "No other zone here lists 198.51.100.40." in out
    # a list the catalogue does not know
    code, out, _ = explain(zones, "554 5.7.1 Service unavailable; Client host "
                                  "[198.51.100.41] blocked using bl.nowhere-list.example")
    assert code == 2
    assert "bl.nowhere-list.example: not in the catalogue of public lists (`rblmirror lists`)" \
        in out


def test_a_list_named_by_its_name_or_site(zones):
    """"blocked using Spamhaus" (Exchange Online) and a lookup link name a list too."""
    code, e = explain_json(zones, bounce("exchange_online_spamhaus"))
    assert e["named"]["zones"] == ["zen.spamhaus.org"]
    assert e["answers"][0]["meaning"] == {
        "127.0.0.11": "PBL: range not meant to send mail directly (entry maintained by Spamhaus)"}
    code, e = explain_json(zones, "550 Message from 203.0.113.7 refused, see "
                                  "https://www.barracudacentral.org/rbl/removal-request")
    assert e["named"]["list"] == "barracuda" and e["status"] == "not mirrored"
    assert e["how"] == "address in the text"
    # a domain named as a domain list's site picks that operator's domain list
    code, e = explain_json(zones, "550 5.7.1 sender domain spam.example is listed at Spamhaus")
    assert e["named"]["list"] == "spamhaus-dbl" and e["status"] == "listed"


def test_a_list_neither_catalogued_nor_configured(zones):
    """Forefront's own 88.blocklist.zap: named as written, no entry, no zone; the zone here
    that the catalogue does not know answers as `check` reads it (its A value as is)."""
    code, e = explain_json(zones, bounce("exchange_forefront"))
    assert e["named"]["zones"] == [] and e["named"]["list"] is None
    assert [r["zone"] for r in e["others"]] == ["bl.local.test"]  # uncatalogued, read as is
    assert e["others"][0]["a"] == ["127.0.0.5"]


def test_provider_blocks_name_no_list(zones):
    code, out, _ = explain(zones, bounce("exchange_606"))
    assert code == 0
    assert out.splitlines()[0] == ("203.0.113.8 was blocked; the text names no DNS list "
                                   "(Exchange/Office 365 wording).")
    assert "This is Exchange/Office 365's own block, not a public DNS list" in out
    assert "  the bounce links: https://sender.office.com/" in out
    assert "No other zone here lists 203.0.113.8." in out


def test_no_address_is_a_clear_error(zones):
    for name in ("issue_no_smtpd", "issue_possible_abuse"):
        code, out, err = explain(zones, bounce(name))
        assert code == 2 and out == ""
        assert err.startswith("rblmirror: error: no blocked IP address or domain found in "
                              "the text"), err
    # a list named, but only the remote MX's address: named, and that address not taken
    code, out, err = explain(zones, "<bob@example.net>: host mx1.example.net[198.51.100.25] "
                                    "said: 554 5.7.1 Service unavailable; listed in "
                                    "zen.spamhaus.org (in reply to RCPT TO command)")
    assert code == 2 and out == ""
    assert "(it names the list zen.spamhaus.org, catalogue entry spamhaus-zen)" in err
    assert "are not taken: 198.51.100.25" in err
    for empty in ("", "  \n\t"):
        code, out, err = explain(zones, empty)
        assert code == 2 and "the text is empty" in err


def test_stdin(zones, monkeypatch):
    code, out, err = cli("explain", *zones, "--json", "-", input=bounce("sendmail_dsn"))
    assert code == 1, err
    e = json.loads(out)
    assert (e["subject"], e["status"], e["named"]["list"]) == ("198.51.100.20", "listed",
                                                              "spamhaus-zen")
    code, out, err = cli("explain", *zones, input="")
    assert code == 2 and "the text is empty" in err
    # bytes that are not UTF-8 are replaced, not fatal
    code, out, err = cli("explain", *zones, input=b"\xff\xfe " + bounce("issue_postfix").encode())
    assert code == 1 and out.startswith("203.0.113.7 was blocked by zen.spamhaus.org"), err
    # a whole log is refused with a pointer to scan
    code, out, err = cli("explain", *zones, input=bounce("issue_postfix") * 3000)
    assert code == 2 and out == "" and "for whole logs use `rblmirror scan --extract`" in err
    assert "the text is over 256 KiB (attachments left out)" in err
    # ... but a returned message's attachment does not count
    attachment = "Content-Transfer-Encoding: base64\n\n" + ("QUJD" * 19 + "\n") * 20000
    code, out, err = cli("explain", *zones, input=bounce("postfix_dsn") + attachment)
    assert code == 1 and out.startswith("203.0.113.7 was blocked by zen.spamhaus.org"), err
    # past MAX_INPUT bytes (counted as bytes, not characters), nothing more is read
    monkeypatch.setattr(explain_module, "MAX_INPUT", 2 << 20)
    code, out, err = cli("explain", *zones, input=b"\xc3\xa9" * ((1 << 20) + 1))
    assert code == 2 and err == ("rblmirror: error: the input is over 2 MiB: explain reads "
                                 "one bounce, a reply or a few log lines; for whole logs use "
                                 "`rblmirror scan --extract`\n")
    code, out, err = cli("explain", *zones, input=bounce("issue_postfix") + " " * (2 << 20))
    assert code == 2 and "the input is over 2 MiB" in err


def test_a_zone_of_this_mirror_named_by_the_bounce(zones):
    code, out, _ = explain(zones, "554 5.7.1 Service unavailable; Client host [203.0.113.9] "
                                  "blocked using bl.local.test")
    assert code == 1
    assert "bl.local.test: a zone of this mirror, not in the catalogue of public lists" in out
    assert "  LISTED now in zone bl.local.test:\n    127.0.0.5\n    reason: our own list" in out


def test_words_are_joined(zones):
    """Unquoted words on the command line are one text; a missing dump is a clear error."""
    words = "Client host [203.0.113.7] blocked using bl.spamcop.net".split()
    code, out, err = cli("explain", *zones, *words)
    assert code == 1 and out.startswith("203.0.113.7 was blocked by bl.spamcop.net"), err
    code, out, err = cli("explain", "--zone", f"bl.spamcop.net:ip4set:{CORPUS / 'none'}",
                         *words)
    assert (code, out) == (2, "")
    assert err == f"rblmirror: error: cannot read {CORPUS / 'none'}: No such file or directory\n"


def test_parse_prefers_the_blocked_address():
    b = parse(bounce("postfix_dsn"), ["zen.spamhaus.org"])
    assert b.subject == "203.0.113.7" and set(b.seen) == {"198.51.100.25", "192.0.2.50"}
    b = parse(bounce("sendmail_check_relay"))  # arg2 / relay= are the same host here
    assert b.subject == "203.0.113.7" and b.named == "bl.spamcop.net"
    b = parse(bounce("exchange_forefront"))  # ":127.0.0.3:" is the code, not the host
    assert b.subject == "203.0.113.9"
    b = parse("Dec  1 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]: "
              "554 5.7.1 Service unavailable; Client host [IPv6:2001:db8::5] blocked using "
              "zen.spamhaus.org")
    assert b.subject == "2001:db8::5" and b.kind == "ip"
    # a DSN quoting a multi-line reply on one line: the continuation codes are not data
    b = parse("<bob@example.net>: host mx1.example.net[198.51.100.25] said: "
              "550-203.0.113.7 is listed at bl.spamcop.net 550-(127.0.0.2: Blocked) 550 see "
              "https://www.spamcop.net/bl.shtml?203.0.113.7 (in reply to RCPT TO command)")
    assert (b.subject, b.named, b.how, b.mta) == ("203.0.113.7", "bl.spamcop.net",
                                                  "listed at", "postfix")
    b = parse("Dec  1 10:08:31 mx1 postfix/dnsblog[21980]: addr 198.51.100.30 listed by "
              "domain dnsbl-1.uceprotect.net as 127.0.0.2")
    assert (b.subject, b.named, b.how) == ("198.51.100.30", "dnsbl-1.uceprotect.net",
                                           "listed at")
    b = parse("rejected: 127.0.0.2 (the answer) for 198.51.100.9 from zen.spamhaus.org")
    assert b.subject == "198.51.100.9" and b.how == "address in the text"


@pytest.mark.integration
def test_the_command_as_a_process_reads_stdin(zones):
    r = run("explain", *zones, "-", input=bounce("exim_listed_at"))
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("203.0.113.7 was blocked by bl.spamcop.net (Exim wording).\n")
    r = run("explain", *zones, "-", input="554 no smtpd here\n")
    assert r.returncode == 2 and r.stdout == ""
    assert "no blocked IP address or domain found" in r.stderr


@pytest.mark.integration
def test_mirrored_list_after_sources_add_and_fetch(tmp_path):
    """The named list is not mirrored: explain names `sources add psbl`; once added (the
    mirror address given with --url: a local dump) and fetched, explain answers from the
    mirrored snapshot: zone psbl.mirror.local serves the psbl entry. Before the first
    fetch the zone cannot answer (serve answers SERVFAIL): an error, exit 2."""
    dump = tmp_path / "up" / "psbl.txt"
    dump.parent.mkdir()
    dump.write_text("# psbl\n198.51.100.77\n198.51.100.78\n")
    local = tmp_path / "local.zone"
    local.write_text("192.0.2.1\n")
    cfg = write_config(tmp_path, [], [{"name": "bl.local.test",
                                       "datasets": [f"ip4set:{local}"]}])
    text = bounce("mdaemon_psbl")
    code, out, err = cli("explain", "--config", str(cfg), text)
    assert code == 2 and "  to mirror it: rblmirror sources add psbl" in out, out + err
    code, out, err = cli("sources", "add", "psbl", "--config", str(cfg), "--url", str(dump))
    assert code == 0, out + err
    code, out, err = cli("explain", "--config", str(cfg), "--json", text)
    e = json.loads(out)
    assert code == 2 and e["status"] == "error" and e["named"]["zones"] == ["psbl.mirror.local"]
    assert e["errors"] == [] and "not fetched yet" in e["answers"][0]["error"]
    code, out, err = cli("fetch", "--config", str(cfg))
    assert code == 0, out + err
    code, out, err = cli("explain", "--config", str(cfg), text)
    assert code == 1, out + err
    assert "psbl.surriel.com: psbl, PSBL (Passive Spam Block List)" in out
    assert "sources add" not in out
    assert "  LISTED now in zone psbl.mirror.local:" in out
    assert "  delisting: https://psbl.org/listing" in out
    code, out, err = cli("explain", "--config", str(cfg), "--json",
                         text.replace("198.51.100.77", "198.51.100.79"))
    e = json.loads(out)
    assert code == 0 and e["status"] == "not listed" and e["named"]["mirror"] is None
    assert e["not_listed"] == ["bl.local.test"]
    assert [(r["zone"], r["listed"]) for r in e["answers"]] == [("psbl.mirror.local", False)]


def test_a_subject_of_the_wrong_kind_for_the_named_list(zones):
    """A domain "blocked using" an address list: the list cannot have answered it here."""
    text = "554 5.7.1 Service unavailable; Helo command [mail.example.com] blocked using " \
           "zen.spamhaus.org"
    code, e = explain_json(zones, text)
    assert (code, e["kind"], e["status"], e["answers"]) == (2, "name", "error", [])
    assert e["not_listed"] == ["dbl.spamhaus.org"]
    code, out, _ = explain(zones, text)
    assert "  zone(s) zen.spamhaus.org take addresses, not mail.example.com" in out
