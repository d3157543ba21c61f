"""`rblmirror compare` on the real feeds and corpus, checked against an independent
computation: the dumps parsed here with ipaddress, rbldnsd's ip4set levels applied with
plain Python ints (intervals for the lists, sets for the corpora), `iprange` as an
outside oracle, and the HTML report opened in headless Chromium."""
from __future__ import annotations

import base64
import bisect
import ipaddress
import json
import re
import subprocess
from pathlib import Path

import pytest
from support.cli import run
from support.feeds import CORPUS, DATA, FEEDS, SPECS
from support.tools import require_tool as need_tool

LISTS = {z: (fmt, f) for z, fmt, f in SPECS}  # zone name -> (format, file)


def cli(*args: str) -> subprocess.CompletedProcess:
    return run("compare", *args, timeout=300)


# ---- the independent reference --------------------------------------------------------
def ref_intervals(path: Path) -> list[tuple[int, int]]:
    """Listed IPv4 space of an ip4set dump as merged [start, end) intervals.

    rbldnsd's ip4set: an entry lives at the level /8, /16, /24 or /32 just at or below
    its prefix (a /22 is four /24s); for an address the most specific level holding any
    entry decides, and at one level an exclusion beats a listing."""
    levels: dict[int, dict[int, bool]] = {8: {}, 16: {}, 24: {}, 32: {}}
    for raw in path.read_bytes().splitlines():
        line = raw.decode("latin-1").strip()
        if not line or line[0] in "#:$":
            continue
        excl = line.startswith("!")
        token = line.lstrip("!").split()[0]
        try:
            net = ipaddress.IPv4Network(token, strict=False)
        except ValueError:
            continue
        level = next(x for x in (8, 16, 24, 32) if x >= net.prefixlen)
        for sub in net.subnets(new_prefix=level):
            k = int(sub.network_address)
            levels[level][k] = levels[level].get(k, False) or excl
    keys = {lv: sorted(d) for lv, d in levels.items()}
    pieces = []
    for lv, d in levels.items():
        size = 1 << (32 - lv)
        for k, excluded in d.items():
            if excluded:
                continue
            holes = []  # more specific entries decide their own addresses
            for lv2 in (16, 24, 32):
                if lv2 <= lv:
                    continue
                ks = keys[lv2]
                i = bisect.bisect_left(ks, k)
                while i < len(ks) and ks[i] < k + size:
                    holes.append((ks[i], ks[i] + (1 << (32 - lv2))))
                    i += 1
            cur = k
            for s, e in merge(holes):
                if s > cur:
                    pieces.append((cur, s))
                cur = max(cur, e)
            if cur < k + size:
                pieces.append((cur, k + size))
    return merge(pieces)


def merge(iv):
    out: list[tuple[int, int]] = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def size(iv) -> int:
    return sum(e - s for s, e in iv)


def intersect(a, b):
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def contains(iv, x: int) -> bool:
    i = bisect.bisect_right(iv, (x, 1 << 33)) - 1
    return i >= 0 and iv[i][0] <= x < iv[i][1]


def ref_corpus(path: Path) -> set[int]:
    out = set()
    for line in path.read_text().splitlines():
        t = line.split("#", 1)[0].strip()
        if t:
            ip = ipaddress.ip_address(t)
            out.add(int(ip))
    return out


@pytest.fixture(scope="module")
def real():
    if not FEEDS.is_dir() or not CORPUS.is_dir():
        pytest.skip(f"real data not found under {DATA}")
    ref = {name: ref_intervals(FEEDS / f) for name, (_, f) in LISTS.items()}
    zargs = [x for n, (fmt, f) in LISTS.items() for x in ("--zone", f"{n}:{fmt}:{FEEDS / f}")]
    r = cli(*zargs, "--json", "--corpus", f"probers={CORPUS / 'mailport-probers.txt'}",
            "--good", str(CORPUS / "verified-mail-servers.txt"))
    assert r.returncode == 0, r.stderr
    return ref, json.loads(r.stdout), zargs


@pytest.mark.integration
def test_json_shape(real):
    _, got, _ = real
    assert set(got) >= {"lists", "overlap", "unique", "union", "corpus"}
    assert list(got["lists"]) == list(LISTS)
    for v in got["lists"].values():
        assert {"entries", "addresses"} <= set(v) and all(isinstance(v[k], int)
                                                           for k in ("entries", "addresses"))
    assert set(got["corpus"]) == {"probers", "verified-mail-servers.txt"}
    for c in got["corpus"].values():
        assert {"size", "hits", "unique_hits"} <= set(c)
        assert list(c["hits"]) == list(LISTS) == list(c["unique_hits"])


