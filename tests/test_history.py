"""The listing history (rblmirror/mirror/history.py): the diff of two snapshots' listed
runs against a plain set reference, intervals over many random swaps against the
timeline of the snapshots themselves, IPv6 and names, the self-healing path, and three
real fetches from a local rsync daemon (an address added, then removed)."""
from __future__ import annotations

import ipaddress
import json
import random
import sqlite3
import time

import numpy as np
import pytest
from support.cli import cli
from support.feeds import copy_feed
from support.mirror import write_config
from support.rsyncd import Rsyncd

from rblmirror.data.dataset import Dataset
from rblmirror.errors import StateError
from rblmirror.mirror import history
from rblmirror.mirror.state import SourceDir


def runs_of(points: set[int]):
    """A set of integers -> sorted disjoint runs (the plain reference's shape)."""
    s: list[int] = []
    e: list[int] = []
    for p in sorted(points):
        if e and p == e[-1] + 1:
            e[-1] = p
        else:
            s.append(p)
            e.append(p)
    return np.array(s, np.int64), np.array(e, np.int64)


def points_of(runs) -> set[int]:
    return {p for a, b in zip(*runs) for p in range(int(a), int(b) + 1)}


def test_diff_matches_set_difference():
    rng = random.Random(7)
    for _ in range(300):
        old = {p for p in range(120) if rng.random() < rng.choice((0.1, 0.5, 0.9))}
        new = {p for p in range(120) if rng.random() < rng.choice((0.1, 0.5, 0.9))}
        added, removed = history.diff(runs_of(old), runs_of(new))
        assert points_of(added) == new - old
        assert points_of(removed) == old - new
        # runs come out merged: no two touch
        for r in (added, removed):
            assert all(int(r[0][i + 1]) > int(r[1][i]) + 1 for i in range(len(r[0]) - 1))


def test_runs_of_a_snapshot_merge_segments_and_skip_exclusions(tmp_path, zone_file):
    p = zone_file("10.0.0.0/24\n!10.0.0.5\n10.0.1.0/24 other\n192.0.2.7\n")
    ds = Dataset.from_file(p, "ip4set")
    s, e = history.runs4(ds)
    got = [(str(ipaddress.IPv4Address(int(a))), str(ipaddress.IPv4Address(int(b))))
           for a, b in zip(s, e)]
    # 10.0.0.6-10.0.1.255 is one run: listed, whatever the values
    assert got == [("10.0.0.0", "10.0.0.4"), ("10.0.0.6", "10.0.1.255"),
                   ("192.0.2.7", "192.0.2.7")]


def snapshot(tmp_path, name: str, text: str, fmt: str = "ip4set") -> str:
    src = tmp_path / f"{name}.txt"
    src.write_text(text)
    out = tmp_path / f"{name}.snap"
    Dataset.from_file(src, fmt).save(out)
    return str(out)


