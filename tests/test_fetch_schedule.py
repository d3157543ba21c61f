"""The schedule: min_interval + jitter, exponential backoff, the serve-side Scheduler."""
from __future__ import annotations

import random

import pytest

from rblmirror.mirror.config import load_config
from rblmirror.mirror.fetch import BACKOFF_MAX, JITTER_MAX, Scheduler, next_delay
from rblmirror.mirror.config import SourceConfig
from support.cli import cli
from support.feeds import copy_feed
from support.mirror import state, write_config


class Fixed:
    def __init__(self, frac):
        self.frac = frac

    def uniform(self, a, b):
        return a + (b - a) * self.frac


def src(min_interval):
    return SourceConfig("s", "x", "file", "plain", min_interval=min_interval)


def test_jitter_bounds():
    s = src(3600)
    assert next_delay(s, 0, Fixed(0)) == 3600
    assert next_delay(s, 0, Fixed(1)) == 3600 + 360  # 10 %
    assert next_delay(src(86400), 0, Fixed(1)) == 86400 + JITTER_MAX
    delays = {next_delay(s, 0, random.Random(i)) for i in range(50)}
    assert len(delays) > 40 and all(3600 <= d <= 3960 for d in delays)


def test_backoff_doubles_then_caps():
    s = src(900)
    got = [next_delay(s, n, Fixed(0)) for n in range(1, 8)]
    assert got[:5] == [900, 1800, 3600, 7200, 14400]
    assert got[5] == got[6] == BACKOFF_MAX
    assert next_delay(src(86400), 5, Fixed(0)) == 86400  # never below min_interval


@pytest.mark.integration
def test_scheduler_fetches_when_due(tmp_path):
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    cfg = load_config(write_config(tmp_path, [
        {"name": "psbl", "url": str(up), "format": "plain", "min_interval": "10m"}]))
    sched = Scheduler(cfg, str(tmp_path / "state"), max_sleep=30)
    wait = sched.run_once()
    st = state(tmp_path, "psbl")
    assert st.result == "fetched" and wait == 30  # next due in 10+ minutes: sleep max_sleep
    first = st.last_attempt
    assert sched.run_once() == 30 and state(tmp_path, "psbl").last_attempt == first
    clock = lambda: st.next_due + 1  # time passes
    sched.run_once(now=clock)
    assert state(tmp_path, "psbl").last_attempt > first


@pytest.mark.integration
def test_not_due_says_why(tmp_path):
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                    "min_interval": "1h"}])
    assert cli("fetch", "--config", str(conf))[0] == 0
    code, out, _ = cli("fetch", "--config", str(conf))
    assert code == 0
    assert out.startswith("psbl: not due: next fetch in ")
    assert "min_interval 1h00m since the last attempt at " in out and "--force" in out
    # after a failure the reason is the backoff, with the error
    up.unlink()
    assert cli("fetch", "--config", str(conf), "--force")[0] == 1
    code, out, _ = cli("fetch", "--config", str(conf))
    assert code == 0 and "backing off after 1 failed attempt" in out and str(up) in out


@pytest.mark.integration
def test_changed_url_is_due_at_once_and_resets_the_backoff(tmp_path):
    """A source failing on a wrong URL is fixed in the config: the next fetch runs at
    once (not after the backoff) and the failure count starts again from zero."""
    good = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    bad = tmp_path / "up" / "typo.txt"
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(bad), "format": "plain",
                                    "min_interval": "1h"}])
    for _ in range(3):
        cli("fetch", "--config", str(conf), "--force")
    st = state(tmp_path, "psbl")
    assert st.failures == 3 and st.result == "failed"
    code, out, _ = cli("fetch", "--config", str(conf))
    assert "not due" in out  # the backoff holds while the config is unchanged
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(good), "format": "plain",
                                    "min_interval": "1h"}])
    code, out, _ = cli("fetch", "--config", str(conf))
    assert code == 0 and out.startswith("psbl: fetched: "), out
    st = state(tmp_path, "psbl")
    assert st.failures == 0 and st.result == "fetched" and st.config["url"] == str(good)
    # the serve-side scheduler asks the same rule: a format change is due at once too
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(good), "format": "ip4set",
                                    "min_interval": "1h"}])
    before = state(tmp_path, "psbl").last_attempt
    Scheduler(load_config(conf), str(tmp_path / "state")).run_once()
    st = state(tmp_path, "psbl")
    assert st.last_attempt > before and st.config["format"] == "ip4set"


@pytest.mark.integration
def test_changed_format_reparses_the_same_dump(tmp_path):
    """Same bytes upstream, new format: not "unchanged" (the old snapshot was parsed as
    another format) and no shrink check against the other format's entry count."""
    up = tmp_path / "up" / "list.txt"
    up.parent.mkdir()
    up.write_text("".join(f"10.0.{i // 250}.{i % 250 + 1}\n" for i in range(1000)) +
                  "192.0.2.0/24\n")
    conf = write_config(tmp_path, [{"name": "l", "url": str(up), "format": "plain"}])
    assert cli("fetch", "--config", str(conf))[0] == 0
    assert state(tmp_path, "l").entries == 1001
    conf = write_config(tmp_path, [{"name": "l", "url": str(up), "format": "ip4tset"}])
    code, out, _ = cli("fetch", "--config", str(conf))
    assert code == 0 and out.startswith("l: fetched: "), out  # not "unchanged"
    st = state(tmp_path, "l")
    assert st.config["format"] == "ip4tset" and st.history[-1]["entries"] == st.entries


@pytest.mark.integration
def test_old_format_snapshot_is_recompiled_at_once(tmp_path):
    """After an upgrade the current snapshot is of the previous format (which the server
    refuses): the source is due at once, and the unchanged dump is compiled again."""
    from rblmirror.mirror.state import SourceDir
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain",
                                    "min_interval": "1h"}])
    assert cli("fetch", "--config", str(conf))[0] == 0
    cur = SourceDir(str(tmp_path / "state"), "psbl").current_snapshot()
    assert cur is not None
    with open(cur, "r+b") as f:
        f.write(b"RBLMSNP1")  # what the previous release wrote
    sched = Scheduler(load_config(conf), str(tmp_path / "state"))
    sched.run_once()
    st = state(tmp_path, "psbl")
    assert st.result == "fetched" and len(st.history) == 2
    new = SourceDir(str(tmp_path / "state"), "psbl").current_snapshot()
    assert new is not None
    assert open(new, "rb").read(8) == b"RBLMSNP4"
    code, out, _ = cli("fetch", "--config", str(conf))
    assert "not due" in out  # and then back to the schedule


@pytest.mark.integration
def test_rollback_refuses_a_corrupt_snapshot(tmp_path):
    from rblmirror.mirror.state import SourceDir
    up = copy_feed("psbl.txt", tmp_path / "up" / "psbl.txt")
    conf = write_config(tmp_path, [{"name": "psbl", "url": str(up), "format": "plain"}])
    assert cli("fetch", "--config", str(conf))[0] == 0
    with open(up, "a") as f:
        f.write("192.0.2.99\n")
    assert cli("fetch", "--config", str(conf), "--force")[0] == 0
    sd = SourceDir(str(tmp_path / "state"), "psbl")
    old = state(tmp_path, "psbl").history[0]["snapshot"]
    with open(sd.snapshots_dir + "/" + old, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0x10]))
    before = sd.current_snapshot()
    code, out, err = cli("rollback", "psbl", "--config", str(conf))
    assert code == 2 and f"cannot roll back to {old}" in err and "checksum" in err, err
    assert sd.current_snapshot() == before