@pytest.mark.integration
def test_sizes_overlap_unique_union_match_reference(real):
    ref, got, _ = real
    for n in LISTS:
        assert got["lists"][n]["addresses"] == size(ref[n]), n
        assert got["lists"][n]["ipv4_share"] == pytest.approx(size(ref[n]) / 2**32)
    for a in LISTS:
        for b in LISTS:
            assert got["overlap"][a][b] == size(intersect(ref[a], ref[b])), (a, b)
    union = merge([x for iv in ref.values() for x in iv])
    assert got["union"] == size(union)
    for a in LISTS:
        others = merge([x for n, iv in ref.items() if n != a for x in iv])
        assert got["unique"][a] == size(ref[a]) - size(intersect(ref[a], others)), a
    # the numbers are not trivial: real overlap and real unique parts
    assert 0 < got["overlap"]["ucep2"]["ucep3"] < got["lists"]["ucep2"]["addresses"]


@pytest.mark.integration
def test_corpus_hits_match_python_sets(real):
    ref, got, _ = real
    for cname, path, good in [("probers", CORPUS / "mailport-probers.txt", False),
                              ("verified-mail-servers.txt",
                               CORPUS / "verified-mail-servers.txt", True)]:
        addrs = ref_corpus(path)
        c = got["corpus"][cname]
        assert c["size"] == len(addrs)
        assert c["good"] is good
        hit = {n: {x for x in addrs if contains(ref[n], x)} for n in LISTS}
        assert c["hits"] == {n: len(h) for n, h in hit.items()}
        for n in LISTS:
            others = set().union(*(h for m, h in hit.items() if m != n))
            assert c["unique_hits"][n] == len(hit[n] - others), (cname, n)
        assert c["any_hits"] == len(set().union(*hit.values()))
        # greedy: each step adds the most new hits; the curve ends at the union
        covered, seen = 0, set[int]()
        for step in c["greedy"]:
            new = len(hit[step["list"]] - seen)
            assert step["added"] == new
            assert new == max(len(hit[m] - seen) for m in LISTS
                              if m not in {s["list"] for s in c["greedy"][:c["greedy"].index(step)]})
            seen |= hit[step["list"]]
            covered += new
            assert step["covered"] == covered
        if good:
            assert got["false_positives"][cname] == c["hits"]
    assert got["corpus"]["probers"]["hits"]["ucep3"] > 0


@pytest.mark.integration
def test_against_iprange(real, tmp_path):
    """iprange --compare (Debian package iprange) on the same listed space."""
    iprange = need_tool("iprange")
    ref, got, _ = real
    files = []
    for n, iv in ref.items():
        p = tmp_path / n
        p.write_text("".join(f"{ipaddress.IPv4Address(s)}-{ipaddress.IPv4Address(e - 1)}\n"
                             for s, e in iv))
        files.append(str(p))
    r = subprocess.run([iprange, "--compare", *files], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.split()]
    assert len(rows) == len(LISTS) * (len(LISTS) - 1) // 2
    for name1, name2, _e1, _e2, ips1, ips2, combined, common in rows:
        a, b = Path(name1).name, Path(name2).name
        assert int(common) == got["overlap"][a][b], (a, b)
        assert int(ips1) == got["lists"][a]["addresses"]
        assert int(ips2) == got["lists"][b]["addresses"]


