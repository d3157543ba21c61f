"""Out-of-process compilation: same answers as an in-process load, clear errors."""
from __future__ import annotations

import random

import pytest

from rblmirror.data.compile import load_isolated, snapshot_name
from rblmirror.data.dataset import Dataset
from rblmirror.errors import ZoneFileError


@pytest.mark.integration
def test_isolated_equals_in_process(tmp_path, feeds_dir):
    files = (str(feeds_dir / "dnsbl-2.uceprotect.net"),)
    a = Dataset.from_files(files, format="ip4set")
    b = load_isolated("ip4set", files, str(tmp_path))
    assert (tmp_path / snapshot_name("ip4set", files)).exists()
    assert len(a) == len(b) and a.warnings == b.warnings
    rnd = random.Random(7)
    probes = [rnd.getrandbits(32) for _ in range(3000)]
    probes += [int(x) for x in a.index.segments4()[0][:3000]]
    for ip in probes:
        assert a.lookup(ip) == b.lookup(ip)


@pytest.mark.integration
def test_isolated_error_names_the_file(tmp_path):
    with pytest.raises(ZoneFileError, match="cannot read /nonexistent/zone"):
        load_isolated("ip4set", ("/nonexistent/zone",), str(tmp_path))
    with pytest.raises(ZoneFileError, match="unknown dataset format"):
        load_isolated("nosuch", ("/etc/hostname",), str(tmp_path))


def test_combined_loads_in_process(tmp_path):
    z = tmp_path / "c.zone"
    z.write_text("$DATASET ip4set @\n:3:relay $\n192.0.2.9\n")
    ds = load_isolated("combined", (str(z),), str(tmp_path))
    assert [x.a for x in ds.lookup("192.0.2.9")] == ["127.0.0.3"]
    assert list(tmp_path.glob("*.snap")) == []


@pytest.mark.integration
def test_child_never_imports_from_the_working_directory(tmp_path, monkeypatch):
    """A process running as root must not import code planted in its working directory
    (or a source checkout's rblmirror/ beside a non-editable install): the compile
    child runs isolated (-I), so a decoy package in the cwd or on PYTHONPATH is ignored."""
    decoy = tmp_path / "cwd"
    (decoy / "rblmirror").mkdir(parents=True)
    marker = tmp_path / "imported"
    (decoy / "rblmirror" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('decoy')\nraise SystemExit(97)\n")
    z = tmp_path / "z.zone"
    z.write_text("192.0.2.1\n")
    monkeypatch.chdir(decoy)
    monkeypatch.setenv("PYTHONPATH", str(decoy))
    ds = load_isolated("ip4set", (str(z),), str(tmp_path))
    assert [x.a for x in ds.lookup("192.0.2.1")] == ["127.0.0.2"]
    assert not marker.exists()
