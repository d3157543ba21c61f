"""A bounded wait for a condition."""
from __future__ import annotations

import time


def until(pred, timeout: float = 15.0, step: float = 0.1):
    """pred()'s first true value within timeout seconds (polled every step), else its
    last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
