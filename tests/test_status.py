"""`rblmirror status`: per source and per zone, text and JSON; staleness by max_age."""
from __future__ import annotations

import time

from rblmirror.data.dataset import Dataset
from support.cli import cli, status_json
from support.feeds import copy_feed
from support.mirror import state, write_config

import pytest


def setup(tmp_path, max_age="2d", on_stale="servfail"):
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    (tmp_path / "local.zone").write_text("192.0.2.1\n")
    cfg = write_config(tmp_path, [
        {"name": "psbl", "url": str(up), "format": "plain", "min_interval": "0s",
         "max_age": max_age},
        {"name": "never", "url": str(tmp_path / "up" / "absent.txt"), "format": "plain"},
    ], [
        {"name": "psbl.mirror.test", "datasets": ["psbl"], "on_stale": on_stale},
        {"name": "never.mirror.test", "datasets": ["never"]},
        {"name": "local.test", "datasets": ["ip4set:local.zone"]},
    ])
    return up, cfg


@pytest.mark.integration
def test_status_before_and_after_fetch(tmp_path):
    up, cfg = setup(tmp_path)
    s = status_json(cfg)
    assert s["state_dir"] == str(tmp_path / "state")
    assert [(x["source"], x["state"], x["entries"]) for x in s["sources"]] == \
        [("psbl", "new", None), ("never", "new", None)]
    code, out, _ = cli("fetch", "--config", str(cfg))
    assert code == 1  # "never" cannot be fetched
    lines = out.splitlines()
    assert lines[0].startswith("psbl: fetched: ") and lines[1].startswith("never: failed: ")

    s = status_json(cfg)
    psbl, never = s["sources"]
    want = Dataset.from_file(up, "plain").entries
    st = state(tmp_path, "psbl")
    assert psbl["state"] == "fresh" and psbl["entries"] == want
    assert psbl["snapshot"] == st.snapshot and psbl["last_success"] == st.last_success
    assert 0 <= psbl["age"] < 60 and psbl["zones"] == ["psbl.mirror.test"]
    assert never["state"] == "failing" and "cannot read" in never["last_error"]
    zones = {z["zone"]: z for z in s["zones"]}
    assert zones["psbl.mirror.test"]["state"] == "ok"
    assert zones["psbl.mirror.test"]["entries"] == want
    assert zones["psbl.mirror.test"]["sources"] == [
        {"source": "psbl", "snapshot": st.snapshot, "entries": want}]
    assert zones["never.mirror.test"]["state"] == "missing"
    assert zones["never.mirror.test"]["answers"] == "SERVFAIL"
    assert zones["local.test"]["state"] == "local"
    assert zones["local.test"]["files"] == [str(tmp_path / "local.zone")]

    code, out, _ = cli("status", "--config", str(cfg))
    assert code == 1  # not every source is fresh
    assert "source psbl: FRESH" in out and "source never: FAILING" in out
    assert f"entries {want}; serial -; snapshot {st.snapshot}" in out
    assert "zone never.mirror.test: MISSING, answers SERVFAIL" in out
    assert "zone local.test: local files" in out


@pytest.mark.integration
def test_staleness_with_short_max_age(tmp_path):
    up, cfg = setup(tmp_path, max_age="1s")
    assert cli("fetch", "psbl", "--config", str(cfg))[0] == 0
    code, _, _ = cli("status", "--config", str(cfg))
    s = status_json(cfg)
    assert s["sources"][0]["state"] == "fresh"
    time.sleep(1.3)
    s = status_json(cfg)
    assert s["sources"][0]["state"] == "stale" and s["sources"][0]["age"] > 1
    z = next(z for z in s["zones"] if z["zone"] == "psbl.mirror.test")
    assert z["state"] == "stale" and z["answers"] == "SERVFAIL"
    # a successful fetch (even of unchanged data) makes it fresh again
    code, out, _ = cli("fetch", "psbl", "--config", str(cfg))
    assert code == 0 and "unchanged" in out
    assert status_json(cfg)["sources"][0]["state"] == "fresh"


@pytest.mark.integration
def test_on_stale_serve_keeps_answering(tmp_path):
    up, cfg = setup(tmp_path, max_age="1s", on_stale="serve")
    assert cli("fetch", "psbl", "--config", str(cfg))[0] == 0
    time.sleep(1.3)
    z = next(z for z in status_json(cfg)["zones"] if z["zone"] == "psbl.mirror.test")
    assert z["state"] == "stale" and z["answers"] == "data"


@pytest.mark.integration
def test_status_only_state_dir_option_and_env(tmp_path):
    up, cfg = setup(tmp_path)
    other = tmp_path / "other"
    assert cli("fetch", "psbl", "--config", str(cfg), "--state-dir", str(other))[0] == 0
    assert (other / "psbl" / "current").is_symlink()
    code, out, _ = cli("status", "--json", "--config", str(cfg),
                       env={"RBLMIRROR_STATE_DIR": str(other)})
    import json
    assert json.loads(out)["sources"][0]["state"] == "fresh"
    assert status_json(cfg)["sources"][0]["state"] == "new"  # the config's state_dir


def test_unknown_source_is_an_error(tmp_path):
    up, cfg = setup(tmp_path)
    code, out, err = cli("fetch", "nosuch", "--config", str(cfg))
    assert code == 2 and "unknown source(s) nosuch (sources: psbl, never)" in err
