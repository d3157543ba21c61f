"""`rblmirror sources add NAME`: the catalogue's [[source]] and [[zone]] appended to a
config (content and comments kept, atomically), refused clearly when it cannot be; the
written config loads, and `fetch` and `serve` take it (a loopback rsync daemon serving a
small dump under the list's own module and path, never the real upstream)."""
from __future__ import annotations

import os
import stat

import pytest
from support import rsyncd
from support.cli import cli
from support.rsyncd import Rsyncd
from support.serve import Serve

from rblmirror.data import catalogue as cat
from rblmirror.mirror.config import BUNDLED_CONFIG, load_config

EXISTING = """# my config: keep this comment
state_dir = "{state}"   # trailing comment

[server]
listen = ["127.0.0.1:5353"]

[[zone]]
name = "local.test"   # a local zone
datasets = ["ip4set:local.zone"]
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "local.zone").write_text("192.0.2.1\n")
    p = tmp_path / "rblmirror.toml"
    p.write_text(EXISTING.format(state=tmp_path / "state"))
    os.chmod(p, 0o640)
    return p


def _no_temp_files(folder):
    return [f for f in os.listdir(folder) if ".tmp." in f] == []


def test_appends_and_keeps_content_comments_and_mode(config):
    before = config.read_bytes()
    code, out, err = cli("sources", "add", "psbl", "--config", str(config))
    assert code == 0, err
    after = config.read_bytes()
    assert after.startswith(before)  # every byte of the old file, comments too
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o640
    added = after[len(before):].decode()
    assert added.lstrip("\n") in out
    cfg = load_config(str(config))
    src = cfg.sources["psbl"]
    psbl = cat.load().get("psbl")
    assert psbl is not None and psbl.mirror is not None
    assert (src.url, src.kind, src.format) == (psbl.mirror.url, "rsync", "plain")
    assert [z.name for z in cfg.zones] == ["local.test", "psbl.mirror.local"]
    assert cfg.zones[1].sources == ("psbl",) and cfg.zones[0].specs  # old zone intact
    assert "# my config: keep this comment" in config.read_text()
    assert "rblmirror fetch psbl" in err
    assert _no_temp_files(config.parent)


def test_creates_a_missing_config(tmp_path):
    p = tmp_path / "etc" / "new.toml"
    code, _, err = cli("sources", "add", "psbl", "--config", str(p), "--zone-name",
                       "PSBL.Example.")
    assert code == 0, err
    assert [z.name for z in load_config(str(p)).zones] == ["psbl.example"]


@pytest.mark.parametrize("args,message", [
    (["spamhous-zen"], "not in the catalogue (did you mean spamhaus-zen"),
    (["spamcop"], "offers no mirror that rblmirror could fetch, so no zone can be served"),
    (["sorbs"], "has shut down"),
    (["uceprotect-1"], "publishes no mirror address"),
    (["dnswl", "--url", "rsync://127.0.0.1:1/dnswl/rbldnsd-dnswl"], "give it with --format"),
    (["psbl", "--url", "gopher://x/y"], "unsupported url"),
    (["psbl", "--zone-name", "local.test"], "a [[zone]] named local.test is already there"),
])
def test_refusals_write_nothing(config, args, message):
    before = config.read_bytes()
    code, _, err = cli("sources", "add", *args, "--config", str(config))
    assert code == 2 and message in err, err
    assert err.startswith("rblmirror: error: ")
    assert config.read_bytes() == before and _no_temp_files(config.parent)


def test_refuses_a_second_add_and_a_broken_config(config, tmp_path):
    assert cli("sources", "add", "psbl", "--config", str(config))[0] == 0
    before = config.read_bytes()
    code, _, err = cli("sources", "add", "psbl", "--config", str(config))
    assert code == 2 and "a [[source]] named psbl is already there" in err
    assert config.read_bytes() == before
    broken = tmp_path / "broken.toml"
    broken.write_text("[[zone]\nname = 1\n")
    code, _, err = cli("sources", "add", "psbl", "--config", str(broken))
    assert code == 2 and "invalid TOML, not changed" in err
    assert broken.read_text() == "[[zone]\nname = 1\n"


def test_refuses_the_bundled_config():
    before = BUNDLED_CONFIG.read_bytes()
    code, _, err = cli("sources", "add", "psbl", "--config", str(BUNDLED_CONFIG))
    assert code == 2 and "bundled default config" in err
    assert BUNDLED_CONFIG.read_bytes() == before


@pytest.mark.integration
def test_written_config_fetches_and_serves(config, tmp_path, monkeypatch):
    """The catalogue's PSBL mirror is rsync://psbl-mirror.surriel.com/psbl/psbl.txt; a
    loopback daemon serves a small dump as module psbl, path psbl.txt, and --url points
    there (only the host differs from the catalogue's)."""
    monkeypatch.setattr(rsyncd, "MODULE", "psbl")
    d = Rsyncd(tmp_path / "upstream")
    (d.folder / "psbl.txt").write_text("198.51.100.7\n203.0.113.0/24\n")
    d.start()
    try:
        url = d.url("psbl.txt")
        entry = cat.load().get("psbl")
        assert entry is not None and entry.mirror is not None and entry.mirror.url is not None
        upstream = entry.mirror.url
        assert url.split("/", 3)[3] == upstream.split("/", 3)[3] == "psbl/psbl.txt"
        code, _, err = cli("sources", "add", "psbl", "--config", str(config), "--url", url)
        assert code == 0, err
        code, out, err = cli("fetch", "--config", str(config))
        assert code == 0, out + err
        assert "psbl" in out and "2 entries" in out, out
        s = Serve([], extra=["--config", str(config), "--no-fetch"], log_dir=tmp_path,
                  probe="psbl.mirror.local").start()
        try:
            got = s.query("7.100.51.198.psbl.mirror.local", "A")
            assert [str(r.rdata) for r in got.rr] == ["127.0.0.2"]
            assert s.query("9.113.0.203.psbl.mirror.local", "A").header.rcode == 0
            assert s.query("8.100.51.198.psbl.mirror.local", "A").header.rcode == 3
            assert s.query("1.2.0.192.local.test", "A").header.rcode == 0  # kept zone
        finally:
            s.stop()
        # and check sees the same (the zone assembly serve uses)
        code, out, _ = cli("check", "--config", str(config), "198.51.100.7")
        assert code == 1 and "198.51.100.7\tpsbl.mirror.local\tLISTED\t127.0.0.2" in out
    finally:
        d.stop()


def test_how_to_add_says_what_sources_add_does(tmp_path):
    """configedit.how_to_add (what explain tells about a list not mirrored) agrees with
    `sources add` for every catalogue entry: its command works as given, and its reason
    is the one `sources add` refuses with."""
    from rblmirror.mirror.configedit import how_to_add
    seen = set()
    for i, entry in enumerate(cat.load()):
        ok, how = how_to_add(entry)
        p = tmp_path / f"c{i}.toml"
        code, _, err = cli("sources", "add", entry.name, "--config", str(p))
        if not ok:
            assert code == 2 and err == f"rblmirror: error: {how}\n", (entry.name, err)
            seen.add("refused")
        elif "--url URL" in how or "--format FORMAT" in how:
            assert how.startswith(f"rblmirror sources add {entry.name} --")
            assert code == 2 and ("--url" in err or "--format" in err), (entry.name, err)
            args = ["--url", "rsync://127.0.0.1:1/m/f"] if "--url URL" in how else []
            args += ["--format", "ip4set"] if "--format FORMAT" in how else []
            code, _, err = cli("sources", "add", entry.name, "--config", str(p), *args)
            assert code == 0, (entry.name, err)
            seen.add("needs options")
        else:
            assert how == f"rblmirror sources add {entry.name}"
            assert code == 0, (entry.name, err)
            seen.add("plain")
    assert seen == {"refused", "needs options", "plain"}
