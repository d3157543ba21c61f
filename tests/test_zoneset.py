"""zoneset: the one rule for which zones a command sees (--zone, --config) and their
assembly (local files plus mirrored sources' current snapshots), and what `check` says
of a zone `serve` answers SERVFAIL (never fetched; stale with on_stale = "servfail")."""
from __future__ import annotations

import time

import pytest

from rblmirror.mirror.config import BUNDLED_CONFIG
from rblmirror.mirror.zoneset import ZoneSelection, unanswered, unavailable
from support.cli import cli
from support.mirror import write_config


@pytest.fixture
def files(tmp_path):
    a = tmp_path / "a.zone"
    a.write_text("192.0.2.1\n")
    b = tmp_path / "b.zone"
    b.write_text("192.0.2.2 :127.0.0.3:b\n")
    return a, b


def test_the_config_is_read_when_given_or_when_no_zone_is(files, tmp_path, monkeypatch):
    a, b = files
    cfg = write_config(tmp_path, [], [{"name": "cfg.test", "datasets": [f"ip4set:{a}"]}])
    monkeypatch.setenv("RBLMIRROR_CONFIG", str(cfg))
    only_zone = ZoneSelection.from_options([f"z.test:ip4set:{b}"])
    assert only_zone.config is None and [s.name for s in only_zone.specs] == ["z.test"]
    default = ZoneSelection.from_options()
    assert default.config is not None
    assert default.config.path == str(cfg) and [s.name for s in default.specs] == ["cfg.test"]
    both = ZoneSelection.from_options([f"cfg.test:ip4set:{b}", f"z.test:ip4set:{b}"],
                                      str(cfg))
    # the config's zones first, then the --zone ones; one name merges into one zone
    assert [s.name for s in both.specs] == ["cfg.test", "cfg.test", "z.test"]
    zones = both.load()
    assert [z.name for z in zones] == ["cfg.test", "z.test"]
    assert zones[0].lookup("192.0.2.2").a == ("127.0.0.3",)
    assert zones[0].lookup("192.0.2.1").listed and not unavailable(zones)
    monkeypatch.delenv("RBLMIRROR_CONFIG")
    bundled = ZoneSelection.from_options().config
    assert bundled is not None
    assert bundled.path in (str(BUNDLED_CONFIG), "/etc/rblmirror/rblmirror.toml")


@pytest.mark.integration
def test_never_fetched_and_stale_sources(tmp_path):
    up = tmp_path / "up.txt"
    up.write_text("198.51.100.7\n")
    cfg = write_config(
        tmp_path,
        [{"name": "fresh", "url": str(up), "format": "plain", "max_age": "1s"},
         {"name": "never", "url": str(tmp_path / "missing.txt"), "format": "plain"}],
        [{"name": "strict.test", "datasets": ["fresh"]},
         {"name": "lenient.test", "datasets": ["fresh"], "on_stale": "serve"},
         {"name": "never.test", "datasets": ["never"], "on_stale": "serve"}])
    assert cli("fetch", "fresh", "--config", str(cfg))[0] == 0
    zones = {z.name: z for z in ZoneSelection.from_options((), str(cfg)).load()}
    now = time.time()
    assert unanswered(zones["strict.test"], "198.51.100.7", now) is None
    assert "never not fetched yet" in (unanswered(zones["never.test"], "198.51.100.7", now)
                                       or "")
    assert unanswered(zones["never.test"], "127.0.0.2", now) is None  # the test point
    later = now + 5
    assert "data stale since" in (unanswered(zones["strict.test"], "198.51.100.7", later)
                                  or "")
    assert unanswered(zones["lenient.test"], "198.51.100.7", later) is None
    assert set(unavailable(zones.values(), later)) == {"strict.test", "never.test"}
    time.sleep(1.2)  # the real clock: stale now, as serve answers it
    code, out, err = cli("check", "--config", str(cfg), "198.51.100.7")
    rows = out.splitlines()
    assert code == 1, err
    assert any(r.startswith("198.51.100.7\tstrict.test\tERROR\tdata stale since") for r in rows)
    assert "198.51.100.7\tlenient.test\tLISTED\t127.0.0.2" in rows
    assert any(r.startswith("198.51.100.7\tnever.test\tERROR\tsource(s) never not fetched")
               for r in rows)


@pytest.mark.integration
def test_unreadable_snapshot_is_an_error_not_a_missing_fetch(tmp_path):
    up = tmp_path / "up.txt"
    up.write_text("198.51.100.7\n198.51.100.8\n")
    cfg = write_config(tmp_path, [{"name": "src", "url": str(up), "format": "plain"}],
                       [{"name": "src.test", "datasets": ["src"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    snap = (tmp_path / "state" / "src" / "current").resolve()
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the checksum no longer matches
    snap.write_bytes(bytes(data))
    code, out, err = cli("check", "--config", str(cfg), "198.51.100.7")
    assert code == 2
    assert out.startswith("198.51.100.7\tsrc.test\tERROR\tsnapshot of source(s) src unreadable "
                          "(rblmirror rollback src)")
    assert "rblmirror: error: zone src.test: source src: cannot open snapshot" in err


@pytest.mark.integration
def test_stale_zone_whose_dump_lists_its_own_test_point_still_answers_it(tmp_path):
    """A dump carrying 127.0.0.2 itself (uceprotect's do) has no synthetic test point:
    while its zone is stale the test point must still answer, from ours."""
    from rblmirror.dns.answer import SERVFAIL
    up = tmp_path / "up.txt"
    up.write_text("127.0.0.2 :127.0.0.2:the list's own test point\n198.51.100.7\n")
    cfg = write_config(tmp_path, [{"name": "own", "url": str(up), "format": "ip4set",
                                   "max_age": "1s"}],
                       [{"name": "own.test", "datasets": ["own"]}])
    assert cli("fetch", "--config", str(cfg))[0] == 0
    (zone,) = ZoneSelection.from_options((), str(cfg)).load()
    later = time.time() + 5
    assert zone.answer("7.100.51.198.own.test", 1, now=later).rcode == SERVFAIL
    point = zone.answer("2.0.0.127.own.test", 1, now=later)
    assert point.rcode == 0 and point.answer, point
    assert zone.answer("1.0.0.127.own.test", 1, now=later).rcode == 3  # NXDOMAIN
