"""The replica's rules without a process: the exported state's layout (read_exported
refuses what is not one, naming the file) and "never older than the one served"."""
from __future__ import annotations

import json

import pytest

from rblmirror.errors import Rejected
from rblmirror.mirror.export import VERSION, read_exported
from rblmirror.mirror.replica import older
from rblmirror.mirror.state import SourceState

GOOD = {"version": VERSION, "source": "psbl", "format": "plain", "snapshot": "a.snap",
        "sha256": "0" * 64, "size": 10, "entries": 3, "serial": None, "created": 100.0,
        "last_success": 200.0, "exported": 201.0}


def test_read_exported_takes_its_layout_only(tmp_path):
    p = tmp_path / "state.json"
    p.write_text(json.dumps(GOOD))
    assert read_exported(str(p)) == GOOD
    cases = {"{not json": "unreadable exported state",
             json.dumps({**GOOD, "version": VERSION + 1}): f"this version reads {VERSION}",
             json.dumps([1, 2]): "exported state of layout None",
             json.dumps({k: v for k, v in GOOD.items() if k != "sha256"}):
                 "bad or missing 'sha256'",
             json.dumps({**GOOD, "size": "10"}): "bad or missing 'size'",
             json.dumps({**GOOD, "entries": True}): "bad or missing 'entries'"}
    for text, why in cases.items():
        p.write_text(text)
        with pytest.raises(Rejected) as e:
            read_exported(str(p))
        assert str(p) in str(e.value) and why in str(e.value), (text, str(e.value))
    with pytest.raises(Rejected, match="no exported state"):
        read_exported(str(tmp_path / "missing.json"))


def test_never_older_than_the_one_served():
    st = SourceState("psbl", snapshot="b.snap", serial=7, upstream_created=150.0)
    assert older({**GOOD, "serial": 8, "created": 160.0}, st) is None  # type: ignore[typeddict-item]
    why = older({**GOOD, "serial": 6, "created": 160.0}, st)  # type: ignore[typeddict-item]
    assert why is not None and "serial 6" in why and "serial 7" in why
    why = older({**GOOD, "serial": None, "created": 140.0}, st)  # type: ignore[typeddict-item]
    assert why is not None and "older than the one served" in why
    # nothing served yet: anything is newer
    assert older({**GOOD, "created": 1.0}, SourceState("psbl")) is None  # type: ignore[typeddict-item]


def test_the_export_files_are_reserved_source_names():
    from rblmirror.mirror.config import RESERVED_SOURCE_NAMES
    from rblmirror.mirror.export import CONF_FILE, EXPORT_DIR, LOG_FILE
    assert {EXPORT_DIR, CONF_FILE, LOG_FILE} <= RESERVED_SOURCE_NAMES
