"""The systemd unit in contrib/ parses (systemd-analyze verify when present) and runs
`rblmirror serve --user`."""
from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "contrib/systemd/rblmirror.service"


class _CaseKept(configparser.ConfigParser):
    """Option names as written (systemd's are case-sensitive)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def test_unit_runs_serve_as_user():
    cp = _CaseKept(strict=False, interpolation=None)
    cp.read_string(UNIT.read_text())
    start = cp["Service"]["ExecStart"]
    assert " serve " in start and "--user rblmirror" in start
    assert cp["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # serve sends READY=1 once answering (tests/test_rbldnsd_command.py)
    assert cp["Service"]["Type"] == "notify"
    assert "CAP_NET_BIND_SERVICE" in cp["Service"]["CapabilityBoundingSet"]
    assert cp["Install"]["WantedBy"] == "multi-user.target"
