"""Fetching from a real `rsync --daemon` on loopback serving copies of the real dumps."""
from __future__ import annotations

import re
import time

import pytest
from support.cli import cli, cli_process, status_json
from support.feeds import copy_feed
from support.mirror import served, state, write_config
from support.rsyncd import Rsyncd

from rblmirror.data.dataset import Dataset

pytestmark = pytest.mark.integration

FEED = "dnsbl-1.uceprotect.net"  # 700 KB, 50k entries, $SOA serial


@pytest.fixture
def upstream(tmp_path):
    d = Rsyncd(tmp_path / "upstream")
    copy_feed(FEED, d.folder / FEED)
    d.start()
    yield d
    d.stop()


def config(tmp_path, url, **kw):
    src = {"name": "uce1", "url": url, "format": "ip4set", "min_interval": "1h",
           "max_age": "2d", "max_shrink": 0.5, **kw}
    return write_config(tmp_path, [src], [{"name": "uce1.mirror.test", "datasets": ["uce1"]}])


def single_ips(path, n):
    """n addresses listed by single-address lines of the dump (not ranges)."""
    out = []
    for line in path.read_text("latin-1").splitlines():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", line.strip()):
            out.append(line.strip())
            if len(out) == n:
                break
    return out


def connections(d: Rsyncd) -> int:
    return len(re.findall(r"rsync on feeds/", d.log))


def test_first_fetch_then_delta_reaches_answers(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url(FEED))
    up = upstream.folder / FEED
    code, out, err = cli("fetch", "--config", str(cfg))
    assert code == 0, out + err
    assert out.startswith("uce1: fetched: ")
    want = Dataset.from_file(up, "ip4set")
    assert want.meta.soa is not None
    st = state(tmp_path, "uce1")
    assert st.entries == want.entries and st.serial == want.meta.soa.serial
    assert st.snapshot == f"{want.meta.soa.serial}.snap"
    ds = served(tmp_path, "uce1")
    removed = single_ips(up, 200)[-5:]
    for ip in removed:
        assert ds.lookup(ip) == want.lookup(ip) != ()

    # upstream changes: 5 addresses removed, 5 added, a new serial
    added = [f"198.51.100.{i}" for i in (7, 9, 11, 13, 15)]
    assert all(ds.lookup(ip) == () for ip in added)
    text = up.read_text("latin-1")
    for ip in removed:
        text = text.replace(f"\n{ip}\n", "\n", 1)
    text = text.replace(str(want.meta.soa.serial), str(want.meta.soa.serial + 1), 1)
    text += "".join(f"{ip}\n" for ip in added)
    up.write_text(text, "latin-1")
    new = Dataset.from_file(up, "ip4set")
    assert all(new.lookup(ip) == () for ip in removed) and all(new.lookup(ip) for ip in added)

    code, out, err = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "fetched" in out, out + err
    st = state(tmp_path, "uce1")
    # rsync's --stats: a delta transfer, most of the file rebuilt from the old copy
    assert st.file_size == up.stat().st_size
    assert st.matched_bytes > 0.9 * st.file_size
    assert st.literal_bytes < 0.05 * st.file_size
    assert st.bytes_received < 0.05 * st.file_size
    ds = served(tmp_path, "uce1")
    assert ds.entries == new.entries and st.serial == want.meta.soa.serial + 1
    for ip in removed + added:
        assert ds.lookup(ip) == new.lookup(ip)
    assert all(ds.lookup(ip) == () for ip in removed) and all(ds.lookup(ip) for ip in added)
    print(f"delta: file {st.file_size} B, literal {st.literal_bytes} B, matched "
          f"{st.matched_bytes} B, received {st.bytes_received} B")


def test_min_interval_respected_without_force(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url(FEED))
    assert cli("fetch", "--config", str(cfg))[0] == 0
    assert connections(upstream) == 1
    code, out, _ = cli("fetch", "--config", str(cfg))
    assert code == 0 and out.startswith("uce1: not due: next fetch in ")
    assert connections(upstream) == 1  # the daemon saw no second client
    st = state(tmp_path, "uce1")
    assert 3600 <= st.next_due - st.last_attempt <= 3600 * 1.1  # min_interval + jitter
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and out.startswith("uce1: unchanged: ")
    assert connections(upstream) == 2


