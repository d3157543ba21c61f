"""SpamAssassin's check_rbl rules (from `rblmirror snippets spamassassin`, its dns_server
pointed at `rblmirror serve`): a message relayed by a listed address scores the rule, one
relayed by an unlisted address does not."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli import RBLMIRROR
from support.mailzones import L1, L1Z, WL, ZONES, listed_addresses, unlisted_address
from support.serve import Serve
from support.tools import require_tool

pytestmark = pytest.mark.integration

BL = [f"bl.rblmirror.test:ip4set:{ZONES / 'rfc5782-ip4.zone'}"]
RULE = "RBLMIRROR_L1_RBLMIRROR_TEST"

MESSAGE = """Received: from client.example.org (unknown [{ip}])
\tby mx.rblmirror.test (Postfix) with ESMTP id 4AB12C3D4E
\tfor <postmaster@example.test>; Thu, 26 Nov 2026 07:00:00 +0000 (UTC)
From: Sender <sender@example.org>
To: postmaster@example.test
Subject: hello
Date: Thu, 26 Nov 2026 07:00:00 +0000
Message-ID: <{ip}@example.org>

Just a test message.
"""


@dataclass
class _SpamAssassin:
    """`spamassassin -t` on a message from an address, and the snippet it runs with."""

    run: Callable[[str], subprocess.CompletedProcess]
    snippet: str

    def __call__(self, ip: str) -> subprocess.CompletedProcess:
        return self.run(ip)


def sa_for(tmp_path_factory, zones: list[str]):
    """Yields a _SpamAssassin whose snippet names `zones`, served by `rblmirror serve`."""
    spamassassin = require_tool("spamassassin")
    work = tmp_path_factory.mktemp("sa")
    with Serve(zones, extra=["--no-fetch"], log_dir=work) as srv:
        cmd = [*RBLMIRROR, "snippets", "spamassassin",
               "--server", f"127.0.0.1:{srv.port}"]
        for z in zones:
            cmd += ["--zone", z]
        snippet = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        site = work / "site"
        site.mkdir()
        for pre in Path("/etc/spamassassin").glob("*.pre"):  # the plugin loaders
            (site / pre.name).write_bytes(pre.read_bytes())
        (site / "local.cf").write_text(snippet)

        def run(ip: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [spamassassin, "-t", "-D", "dns", "--siteconfigpath", str(site),
                 "--prefspath", str(work / "user_prefs")],
                input=MESSAGE.format(ip=ip), capture_output=True, text=True, timeout=120,
                env={**os.environ, "HOME": str(work)})
        yield _SpamAssassin(run, snippet)


@pytest.fixture(scope="module")
def sa(tmp_path_factory):
    require_tool("spamassassin")
    if not L1.exists():
        pytest.skip(f"real dump not found at {L1}")
    yield from sa_for(tmp_path_factory, BL + L1Z + WL)


def test_listed_relay_hits_the_rule(sa):
    assert f"header   {RULE}  eval:check_rbl(" in sa.snippet
    a = listed_addresses(1)[0]
    r = sa(a)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    status = [x for x in r.stdout.splitlines() if x.startswith("X-Spam-Status")]
    assert status, r.stdout
    assert RULE in r.stdout, r.stdout + r.stderr[-3000:]
    assert f"{a} listed in l1.rblmirror.test" in r.stdout + r.stderr
    assert "RBLMIRROR_BL_RBLMIRROR_TEST" not in r.stdout


def test_unlisted_relay_does_not_hit(sa):
    a = unlisted_address()
    r = sa(a)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert RULE not in r.stdout
    rev = ".".join(reversed(a.split(".")))
    # it did ask our server (so a miss means "not listed", not "not asked")
    assert f"{rev}.l1.rblmirror.test" in r.stderr, r.stderr[-3000:]
