"""The one TOML reader (rblmirror.tomlfile) behind the config and the catalogue: a file that
cannot be read or is not TOML comes back as the caller's own error, naming the file (and
the line), in both callers' words."""
from __future__ import annotations

import pytest

from rblmirror import tomlfile
from rblmirror.data import catalogue
from rblmirror.errors import CatalogueError, ConfigError
from rblmirror.mirror.config import load_config


def test_reads_a_table(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text('x = 1\n[[t]]\nname = "a"\n')
    assert tomlfile.load(str(p), ConfigError) == {"x": 1, "t": [{"name": "a"}]}


@pytest.mark.parametrize("load, error, what", [
    (load_config, ConfigError, "cannot read config "),
    (catalogue.load, CatalogueError, "cannot read "),
])
def test_unreadable_and_bad_toml_in_each_callers_words(tmp_path, load, error, what):
    missing = tmp_path / "nope.toml"
    with pytest.raises(error) as e:
        load(str(missing))
    assert str(e.value) == f"{what}{missing}: No such file or directory"
    bad = tmp_path / "bad.toml"
    bad.write_text('ok = 1\n\n[[zone]\n')
    with pytest.raises(error) as e:
        load(str(bad))
    assert str(e.value).startswith(f"{bad}: invalid TOML: ") and "line 3" in str(e.value), \
        e.value
