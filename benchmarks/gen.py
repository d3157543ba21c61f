"""Deterministic ip4set generator for the benchmarks, with its own ground truth.

    python -m benchmarks.gen OUT.txt [--n32 1000000] [--ncidr 50000] [--seed 20260706]

The file: $SOA, a `:A:TXT` default line, 1M random single addresses (default value),
50k CIDRs /16../29 (one in ten with its own `:127.0.0.3:TXT`), and a few thousand
`!a.b.c.d` exclusions of addresses inside CIDRs, in shuffled order. `Truth` answers
lookups from the generated entries with the rbldnsd ip4set rules written out directly
(most specific of /32, /24, /16, /8 that has an entry; exclusion wins there; every
distinct value at that level), never through rblmirror's code, so the benchmarks can
assert their results.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

#: the zone the benchmarks serve generated data as (rbldnsd, `rblmirror serve`)
ZONE = "bench.test"
DEFAULT_A = "127.0.0.2"
DEFAULT_TXT = "Listed by the benchmark generator, see http://example.test/?ip=$"
CIDR_A = "127.0.0.3"
CIDR_TXT = "Network listed: $"
SEED = 20260706


def _dotted(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint32)
    parts = [((v >> s) & 255).astype("U3") for s in (24, 16, 8, 0)]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, "."), p)
    return out


@dataclass
class Truth:
    singles: np.ndarray  # sorted unique uint32 /32 entries (default value)
    excluded: np.ndarray  # sorted unique uint32 excluded /32s
    nets: np.ndarray  # uint32 network addresses of the CIDRs
    lens: np.ndarray  # their prefix lengths
    txt: np.ndarray  # bool: the CIDR carries its own value

    @property
    def default(self) -> tuple[str, str]:
        return DEFAULT_A, DEFAULT_TXT

    def listings(self, ip: int) -> tuple[tuple[str, str], ...]:
        """(A, TXT template) pairs rbldnsd would answer for ip; () when not listed."""
        ip = int(ip)
        masks = ((0xFFFFFFFF << (32 - self.lens.astype(np.int64))) & 0xFFFFFFFF)
        hit = (np.int64(ip) & masks) == self.nets.astype(np.int64)
        # the ip4set level each covering CIDR was stored at (rbldnsd splits a CIDR into
        # the largest /8, /16, /24 or /32 blocks that fit)
        lv = np.where(self.lens > 24, 32, np.where(self.lens > 16, 24, np.where(self.lens > 8, 16, 8)))
        at32 = []
        if _contains(self.excluded, ip):
            at32.append(None)
        if _contains(self.singles, ip):
            at32.append((DEFAULT_A, DEFAULT_TXT))
        order = np.flatnonzero(hit)
        levels: dict[int, list] = {32: at32, 24: [], 16: [], 8: []}
        for i in order:  # file order does not matter for distinct values here
            levels[int(lv[i])].append((CIDR_A, CIDR_TXT) if self.txt[i] else (DEFAULT_A, DEFAULT_TXT))
        for level in (32, 24, 16, 8):
            vals = levels[level]
            if vals:
                if None in vals:
                    return ()
                return tuple(sorted(set(vals)))
        return ()


def _contains(arr: np.ndarray, x: int) -> bool:
    i = int(np.searchsorted(arr, x))
    return i < len(arr) and int(arr[i]) == x


def generate(path, n32: int = 1_000_000, ncidr: int = 50_000, nexcl: int = 2_000,
             seed: int = SEED) -> Truth:
    rng = np.random.default_rng(seed)
    # avoid 0/8, 127/8 and 224/3 so every entry is an ordinary unicast address
    def rand_ip(n):
        v = rng.integers(1 << 24, 0xE0000000, size=n, dtype=np.uint64).astype(np.uint32)
        bad = (v >> 24) == 127
        v[bad] ^= np.uint32(1 << 24)
        return v

    singles = rand_ip(n32)
    lens = rng.integers(16, 30, size=ncidr).astype(np.int64)
    nets = (rand_ip(ncidr).astype(np.int64) & ((0xFFFFFFFF << (32 - lens)) & 0xFFFFFFFF)).astype(np.uint32)
    txt = rng.random(ncidr) < 0.1
    # exclusions: addresses inside some CIDRs
    pick = rng.integers(0, ncidr, size=nexcl)
    span = (1 << (32 - lens[pick])).astype(np.int64)
    excl = (nets[pick].astype(np.int64) + rng.integers(0, 1 << 62, size=nexcl) % span).astype(np.uint32)

    lines = np.concatenate([
        _dotted(singles),
        np.char.add(np.char.add(_dotted(nets), "/"), lens.astype("U2")),
        np.char.add("!", _dotted(excl)),
    ]).astype(object)
    nsingle = len(singles)
    for k in np.flatnonzero(txt):
        lines[nsingle + k] = f"{lines[nsingle + k]} :{CIDR_A}:{CIDR_TXT}"
    lines = lines[rng.permutation(len(lines))]
    with open(path, "w") as f:
        f.write("# rblmirror benchmark ip4set (benchmarks/gen.py)\n")
        f.write("$SOA 3600 bench.example. hostmaster.bench.example. 1 3600 600 86400 60\n")
        f.write(f":{DEFAULT_A}:{DEFAULT_TXT}\n")
        f.write("\n".join(lines.tolist()))
        f.write("\n")
    return Truth(np.unique(singles), np.unique(excl), nets, lens, txt)


def sample_addresses(truth: Truth, n: int, seed: int = SEED + 1) -> np.ndarray:
    """A mix of listed singles, addresses inside CIDRs, exclusions, edges and random."""
    rng = np.random.default_rng(seed)
    k = n // 5
    span = (1 << (32 - truth.lens)).astype(np.int64)
    pick = rng.integers(0, len(truth.nets), size=k)
    inside = truth.nets[pick].astype(np.int64) + rng.integers(0, 1 << 62, size=k) % span[pick]
    edges = np.concatenate([truth.nets[pick[: k // 2]].astype(np.int64) - 1,
                            truth.nets[pick[: k // 2]].astype(np.int64) + span[pick[: k // 2]]])
    parts = [rng.choice(truth.singles, k), inside, edges,
             rng.choice(truth.excluded, min(k, len(truth.excluded))),
             rng.integers(0, 1 << 32, size=n - 4 * k, dtype=np.uint64)]
    out = np.concatenate([np.asarray(p).astype(np.int64) for p in parts]) & 0xFFFFFFFF
    return out.astype(np.uint32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--n32", type=int, default=1_000_000)
    ap.add_argument("--ncidr", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    generate(a.out, a.n32, a.ncidr, seed=a.seed)


if __name__ == "__main__":
    main()
