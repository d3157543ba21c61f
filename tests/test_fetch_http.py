"""Fetching over HTTP from a loopback server: 200, conditional 304, 5xx, lock, interval."""
from __future__ import annotations

import pytest
from support.cli import cli, cli_process, status_json
from support.feeds import copy_feed
from support.httpd import Httpd
from support.mirror import served, state, write_config

from rblmirror.data.dataset import Dataset

FEED = "psbl.txt"


@pytest.fixture
def web(tmp_path):
    h = Httpd(tmp_path / "www")
    copy_feed(FEED, h.folder / FEED)
    h.start()
    yield h
    h.stop()


def config(tmp_path, url, **kw):
    src = {"name": "psbl", "url": url, "format": "plain", "min_interval": "1h", **kw}
    return write_config(tmp_path, [src], [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])


@pytest.mark.integration
def test_200_then_304_then_change(tmp_path, web):
    cfg = config(tmp_path, web.url(FEED))
    up = web.folder / FEED
    code, out, err = cli("fetch", "--config", str(cfg))
    assert code == 0 and out.startswith("psbl: fetched: "), out + err
    want = Dataset.from_file(up, "plain")
    st = state(tmp_path, "psbl")
    assert st.entries == want.entries and st.bytes_received == up.stat().st_size
    assert st.etag and st.last_modified
    assert (tmp_path / "state/psbl/data" / FEED).read_bytes() == up.read_bytes()
    first_ip = up.read_text().split()[0]
    assert served(tmp_path, "psbl").lookup(first_ip) == want.lookup(first_ip) != ()
    assert "If-None-Match" not in web.requests[0][1]

    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and out.startswith("psbl: unchanged: "), out
    path, headers, status = web.requests[-1]
    assert status == 304 and headers["If-None-Match"] == st.etag
    assert headers["If-Modified-Since"] == st.last_modified
    assert state(tmp_path, "psbl").bytes_received == 0

    up.write_text(up.read_text().replace(f"{first_ip}\n", "", 1) + "192.0.2.200\n")
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and out.startswith("psbl: fetched: "), out
    assert web.requests[-1][2] == 200
    ds = served(tmp_path, "psbl")
    new = Dataset.from_file(up, "plain")
    assert ds.entries == new.entries
    assert ds.lookup("192.0.2.200") and ds.lookup(first_ip) == new.lookup(first_ip) == ()


@pytest.mark.integration
def test_5xx_keeps_old_data_and_backs_off(tmp_path, web):
    cfg = config(tmp_path, web.url(FEED))
    assert cli("fetch", "--config", str(cfg))[0] == 0
    before = state(tmp_path, "psbl")
    web.fail_with = 503
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 1 and out.startswith("psbl: failed: HTTP 503"), out
    st = state(tmp_path, "psbl")
    assert st.result == "failed" and st.snapshot == before.snapshot
    assert st.next_due - st.last_attempt >= 3600
    s = status_json(cfg)
    assert s["sources"][0]["state"] == "failing" and s["zones"][0]["answers"] == "data"
    assert served(tmp_path, "psbl").entries == before.entries
    assert [x.name for x in (tmp_path / "state/psbl/data").iterdir()] == [FEED]
    requests = len(web.requests)
    code, out, _ = cli("fetch", "--config", str(cfg))
    assert code == 0 and "not due" in out and len(web.requests) == requests
    web.fail_with = 500
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 1 and "HTTP 500" in out
    assert state(tmp_path, "psbl").failures == 2
    web.fail_with = None
    code, out, _ = cli("fetch", "--force", "--config", str(cfg))
    assert code == 0 and "unchanged" in out and state(tmp_path, "psbl").failures == 0


def test_http_404_before_any_snapshot(tmp_path, web):
    cfg = config(tmp_path, web.url("missing.txt"))
    code, out, _ = cli("fetch", "--config", str(cfg))
    assert code == 1 and out.strip() == "psbl: failed: HTTP 404 Not Found; no snapshot yet"
    s = status_json(cfg)
    assert s["sources"][0]["state"] == "failing" and s["zones"][0]["state"] == "missing"
    assert s["zones"][0]["answers"] == "SERVFAIL"


@pytest.mark.integration
def test_http_concurrent_fetches_one_waits(tmp_path, web):
    cfg = config(tmp_path, web.url(FEED))
    # hold the source's lock as a running fetch would, then start a fetch
    from rblmirror.mirror.state import SourceDir
    sd = SourceDir(str(tmp_path / "state"), "psbl")
    with sd.lock():
        p = cli_process("fetch", "-v", "--config", str(cfg))
        try:
            p.communicate(timeout=1.5)
            finished = True
        except Exception:
            finished = False
        assert not finished, "fetch did not wait for the lock"
        assert web.requests == []
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0 and out.startswith("psbl: fetched: "), out + err
    assert "waiting for the lock (held by pid" in err
