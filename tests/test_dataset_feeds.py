"""The real dumps in ../shared/data/feeds load with the right counts and no stray warnings."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from support.feeds import FEEDS

from rblmirror.data.dataset import Dataset
from rblmirror.data.values import Listing


# the only bad lines in the real data: (file, line, exact text)
EXPECTED_BAD: dict[str, list[tuple[int | None, str]]] = {
    "ips.backscatterer.org": [(2257, "168.1=")],
    "uceprotect-3-NetworkRanges.txt": [(None, "$NS")],  # last line, a stray special
}
FEED_FORMATS = {
    "dnsbl-1.uceprotect.net": "ip4set", "dnsbl-2.uceprotect.net": "ip4set",
    "ips.backscatterer.org": "ip4set", "ips.whitelisted.org": "ip4set",
    "uceprotect-3-NetworkRanges.txt": "ip4set", "psbl.txt": "plain",
}


def classify(path: Path) -> tuple[int, list[tuple[int, str]]]:
    """Independent count: (entry lines, [(lineno, text) of lines that look like entries
    but are not a valid address/prefix/CIDR/range])."""
    n, bad = 0, []
    lines = path.read_bytes().decode("latin-1").split("\n")
    for no, raw in enumerate(lines, 1):
        t = raw.strip(" \t")
        if not t or t[0] in "#;:$":
            continue
        subj = t.lstrip("!").split()[0]
        try:
            if "-" in subj:
                a, b = subj.split("-")
                ipaddress.IPv4Address(a), ipaddress.IPv4Address(b)
            elif "/" in subj:
                ipaddress.IPv4Network(subj)
            elif subj.count(".") == 3:
                ipaddress.IPv4Address(subj)
            else:
                ipaddress.IPv4Network(subj + ".0" * (3 - subj.count(".")) + f"/{8 * (subj.count('.') + 1)}")
        except ValueError:
            bad.append((no, t))
            continue
        n += 1
    return n, bad


@pytest.fixture(scope="module")
def feeds():
    if not FEEDS.is_dir():
        pytest.skip(f"real feeds not found at {FEEDS}")
    return {name: Dataset.from_file(FEEDS / name, fmt) for name, fmt in FEED_FORMATS.items()}


@pytest.mark.parametrize("name", sorted(FEED_FORMATS))
def test_feed_counts_and_warnings(feeds, name):
    ds = feeds[name]
    path = FEEDS / name
    n, bad = classify(path)
    assert bad == [b for b in EXPECTED_BAD.get(name, []) if b[0] is not None]
    assert ds.entries == n and n > 1000
    expected_lines = [no for no, _ in bad]
    if name == "uceprotect-3-NetworkRanges.txt":
        last = path.read_bytes().rstrip(b"\n").split(b"\n")
        assert last[-1].strip() == b"$NS"
        expected_lines.append(len(last))
    assert [(w.file, w.line) for w in ds.warnings] == [(str(path), x) for x in expected_lines]


def test_backscatterer_spot_checks(feeds):
    ds = feeds["ips.backscatterer.org"]
    txt = "Sorry {0} is blacklisted at http://www.backscatterer.org/?ip={0}"
    assert ds.lookup("127.0.0.2") == (Listing("127.0.0.2", "Onlinetest - RBL IPS.BACKSCATTERER.ORG is activ"),)
    assert ds.lookup("127.0.0.1") == ()                                 # '!127.0.0.1'
    assert ds.lookup("100.15.15.128") == (Listing("127.0.0.2", txt.format("100.15.15.128")),)
    assert ds.lookup("100.15.15.129") == ()
    assert ds.meta.soa.serial == 2026070718


def test_uceprotect_spot_checks(feeds):
    ds = feeds["dnsbl-2.uceprotect.net"]
    got = ds.lookup("36.37.200.9")                                      # inside a /17
    assert any(x.txt.startswith("Net 36.37.128.0/17 is UCEPROTECT-Level2") for x in got)
    assert all(x.txt.endswith("ipr=36.37.200.9") and x.a == "127.0.0.2" for x in got)
    assert ds.lookup("36.37.127.255") == ()
    assert len(ds.lookup("196.216.12.1")) == 4      # /24, /23, /22, /21 at the /24 level
    u3 = feeds["uceprotect-3-NetworkRanges.txt"]
    assert u3.lookup("1.11.97.3") and u3.lookup("1.11.128.0") == ()
    assert u3.lookup("223.255.199.255") and u3.lookup("223.255.200.0") == ()


def test_psbl_plain(feeds):
    ds = feeds["psbl.txt"]
    first = next(t.strip() for t in (FEEDS / "psbl.txt").read_text("latin-1").splitlines()
                 if t.strip() and t.strip()[0].isdigit())
    assert ds.lookup(first) == (Listing("127.0.0.2", None),)
    assert ds.lookup("127.0.0.1") == ()
