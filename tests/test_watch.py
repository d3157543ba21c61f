"""[[watch]]: the config's checks, and passes after real fetches alerting through a real
command hook and a webhook received by a local HTTP server: once when an address gets
listed, not again on an unchanged pass, again when it is delisted; error codes are not
listings; the gauges; an undelivered alert is sent again."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.cli import cli
from support.httpd import Httpd

from rblmirror.errors import ConfigError
from rblmirror.mirror.config import load_config, parse_config
from rblmirror.mirror.metrics import SourceAndServerMetrics

WATCHED = "192.0.2.77"


@pytest.mark.parametrize("watch,message", [
    ({"networks": ["192.0.2.1/24"]}, r"networks: '192\.0\.2\.1/24' is not an address or "
                                     r"network \(192\.0\.2\.1/24 has host bits set\)"),
    ({"networks": ["10.0.0.0/8"]},
     r"networks: 10\.0\.0\.0/8 holds 16777216 addresses; a watch checks each one, at most 65536"),
    ({"networks": ["2001:db8::/64"]}, r"networks: 2001:db8::/64 holds 18446744073709551616 addresses"),
    ({}, r"watches nothing: give networks = \[\.\.\.\] and/or domains"),
    ({"domains": ["not a name"]}, r"domains: 'not a name' is not a domain name"),
    ({"domains": "example.org", "webhook": "ftp://x/y"}, r"webhook must be an http://"),
    ({"domains": ["example.org"], "mail_to": "nobody"}, r"mail_to must be a mail address"),
    ({"domains": ["example.org"], "command": ""}, r"command must be a command line"),
    ({"domains": ["example.org"], "command": "'unclosed"}, r"command: No closing quotation"),
    ({"domains": ["example.org"], "colour": "red"}, r"unknown key\(s\) colour"),
])
def test_bad_watch_tables_say_where_and_why(watch, message):
    raw: dict[str, object] = {"watch": [{"name": "out", **watch}]}
    with pytest.raises(ConfigError, match=r"rblmirror\.toml \[\[watch\]\] #1( \(out\))?: " + message):
        parse_config(raw, "rblmirror.toml")


def test_watch_names_and_targets():
    one: dict[str, object] = {
        "name": "out", "networks": ["192.0.2.0/30", "2001:db8::25"],
        "domains": ["Example.ORG."], "command": "/bin/alert --to 'ops team'",
        "webhook": "http://127.0.0.1:9/h", "mail_to": ["a@example.org", "b@example.org"]}
    watches: list[object] = [one, {"name": "out"}]
    with pytest.raises(ConfigError, match=r"#2 \(out\): watch out is defined twice"):
        parse_config({"watch": watches}, "c.toml")
    (w,) = parse_config({"watch": watches[:1]}, "c.toml").watches
    assert w.addresses() == ["192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::25"]
    assert w.domains == ("example.org",)
    assert w.command == ("/bin/alert", "--to", "ops team")
    assert w.mail_to == "a@example.org, b@example.org"


# ---- passes after real fetches ----------------------------------------------------
HOOK = """import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(json.load(sys.stdin)) + "\\n")
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def mirror(tmp_path: Path, hook_exit: int = 0, webhook: str | None = None) -> Path:
    """A mirror of a local ip4set (source uceprotect-1: a catalogue entry, so its codes
    are read and its lookup link given) with a watch on WATCHED and a /30."""
    (tmp_path / "hook.py").write_text(HOOK)
    up = tmp_path / "upstream.zone"
    write_upstream(up, [])
    lines = [f'state_dir = "{tmp_path / "state"}"',
             "[[source]]", 'name = "uceprotect-1"', f'url = "{up}"', 'format = "ip4set"',
             "max_shrink = 1",
             "[[zone]]", 'name = "uce1.mirror.test"', 'datasets = ["uceprotect-1"]',
             "[[watch]]", 'name = "outbound"', f'networks = ["{WATCHED}", "198.51.100.0/30"]',
             f'command = "{sys.executable} {tmp_path / "hook.py"} {tmp_path / "alerts"} '
             f'{hook_exit}"']
    if webhook:
        lines.append(f'webhook = "{webhook}"')
    cfg = tmp_path / "rblmirror.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def write_upstream(path: Path, listed: list[str]) -> None:
    path.write_text(":127.0.0.2:IP $ is UCEPROTECT-Level 1 listed\n10.9.9.9\n" +
                    "".join(f"{a}\n" for a in listed))


def fetch(cfg: Path) -> None:
    code, out, err = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "fetched" in out, out + err


def alerts(tmp_path: Path) -> list[dict]:
    p = tmp_path / "alerts"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def gauge(cfg: Path) -> dict[tuple[str, str], float]:
    c = load_config(cfg)
    fams = [f for f in SourceAndServerMetrics(c, c.state_dir).collect()
            if f.name == "rblmirror_watch_listed"]
    return {(s.labels["watch"], s.labels["zone"]): s.value for f in fams for s in f.samples}