def test_truncated_or_emptied_upstream_rejected_old_data_kept(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url(FEED))
    up = upstream.folder / FEED
    good = up.read_bytes()
    assert cli("fetch", "--config", str(cfg))[0] == 0
    before = state(tmp_path, "uce1")
    probe = single_ips(up, 1000)[-3:]

    up.write_bytes(good[: len(good) // 10])  # truncated to 10%
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 1 and out.startswith("uce1: rejected: shrank from "), out
    st = state(tmp_path, "uce1")
    assert st.result == "rejected" and st.snapshot == before.snapshot
    assert st.entries == before.entries and st.failures == 1
    assert all(served(tmp_path, "uce1").lookup(ip) for ip in probe)
    s = status_json(cfg)
    assert s["sources"][0]["state"] == "rejected" and "shrank" in s["sources"][0]["last_error"]
    assert s["zones"][0]["answers"] == "data"

    up.write_bytes(b"")  # emptied
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 1 and "rejected: empty dump" in out, out
    assert state(tmp_path, "uce1").snapshot == before.snapshot
    assert all(served(tmp_path, "uce1").lookup(ip) for ip in probe)

    up.write_bytes(good)  # upstream repaired: the same data as the current snapshot
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and out.startswith("uce1: unchanged"), out
    assert status_json(cfg)["sources"][0]["state"] == "fresh"
    assert state(tmp_path, "uce1").failures == 0


def test_daemon_killed_mid_transfer_then_stopped(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url(FEED))
    up = upstream.folder / FEED
    assert cli("fetch", "--config", str(cfg))[0] == 0
    before = state(tmp_path, "uce1")
    old_probe = single_ips(up, 50)[-3:]
    old_dump = (tmp_path / "state/uce1/data" / FEED).read_bytes()
    upstream.stop()

    # a slow daemon (bandwidth-limited) serving a different, bigger dump
    slow = Rsyncd(upstream.folder, bwlimit_kbps=20).start()
    copy_feed("dnsbl-2.uceprotect.net", up)
    cfg = config(tmp_path, slow.url(FEED), max_shrink=0.9)
    p = cli_process("fetch", "--force", "--config", str(cfg))
    data_dir = tmp_path / "state/uce1/data"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
            x.name.startswith(f".{FEED}.") for x in data_dir.iterdir()):
        time.sleep(0.05)  # until rsync has started writing its temp file
    assert any(x.name.startswith(f".{FEED}.") for x in data_dir.iterdir()), "no transfer seen"
    slow.kill()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, out + err
    assert out.startswith("uce1: failed: rsync exit "), out
    assert sorted(x.name for x in data_dir.iterdir()) == [FEED]  # no temp file left
    assert (data_dir / FEED).read_bytes() == old_dump
    st = state(tmp_path, "uce1")
    assert st.result == "failed" and st.snapshot == before.snapshot
    assert all(served(tmp_path, "uce1").lookup(ip) for ip in old_probe)
    s = status_json(cfg)["sources"][0]
    assert s["state"] == "failing" and s["last_error"].startswith("rsync exit ")

    # the daemon stays down: connection refused, backoff doubles the delay
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 1 and "failed: rsync exit" in out and "refused" in out.lower(), out
    st = state(tmp_path, "uce1")
    assert st.failures == 2 and st.next_due - st.last_attempt >= 2 * 3600
    code, out, _ = cli("fetch", "--config", str(cfg))
    assert code == 0 and "not due" in out  # backing off: no retry before next_due
    assert all(served(tmp_path, "uce1").lookup(ip) for ip in old_probe)


def test_two_concurrent_fetches_one_waits(tmp_path):
    slow = Rsyncd(tmp_path / "upstream", bwlimit_kbps=100)
    copy_feed(FEED, slow.folder / FEED)
    slow.start()
    try:
        cfg = config(tmp_path, slow.url(FEED))
        procs = [cli_process("fetch", "-v", "--config", str(cfg)) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        slow.stop()
    lines = sorted(o for o, _ in outs)
    assert [p.returncode for p in procs] == [0, 0], outs
    assert lines[0].startswith("uce1: fetched: ") and lines[1].startswith("uce1: not due: "), \
        lines
    waiter = next(e for o, e in outs if "not due" in o)
    assert "waiting for the lock (held by pid" in waiter
    assert connections(slow) == 1


def test_rollback(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url(FEED))
    up = upstream.folder / FEED
    first = Dataset.from_file(up, "ip4set")
    assert cli("fetch", "--config", str(cfg))[0] == 0
    one = state(tmp_path, "uce1").snapshot
    ip = single_ips(up, 10)[-1]
    text = up.read_text("latin-1").replace(f"\n{ip}\n", "\n", 1)
    up.write_text(text + "203.0.113.77\n", "latin-1")
    assert cli("fetch", "--force", "--config", str(cfg))[0] == 0
    two = state(tmp_path, "uce1").snapshot
    assert two != one and served(tmp_path, "uce1").lookup("203.0.113.77")

    code, out, err = cli("rollback", "uce1", "--config", str(cfg))
    assert code == 0 and out.strip() == f"uce1: current is now {one} (was {two})", out + err
    ds = served(tmp_path, "uce1")
    assert ds.lookup("203.0.113.77") == () and ds.lookup(ip) == first.lookup(ip) != ()
    assert state(tmp_path, "uce1").entries == first.entries
    # upstream unchanged: the rollback sticks
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "unchanged" in out and "rolled back" in out, out
    assert state(tmp_path, "uce1").snapshot == one
    code, out, err = cli("rollback", "uce1", "--config", str(cfg))
    assert code == 2 and "no snapshot older than" in err
    code, out, _ = cli("rollback", "uce1", "--list", "--config", str(cfg))
    assert out.splitlines()[0].startswith(f"* {one}") and two in out
