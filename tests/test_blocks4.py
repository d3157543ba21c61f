"""The compiled scanner's block store (ext/loader.pyx Blocks4) and its page release,
against plain numpy: in-place insert and drop, the /8 buckets the grouping takes."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rblmirror import _loader
from rblmirror.data.formats.fast4 import DROP


@settings(max_examples=200, deadline=None)
@given(blocks=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 5)), max_size=300),
       ins=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 2**32 - 1)), max_size=20))
def test_blocks4_insert_drop_and_buckets(blocks, ins):
    """insert() is np.insert in place, drop() removes the DROP (-3) values, and
    take_buckets() is a stable sort by the top octet (with its bounds), all against
    plain numpy; the Blocks4 is empty after."""
    text = "".join(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}\n" for a, _ in blocks)
    out = _loader.Blocks4()
    _loader.scan4(np.frombuffer(text.encode(), np.uint8), 2, True, out, 0, True)
    n = len(blocks)
    vals = np.array([DROP if k == 0 else k for _, k in blocks], np.int32)
    out.fill(np.array([n] if n else [], np.int64), np.array([7] if n else [], np.int32),
             np.empty(0, np.int32))
    s, e, v = out.arrays()
    v[:] = vals  # (fill gave every block 7; set the test's own values)
    at = np.array(sorted(min(p, n) for p, _ in ins), np.int64)
    xs = np.array([x for _, x in ins], np.uint32)
    want_s = np.insert(np.array([a for a, _ in blocks], np.uint32), at, xs)
    want_v = np.insert(vals, at, np.full(len(xs), 9, np.int32))
    out.insert(at, xs, xs, np.full(len(xs), 9, np.int32))
    s, e, v = out.arrays()
    assert s.tolist() == want_s.tolist() and e.tolist() == want_s.tolist()
    assert v.tolist() == want_v.tolist()
    keep = want_v != DROP
    assert out.drop() == int((~keep).sum())
    want_s, want_v = want_s[keep], want_v[keep]
    bs, be, bv, bounds, wide = out.take_buckets()
    order = np.argsort(want_s >> 24, kind="stable")
    assert bs.tolist() == want_s[order].tolist() and bv.tolist() == want_v[order].tolist()
    assert not wide and out.n == 0
    assert bounds.tolist() == [int((want_s >> 24 < k).sum()) for k in range(257)]


def test_release_pages_zeroes_whole_pages_only():
    """The whole 2 MiB pages inside arr[:upto] read as zeros after (given back), at most
    the two partial pages at its edges keep their data, nothing past upto changes."""
    a = np.ones(4 << 20, np.uint32)  # 16 MiB
    half = len(a) // 2
    _loader.release_pages(a, half)
    assert a[half:].all()
    kept = int(np.count_nonzero(a[:half]))
    assert kept <= 2 * ((2 << 20) // 4) and kept < half - (2 << 20) // 4