# ---- generated zones: IPv6, churn, table, errors ----------------------------------------
def test_ipv6_corpus_and_churn(tmp_path):
    from rblmirror.tools.coverage import Corpus, compare
    from rblmirror.data.dataset import Dataset
    from rblmirror.dns.zone import Zone

    (tmp_path / "old.zone").write_text("10.0.0.0/30\n10.0.1.1\n10.0.2.0/24\n")
    (tmp_path / "new.zone").write_text("10.0.0.0/29\n10.0.2.0/24\n!10.0.2.7\n192.0.2.1\n")
    (tmp_path / "v6.zone").write_text("2001:db8::/64\n2001:db8:1::/48\n")
    (tmp_path / "other.zone").write_text("10.0.0.4/30\n192.0.2.0/28\n")
    zones = Zone.from_specs([f"a.test:ip4set:{tmp_path / 'new.zone'}",
                             f"a.test:ip6trie:{tmp_path / 'v6.zone'}",
                             f"b.test:ip4set:{tmp_path / 'other.zone'}"])
    corpus = Corpus.from_bytes("t", b"10.0.0.1\n10.0.0.5\n::ffff:10.0.0.5\n2001:db8::9\n"
                                    b"2001:db8:2::1\n192.0.2.1 # both\n192.0.2.9\nbogus\n")
    cmp = compare(zones, [corpus], {"a.test": Dataset.from_file(tmp_path / "old.zone")})
    j = cmp.as_json()
    now = set(range(0x0A000000, 0x0A000008)) | (set(range(0x0A000200, 0x0A000300)) - {0x0A000207}) \
        | {0xC0000201}
    old = set(range(0x0A000000, 0x0A000004)) | {0x0A000101} | set(range(0x0A000200, 0x0A000300))
    other = set(range(0x0A000004, 0x0A000008)) | set(range(0xC0000200, 0xC0000210))
    assert j["lists"]["a.test"]["addresses"] == len(now)
    assert j["lists"]["a.test"]["ipv6_addresses"] == 2**64 + 2**80
    assert j["overlap"]["a.test"]["b.test"] == len(now & other)
    assert j["unique"] == {"a.test": len(now - other), "b.test": len(other - now)}
    assert j["union"] == len(now | other)
    assert j["churn"]["a.test"] == {"added": len(now - old), "removed": len(old - now),
                                    "kept": len(now & old), "entries_before": 3,
                                    "entries_after": 6}  # 4 IPv4 + 2 IPv6 entries
    c = j["corpus"]["t"]
    assert c["size"] == 6 and corpus.bad_lines == 1  # ::ffff:10.0.0.5 is 10.0.0.5
    v6 = {int(ipaddress.ip_address("2001:db8::9")), int(ipaddress.ip_address("2001:db8:2::1"))}
    v4 = {int(ipaddress.ip_address(x)) for x in ("10.0.0.1", "10.0.0.5", "192.0.2.1", "192.0.2.9")}
    in_v6 = {x for x in v6 if any(ipaddress.ip_address(x) in ipaddress.ip_network(n)
                                  for n in ("2001:db8::/64", "2001:db8:1::/48"))}
    hit_a, hit_b = (v4 & now) | in_v6, v4 & other
    assert c["hits"] == {"a.test": len(hit_a), "b.test": len(hit_b)} == {"a.test": 4, "b.test": 3}
    assert c["unique_hits"] == {"a.test": len(hit_a - hit_b), "b.test": len(hit_b - hit_a)}


@pytest.mark.integration
def test_cli_table_and_errors(tmp_path):
    z = tmp_path / "z.zone"
    z.write_text("10.0.0.0/24\n")
    r = cli("--zone", f"x.test:ip4set:{z}", "--zone", f"y.test:ip4set:{z}")
    assert r.returncode == 0, r.stderr
    assert re.search(r"x\.test\s+1\s+256\s", r.stdout) and "union" in r.stdout
    r = cli("--zone", f"x.test:ip4set:{z}", "--corpus", "/nonexistent/corpus")
    assert r.returncode == 2 and "cannot read corpus /nonexistent/corpus" in r.stderr
    r = cli("--zone", f"x.test:ip4set:{z}", "--zone", f"y.test:ip4set:{z}", "--before", str(z))
    assert r.returncode == 2 and "say which zone" in r.stderr
    r = cli("--zone", f"x.test:ip4set:{z}", "--before", f"nope.test={z}")
    assert r.returncode == 2 and "no IP zone 'nope.test'" in r.stderr
    r = cli("--zone", f"x.test:ip4set:{z}", "--bogus")
    assert r.returncode == 2 and "--bogus" in r.stderr


@pytest.mark.integration
def test_html_report_renders_in_chromium(real, tmp_path):
    _, _, zargs = real
    out = tmp_path / "report.html"
    r = cli(*zargs, "--corpus", f"probers={CORPUS / 'mailport-probers.txt'}", "--html", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    imgs = re.findall(r'<img id="(\w+)"[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert [i for i, _ in imgs] == ["unique", "overlap", "coverage"]
    for _, b64 in imgs:
        png = base64.b64decode(b64)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    chromium = need_tool("chromium")
    shot = tmp_path / "shot.png"
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1200,3200",
                        f"--screenshot={shot}", out.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np
    px = mpimg.imread(shot)[..., :3]
    # the plots are there: many distinct colours (text on white has few), and the
    # heatmap's dark viridis purple covers a sizeable area
    colours = np.unique((px * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 500
    purple = (px[..., 0] < 0.35) & (px[..., 1] < 0.2) & (px[..., 2] > 0.3)
    assert purple.sum() > 20_000
