"""`check`, `scan` and `compare` see exactly the zones `serve` answers, from the same
current snapshots: a real PSBL dump fetched from a loopback `rsync --daemon`, served by
`rblmirror serve --no-fetch`, asked with dig; mirrored-only and mixed configs (a local
zone, a zone merging a local file with the mirror, a source never fetched)."""
from __future__ import annotations

import json

import pytest
from support.cli import cli
from support.dns import dig_run
from support.feeds import copy_feed
from support.mirror import write_config
from support.ports import free_tcp_port
from support.rsyncd import Rsyncd
from support.serve import Serve

pytestmark = pytest.mark.integration

FEED = "psbl.txt"
EXTRA = "198.18.0.77"        # appended to the dump: listed only through the mirror
LOCAL = "203.0.113.5"        # listed only by the local file
UNLISTED = ["198.51.100.7", "192.0.2.200", "10.255.0.1"]


def rev(ip: str, zone: str) -> str:
    return ".".join(reversed(ip.split("."))) + "." + zone


def _txt(rdata: str) -> str:
    """dig's presentation of a TXT rdata ("a" "b", \\" \\\\ \\DDD escapes) as one string."""
    out, i, inq = bytearray(), 0, False
    while i < len(rdata):
        c = rdata[i]
        if c == '"':
            inq = not inq
        elif c == "\\" and rdata[i + 1:i + 4].isdigit():
            out.append(int(rdata[i + 1:i + 4]))
            i += 3
        elif c == "\\":
            i += 1
            out += rdata[i].encode()
        elif inq:
            out += c.encode()
        i += 1
    return out.decode("utf-8", "replace")


