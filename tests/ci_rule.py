"""A pytest plugin (loaded for tests/ and benchmarks/ by pyproject's addopts): with
CI=true nothing may be skipped. A missing tool or missing real data is a failure there,
so CI proves everything it claims to run; outside CI a skip keeps its reason."""
from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"
