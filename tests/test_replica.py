"""A primary's [export] and its replicas (format = "snapshot"), on one host: the export
folder a fetch publishes, a replica pulling it (from the folder, and from the real
`rsync --daemon` that `rblmirror export` runs), corrupt, truncated, torn and older
snapshots refused with the last good one kept, staleness following the upstream time,
and the daemon's hosts_allow and auth_users."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from support.cli import RBLMIRROR, cli, status_json
from support.feeds import copy_feed, listed_in
from support.mirror import served, state, write_config
from support.poll import until
from support.ports import free_tcp_port
from support.tools import require_tool

from rblmirror.data.dataset import Dataset
from rblmirror.errors import ConfigError
from rblmirror.mirror.config import parse_config
from rblmirror.mirror.export import read_exported, rsyncd_conf, sha256_file

pytestmark = pytest.mark.integration

FEED = "dnsbl-1.uceprotect.net"  # ip4set with a $SOA serial
ZONE = "uce1.mirror.test"


def primary(tmp_path, url, export: str | None = None):
    """A primary's config (its own folder), exporting on `export` (ADDR:PORT)."""
    d = tmp_path / "primary"
    d.mkdir(exist_ok=True)
    cfg = write_config(d, [{"name": "uce1", "url": str(url), "format": "ip4set",
                            "min_interval": "1s", "max_age": "1h"}],
                       [{"name": ZONE, "datasets": ["uce1"]}])
    listen = export or "127.0.0.1:1"
    cfg.write_text(cfg.read_text() + f'[export]\nlisten = "{listen}"\n'
                   'hosts_allow = ["127.0.0.1"]\n')
    return d, cfg


def replica(tmp_path, url, name="replica", **kw):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    src = {"name": "uce1", "url": str(url), "format": "snapshot", "min_interval": "1s",
           "max_age": "1h", **kw}
    return d, write_config(d, [src], [{"name": ZONE, "datasets": ["uce1"]}])


def fetch(cfg, *extra):
    code, out, err = cli("fetch", "--config", str(cfg), *extra)
    return code, out + err


