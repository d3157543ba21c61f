"""Durations for people: the one home of `3m05s`, `2h07m`, `4d3h`."""
from __future__ import annotations


def human(seconds: float | None) -> str:
    """A duration as `45s`, `3m05s`, `2h07m` or `4d3h`; None is `-`; negative is `0s`."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
