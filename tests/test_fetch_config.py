"""[[source]] tables, zone datasets naming sources, on_stale, state_dir precedence."""
from __future__ import annotations

import pytest

from rblmirror.mirror.config import BUNDLED_CONFIG, load_config, parse_duration, resolve_state_dir
from rblmirror.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


SRC = '[[source]]\nname = "s1"\nurl = "{url}"\nformat = "ip4set"\n'


def test_bundled_config_has_psbl_source_and_zone():
    cfg = load_config(BUNDLED_CONFIG)
    src = cfg.sources["psbl"]
    assert src.url == "rsync://psbl-mirror.surriel.com/psbl/psbl.txt" and src.kind == "rsync"
    assert src.min_interval == 3600 and src.max_age == 2 * 86400 and src.max_shrink == 0.5
    (z,) = cfg.source_zones("psbl")
    assert z.name == "psbl.mirror.local" and z.on_stale == "servfail" and z.specs == ()
    # zone_specs stays the local files only: check/serve work without any fetch
    assert {s.name for s in cfg.zone_specs} == {"bl.rblmirror.test", "dbl.rblmirror.test"}


@pytest.mark.parametrize("url, kind, filename", [
    ("rsync://h.example/psbl/psbl.txt", "rsync", "psbl.txt"),
    ("h.example::psbl/psbl.txt", "rsync", "psbl.txt"),
    ("h.example::list", "rsync", "list"),
    ("https://h.example/drop.txt", "http", "drop.txt"),
    ("http://127.0.0.1:8080/x/y.zone", "http", "y.zone"),
])
def test_source_urls(tmp_path, url, kind, filename):
    cfg = load_config(write(tmp_path, SRC.format(url=url)))
    s = cfg.sources["s1"]
    assert (s.url, s.kind, s.filename) == (url, kind, filename)


def test_local_source_relative_to_config(tmp_path):
    cfg = load_config(write(tmp_path, SRC.format(url="dumps/a.zone") +
                            'min_interval = "1h30m"\nmax_age = 60\nmax_warnings = 0\n'
                            'keep = 2\ntimeout = "20s"\n'))
    s = cfg.sources["s1"]
    assert s.kind == "file" and s.url == str(tmp_path / "dumps/a.zone")
    assert (s.min_interval, s.max_age, s.max_warnings, s.keep, s.timeout) == \
        (5400, 60, 0.0, 2, 20)


def test_zone_mixing_files_and_sources(tmp_path):
    (tmp_path / "local.zone").write_text("192.0.2.1\n")
    cfg = load_config(write(tmp_path, SRC.format(url="rsync://h/m/f") +
                            '[[zone]]\nname = "Z.Test"\ndatasets = ["ip4set:local.zone", "s1"]\n'
                            'on_stale = "serve"\n'))
    (z,) = cfg.zones
    assert z.name == "z.test" and z.sources == ("s1",) and z.on_stale == "serve"
    assert [s.files for s in z.specs] == [(str(tmp_path / "local.zone"),)]
    assert cfg.zone_specs == list(z.specs)


def test_state_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("RBLMIRROR_STATE_DIR", raising=False)
    cfg = load_config(write(tmp_path, 'state_dir = "st"\n'))
    assert cfg.state_dir == str(tmp_path / "st")
    monkeypatch.setenv("RBLMIRROR_STATE_DIR", str(tmp_path / "env"))
    assert resolve_state_dir(cfg) == str(tmp_path / "env")
    assert resolve_state_dir(cfg, str(tmp_path / "cli")) == str(tmp_path / "cli")
    monkeypatch.delenv("RBLMIRROR_STATE_DIR")
    assert resolve_state_dir(load_config(write(tmp_path, ""))) == "/var/lib/rblmirror"


@pytest.mark.parametrize("text, needle", [
    ('[[source]]\nurl = "x"\nformat = "ip4set"\n', "needs name"),
    ('[[source]]\nname = "a:b"\nurl = "x"\nformat = "ip4set"\n', "needs name"),
    ('[[source]]\nname = "a"\nformat = "ip4set"\n', "needs url"),
    ('[[source]]\nname = "a"\nurl = "ftp://h/x"\nformat = "ip4set"\n', "unsupported url"),
    ('[[source]]\nname = "a"\nurl = "rsync://h/m/"\nformat = "ip4set"\n', "one file"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "bogus"\n', "format must be one of"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "combined"\n', "combined"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\nmin_interval = "soon"\n',
     "min_interval: expected a duration"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\nmax_shrink = 1.5\n',
     "max_shrink must be a fraction"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\nkeep = 0\n', "keep must be"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\nmirror = 1\n', "unknown key(s) mirror"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\n' * 2, "defined twice"),
    ('source = 1\n', "use [[source]] tables"),
    ('state_dir = 3\n', "state_dir must be a path"),
    ('[[zone]]\nname = "z"\ndatasets = ["nosuch"]\n', "a [[source]] name (sources: none"),
    ('[[source]]\nname = "a"\nurl = "x"\nformat = "plain"\n'
     '[[zone]]\nname = "z"\ndatasets = ["a"]\non_stale = "nxdomain"\n', "on_stale must be"),
    ('[[zone]]\nname = "z"\ndatasets = ["ip4set:a"]\n[[zone]]\nname = "Z"\n'
     'datasets = ["ip4set:b"]\n', "defined twice"),
])
def test_source_config_errors(tmp_path, text, needle):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert needle in str(e.value)


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1w", 604800),
    ("1h30m", 5400), ("1.5h", 5400), (45, 45), (0.5, 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("bad", ["", "h", "1x", "1h x", "-5", True, -1, [1]])
def test_bad_durations(bad):
    with pytest.raises(ConfigError, match="duration|negative"):
        parse_duration(bad, "x")