def test_fetch_publishes_the_snapshot_and_its_state(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    pdir, pcfg = primary(tmp_path, up)
    code, out = fetch(pcfg)
    assert code == 0, out
    st = state(pdir, "uce1")
    folder = pdir / "state" / "export" / "uce1"
    exp = read_exported(str(folder / "state.json"))
    assert exp["sha256"] == sha256_file(str(folder / "snapshot"))
    assert exp["size"] == (folder / "snapshot").stat().st_size
    assert (exp["entries"], exp["serial"], exp["snapshot"]) == (st.entries, st.serial,
                                                                st.snapshot)
    assert exp["last_success"] == st.last_success and exp["format"] == "ip4set"
    # the exported file is the served snapshot itself (a link), not a copy
    assert os.path.samefile(folder / "snapshot",
                            pdir / "state" / "uce1" / "snapshots" / st.snapshot)
    # an unchanged fetch moves the upstream time on, without hashing again
    time.sleep(1.1)
    code, out = fetch(pcfg, "--force")
    assert "unchanged" in out, out
    again = read_exported(str(folder / "state.json"))
    assert again["last_success"] > exp["last_success"] and again["sha256"] == exp["sha256"]


def test_replica_serves_the_primary_snapshot_without_parsing(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    pdir, pcfg = primary(tmp_path, up)
    assert fetch(pcfg)[0] == 0
    rdir, rcfg = replica(tmp_path, pdir / "state" / "export" / "uce1")
    code, out = fetch(rcfg)
    assert code == 0 and "uce1: fetched" in out, out
    # byte for byte the primary's snapshot; the replica holds no dump
    pst, rst = state(pdir, "uce1"), state(rdir, "uce1")
    assert sha256_file(str(rdir / "state" / "uce1" / "snapshots" / rst.snapshot)) == \
        sha256_file(str(pdir / "state" / "uce1" / "snapshots" / pst.snapshot))
    assert sorted(os.listdir(rdir / "state" / "uce1" / "data")) == ["snapshot", "state.json"]
    assert (rst.entries, rst.serial, rst.upstream_format) == (pst.entries, pst.serial,
                                                              "ip4set")
    want = Dataset.from_file(up, "ip4set")
    for ip in listed_in(up, 3):
        assert served(rdir, "uce1").lookup(ip) == want.lookup(ip) != ()
    # its status shows both ages: the data's (upstream) and the pull's
    s = status_json(rcfg)["sources"][0]
    assert s["state"] == "fresh" and s["upstream_success"] == pst.last_success
    assert s["pull_age"] is not None and s["pull_age"] <= s["age"]
    code, out = fetch(rcfg, "--force")
    assert "uce1: unchanged" in out, out
    # the replica's swap is in its listing history as a primary's is
    code, out, err = cli("history", listed_in(up, 3)[0], "--config", str(rcfg))
    assert code == 1 and "uce1" in out, out + err


@pytest.mark.parametrize("damage", ["flip", "truncate", "torn"])
def test_replica_refuses_a_damaged_snapshot_and_keeps_the_last_good(tmp_path, damage):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    pdir, pcfg = primary(tmp_path, up)
    assert fetch(pcfg)[0] == 0
    folder = pdir / "state" / "export" / "uce1"
    rdir, rcfg = replica(tmp_path, folder)
    assert fetch(rcfg)[0] == 0
    good = state(rdir, "uce1")
    # upstream changes (a new serial), the primary exports it, then it is damaged there
    text = up.read_text("latin-1")
    soa = Dataset.from_file(up, "ip4set").meta.soa
    assert soa is not None
    serial = soa.serial
    up.write_text(text.replace(str(serial), str(serial + 1), 1) + "203.0.113.77\n",
                  "latin-1")
    assert fetch(pcfg, "--force")[0] == 0
    snap = folder / "snapshot"
    data = bytearray(snap.read_bytes())
    os.unlink(snap)  # a new file: the primary's own snapshot (a hard link) stays intact
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        snap.write_bytes(bytes(data))
        why = "corrupt: sha256"
    elif damage == "truncate":
        snap.write_bytes(bytes(data[: len(data) // 3]))
        why = "truncated"
    else:  # the state of another snapshot beside it (a swap during the pull)
        snap.write_bytes(bytes(data))
        exp = json.loads((folder / "state.json").read_text())
        exp["sha256"] = "0" * 64
        (folder / "state.json").write_text(json.dumps(exp))
        why = "corrupt: sha256"
    code, out = fetch(rcfg, "--force")
    assert code == 1 and "uce1: rejected" in out and why in out, out
    assert f"keeping snapshot {good.snapshot}" in out
    st = state(rdir, "uce1")
    assert st.snapshot == good.snapshot and st.serial == serial
    assert served(rdir, "uce1").lookup("203.0.113.77") == ()
    s = status_json(rcfg)["sources"][0]
    assert s["state"] == "rejected" and why in s["last_error"]
    # the primary publishes again (its next fetch): the replica takes it
    time.sleep(1.1)
    assert fetch(pcfg, "--force")[0] == 0
    code, out = fetch(rcfg, "--force")
    assert code == 0 and "uce1: fetched" in out, out
    assert served(rdir, "uce1").lookup("203.0.113.77") != ()
    assert state(rdir, "uce1").serial == serial + 1


def test_replica_never_goes_back_to_an_older_snapshot(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    pdir, pcfg = primary(tmp_path, up)
    assert fetch(pcfg)[0] == 0
    serial = state(pdir, "uce1").serial
    up.write_text(up.read_text("latin-1").replace(str(serial), str(serial + 1), 1),
                  "latin-1")
    assert fetch(pcfg, "--force")[0] == 0
    rdir, rcfg = replica(tmp_path, pdir / "state" / "export" / "uce1")
    assert fetch(rcfg)[0] == 0 and state(rdir, "uce1").serial == serial + 1
    # the primary rolls back: it exports the older snapshot, the replica keeps its own
    code, out, err = cli("rollback", "uce1", "--config", str(pcfg))
    assert code == 0, out + err
    assert read_exported(str(pdir / "state" / "export" / "uce1" / "state.json"))["serial"] \
        == serial
    code, out = fetch(rcfg, "--force")
    assert code == 1 and "older than the one served" in out and f"serial {serial}" in out, out
    assert state(rdir, "uce1").serial == serial + 1


def test_replica_of_a_stale_primary_is_stale(tmp_path):
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    pdir, pcfg = primary(tmp_path, up)
    assert fetch(pcfg)[0] == 0
    # the primary last reached upstream two hours ago (max_age 1h)
    sfile = pdir / "state" / "uce1" / "state.json"
    st = json.loads(sfile.read_text())
    st["last_success"] -= 7200
    sfile.write_text(json.dumps(st))
    up.unlink()  # upstream unreachable now: the primary's fetch fails, it stays stale
    assert fetch(pcfg, "--force")[0] == 1
    assert status_json(pcfg)["sources"][0]["state"] == "stale"
    # republished by `export` (as the daemon does when it starts), pulled just now
    from rblmirror.mirror.config import load_config
    from rblmirror.mirror.export import publish_all
    assert publish_all(load_config(pcfg), str(pdir / "state")) == ["uce1"]
    rdir, rcfg = replica(tmp_path, pdir / "state" / "export" / "uce1")
    code, out = fetch(rcfg)
    assert code == 0 and "primary fetched upstream 2h00m ago" in out, out
    s = status_json(rcfg)
    assert s["sources"][0]["state"] == "stale", s
    assert s["sources"][0]["age"] > 7000 and s["sources"][0]["pull_age"] < 60
    assert s["zones"][0]["answers"] == "SERVFAIL"
    code, out, err = cli("status", "--config", str(rcfg))
    assert "replica: the primary fetched upstream" in out and "upstream); entries" in out


def _daemon(pcfg, env=None):
    return subprocess.Popen([*RBLMIRROR, "export", "--config", str(pcfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env)


def _listening(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_export_runs_rsync_daemon_replica_pulls_deltas(tmp_path):
    require_tool("rsync")
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    port = free_tcp_port()
    pdir, pcfg = primary(tmp_path, up, f"127.0.0.1:{port}")
    assert fetch(pcfg)[0] == 0
    proc = _daemon(pcfg)
    try:
        assert until(lambda: _listening(port) or proc.poll() is not None), proc
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        rdir, rcfg = replica(tmp_path, f"rsync://127.0.0.1:{port}/rblmirror/uce1")
        code, out = fetch(rcfg)
        assert code == 0 and "uce1: fetched" in out, out
        first = state(rdir, "uce1").bytes_received
        # one address added upstream: the replica's pull is a delta, far below the size
        up.write_text(up.read_text("latin-1") + "203.0.113.78\n", "latin-1")
        time.sleep(1.1)
        assert fetch(pcfg, "--force")[0] == 0
        code, out = fetch(rcfg, "--force")
        assert code == 0 and "uce1: fetched" in out, out
        st = state(rdir, "uce1")
        assert served(rdir, "uce1").lookup("203.0.113.78") != ()
        assert st.matched_bytes and st.bytes_received < first
        # a url that is no primary's module: a clear error, nothing swapped
        _, bad = replica(tmp_path, f"rsync://127.0.0.1:{port}/rblmirror/nosuch", "bad")
        code, out = fetch(bad)
        assert code == 1 and "uce1: failed: rsync exit" in out, out
    finally:
        proc.terminate()
        proc.wait(10)
    assert "rsync on rblmirror/uce1/state.json rblmirror/uce1/snapshot" in \
        (pdir / "state" / "rsyncd.log").read_text()


def test_export_with_auth_users(tmp_path):
    require_tool("rsync")
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    port = free_tcp_port()
    pdir, pcfg = primary(tmp_path, up, f"127.0.0.1:{port}")
    secrets = tmp_path / "rsyncd.secrets"
    secrets.write_text("replica:s3cret\n")
    secrets.chmod(0o600)
    pcfg.write_text(pcfg.read_text() + f'secrets_file = "{secrets}"\n'
                    'auth_users = ["replica"]\n')
    assert fetch(pcfg)[0] == 0
    proc = _daemon(pcfg)
    try:
        assert until(lambda: _listening(port) or proc.poll() is not None)
        url = f"rsync://replica@127.0.0.1:{port}/rblmirror/uce1"
        _, nopw = replica(tmp_path, url, "nopw", password_file=str(tmp_path / "wrong"))
        (tmp_path / "wrong").write_text("nope\n")
        (tmp_path / "wrong").chmod(0o600)
        code, out = fetch(nopw)
        assert code == 1 and "auth failed" in out, out
        pw = tmp_path / "pw"
        pw.write_text("s3cret\n")
        pw.chmod(0o600)
        rdir, rcfg = replica(tmp_path, url, password_file=str(pw))
        code, out = fetch(rcfg)
        assert code == 0 and "uce1: fetched" in out, out
    finally:
        proc.terminate()
        proc.wait(10)


def _export(text: str):
    return parse_config({"export": _toml(text)}, "rblmirror.toml")


def _toml(text: str):
    import tomllib
    return tomllib.loads(text)


def test_export_config_and_its_errors(tmp_path):
    cfg = _export('listen = "0.0.0.0:8873"\nhosts_allow = ["192.0.2.3", "198.51.100.0/24"]')
    assert cfg.export is not None and (cfg.export.host, cfg.export.port) == ("0.0.0.0", 8873)
    conf = rsyncd_conf(cfg, str(tmp_path))
    assert "[rblmirror]\n" in conf and "read only = yes\n" in conf
    assert "hosts allow = 192.0.2.3/32 198.51.100.0/24\nhosts deny = *\n" in conf
    assert f"path = {tmp_path / 'export'}\n" in conf and "port = 8873\n" in conf
    assert "auth users" not in conf and "use chroot = no\n" in conf
    if os.geteuid() == 0:  # the daemon reads as the state dir's owner, never as nobody
        assert f"uid = {os.stat(tmp_path).st_uid}\n" in conf
    bad = {
        'hosts_allow = ["192.0.2.3"]': "needs listen",
        'listen = "primary:8873"\nhosts_allow = ["192.0.2.3"]': "ADDR an IP address",
        'listen = "0.0.0.0:99999"\nhosts_allow = ["192.0.2.3"]': "port 1-65535",
        'listen = "0.0.0.0:8873"': "needs hosts_allow",
        'listen = "0.0.0.0:8873"\nhosts_allow = ["replicas.example"]': "'replicas.example' is "
                                                                       "not an IP address",
        'listen = "0.0.0.0:8873"\nhosts_allow = ["192.0.2.3"]\nsecrets_file = "/x"':
            "secrets_file and auth_users go together",
        'listen = "0.0.0.0:8873"\nhosts_allow = ["192.0.2.3"]\nsecrets_file = "/x"\n'
        'auth_users = ["a b"]': "auth_users must be a list of user names",
        'listen = "0.0.0.0:8873"\nhosts_allow = ["192.0.2.3"]\nport = 1': "unknown key(s) port",
    }
    for text, why in bad.items():
        with pytest.raises(ConfigError) as e:
            _export(text)
        assert why in str(e.value) and "[export]" in str(e.value), (text, str(e.value))
    with pytest.raises(ConfigError, match="reserved"):
        parse_config({"source": [{"name": "export", "url": "/x", "format": "plain"}]}, "c")
    with pytest.raises(ConfigError, match="not over HTTP"):
        parse_config({"source": [{"name": "a", "url": "https://h/x", "format": "snapshot"}]},
                     "c")
    with pytest.raises(ConfigError, match="password_file is for rsync"):
        parse_config({"source": [{"name": "a", "url": "/x", "format": "snapshot",
                                  "password_file": "/p"}]}, "c")
    code, out, err = cli("export", "--config", str(write_config(tmp_path, [], [])))
    assert code == 2 and "no [export] table" in err, err


def test_serve_fails_clearly_when_the_export_cannot_listen(tmp_path):
    """serve starts the [export] daemon before anything else; a port already taken is an
    error naming the address, and serve does not start half-way."""
    import socket
    require_tool("rsync")
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pdir, pcfg = primary(tmp_path, up, f"127.0.0.1:{port}")
        r = subprocess.run([*RBLMIRROR, "serve", "--config", str(pcfg), "--listen",
                            f"127.0.0.1:{free_tcp_port()}", "--no-fetch"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"rsync --daemon did not listen on 127.0.0.1:{port} ([export] listen)" in r.stderr


def test_replica_of_a_domain_list_is_a_domain_list(tmp_path):
    """The replica's config says "snapshot"; the primary's state says dnset: the zone
    gets the domain test points and the snippets treat it as a domain list."""
    up = tmp_path / "up" / "names.txt"
    up.parent.mkdir()
    up.write_text("spammer.example\n*.bad.example\n")
    pdir = tmp_path / "primary"
    pdir.mkdir()
    pcfg = write_config(pdir, [{"name": "dbl", "url": str(up), "format": "dnset"}],
                        [{"name": "dbl.mirror.test", "datasets": ["dbl"]}])
    pcfg.write_text(pcfg.read_text() + '[export]\nlisten = "127.0.0.1:1"\n'
                    'hosts_allow = ["127.0.0.1"]\n')
    assert fetch(pcfg)[0] == 0
    rdir = tmp_path / "replica"
    rdir.mkdir()
    rcfg = write_config(rdir, [{"name": "dbl", "format": "snapshot",
                                "url": str(pdir / "state" / "export" / "dbl")}],
                        [{"name": "dbl.mirror.test", "datasets": ["dbl"]}])
    code, out, err = cli("snippets", "postfix", "--config", str(rcfg))
    assert "reject_rbl_client dbl.mirror.test" in out  # not pulled yet: taken for addresses
    assert fetch(rcfg)[0] == 0 and state(rdir, "dbl").upstream_format == "dnset"
    code, out, err = cli("snippets", "postfix", "--config", str(rcfg))
    assert code == 0 and "reject_rhsbl_sender dbl.mirror.test" in out, out + err
    assert "reject_rbl_client dbl.mirror.test" not in out
    from rblmirror.mirror.zoneset import ZoneSelection
    (zone,) = ZoneSelection.from_options((), str(rcfg)).load()
    assert zone.answer("test.dbl.mirror.test", 1).rcode == 0
    assert zone.answer("x.bad.example.dbl.mirror.test", 1).rcode == 0
    assert zone.answer("spammer.example.dbl.mirror.test", 1).rcode == 0
    assert zone.answer("good.example.dbl.mirror.test", 1).rcode == 3
    assert zone.answer("2.0.0.127.dbl.mirror.test", 1).rcode == 3


def test_replica_moved_to_another_primary_takes_its_snapshot(tmp_path):
    """The url changes (another primary): its snapshot is taken even when older than the
    one served, and its upstream time replaces the old primary's."""
    up = copy_feed(FEED, tmp_path / "up" / FEED)
    old_dir, old_cfg = primary(tmp_path, up)
    assert fetch(old_cfg)[0] == 0
    serial = state(old_dir, "uce1").serial
    new_up = tmp_path / "up2" / FEED
    new_up.parent.mkdir()
    new_up.write_text(up.read_text("latin-1").replace(str(serial), str(serial - 1), 1),
                      "latin-1")
    new_dir = tmp_path / "primary2"
    new_dir.mkdir()
    new_cfg = write_config(new_dir, [{"name": "uce1", "url": str(new_up), "format": "ip4set"}],
                           [{"name": ZONE, "datasets": ["uce1"]}])
    new_cfg.write_text(new_cfg.read_text() + '[export]\nlisten = "127.0.0.1:1"\n'
                       'hosts_allow = ["127.0.0.1"]\n')
    assert fetch(new_cfg)[0] == 0
    rdir, rcfg = replica(tmp_path, old_dir / "state" / "export" / "uce1")
    assert fetch(rcfg)[0] == 0 and state(rdir, "uce1").serial == serial
    rdir, rcfg = replica(tmp_path, new_dir / "state" / "export" / "uce1")  # same folder
    code, out = fetch(rcfg)
    assert code == 0 and "uce1: fetched" in out, out
    st = state(rdir, "uce1")
    assert st.serial == serial - 1
    assert st.upstream_success == state(new_dir, "uce1").last_success
