"""The systemd unit in contrib/ parses (systemd-analyze verify when present) and runs
`rblmirror serve --user`."""
from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "contrib/systemd/rblmirror.service"


def test_unit_runs_serve_as_user():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read_string(UNIT.read_text())
    start = cp["Service"]["ExecStart"]
    assert " serve " in start and "--user rblmirror" in start
    assert cp["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert "CAP_NET_BIND_SERVICE" in cp["Service"]["CapabilityBoundingSet"]
    assert cp["Install"]["WantedBy"] == "multi-user.target"