def dig_all(port: int, names: list[str], qtype: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (status, rdata strings) for each name, one `dig -f` batch."""
    batch = "\n".join(f"{n} {qtype}" for n in names) + "\n"
    r = dig_run(port, "+norecurse", "+noall", "+comments", "+question", "+answer", "-f", "-",
                time=3, tries=2, timeout=120, input=batch)
    assert r.returncode == 0, r.stderr
    out: dict[str, tuple[str, list[str]]] = {}
    status, cur = None, None
    for line in r.stdout.splitlines():
        if "->>HEADER<<-" in line:
            status = line.split("status: ", 1)[1].split(",", 1)[0]
        elif line.startswith(";; QUESTION SECTION") or not line.strip():
            continue
        elif line.startswith(";") and status and line[1:].split() and \
                line[1:].split()[-1] == qtype:
            cur = line[1:].split()[0].rstrip(".").lower()
            out[cur] = (status, [])
        elif not line.startswith(";") and cur:
            parts = line.split(None, 4)
            if parts[3] == qtype:
                out[cur][1].append(parts[4])
    assert set(out) == {n.lower() for n in names}, r.stdout[-2000:]
    return out


def served_rows(port: int, addresses: list[str], zones: list[str]) -> dict:
    """(address, zone) -> {"listed", "a", "txt"} as the server answers, or "SERVFAIL"."""
    names = {(a, z): rev(a, z) for a in addresses for z in zones}
    got_a = dig_all(port, list(names.values()), "A")
    got_t = dig_all(port, list(names.values()), "TXT")
    rows: dict[tuple[str, str], object] = {}
    for key, name in names.items():
        st, a = got_a[name]
        if st == "SERVFAIL":
            assert got_t[name][0] == "SERVFAIL"
            rows[key] = "SERVFAIL"
            continue
        assert st in ("NOERROR", "NXDOMAIN"), (name, st)
        rows[key] = {"listed": st == "NOERROR" and bool(a), "a": sorted(a),
                     "txt": sorted(_txt(t) for t in got_t[name][1])}
    return rows


def as_row(d: dict):
    if "error" in d:
        assert d["listed"] is False and d["a"] == [] and d["txt"] == []
        return "SERVFAIL"
    return {"listed": d["listed"], "a": sorted(d["a"]), "txt": sorted(d["txt"])}


@pytest.fixture
def upstream(tmp_path):
    d = Rsyncd(tmp_path / "upstream")
    up = copy_feed(FEED, d.folder / FEED)
    up.write_text(up.read_text() + f"{EXTRA}\n")
    d.start()
    yield d, up.read_text().split()
    d.stop()


def _serve(tmp_path, cfg, probe: str) -> Serve:
    return Serve([], extra=["--config", str(cfg), "--no-fetch"], log_dir=tmp_path,
                 probe=probe).start()


def _agree(tmp_path, cfg, port: int, addresses: list[str], zones: list[str]) -> dict:
    """check --json, scan --format jsonl and compare --json against the served answers."""
    served = served_rows(port, addresses, zones)
    listed_any = any(r != "SERVFAIL" and r["listed"] for r in served.values())
    code, out, err = cli("check", "--json", "--config", str(cfg), *addresses)
    assert code == (1 if listed_any else 2), err
    checked = {(d["address"], d["zone"]): as_row(d) for d in map(json.loads, out.splitlines())}
    assert checked == served
    # scan: the same rows, except the zones serve answers SERVFAIL (but for the test
    # points), left out whole, with a warning
    failing = sorted({z for (_, z), v in served.items() if v == "SERVFAIL"})
    inp = tmp_path / "addresses.txt"
    inp.write_text("\n".join(addresses) + "\n")
    code, out, err = cli("scan", "--format", "jsonl", "--config", str(cfg), str(inp))
    assert code == (1 if listed_any else 2), err
    scanned = {(d["address"], d["zone"]): as_row(d) for d in map(json.loads, out.splitlines())}
    assert scanned == {k: v for k, v in served.items() if k[1] not in failing}
    for z in failing:
        assert f"zone {z}: " in err and "not scanned" in err
    # compare: hits on a corpus of the same addresses (without the test point) per zone
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(a for a in addresses if a != "127.0.0.2") + "\n")
    code, out, err = cli("compare", "--json", "--config", str(cfg), "--corpus", f"c={corpus}")
    assert code == 0, err
    cmp = json.loads(out)
    hits = {z: sum(1 for (a, zz), v in served.items()
                   if zz == z and a != "127.0.0.2" and v["listed"])
            for z in zones if z not in failing}
    assert cmp["corpus"]["c"]["hits"] == hits
    assert set(cmp["lists"]) == set(hits)
    for z in failing:
        assert f"zone {z}: " in err and "left out" in err
    return served


def test_mirrored_only_config(tmp_path, upstream):
    d, listed = upstream
    cfg = write_config(tmp_path, [{"name": "psbl", "url": d.url(FEED), "format": "plain",
                                   "max_age": "1h"}],
                       [{"name": "psbl.mirror.test", "datasets": ["psbl"]}])
    code, out, err = cli("fetch", "--config", str(cfg))
    assert code == 0, out + err
    # the defect of issue 10: this said "no IP zone configured to check it against"
    code, out, err = cli("check", EXTRA, "--config", str(cfg))
    assert code == 1, err
    assert out.startswith(f"{EXTRA}\tpsbl.mirror.test\tLISTED\t127.0.0.2")
    s = _serve(tmp_path, cfg, "psbl.mirror.test")
    try:
        addresses = listed[:25] + [EXTRA, "127.0.0.2"] + UNLISTED
        served = _agree(tmp_path, cfg, s.port, addresses, ["psbl.mirror.test"])
        assert sum(v["listed"] for v in served.values()) == 27  # the sample is not vacuous
    finally:
        s.stop()


def test_mixed_config(tmp_path, upstream):
    d, listed = upstream
    local = tmp_path / "local.zone"
    local.write_text(f":127.0.0.4:local reason for $\n{LOCAL}\n{listed[3]}\n")
    dead = free_tcp_port()  # nothing listens there: the source is never fetched
    cfg = write_config(
        tmp_path,
        [{"name": "psbl", "url": d.url(FEED), "format": "plain", "max_age": "1h"},
         {"name": "gone", "url": f"rsync://127.0.0.1:{dead}/m/x.txt", "format": "plain"}],
        [{"name": "local.test", "datasets": [f"ip4set:{local}"]},
         {"name": "psbl.mirror.test", "datasets": ["psbl"]},
         {"name": "mixed.mirror.test", "datasets": [f"ip4set:{local}", "psbl"]},
         {"name": "gone.mirror.test", "datasets": ["gone"], "on_stale": "serve"}])
    code, out, err = cli("fetch", "psbl", "--config", str(cfg))
    assert code == 0, out + err
    s = _serve(tmp_path, cfg, "local.test")
    zones = ["local.test", "psbl.mirror.test", "mixed.mirror.test", "gone.mirror.test"]
    try:
        addresses = listed[:20] + [EXTRA, LOCAL, "127.0.0.2"] + UNLISTED
        served = _agree(tmp_path, cfg, s.port, addresses, zones)
        # what the mixed zones hold, as served: local-only, mirror-only, both merged
        assert served[(LOCAL, "local.test")]["a"] == ["127.0.0.4"]
        assert served[(LOCAL, "psbl.mirror.test")]["listed"] is False
        assert served[(LOCAL, "mixed.mirror.test")]["a"] == ["127.0.0.4"]
        assert served[(EXTRA, "local.test")]["listed"] is False
        assert served[(EXTRA, "mixed.mirror.test")]["a"] == ["127.0.0.2"]
        assert served[(listed[3], "mixed.mirror.test")]["a"] == ["127.0.0.2", "127.0.0.4"]
        assert all(served[(a, "gone.mirror.test")] == "SERVFAIL" for a in addresses
                   if a != "127.0.0.2")
        # only unlisted addresses and a zone that answers SERVFAIL: exit 2, an ERROR row
        code, out, err = cli("check", "--config", str(cfg), UNLISTED[0])
        assert code == 2, err
        assert f"{UNLISTED[0]}\tgone.mirror.test\tERROR\tsource(s) gone not fetched yet" in out
    finally:
        s.stop()
