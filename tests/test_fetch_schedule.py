"""The schedule: min_interval + jitter, exponential backoff, the serve-side Scheduler."""
from __future__ import annotations

import random

from rblmirror.config import load_config
from rblmirror.fetch import BACKOFF_MAX, JITTER_MAX, Scheduler, next_delay
from rblmirror.config import SourceConfig
from test_fetch_support import copy_feed, state, write_config


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
