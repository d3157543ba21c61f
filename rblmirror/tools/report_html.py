"""The HTML report of `rblmirror compare --html`: tables plus three plots as embedded PNG
(overlap heatmap, unique contribution bars, cumulative coverage curve). matplotlib is
imported only here, with the Agg backend (no display needed). It is optional (the extra
`report`: pip install 'rblmirror[report]'); `require_matplotlib` says so when it is missing."""
from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

from .coverage import SPACE4, Comparison
from ..errors import RblmirrorError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "--html needs matplotlib: pip install 'rblmirror[report]'"


def require_matplotlib() -> None:
    """Raise RblmirrorError with MISSING when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RblmirrorError(MISSING) from None


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(cmp: Comparison) -> dict[str, str]:
    """name -> base64 PNG for 'overlap', 'unique' and 'coverage'."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [c.name for c in cmp.lists]
    n = len(names)
    out = {}

    # overlap heatmap: the share of the row list's addresses that the column list also has
    m = np.array([[cmp.overlap[a][b] / max(cmp.overlap[a][a], 1) for b in names] for a in names])
    fig, ax = plt.subplots(figsize=(1.1 * n + 3, 0.9 * n + 2))
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=35, ha="right")
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{m[i, j]:.0%}", ha="center", va="center",
                    color="white" if m[i, j] < 0.6 else "black", fontsize=9)
    ax.set_title("Overlap: share of the row list's IPv4 addresses also in the column list")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    out["overlap"] = _png(fig)
    plt.close(fig)

    # unique contribution: unique vs shared addresses per list
    uniq = np.array([cmp.unique[x] for x in names], float)
    total = np.array([c.addresses for c in cmp.lists], float)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * n + 2), 4))
    ax.bar(names, uniq, label="only in this list", color="#d95f02")
    ax.bar(names, total - uniq, bottom=uniq, label="also in another list", color="#7570b3")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("IPv4 addresses")
    ax.set_title("Unique contribution per list")
    ax.legend()
    ax.tick_params(axis="x", rotation=35)
    out["unique"] = _png(fig)
    plt.close(fig)

    # cumulative coverage when lists are added greedily (per corpus; else address space)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    curves = [(r.corpus.name + (" (known good)" if r.corpus.good else ""),
               [0] + [c / max(r.corpus.size, 1) for _, _, c in r.greedy],
               [""] + [x for x, _, _ in r.greedy]) for r in cmp.corpora]
    if not curves:
        from pyroaring import BitMap
        got, left, ys, labels = BitMap(), list(cmp.lists), [0.0], [""]
        while left:
            best = max(left, key=lambda c: c.bitmap.difference_cardinality(got))
            got |= best.bitmap
            ys.append(len(got) / SPACE4)
            labels.append(best.name)
            left.remove(best)
        curves = [("IPv4 space", ys, labels)]
        ax.set_ylabel("share of the IPv4 space covered")
    else:
        ax.set_ylabel("share of the corpus covered")
    for name, ys, labels in curves:
        ax.plot(range(len(ys)), ys, marker="o", label=name)
        for x, (y, lab) in enumerate(zip(ys, labels)):
            if lab:
                ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, -10),
                            fontsize=8)
    ax.set_xlabel("lists used (added greedily, most new coverage first)")
    ax.set_title("Cumulative coverage")
    ax.set_xticks(range(n + 1))
    ax.grid(alpha=0.3)
    ax.legend()
    out["coverage"] = _png(fig)
    plt.close(fig)
    return out


def render_html(cmp: Comparison, title: str = "rblmirror compare") -> str:
    e = html.escape
    names = [c.name for c in cmp.lists]
    rows = "".join(
        f"<tr><td>{e(c.name)}</td><td>{c.entries:,}</td><td>{c.addresses:,}</td>"
        f"<td>{c.addresses / SPACE4:.4%}</td><td>{cmp.unique[c.name]:,}</td>"
        f"<td>{c.ipv6_addresses:,}</td></tr>" for c in cmp.lists)
    overlap = "".join(
        f"<tr><th>{e(a)}</th>" + "".join(
            f"<td>{cmp.overlap[a][b]:,}<br><small>J={cmp.jaccard[a][b]:.3f}</small></td>"
            for b in names) + "</tr>" for a in names)
    corpora = ""
    for r in cmp.corpora:
        kind = "False positives on known-good corpus" if r.corpus.good else "Hits on corpus"
        body = "".join(f"<tr><td>{e(x)}</td><td>{r.hits[x]:,}</td>"
                       f"<td>{r.hits[x] / max(r.corpus.size, 1):.2%}</td>"
                       f"<td>{r.unique_hits[x]:,}</td></tr>" for x in names)
        corpora += (f"<h2>{kind} {e(r.corpus.name)}</h2><p>{r.corpus.size:,} distinct "
                    f"addresses, {r.any_hits:,} hit by any list.</p><table><tr><th>list</th>"
                    f"<th>hits</th><th>share</th><th>unique hits</th></tr>{body}</table>")
    churn = "".join(
        f"<h2>Churn {e(c.name)}</h2><p>entries {c.entries_before:,} &rarr; {c.entries_after:,};"
        f" addresses added {c.added:,}, removed {c.removed:,}, kept {c.kept:,}</p>"
        for c in cmp.churn)
    img = plots(cmp)

    def fig(k: str, alt: str) -> str:
        return f'<figure><img id="{k}" alt="{alt}" src="data:image/png;base64,{img[k]}"></figure>'

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{e(title)}</h1>
<h2>Lists</h2>
<table><tr><th>list</th><th>entries</th><th>IPv4 addresses</th><th>IPv4 share</th>
<th>unique</th><th>IPv6 addresses</th></tr>{rows}
<tr><th>union</th><td></td><td>{cmp.union:,}</td><td>{cmp.union / SPACE4:.4%}</td><td></td><td></td></tr>
</table>
{fig("unique", "unique contribution bars")}
<h2>Overlap (IPv4 addresses in both, Jaccard index)</h2>
<table><tr><th></th>{"".join(f"<th>{e(x)}</th>" for x in names)}</tr>{overlap}</table>
{fig("overlap", "overlap heatmap")}
{corpora}
<h2>Cumulative coverage</h2>
{fig("coverage", "cumulative coverage curve")}
{churn}
</body></html>
"""