@pytest.mark.integration
def test_alert_fires_once_on_listing_and_once_on_delisting(tmp_path):
    h = Httpd(tmp_path / "www").start()
    try:
        cfg = mirror(tmp_path, webhook=h.url("hook"))
        up = tmp_path / "upstream.zone"
        fetch(cfg)  # the first swap: nothing watched is listed, nobody is told
        assert alerts(tmp_path) == [] and h.posts == []
        assert gauge(cfg) == {("outbound", "uce1.mirror.test"): 0.0}

        write_upstream(up, [WATCHED])
        fetch(cfg)  # the pass after the swap alerts
        (a,) = alerts(tmp_path)
        assert a["watch"] == "outbound" and a["listed_now"] == 1
        (c,) = a["changes"]
        assert c == {"event": "listed", "watch": "outbound", "zone": "uce1.mirror.test",
                     "subject": WATCHED, "codes": ["127.0.0.2"],
                     "meaning": "UCEPROTECT Level 1: this address sent spam (or is in the "
                                "project's Level 1 criteria)",
                     "reason": f"IP {WATCHED} is UCEPROTECT-Level 1 listed",
                     "list": "uceprotect-1",
                     "delist_url": f"http://www.uceprotect.net/rblcheck.php?ipr={WATCHED}"}
        ((path, headers, body),) = h.posts
        assert path == "/hook" and headers["Content-Type"] == "application/json"
        assert json.loads(body) == a
        assert gauge(cfg) == {("outbound", "uce1.mirror.test"): 1.0}

        code, out, err = cli("watch", "--once", "--config", str(cfg))  # unchanged: quiet
        assert code == 1, out + err
        assert f"outbound\t{WATCHED}\tlisted by uce1.mirror.test\t127.0.0.2" in out
        assert len(alerts(tmp_path)) == 1 and len(h.posts) == 1

        write_upstream(up, [])
        fetch(cfg)
        assert [x["changes"][0]["event"] for x in alerts(tmp_path)] == ["listed", "delisted"]
        assert len(h.posts) == 2 and json.loads(h.posts[1][2])["listed_now"] == 0
        code, out, err = cli("watch", "--once", "--config", str(cfg))
        assert code == 0 and "nothing watched is listed" in out, out + err
        assert len(alerts(tmp_path)) == 2
        assert gauge(cfg) == {("outbound", "uce1.mirror.test"): 0.0}
    finally:
        h.stop()


@pytest.mark.integration
def test_an_undelivered_alert_is_sent_again(tmp_path):
    cfg = mirror(tmp_path, hook_exit=3)
    write_upstream(tmp_path / "upstream.zone", ["198.51.100.2"])
    fetch(cfg)  # the hook runs (and records) but fails: the state is not advanced
    assert len(alerts(tmp_path)) == 1
    code, out, err = cli("watch", "--once", "--config", str(cfg))
    assert code == 1
    assert "command" in err and "exited 3" in err
    assert [x["changes"][0]["subject"] for x in alerts(tmp_path)] == ["198.51.100.2"] * 2


def test_an_error_code_is_no_listing(tmp_path):
    """A zone serving Spamhaus ZEN answering 127.255.255.254 (a public resolver's query)
    neither lists nor delists: exit 2, nobody alerted."""
    (tmp_path / "hook.py").write_text(HOOK)
    (tmp_path / "zen.zone").write_text(f":127.255.255.254:refused\n{WATCHED}\n")
    cfg = tmp_path / "rblmirror.toml"
    cfg.write_text(f'state_dir = "{tmp_path / "state"}"\n[[zone]]\nname = "zen.spamhaus.org"\n'
                   f'datasets = ["ip4set:{tmp_path / "zen.zone"}"]\n[[watch]]\nname = "w"\n'
                   f'networks = ["{WATCHED}"]\n'
                   f'command = "{sys.executable} {tmp_path / "hook.py"} {tmp_path / "alerts"}"\n')
    code, out, err = cli("watch", "--once", "--config", str(cfg))
    assert code == 2, out + err
    assert "nothing watched is listed" in out
    assert "zen.spamhaus.org gave no answer for 192.0.2.77: an error code, not a listing" in err
    assert alerts(tmp_path) == []


def test_watch_needs_once_and_a_watch(tmp_path):
    cfg = tmp_path / "rblmirror.toml"
    cfg.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    code, _, err = cli("watch", "--config", str(cfg))
    assert code == 2 and "use --once" in err
    code, _, err = cli("watch", "--once", "--config", str(cfg))
    assert code == 2 and "no [[watch]]" in err


@pytest.mark.integration
def test_serves_fetch_schedule_runs_the_watch_after_a_swap(tmp_path):
    """`serve`'s background fetch (fetch.Scheduler) checks the watch after its swaps."""
    from rblmirror.mirror.fetch import Scheduler
    cfg = mirror(tmp_path)
    write_upstream(tmp_path / "upstream.zone", [WATCHED])
    c = load_config(cfg)
    Scheduler(c, c.state_dir).run_once()  # never fetched: due, swapped, watched
    (a,) = alerts(tmp_path)
    assert [(x["event"], x["subject"]) for x in a["changes"]] == [("listed", WATCHED)]
    Scheduler(c, c.state_dir).run_once()  # not due: no swap, no pass, no alert
    assert len(alerts(tmp_path)) == 1