def random_zone(rng: random.Random) -> str:
    """Random CIDRs and exclusions inside 10.0.0.0/24."""
    lines = []
    for _ in range(rng.randrange(0, 12)):
        bits = rng.choice((32, 32, 32, 30, 28, 26))
        size = 1 << (32 - bits)
        start = rng.randrange(0, 256 // size) * size
        lines.append(f"{'!' if rng.random() < 0.2 else ''}10.0.0.{start}/{bits}")
    return "\n".join(lines) + "\n"


def test_random_swaps_give_each_address_its_timeline(tmp_path):
    """Twelve random snapshots in a row: for every address of the /24, the intervals the
    history gives are exactly the runs of swaps whose snapshot listed it."""
    rng = random.Random(11)
    sd = str(tmp_path / "state")
    (tmp_path / "state").mkdir()
    snaps = [snapshot(tmp_path, f"s{i}", random_zone(rng)) for i in range(12)]
    listed = []  # per swap: the set of listed last octets
    old = None
    for i, snap in enumerate(snaps):
        history.record_swap(sd, "rand", old, snap, ts=1000.0 * (i + 1))
        ds = Dataset.load(snap)
        listed.append({o for o in range(256) if ds.lookup(f"10.0.0.{o}")})
        old = snap
    for o in range(256):
        want: list[list] = []  # (first swap, last swap, gone-at swap or None)
        for i, here in enumerate(x for x in listed):
            if o in here and (i == 0 or o not in listed[i - 1]):
                want.append([i, i, None])
            elif o in here:
                want[-1][1] = i
            elif i and o in listed[i - 1]:
                want[-1][2] = i
        got = history.lookup(sd, f"10.0.0.{o}")
        assert [(g.first_seen, g.last_seen, g.removed) for g in got] == [
            (1000.0 * (a + 1), 1000.0 * (b + 1), None if c is None else 1000.0 * (c + 1))
            for a, b, c in want], o
        assert [g.since_began for g in got] == [a == 0 for a, _, _ in want]
        assert all(g.list == "rand" for g in got)


def test_rebuilt_from_the_history_when_the_old_snapshot_is_not_the_recorded_one(tmp_path):
    """Old side unknown (None) or another snapshot than the one recorded: the open rows
    stand for it, and the history comes out the same as with the true old snapshot."""
    rng = random.Random(5)
    snaps = [snapshot(tmp_path, f"s{i}", random_zone(rng)) for i in range(6)]
    stray = snapshot(tmp_path, "stray", "10.0.0.0/24\n")
    tables = []
    for case, olds in (("diff", [None] + snaps[:-1]), ("rebuilt", [None] * 6),
                       ("wrong", [None] + [stray] * 5)):
        sd = tmp_path / case
        sd.mkdir()
        for i, (o, n) in enumerate(zip(olds, snaps)):
            history.record_swap(str(sd), "l", o, n, ts=float(i))
        db = sqlite3.connect(sd / history.FILENAME)
        tables.append(sorted(db.execute("SELECT * FROM ip4")))
        db.close()
    assert tables[0] == tables[1] == tables[2]
    assert tables[0]


def test_ipv6_ranges_and_mapped_addresses(tmp_path):
    sd = str(tmp_path)
    a = snapshot(tmp_path, "a", "2001:db8::/64\n2001:db8:1::1\n", "ip6trie")
    b = snapshot(tmp_path, "b", "2001:db8::/65\n", "ip6trie")
    history.record_swap(sd, "six", None, a, ts=10.0)
    history.record_swap(sd, "six", a, b, ts=20.0)
    (now,) = history.lookup(sd, "2001:db8::1")
    assert now.current and now.since_began and now.entry == "2001:db8::/65"
    (gone,) = history.lookup(sd, "2001:db8:0:0:8000::1")
    assert (gone.first_seen, gone.last_seen, gone.removed) == (10.0, 10.0, 20.0)
    assert gone.entry == "2001:db8:0:0:8000::/65"  # the part of the /64 that went
    assert history.lookup(sd, "2001:db8:1::2") == []
    v4 = snapshot(tmp_path, "v4", "192.0.2.0/24\n")
    history.record_swap(sd, "four", None, v4, ts=30.0)
    (m,) = history.lookup(sd, "::ffff:192.0.2.9")  # IPv4-mapped asks the IPv4 data
    assert m.list == "four" and m.entry == "192.0.2.0/24"


def test_names_exact_and_wildcard_entries(tmp_path):
    sd = str(tmp_path)
    a = snapshot(tmp_path, "a", "spam.example\n*.wild.example\n.both.example\n"
                 "!ok.wild.example\n", "dnset")
    b = snapshot(tmp_path, "b", "spam.example\n.both.example\n", "dnset")
    history.record_swap(sd, "dbl", None, a, ts=1.0)
    history.record_swap(sd, "dbl", a, b, ts=2.0)
    assert [(i.entry, i.current) for i in history.lookup(sd, "SPAM.example.")] == [
        ("spam.example", True)]
    assert [(i.entry, i.removed) for i in history.lookup(sd, "x.wild.example")] == [
        ("*.wild.example", 2.0)]
    assert [i.entry for i in history.lookup(sd, "both.example")] == ["both.example"]
    assert [i.entry for i in history.lookup(sd, "a.b.both.example")] == ["*.both.example"]
    assert history.lookup(sd, "wild.example") == []  # *.name is not the name itself
    assert history.lookup(sd, "other.example") == []


def test_no_history_yet_is_a_clear_error(tmp_path):
    with pytest.raises(StateError, match="no listing history yet"):
        history.lookup(str(tmp_path), "192.0.2.1")
    assert not (tmp_path / history.FILENAME).exists()


def test_text_says_seen_since_the_mirror_began(tmp_path):
    sd = str(tmp_path)
    a = snapshot(tmp_path, "a", "192.0.2.1\n")
    b = snapshot(tmp_path, "b", "192.0.2.1\n192.0.2.2\n")
    history.record_swap(sd, "l", None, a, ts=86400.0)
    history.record_swap(sd, "l", a, b, ts=2 * 86400.0)
    (first,) = history.lookup(sd, "192.0.2.1")
    (later,) = history.lookup(sd, "192.0.2.2")
    assert "seen since the mirror began (1970-01-02 00:00:00 UTC)" in first.text()
    assert "first seen 1970-01-03 00:00:00 UTC" in later.text()
    assert "mirror began" not in later.text()


# ---- three real fetches ---------------------------------------------------------------
FEED = "dnsbl-1.uceprotect.net"
NEW = "198.51.100.77"
STAYS = "198.51.100.78"


@pytest.mark.integration
def test_history_across_three_rsync_fetches(tmp_path):
    d = Rsyncd(tmp_path / "upstream")
    up = copy_feed(FEED, d.folder / FEED)
    d.start()
    try:
        cfg = write_config(tmp_path, [{"name": "uce1", "url": d.url(FEED), "format": "ip4set",
                                       "max_shrink": 0.5}],
                           [{"name": "uce1.mirror.test", "datasets": ["uce1"]}])
        text = up.read_text("latin-1")
        kept = "1.1.138.2"  # listed by the real dump all along
        dropped = "1.1.138.53"  # listed, then removed at the third fetch
        assert f"\n{kept}\n" in text and f"\n{dropped}\n" in text

        def fetch(content: str) -> float:
            up.write_text(content, "latin-1")
            code, out, err = cli("fetch", "--force", "--config", str(cfg))
            assert code == 0 and "fetched" in out, out + err
            st = SourceDir(str(tmp_path / "state"), "uce1").load_state()
            assert st.created is not None
            return st.created

        t1 = fetch(text)
        t2 = fetch(text + f"{NEW}\n{STAYS}\n")
        t3 = fetch(text.replace(f"\n{dropped}\n", "\n") + f"{STAYS}\n")
    finally:
        d.stop()

    def hist(subject: str) -> tuple[int, list[dict]]:
        code, out, err = cli("history", subject, "--json", "--config", str(cfg))
        assert code in (0, 1), err
        return code, [json.loads(x) for x in out.splitlines()]

    code, rows = hist(NEW)
    assert code == 0  # not listed now
    assert [(r["list"], r["entry"], r["first_seen"], r["last_seen"], r["removed"],
             r["current"], r["since_mirror_began"]) for r in rows] == [
        ("uce1", NEW, t2, t2, t3, False, False)]
    code, rows = hist(kept)
    assert code == 1 and len(rows) == 1
    assert rows[0]["first_seen"] == t1 and rows[0]["last_seen"] == t3
    assert rows[0]["current"] and rows[0]["since_mirror_began"]
    code, rows = hist(dropped)
    assert code == 0 and [(r["first_seen"], r["last_seen"], r["removed"]) for r in rows] == [
        (t1, t2, t3)]
    code, out, _ = cli("history", kept, "--config", str(cfg))
    assert code == 1 and "listed now, seen since the mirror began" in out
    code, out, _ = cli("history", "203.0.113.1", "--config", str(cfg))
    assert code == 0 and "no mirrored source listed it" in out

    # explain says since when the list it names holds the address
    def explain(subject: str) -> tuple[dict, str]:
        bounce = f"554 5.7.1 Client host [{subject}] blocked using uce1.mirror.test"
        code, out, err = cli("explain", bounce, "--json", "--config", str(cfg))
        assert code == 1, out + err
        _, text, _ = cli("explain", bounce, "--config", str(cfg))
        return json.loads(out), text

    e, text = explain(STAYS)
    assert (e["since"], e["since_mirror_began"]) == (t2, False)
    assert f"    listed since: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t2))}\n" in text
    e, text = explain(kept)
    assert (e["since"], e["since_mirror_began"]) == (t1, True)
    assert "(seen since the mirror began: listed then already)" in text


@pytest.mark.integration
def test_a_rollback_is_a_swap_too(tmp_path):
    up = tmp_path / "up.zone"
    cfg = write_config(tmp_path, [{"name": "l", "url": str(up), "format": "ip4set",
                                   "max_shrink": 1}],
                       [{"name": "l.mirror.test", "datasets": ["l"]}])
    for text in ("10.9.9.9\n", f"10.9.9.9\n{NEW}\n"):
        up.write_text(text)
        code, out, err = cli("fetch", "--force", "--config", str(cfg))
        assert code == 0 and "fetched" in out, out + err
    code, out, err = cli("rollback", "l", "--config", str(cfg))
    assert code == 0, out + err
    (i,) = history.lookup(str(tmp_path / "state"), NEW)
    assert i.removed is not None and not i.current and not i.since_began
    (j,) = history.lookup(str(tmp_path / "state"), "10.9.9.9")
    assert j.current and j.since_began
