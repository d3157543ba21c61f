"""What the benchmark files share: the real feeds and the required-tool rule."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: real dumps beside the project (../shared), read in place, never copied in
FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
#: (zone name, format, file) of the six real feeds
SPECS = [("psbl", "plain", "psbl.txt"), ("ucep1", "ip4set", "dnsbl-1.uceprotect.net"),
         ("ucep2", "ip4set", "dnsbl-2.uceprotect.net"),
         ("backscatterer", "ip4set", "ips.backscatterer.org"),
         ("whitelisted", "ip4set", "ips.whitelisted.org"),
         ("ucep3", "ip4set", "uceprotect-3-NetworkRanges.txt")]


def need(tool: str) -> str:
    """The tool's path. Missing: a failure when CI=true, else a skip with the reason."""
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}")
                                  else None)
    if path is None:
        msg = f"{tool} is not installed (scripts/bootstrap setup installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
