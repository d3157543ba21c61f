"""coverage: how much each list covers, how lists overlap, what they catch on real traffic.

    cmp = compare(zones, corpora=[Corpus.from_file("probers", path)])
    cmp.as_json()   # {"lists", "overlap", "unique", "union", "corpus", ...}

The set algebra runs on pyroaring bitmaps of IPv4 addresses, built from the index's
segments (runs of listed segments become one add_range), so a /8 costs what one address
costs. IPv6 coverage is reported per list as a count of addresses (Python ints).
(report_html draws its histograms from these bitmaps too.)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from .. import _scan
from ..data.dataset import Dataset
from ..errors import CorpusError, RblmirrorError
from .scan import ip_zones
from ..dns.zone import Zone

SPACE4 = 1 << 32


def segments_bitmap(starts: npt.NDArray[np.uint32], vals: npt.NDArray[np.int32]) -> BitMap:
    """The IPv4 addresses of the listed segments (vals >= 0) as a bitmap."""
    listed = vals >= 0
    bm = BitMap()
    if not listed.any():
        return bm
    prev = np.concatenate([[False], listed[:-1]])
    nxt = np.concatenate([listed[1:], [False]])
    ends = np.append(starts[1:].astype(np.int64), SPACE4)
    for s, e in zip(starts[listed & ~prev].tolist(), ends[listed & ~nxt].tolist()):
        bm.add_range(s, e)
    return bm


def _intervals6(datasets: list[Dataset]) -> list[tuple[int, int]]:
    """Merged [start, end) IPv6 intervals listed by any of the datasets."""
    iv = []
    for ds in datasets:
        starts, vals = ds.index.segments6()
        vals = vals.tolist()
        for i, v in enumerate(vals):
            if v >= 0:
                iv.append((starts[i], starts[i + 1] if i + 1 < len(starts) else 1 << 128))
    iv.sort()
    out: list[tuple[int, int]] = []
    for s, e in iv:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass
class ListCoverage:
    name: str
    entries: int
    bitmap: BitMap
    v6: list[tuple[int, int]]
    datasets: list[Dataset]

    @classmethod
    def from_zone(cls, z: Zone) -> ListCoverage:
        dss = z.ip_datasets(test_points=False)  # the list's coverage, not its test points
        bm = BitMap()
        for ds in dss:
            bm |= segments_bitmap(*ds.index.segments4())
        bm.run_optimize()
        return cls(z.name, sum(ds.entries for ds in dss), bm, _intervals6(dss), dss)

    @property
    def addresses(self) -> int:
        return len(self.bitmap)

    @property
    def ipv6_addresses(self) -> int:
        return sum(e - s for s, e in self.v6)

    def lists6(self, value: int) -> bool:
        """Is this IPv6 address listed (IPv4-mapped ones are looked up as IPv4)?"""
        return any(ds.lookup_id(6, value) >= 0 for ds in self.datasets)


@dataclass
class Corpus:
    """Addresses seen in real traffic (or known good senders): distinct IPv4 addresses in
    a bitmap (IPv4-mapped IPv6 counted as IPv4), distinct IPv6 addresses in a set."""

    name: str
    v4: BitMap
    v6: set[int]
    good: bool = False
    bad_lines: int = 0
    bad_samples: list[tuple[int, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.v4) + len(self.v6)

    @classmethod
    def from_file(cls, name: str, path: str | os.PathLike[str], good: bool = False) -> Corpus:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CorpusError(f"cannot read corpus {os.fspath(path)}: {e.strerror or e}") from None
        return cls.from_bytes(name, data, good)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, good: bool = False) -> Corpus:
        r = _scan.parse_chunk(data, True, False, 5)
        fam, hi, lo = r["fam"], r["hi"], r["lo"]
        is6 = fam == 6
        mapped = is6 & (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        v4 = np.concatenate([r["v4"][~is6],
                             (lo[mapped] & np.uint64(0xFFFFFFFF)).astype(np.uint32)])
        w6 = np.flatnonzero(is6 & ~mapped)
        v6 = {(int(hi[i]) << 64) | int(lo[i]) for i in w6.tolist()}
        return cls(name, BitMap(v4), v6, good, r["bad"],
                   [(ln + 1, t.decode("utf-8", "replace")) for ln, t in r["bad_samples"]])


@dataclass
class CorpusResult:
    corpus: Corpus
    hits: dict[str, int]
    unique_hits: dict[str, int]
    greedy: list[tuple[str, int, int]]  # (list, new hits, cumulative hits), best first
    any_hits: int


@dataclass
class Churn:
    name: str
    entries_before: int
    entries_after: int
    added: int
    removed: int
    kept: int


class ListJson(TypedDict):
    entries: int
    addresses: int
    ipv4_share: float
    ipv6_addresses: int


class GreedyStep(TypedDict):
    list: str
    added: int
    covered: int


class CorpusJson(TypedDict):
    size: int
    hits: dict[str, int]
    unique_hits: dict[str, int]
    any_hits: int
    good: bool
    greedy: list[GreedyStep]


class ChurnJson(TypedDict):
    added: int
    removed: int
    kept: int
    entries_before: int
    entries_after: int


class ComparisonJson(TypedDict):
    """`compare --json`: per list name, or per pair of list names."""

    lists: dict[str, ListJson]
    overlap: dict[str, dict[str, int]]
    unique: dict[str, int]
    union: int
    corpus: dict[str, CorpusJson]
    jaccard: dict[str, dict[str, float]]
    false_positives: NotRequired[dict[str, dict[str, int]]]  # hits on known-good corpora
    churn: NotRequired[dict[str, ChurnJson]]


@dataclass
class Comparison:
    lists: list[ListCoverage]
    overlap: dict[str, dict[str, int]]
    jaccard: dict[str, dict[str, float]]
    unique: dict[str, int]
    union: int
    corpora: list[CorpusResult]
    churn: list[Churn]

    def as_json(self) -> ComparisonJson:
        """The documented shape (lists, overlap, unique, union, corpus) plus extra keys."""
        out: ComparisonJson = {
            "lists": {c.name: {"entries": c.entries, "addresses": c.addresses,
                               "ipv4_share": c.addresses / SPACE4,
                               "ipv6_addresses": c.ipv6_addresses} for c in self.lists},
            "overlap": self.overlap,
            "unique": self.unique,
            "union": self.union,
            "corpus": {r.corpus.name: {"size": r.corpus.size, "hits": r.hits,
                                       "unique_hits": r.unique_hits, "any_hits": r.any_hits,
                                       "good": r.corpus.good,
                                       "greedy": [{"list": n, "added": a, "covered": c}
                                                  for n, a, c in r.greedy]}
                       for r in self.corpora},
            "jaccard": self.jaccard,
        }
        fps = {r.corpus.name: r.hits for r in self.corpora if r.corpus.good}
        if fps:
            out["false_positives"] = fps
        if self.churn:
            out["churn"] = {c.name: {"added": c.added, "removed": c.removed, "kept": c.kept,
                                     "entries_before": c.entries_before,
                                     "entries_after": c.entries_after} for c in self.churn}
        return out


def _corpus_result(corpus: Corpus, lists: list[ListCoverage]) -> CorpusResult:
    hit4 = {c.name: corpus.v4 & c.bitmap for c in lists}
    hit6 = {c.name: {x for x in corpus.v6 if c.lists6(x)} for c in lists}
    hits = {n: len(hit4[n]) + len(hit6[n]) for n in hit4}
    unique = {}
    for c, others4 in zip(lists, _others([hit4[c.name] for c in lists])):
        others6 = set().union(*(hit6[o.name] for o in lists if o is not c))
        unique[c.name] = len(hit4[c.name] - others4) + len(hit6[c.name] - others6)
    # greedy: each step takes the list that adds the most new hits (ties: given order)
    got4, got6, left = BitMap(), set[int](), [c.name for c in lists]
    greedy: list[tuple[str, int, int]] = []
    while left:
        best = max(left, key=lambda n: hit4[n].difference_cardinality(got4)
                   + len(hit6[n] - got6))
        added = hit4[best].difference_cardinality(got4) + len(hit6[best] - got6)
        got4 |= hit4[best]
        got6 |= hit6[best]
        greedy.append((best, added, len(got4) + len(got6)))
        left.remove(best)
    return CorpusResult(corpus, hits, unique, greedy, len(got4) + len(got6))


def _others(bms: list[BitMap]) -> list[BitMap]:
    """For each bitmap, the union of all the others (prefix and suffix unions: binary
    `|` on run containers is far faster than BitMap.union(*many))."""
    pre = [BitMap()]
    for b in bms:
        pre.append(pre[-1] | b)
    suf = [BitMap()]
    for b in reversed(bms):
        suf.append(suf[-1] | b)
    suf.reverse()
    return [pre[i] | suf[i + 1] for i in range(len(bms))]


def compare(zones: list[Zone], corpora: Sequence[Corpus] = (),
            before: dict[str, Dataset] | None = None) -> Comparison:
    """Coverage, overlap, unique coverage and union of the IP zones; hits on corpora;
    churn against an earlier dump (before: zone name -> Dataset of the old dump)."""
    zs = ip_zones(zones)
    if not zs:
        raise RblmirrorError("no IP zone configured to compare")
    lists = [ListCoverage.from_zone(z) for z in zs]
    overlap: dict[str, dict[str, int]] = {}
    jaccard: dict[str, dict[str, float]] = {}
    for a in lists:
        overlap[a.name], jaccard[a.name] = {}, {}
        for b in lists:
            if b is a:
                n = a.addresses
            else:
                n = overlap[b.name][a.name] if b.name in overlap else \
                    a.bitmap.intersection_cardinality(b.bitmap)
            overlap[a.name][b.name] = n
            u = a.addresses + b.addresses - n
            jaccard[a.name][b.name] = n / u if u else 0.0
    others = _others([c.bitmap for c in lists])
    unique = {a.name: a.bitmap.difference_cardinality(o) for a, o in zip(lists, others)}
    union = len(others[0] | lists[0].bitmap)
    results = [_corpus_result(c, lists) for c in corpora]
    churn = []
    for name, ds in (before or {}).items():
        cur = next((c for c in lists if c.name == name), None)
        if cur is None:
            raise RblmirrorError(f"--before {name}: no such IP zone "
                                 f"(zones: {', '.join(c.name for c in lists)})")
        old = segments_bitmap(*ds.index.segments4())
        kept = old.intersection_cardinality(cur.bitmap)
        churn.append(Churn(name, ds.entries, cur.entries, cur.addresses - kept,
                           len(old) - kept, kept))
    return Comparison(lists, overlap, jaccard, unique, union, results, churn)


def format_table(cmp: Comparison) -> str:
    """The terminal report."""
    names = [c.name for c in cmp.lists]
    w = max([len(n) for n in names] + [8])
    out = [f"{'list':<{w}}  {'entries':>10}  {'IPv4 addresses':>15}  {'IPv4 share':>10}  "
           f"{'unique':>13}  {'IPv6 addresses':>14}"]
    for c in cmp.lists:
        v6 = c.ipv6_addresses
        out.append(f"{c.name:<{w}}  {c.entries:>10,}  {c.addresses:>15,}  "
                   f"{c.addresses / SPACE4:>10.4%}  {cmp.unique[c.name]:>13,}  "
                   f"{(f'{v6:.3g}' if v6 >= 1e12 else f'{v6:,}'):>14}")
    out.append(f"{'union':<{w}}  {'':>10}  {cmp.union:>15,}  {cmp.union / SPACE4:>10.4%}")
    out.append("")
    out.append("overlap (IPv4 addresses in both; Jaccard index)")
    cw = max([len(n) for n in names] + [len(f"{cmp.overlap[a][b]:,} (0.000)")
                                        for a in names for b in names])
    out.append(" " * w + "  " + "  ".join(f"{n[:cw]:>{cw}}" for n in names))
    for a in names:
        cells = [f"{cmp.overlap[a][b]:,} ({cmp.jaccard[a][b]:.3f})" for b in names]
        out.append(f"{a:<{w}}  " + "  ".join(f"{x:>{cw}}" for x in cells))
    for r in cmp.corpora:
        out.append("")
        kind = "false positives on known-good" if r.corpus.good else "hits on"
        out.append(f"{kind} corpus {r.corpus.name}: {r.corpus.size:,} distinct addresses, "
                   f"{r.any_hits:,} hit by any list ({r.any_hits / max(r.corpus.size, 1):.2%})")
        out.append(f"  {'list':<{w}}  {'hits':>8}  {'share':>7}  {'unique':>8}")
        for n in names:
            out.append(f"  {n:<{w}}  {r.hits[n]:>8,}  {r.hits[n] / max(r.corpus.size, 1):>7.2%}  "
                       f"{r.unique_hits[n]:>8,}")
        out.append("  greedy: " + " -> ".join(f"{n} (+{a:,} = {c:,})" for n, a, c in r.greedy))
    for ch in cmp.churn:
        out.append("")
        out.append(f"churn {ch.name}: entries {ch.entries_before:,} -> {ch.entries_after:,}; "
                   f"addresses added {ch.added:,}, removed {ch.removed:,}, kept {ch.kept:,}")
    return "\n".join(out) + "\n"
