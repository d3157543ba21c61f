"""The TOML config: zones, server settings, clear errors for mistakes."""
from __future__ import annotations

import pytest

from rblmirror.mirror.config import BUNDLED_CONFIG, load_config
from rblmirror.errors import ConfigError
from rblmirror.dns.zone import Zone


def write(tmp_path, text):
    p = tmp_path / "rblmirror.toml"
    p.write_text(text)
    return p


def test_bundled_config_loads_rfc5782_zones():
    cfg = load_config(BUNDLED_CONFIG)
    zones = {z.name: z for z in Zone.from_specs(cfg.zone_specs)}
    assert set(zones) == {"bl.rblmirror.test", "dbl.rblmirror.test"}
    bl, dbl = zones["bl.rblmirror.test"], zones["dbl.rblmirror.test"]
    assert bl.lookup("127.0.0.2").a == ("127.0.0.2",)
    assert not bl.lookup("127.0.0.1").listed
    # IPv4-mapped test points answer from the IPv4 data (rbldnsd's rule); the IPv6 data
    # answers a plain IPv6 address
    assert bl.lookup("::ffff:7f00:2").a == ("127.0.0.2",)
    assert not bl.lookup("::ffff:7f00:1").listed
    assert any("IPv6 example" in x for x in bl.lookup("2001:db8:5782::2").txt)
    assert dbl.lookup("TEST").listed and not dbl.lookup("invalid").listed
    assert bl.warnings == [] and dbl.warnings == []
    assert bl.soa is not None and dbl.soa is not None
    assert cfg.listen == ["127.0.0.1:5353"] and cfg.workers == 1


def test_relative_paths_and_merge(tmp_path):
    (tmp_path / "a").write_text("192.0.2.1 :127.0.0.2:a\n")
    (tmp_path / "b").write_text("192.0.2.1 :127.0.0.3:b\n")
    p = write(tmp_path, '[server]\nlisten = "[::1]:53"\nworkers = 2\n'
                        '[[zone]]\nname = "X.Example."\ndatasets = ["ip4set:a", "ip4trie:b"]\n')
    cfg = load_config(p)
    assert cfg.listen == ["[::1]:53"] and cfg.workers == 2
    assert [s.files[0] for s in cfg.zone_specs] == [str(tmp_path / "a"), str(tmp_path / "b")]
    (z,) = Zone.from_specs(cfg.zone_specs)
    assert z.name == "x.example"
    assert sorted(z.lookup("192.0.2.1").a) == ["127.0.0.2", "127.0.0.3"]


@pytest.mark.parametrize("text, needle", [
    ("[[zone]]\nname = 'a'\n", "datasets must be a non-empty list"),
    ("[[zone]]\ndatasets = ['ip4set:x']\n", "needs name"),
    ("[[zone]]\nname = 'a'\ndatasets = ['nofile']\n", "expected NAME:FORMAT:FILE"),
    ("[server]\nworkers = 0\n", "workers must be an integer"),
    ("[server]\nlisen = []\n", "unknown key(s) lisen"),
    ("zone = 3\n", "use [[zone]] tables"),
    ("[[zone]\n", "invalid TOML"),
])
def test_config_errors(tmp_path, text, needle):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert needle in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
