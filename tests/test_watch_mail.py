"""[[watch]] mail_to: `rblmirror watch --once` hands the alert to the local MTA
(/usr/sbin/sendmail -t -oi) and a real Postfix delivers it into a mailbox: once when the
watched address is listed, not on an unchanged pass, once when it is delisted."""
from __future__ import annotations

import os
import time

import pytest
from support.cli import RBLMIRROR
from support.mailbox import Mailbox
from support.tools import require_root, require_tool

pytestmark = pytest.mark.integration

WATCHED = "192.0.2.77"
ZONE = "dnsbl-1.uceprotect.net"  # named as the catalogue's list: its codes and link


@pytest.fixture
def box(tmp_path):
    for tool in ("ip", "postfix", "script", "postqueue"):
        require_tool(tool)
    require_root("network namespaces need root")
    os.chmod(tmp_path, 0o755)
    b = Mailbox(tmp_path, "ops@watch.test").start()
    yield b
    b.stop()


def test_alert_mail_delivered_once_per_change(tmp_path, box):
    zone = tmp_path / "l1.zone"
    cfg = tmp_path / "rblmirror.toml"
    cfg.write_text(f'state_dir = "{tmp_path / "state"}"\n[[zone]]\nname = "{ZONE}"\n'
                   f'datasets = ["ip4set:{zone}"]\n[[watch]]\nname = "mail-out"\n'
                   f'networks = ["{WATCHED}"]\nmail_to = "ops@watch.test"\n')

    def watch(listed: bool) -> int:
        zone.write_text(":127.0.0.2:IP $ is UCEPROTECT-Level 1 listed\n10.9.9.9\n"
                        + (f"{WATCHED}\n" if listed else ""))
        r = box.exec(*RBLMIRROR, "watch", "--once", "--config", str(cfg), timeout=120)
        assert r.returncode in (0, 1), r.stdout + r.stderr
        assert "error" not in r.stderr, r.stderr
        return r.returncode

    assert watch(True) == 1
    (m,) = box.wait_messages(1)
    assert m["To"] == "ops@watch.test"
    assert m["Subject"] == f"rblmirror watch mail-out: 1 newly listed ({WATCHED} by {ZONE})"
    body = m.get_content()
    assert f"{WATCHED} listed by {ZONE} (uceprotect-1)" in body
    assert "code 127.0.0.2: UCEPROTECT Level 1: this address sent spam" in body
    assert f"reason: IP {WATCHED} is UCEPROTECT-Level 1 listed" in body
    assert f"delisting: http://www.uceprotect.net/rblcheck.php?ipr={WATCHED}" in body

    assert watch(True) == 1  # unchanged: no mail
    assert watch(False) == 0
    first, second = box.wait_messages(2)
    assert second["Subject"] == f"rblmirror watch mail-out: 1 delisted ({WATCHED} by {ZONE})"
    assert f"{WATCHED} delisted by {ZONE}" in second.get_content()
    deadline = time.monotonic() + 30
    while not box.queue_empty() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert box.queue_empty()
    assert len(box.messages()) == 2  # the unchanged pass sent nothing
