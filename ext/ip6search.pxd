# cython: language_level=3
"""The compact IPv6 index's layout and its lookups, the one home of both: ext/index.pyx
(Index6: check, scan, the snapshot) and ext/dnsfast.pyx (the DNS path) use these, and
ext/loader6.pyx (Build6) writes the layout.

The index holds the segments of the address space (the last start <= an address gives
its value id; segment 0 starts at ::) grouped by the high 64 bits of their starts:

- a *group* per distinct high half H_j (H_0 = 0), in order: its key, H_j's low 48 bits
  (6 bytes, little-endian; `keys` has 2 bytes of padding so an 8-byte load may read
  them), and its code (`width` bytes): value id + 1 when the group is one segment
  starting at (H_j, 0) (code 0: not listed), `run` (all ones) when it is a run;
- a *run* per other group: its (low half, value id) pairs in order, the first at low
  half 0 (when no segment starts at (H_j, 0), the pair carries the value in force
  there, the previous group's last); runj[r] is run r's group, runoff[r] its first pair;
- a first-level table over the groups' high halves: bucket k holds the groups with
  (H >> shift) - base == k (shift <= 48, so one bucket's groups share their top 16 bits,
  the bits the keys leave out); tab[k] is its first group (tab[nb] = m). Group 0 lies in
  bucket 0 when base is 0, else before every bucket (tab[0] = 1).

So a segment costs 6 + width bytes (7 in most lists) where it starts on a /64 boundary,
and 12 more in a run otherwise (a /65../128 prefix or exclusion).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t
from libc.string cimport memcpy
from ipsearch cimport __builtin_prefetch

cdef enum:
    KEY6 = 6   # bytes a key

cdef struct Idx6:
    const uint32_t* tab
    Py_ssize_t nb
    uint64_t base
    int shift
    const uint8_t* keys
    const uint8_t* codes
    int width
    uint32_t run
    Py_ssize_t m
    const uint32_t* runj
    Py_ssize_t nruns
    const uint32_t* runoff
    const uint64_t* runlo
    const int32_t* runval


cdef inline uint64_t key6(const Idx6* x, Py_ssize_t j) noexcept nogil:
    cdef uint64_t k
    memcpy(&k, x.keys + KEY6 * j, 8)  # little-endian, as the snapshot
    return k & 0xFFFFFFFFFFFFULL


cdef inline uint32_t code6(const Idx6* x, Py_ssize_t j) noexcept nogil:
    cdef uint16_t c2
    cdef uint32_t c4
    if x.width == 1:
        return x.codes[j]
    if x.width == 2:
        memcpy(&c2, x.codes + 2 * j, 2)
        return c2
    memcpy(&c4, x.codes + 4 * j, 4)
    return c4


cdef inline Py_ssize_t group6(const Idx6* x, uint64_t h, bint* exact) noexcept nogil:
    """The last group whose high half is <= h; exact: it is h."""
    cdef uint64_t b = h >> x.shift, kk = h & 0xFFFFFFFFFFFFULL
    cdef Py_ssize_t k, a, z, n, half
    if b < x.base:
        exact[0] = h == 0
        return 0
    if b - x.base >= <uint64_t>x.nb:
        exact[0] = False
        return x.m - 1
    k = <Py_ssize_t>(b - x.base)
    a = x.tab[k]
    z = x.tab[k + 1]
    __builtin_prefetch(x.codes + x.width * a)  # the answer's code: a line or two on
    if a == z or key6(x, a) > kk:
        exact[0] = False
        return a - 1  # a group of an earlier bucket
    n = z - a
    while n > 1:  # branch-free halving, as ipsearch._search
        half = n >> 1
        a += half * (key6(x, a + half) <= kk)
        n -= half
    exact[0] = key6(x, a) == kk
    return a


cdef inline Py_ssize_t run6(const Idx6* x, Py_ssize_t j) noexcept nogil:
    """The run of group j (whose code is x.run)."""
    cdef Py_ssize_t a = 0, n = x.nruns, half
    while n > 1:
        half = n >> 1
        a += half * (x.runj[a + half] <= <uint32_t>j)
        n -= half
    return a


cdef inline Py_ssize_t pair6(const Idx6* x, Py_ssize_t r, uint64_t l) noexcept nogil:
    """The last pair of run r whose low half is <= l (its first is 0)."""
    cdef Py_ssize_t a = x.runoff[r], n = x.runoff[r + 1] - a, half
    while n > 1:
        half = n >> 1
        a += half * (x.runlo[a + half] <= l)
        n -= half
    return a


cdef inline int32_t find6(const Idx6* x, uint64_t h, uint64_t l) noexcept nogil:
    """The value id of address (h, l), -1 when not listed."""
    cdef bint exact
    cdef Py_ssize_t j = group6(x, h, &exact), r
    cdef uint32_t c = code6(x, j)
    if c != x.run:
        return <int32_t>c - 1
    r = run6(x, j)
    if not exact:
        return x.runval[x.runoff[r + 1] - 1]
    return x.runval[pair6(x, r, l)]


cdef inline int any6(const Idx6* x, uint64_t ph, uint64_t pl, uint64_t th, uint64_t tl,
                     Py_ssize_t scan_max) noexcept nogil:
    """Any listed address in [p, t] (p <= t): 1 yes, 0 no, -1 not decided within
    scan_max segments."""
    cdef bint e1, e2
    cdef Py_ssize_t j1 = group6(x, ph, &e1), j2 = group6(x, th, &e2)
    cdef Py_ssize_t j, r, q, q0, q1, seen = 0
    cdef uint32_t c
    for j in range(j1, j2 + 1):
        c = code6(x, j)
        if c != x.run:
            if c != 0:
                return 1
            if seen >= scan_max:
                return -1
            seen += 1
            continue
        r = run6(x, j)
        q0 = x.runoff[r]
        q1 = x.runoff[r + 1] - 1
        if j == j2 and e2:
            q1 = pair6(x, r, tl)
        if j == j1:
            q0 = pair6(x, r, pl) if e1 else x.runoff[r + 1] - 1
        for q in range(q0, q1 + 1):
            if x.runval[q] >= 0:
                return 1
            if seen >= scan_max:
                return -1
            seen += 1
    return 0
