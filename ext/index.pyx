# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled IP-range index: sorted, non-overlapping segments, one value id per segment.

A segment i covers [starts[i], starts[i+1]) and carries vals[i] (-1: not listed).
starts[0] is always 0, so every address falls in exactly one segment. The arrays may
live in memory the caller owns (numpy arrays, or an mmap of a snapshot); the index
keeps a reference to the owner so the memory outlives every lookup.

No I/O here: C types in, C types out; rblmirror/index.py is the Python face.
"""
cimport cython
from libc.stdint cimport uint32_t, int32_t, uint64_t, int64_t, uint8_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
cimport numpy as cnp
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_FromFormat
import os
import numpy as np

cnp.import_array()

from ipsearch cimport (ASK4, ASK6, v6_asks, FINE, FINE_BITS, FINE_SHIFT, _find4, _search, _value4,
                       __builtin_prefetch, parse4)
from cpython.pycapsule cimport PyCapsule_New
from ip6search cimport Idx6, KEY6, key6, code6, find6, any6

cdef enum:
    BUCKETS = 65536        # the coarse table (top 16 bits) of the public bucket_array
    STEP = 1 << (FINE_BITS - 16)  # fine entries per coarse entry
    PF_DIST = 16           # batch lookups: prefetch distance (a power of two)
    MIN_SPLIT = 1 << 16    # batch lookups: split over threads from this many addresses

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t*, const void*, void* (*)(void*) noexcept nogil, void*)
    int pthread_join(pthread_t, void**)

try:
    _NTHREADS = max(1, min(8, len(os.sched_getaffinity(0))))
except (AttributeError, OSError):
    _NTHREADS = max(1, min(8, os.cpu_count() or 1))
cdef int _NTHREADS_C = _NTHREADS


cdef struct Job:
    const uint32_t* s
    const uint32_t* b
    const int32_t* v
    const uint32_t* ips
    int32_t* out
    Py_ssize_t m


cdef void _lookup_run(const uint32_t* s, const uint32_t* b, const int32_t* v,
                      const uint32_t* ips, int32_t* out, Py_ssize_t m) noexcept nogil:
    """out[i] = value of ips[i], with a software pipeline: the table entry of address
    i + 2*PF_DIST and the segment lines of address i + PF_DIST are fetched while address
    i is resolved, so the cache misses of many addresses overlap."""
    cdef uint32_t rlo[PF_DIST]
    cdef uint32_t rhi[PF_DIST]
    cdef Py_ssize_t i, k, lim
    cdef uint32_t h, lo, hi
    lim = m if m < 2 * PF_DIST else 2 * PF_DIST
    for i in range(lim):
        __builtin_prefetch(&b[ips[i] >> FINE_SHIFT])
    lim = m if m < PF_DIST else PF_DIST
    for i in range(lim):
        h = ips[i] >> FINE_SHIFT
        rlo[i] = b[h]
        rhi[i] = b[h + 1]
        __builtin_prefetch(&s[rlo[i]])
        __builtin_prefetch(&v[<Py_ssize_t>rlo[i] - 1])
    for i in range(m):
        k = i & (PF_DIST - 1)
        out[i] = v[_search(s, rlo[k], rhi[k], ips[i])]
        if i + PF_DIST < m:
            h = ips[i + PF_DIST] >> FINE_SHIFT
            lo = b[h]
            rlo[k] = lo
            rhi[k] = b[h + 1]
            __builtin_prefetch(&s[lo])
            __builtin_prefetch(&v[<Py_ssize_t>lo - 1])
            if i + 2 * PF_DIST < m:
                __builtin_prefetch(&b[ips[i + 2 * PF_DIST] >> FINE_SHIFT])


cdef void* _lookup_thread(void* arg) noexcept nogil:
    cdef Job* j = <Job*>arg
    _lookup_run(j.s, j.b, j.v, j.ips, j.out, j.m)
    return NULL


cdef void _lookup_par(const uint32_t* s, const uint32_t* b, const int32_t* v,
                      const uint32_t* ips, int32_t* out, Py_ssize_t m,
                      int nthreads) noexcept nogil:
    """_lookup_run over nthreads slices (this thread takes the first one)."""
    cdef Job jobs[8]
    cdef pthread_t tids[8]
    cdef bint started[8]
    cdef int t
    cdef Py_ssize_t a, z
    if nthreads > 8:
        nthreads = 8
    if nthreads < 2 or m < MIN_SPLIT:
        _lookup_run(s, b, v, ips, out, m)
        return
    for t in range(nthreads):
        a = m * t // nthreads
        z = m * (t + 1) // nthreads
        jobs[t].s = s
        jobs[t].b = b
        jobs[t].v = v
        jobs[t].ips = ips + a
        jobs[t].out = out + a
        jobs[t].m = z - a
        started[t] = False
    for t in range(1, nthreads):
        started[t] = pthread_create(&tids[t], NULL, _lookup_thread, &jobs[t]) == 0
    _lookup_run(s, b, v, jobs[0].ips, jobs[0].out, jobs[0].m)
    for t in range(1, nthreads):
        if started[t]:
            pthread_join(tids[t], NULL)
        else:  # could not start a thread: do its share here
            _lookup_run(s, b, v, jobs[t].ips, jobs[t].out, jobs[t].m)


cdef bint _bucket_ok(const uint32_t* b, Py_ssize_t nb, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t h
    if b[0] != 0 or b[nb] != n or b[1] < 1:  # starts[0] == 0: bucket h > 0 starts past it
        return False
    for h in range(nb):
        if b[h] > b[h + 1]:
            return False
    return True


cdef class Index4:
    """IPv4 segments with a 2**18-entry table on the top 18 bits (1 MiB): a lookup reads
    one table entry and, mostly, one cache line of starts and one of vals."""
    cdef const uint32_t[::1] _starts
    cdef const int32_t[::1] _vals
    cdef const uint32_t[::1] _bucket
    cdef const uint32_t* starts
    cdef const int32_t* vals
    cdef const uint32_t* bucket
    cdef readonly Py_ssize_t n
    cdef object owner

    def __cinit__(self, starts, vals, bucket=None, owner=None):
        self._starts = starts
        self._vals = vals
        if self._starts.shape[0] != self._vals.shape[0] or self._starts.shape[0] == 0:
            raise ValueError("starts and vals must have the same, non-zero length")
        if self._starts[0] != 0:
            raise ValueError("starts[0] must be 0")
        self.n = self._starts.shape[0]
        if bucket is not None and len(bucket) == BUCKETS + 1:
            # a coarse (65537-entry) table, as older snapshots hold: check it, then refine
            coarse = np.ascontiguousarray(bucket, dtype=np.uint32)
            if not _bucket_ok(<const uint32_t*>cnp.PyArray_DATA(coarse), BUCKETS, self.n):
                raise ValueError("bucket table does not fit the segments")
            bucket = None
        if bucket is None:
            bucket = make_bucket4(np.asarray(self._starts))
        self._bucket = bucket
        if self._bucket.shape[0] != FINE + 1:
            raise ValueError(f"bucket table must have {FINE + 1} (or {BUCKETS + 1}) entries")
        if not _bucket_ok(&self._bucket[0], FINE, self.n):  # lookups stay inside the arrays
            raise ValueError("bucket table does not fit the segments")
        self.starts = &self._starts[0]
        self.vals = &self._vals[0]
        self.bucket = &self._bucket[0]
        self.owner = owner

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def lookup(self, ip):
        """Value id for one address, -1 when not listed."""
        cdef uint32_t x = ip
        return _value4(self.starts, self.vals, self.bucket, x)

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def lookup_text(self, str text not None):
        """Value id for a dotted quad given as text (blanks around it ignored, leading
        zeros accepted); -1 when not listed, -2 when the text is not a dotted quad."""
        cdef Py_ssize_t n
        cdef const char* p = PyUnicode_AsUTF8AndSize(text, &n)
        cdef uint32_t ip
        if not _parse4(<const unsigned char*>p, n, &ip):
            return -2
        return _value4(self.starts, self.vals, self.bucket, ip)

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def find_text(self, str text not None):
        """lookup_text() for Dataset.lookup(): -1 when not listed, -2 when the text is
        not a dotted quad, else (value id, the address as canonical dotted-quad text)."""
        cdef Py_ssize_t n
        cdef const char* p = PyUnicode_AsUTF8AndSize(text, &n)
        cdef uint32_t ip
        cdef int32_t vid
        if not _parse4(<const unsigned char*>p, n, &ip):
            return -2
        vid = _value4(self.starts, self.vals, self.bucket, ip)
        if vid < 0:
            return vid
        return vid, PyUnicode_FromFormat("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
                                         (ip >> 8) & 255, ip & 255)

    def __contains__(self, uint32_t ip):
        """`ip in index`: is the address listed?"""
        return _value4(self.starts, self.vals, self.bucket, ip) >= 0

    def lookup_many(self, const uint32_t[::1] ips not None, int32_t[::1] out=None):
        """Value ids for an array of addresses (no GIL held while looking up; a large
        batch is split over the CPUs this process may run on)."""
        cdef Py_ssize_t m = ips.shape[0]
        if out is None:
            out = np.empty(m, dtype=np.int32)
        elif out.shape[0] < m:
            raise ValueError("out is shorter than ips")
        cdef int nt = _NTHREADS
        if m:
            with nogil:
                _lookup_par(self.starts, self.bucket, self.vals, &ips[0], &out[0], m, nt)
        return np.asarray(out[:m])

    def count_listed(self, const uint32_t[::1] ips not None):
        """How many of the addresses are listed (no output array, no GIL)."""
        cdef Py_ssize_t i, m = ips.shape[0], c = 0
        cdef const uint32_t* s = self.starts
        cdef const uint32_t* b = self.bucket
        cdef const int32_t* v = self.vals
        with nogil:
            for i in range(m):
                if v[_find4(s, b, ips[i])] >= 0:
                    c += 1
        return c

    def max_value(self):
        """The largest value id of any segment (-1 when nothing is listed)."""
        cdef Py_ssize_t i
        cdef int32_t m = -1
        with nogil:
            for i in range(self.n):
                if self.vals[i] > m:
                    m = self.vals[i]
        return m

    def min_value(self):
        cdef Py_ssize_t i
        cdef int32_t m = 0
        with nogil:
            for i in range(self.n):
                if self.vals[i] < m:
                    m = self.vals[i]
        return m

    @property
    def starts_array(self):
        return np.asarray(self._starts)

    @property
    def vals_array(self):
        return np.asarray(self._vals)

    @property
    def bucket_array(self):
        """The coarse table: [h] = first segment whose start >= h << 16 (65537 entries)."""
        return np.asarray(self._bucket)[::STEP]

    @property
    def table_array(self):
        """The lookup table: [h] = first segment whose start >= h << 14 (2**18 + 1)."""
        return np.asarray(self._bucket)


def make_bucket4(const uint32_t[::1] starts):
    """The lookup table: [h] = first segment whose start >= h << 14; [2**18] = n."""
    cdef Py_ssize_t n = starts.shape[0], i = 0
    cdef uint64_t h
    out = np.empty(FINE + 1, dtype=np.uint32)
    cdef uint32_t[::1] b = out
    with nogil:
        for h in range(FINE):
            while i < n and starts[i] < (h << FINE_SHIFT):
                i += 1
            b[h] = <uint32_t>i
        b[FINE] = <uint32_t>n
    return out


def flatten4(const uint32_t[::1] starts, const uint32_t[::1] ends, const int32_t[::1] gids):
    """Flatten nested-or-disjoint blocks into segments where the innermost block wins.

    Input: blocks sorted by (start ascending, end descending), each pair either nested
    or disjoint (CIDR blocks always are), no two identical. Returns (seg_starts uint32,
    seg_vals int32) with adjacent equal values merged and seg_starts[0] == 0.
    """
    cdef Py_ssize_t n = starts.shape[0], i, sp = 0, k = 0
    cdef int64_t cur = 0, s, e
    cdef int32_t g
    out_s = np.empty(2 * n + 1, dtype=np.uint32)
    out_v = np.empty(2 * n + 1, dtype=np.int32)
    stack_e = np.empty(34 if n < 34 else n + 1, dtype=np.int64)
    stack_g = np.empty(34 if n < 34 else n + 1, dtype=np.int32)
    cdef uint32_t[::1] os_ = out_s
    cdef int32_t[::1] ov = out_v
    cdef int64_t[::1] se = stack_e
    cdef int32_t[::1] sg = stack_g
    with nogil:
        for i in range(n + 1):
            if i < n:
                s = starts[i]
                e = ends[i]
                g = gids[i]
            else:
                s = 1LL << 32
                e = s
                g = -1
            # close every open block that ends before this one starts
            while sp > 0 and se[sp - 1] < s:
                if cur <= se[sp - 1]:
                    k = _emit(os_, ov, k, cur, sg[sp - 1])
                    cur = se[sp - 1] + 1
                sp -= 1
            if cur < s:
                k = _emit(os_, ov, k, cur, sg[sp - 1] if sp > 0 else -1)
                cur = s
            if i < n:
                se[sp] = e
                sg[sp] = g
                sp += 1
    return out_s[:k].copy(), out_v[:k].copy()


cdef inline Py_ssize_t _emit(uint32_t[::1] os_, int32_t[::1] ov, Py_ssize_t k,
                             int64_t start, int32_t val) noexcept nogil:
    if k > 0 and ov[k - 1] == val:
        return k
    os_[k] = <uint32_t>start
    ov[k] = val
    return k + 1


cdef class Index6:
    """The compact IPv6 index (layout and lookups: ext/ip6search.pxd) over arrays the
    caller owns (what _loader6.flatten6 / Build6.arrays() make, or an mmap of a
    snapshot): params, tab, keys, codes, runj, runoff, runlo, runval. The arrays are
    checked for the invariants the lookups rely on when the index is made."""
    cdef Idx6 x
    cdef readonly Py_ssize_t n      # segments
    cdef readonly Py_ssize_t groups
    cdef readonly object owner
    cdef tuple _arrs

    def __cinit__(self, params, tab, keys, codes, runj, runoff, runlo, runval, owner=None):
        cdef const uint64_t[::1] pv = params
        cdef const uint32_t[::1] tv = tab
        cdef const uint8_t[::1] kv = keys
        cdef const uint8_t[::1] cv = codes
        cdef const uint32_t[::1] jv = runj
        cdef const uint32_t[::1] ov = runoff
        cdef const uint64_t[::1] lv = runlo
        cdef const int32_t[::1] vv = runval
        cdef Py_ssize_t m, nb, nr, np_, j, r, runs = 0
        cdef int w
        cdef bint bad
        if pv.shape[0] != 8:
            raise ValueError("Index6: 8 params expected")
        m, w, nb, nr = pv[0], pv[2], pv[6], pv[7]
        if m < 1 or w not in (1, 2, 4) or pv[3] != (<uint64_t>1 << (8 * w)) - 1 or pv[5] > 48:
            raise ValueError("Index6: bad params")
        if kv.shape[0] != KEY6 * m + 2 or cv.shape[0] != w * m:
            raise ValueError("Index6: keys/codes do not match the group count")
        if nb < 1 or tv.shape[0] != nb + 1 or jv.shape[0] != nr or ov.shape[0] != nr + 1:
            raise ValueError("Index6: table/run arrays do not match the params")
        np_ = lv.shape[0]
        if vv.shape[0] != np_ or ov[0] != 0 or ov[nr] != np_:
            raise ValueError("Index6: run pairs do not match the runs")
        self.x.tab = &tv[0]
        self.x.nb = nb
        self.x.base = pv[4]
        self.x.shift = <int>pv[5]
        self.x.keys = &kv[0]
        self.x.codes = &cv[0]
        self.x.width = w
        self.x.run = <uint32_t>pv[3]
        self.x.m = m
        self.x.runj = &jv[0] if nr else NULL
        self.x.nruns = nr
        self.x.runoff = &ov[0]
        self.x.runlo = &lv[0] if np_ else NULL
        self.x.runval = &vv[0] if np_ else NULL
        with nogil:
            bad = key6(&self.x, 0) != 0 or tv[nb] != m or tv[0] != (0 if pv[4] == 0 else 1)
            for j in range(nb):
                if tv[j] > tv[j + 1]:
                    bad = True
            for r in range(nr):
                if ov[r] >= ov[r + 1] or lv[ov[r]] != 0 or jv[r] >= m or \
                        (r and jv[r] <= jv[r - 1]) or code6(&self.x, jv[r]) != self.x.run:
                    bad = True
            for j in range(m):
                runs += code6(&self.x, j) == self.x.run
        if bad or runs != nr:
            raise ValueError("Index6: inconsistent arrays")
        self.n = pv[1]
        self.groups = m
        self.owner = owner
        self._arrs = (params, tab, keys, codes, runj, runoff, runlo, runval)

    cdef inline int32_t _find(self, uint64_t h, uint64_t l) noexcept nogil:
        return find6(&self.x, h, l)

    def capsule(self):
        """The Idx6 struct (ext/ip6search.pxd) for the DNS path; valid while this index
        lives (its holder keeps the index)."""
        return PyCapsule_New(<void*>&self.x, b"rblmirror.Idx6", NULL)

    cpdef int lookup(self, uint64_t hi, uint64_t lo):
        """Value id for one address given as its high and low 64 bits; -1 when not listed."""
        return find6(&self.x, hi, lo)

    def lookup_many(self, const uint64_t[::1] his not None, const uint64_t[::1] los not None):
        cdef Py_ssize_t i, m = his.shape[0]
        if los.shape[0] != m:
            raise ValueError("his and los differ in length")
        out = np.empty(m, dtype=np.int32)
        cdef int32_t[::1] o = out
        with nogil:
            for i in range(m):
                o[i] = find6(&self.x, his[i], los[i])
        return out

    def any_listed(self, uint64_t ph, uint64_t pl, uint64_t th, uint64_t tl,
                   Py_ssize_t scan_max=1 << 62):
        """ip6search.any6: any listed address in [p, t]: 1, 0, or -1 (undecided)."""
        return any6(&self.x, ph, pl, th, tl, scan_max)

    def arrays(self):
        """The eight arrays, as a snapshot stores them."""
        return self._arrs

    def segments(self):
        """(hi uint64, lo uint64, vals int32) of every segment, in order: a copy made
        here (for tools and tests; the index never holds them)."""
        cdef Py_ssize_t j, q, k = 0, r = 0, n = self.n, t = 0
        cdef uint64_t h
        cdef uint32_t c
        cdef int32_t v, last = 0
        hi = np.empty(n, np.uint64)
        lo = np.empty(n, np.uint64)
        va = np.empty(n, np.int32)
        cdef uint64_t[::1] ho = hi
        cdef uint64_t[::1] lo_ = lo
        cdef int32_t[::1] vo = va
        cdef const uint32_t* tab = self.x.tab
        cdef bint ok = True
        with nogil:
            for j in range(self.x.m):
                h = self._high(j)
                c = code6(&self.x, j)
                if c != self.x.run:
                    v = <int32_t>c - 1
                    if k == 0 or v != last:
                        if k >= n:
                            ok = False
                            break
                        ho[k] = h
                        lo_[k] = 0
                        vo[k] = v
                        last = v
                        k += 1
                    continue
                for q in range(self.x.runoff[r], self.x.runoff[r + 1]):
                    v = self.x.runval[q]
                    if k == 0 or v != last:
                        if k >= n:
                            ok = False
                            break
                        ho[k] = h
                        lo_[k] = self.x.runlo[q]
                        vo[k] = v
                        last = v
                        k += 1
                r += 1
        if not ok or k != n:
            raise ValueError("Index6: the segment count does not match the groups")
        return hi, lo, va

    cdef uint64_t _high(self, Py_ssize_t j) noexcept nogil:
        """Group j's high half: its key under the top 16 bits of its bucket."""
        cdef Py_ssize_t a = 0, z = self.x.nb, mid
        if j == 0:
            return 0
        while z - a > 1:  # the last bucket whose first group is <= j
            mid = (a + z) >> 1
            if self.x.tab[mid] <= j:
                a = mid
            else:
                z = mid
        return ((((self.x.base + a) << self.x.shift) >> 48) << 48) | key6(&self.x, j)

    @property
    def hi_array(self):
        return self.segments()[0]

    @property
    def lo_array(self):
        return self.segments()[1]

    @property
    def vals_array(self):
        return self.segments()[2]

    def self_check(self):
        """Every group's and run pair's own start answers its own value, looked up from
        scratch (touches every page, copies nothing)."""
        cdef Py_ssize_t j, q, r = 0
        cdef uint64_t h
        cdef uint32_t c
        cdef bint ok = True
        with nogil:
            for j in range(self.x.m):
                h = self._high(j)
                c = code6(&self.x, j)
                if c != self.x.run:
                    ok = ok and find6(&self.x, h, 0) == <int32_t>c - 1
                    continue
                for q in range(self.x.runoff[r], self.x.runoff[r + 1]):
                    ok = ok and find6(&self.x, h, self.x.runlo[q]) == self.x.runval[q]
                r += 1
        return ok

    def value_range(self):
        """(smallest, largest) value id of any segment."""
        cdef Py_ssize_t j, q
        cdef int32_t mn = 0x7FFFFFFF, mx = -0x7FFFFFFF, v
        cdef uint32_t c
        with nogil:
            for j in range(self.x.m):
                c = code6(&self.x, j)
                if c != self.x.run:
                    v = <int32_t>c - 1
                    mn = v if v < mn else mn
                    mx = v if v > mx else mx
            for q in range(self.x.runoff[self.x.nruns]):
                v = self.x.runval[q]
                mn = v if v < mn else mn
                mx = v if v > mx else mx
        return int(mn), int(mx)

    def nbytes(self):
        return sum(np.asarray(a).nbytes for a in self._arrs)


def lookup_addr6(Index4 i4, Index6 i6, uint64_t hi, uint64_t lo):
    """rbldnsd's answer for an IPv6 address against one dataset (ipsearch.v6_asks):
    (value id or -1, the IPv4 address it was found as, or -1 when found as IPv6)."""
    cdef uint32_t v4 = 0
    cdef int asks = v6_asks(hi, lo, &v4)
    cdef int32_t vid = -1
    if asks & ASK6:
        vid = i6._find(hi, lo)
        if vid >= 0:
            return vid, -1
    if asks & ASK4:
        vid = _value4(i4.starts, i4.vals, i4.bucket, v4)
        if vid >= 0:
            return vid, v4
    return -1, -1


def lookup_many_addr6(Index4 i4, Index6 i6, const uint64_t[::1] his not None,
                      const uint64_t[::1] los not None):
    """lookup_addr6 for arrays of addresses: value ids (int32, -1 not listed)."""
    cdef Py_ssize_t i, m = his.shape[0]
    if los.shape[0] != m:
        raise ValueError("his and los differ in length")
    out = np.empty(m, dtype=np.int32)
    cdef int32_t[::1] o = out
    cdef uint32_t v4
    cdef int asks
    cdef int32_t vid
    with nogil:
        for i in range(m):
            v4 = 0
            asks = v6_asks(his[i], los[i], &v4)
            vid = -1
            if asks & ASK6:
                vid = i6._find(his[i], los[i])
            if vid < 0 and (asks & ASK4):
                vid = _value4(i4.starts, i4.vals, i4.bucket, v4)
            o[i] = vid
    return out


def asks_v4_many(const uint64_t[::1] his not None, const uint64_t[::1] los not None):
    """uint8 per IPv6 address: 1 when rbldnsd's rule (ipsearch.v6_asks) looks it up as an
    IPv4 address too (IPv4-mapped, 6to4), so `$` in a TXT may be that IPv4 address."""
    cdef Py_ssize_t i, m = his.shape[0]
    if los.shape[0] != m:
        raise ValueError("his and los differ in length")
    out = np.empty(m, dtype=np.uint8)
    cdef cnp.uint8_t[::1] o = out
    cdef uint32_t v4
    with nogil:
        for i in range(m):
            o[i] = (v6_asks(his[i], los[i], &v4) & ASK4) != 0
    return out


def parse_ip4_many(lines):
    """Parse dotted quads (bytes or str items) into a uint32 array plus a bool mask of
    the items that were valid (leading zeros accepted; surrounding blanks ignored)."""
    cdef Py_ssize_t i, m = len(lines)
    out = np.zeros(m, dtype=np.uint32)
    ok = np.zeros(m, dtype=np.bool_)
    cdef uint32_t[::1] o = out
    cdef cnp.npy_bool[::1] okv = ok
    cdef const unsigned char[::1] buf
    cdef uint32_t v
    cdef bint good
    for i in range(m):
        item = lines[i]
        if isinstance(item, str):
            item = (<str>item).encode("ascii", "replace")
        buf = item
        good = _parse4(&buf[0] if buf.shape[0] else NULL, buf.shape[0], &v)
        o[i] = v if good else 0
        okv[i] = good
    return out, ok


cdef bint _parse4(const unsigned char* p, Py_ssize_t n, uint32_t* out) noexcept nogil:
    """A dotted quad with surrounding blanks (space, tab, CR, LF) ignored."""
    cdef Py_ssize_t i = 0
    while i < n and (p[i] == 32 or p[i] == 9 or p[i] == 10 or p[i] == 13):
        i += 1
    while n > i and (p[n - 1] == 32 or p[n - 1] == 9 or p[n - 1] == 10 or p[n - 1] == 13):
        n -= 1
    return parse4(p + i, n - i, out, False)


cdef struct SortJob:
    const uint32_t* starts
    Py_ssize_t off
    Py_ssize_t n
    uint32_t* ka
    uint32_t* kb
    uint32_t* ia
    uint32_t* ib
    int in_b  # out: the sorted run ended in kb/ib


cdef void _radix4(SortJob* jb) noexcept nogil:
    """Stable LSD radix sort of starts[off:off+n] by value (three 11-bit passes, skipping
    a pass whose digit never varies) into ka/ia or kb/ib (jb.in_b says which); the
    permutation holds global positions (off + i). Buffers point at the run's own slice."""
    cdef Py_ssize_t n = jb.n, i, d, r
    cdef uint32_t* ka = jb.ka
    cdef uint32_t* kb = jb.kb
    cdef uint32_t* ia = jb.ia
    cdef uint32_t* ib = jb.ib
    cdef uint32_t* t
    cdef const uint32_t* src = jb.starts + jb.off
    cdef uint32_t off = <uint32_t>jb.off
    cdef int64_t cnt[3][2049]
    cdef uint32_t k
    cdef int shift, pass_
    cdef int in_b = 0
    for pass_ in range(3):
        for d in range(2049):
            cnt[pass_][d] = 0
    for i in range(n):
        k = src[i]
        ka[i] = k
        ia[i] = off + <uint32_t>i
        cnt[0][(k & 0x7FF) + 1] += 1
        cnt[1][((k >> 11) & 0x7FF) + 1] += 1
        cnt[2][(k >> 22) + 1] += 1
    for pass_ in range(3):
        shift = 11 * pass_
        if n == 0 or cnt[pass_][((ka[0] >> shift) & 0x7FF) + 1] == n:
            continue
        for d in range(1, 2049):
            cnt[pass_][d] += cnt[pass_][d - 1]
        for i in range(n):
            d = (ka[i] >> shift) & 0x7FF
            r = cnt[pass_][d]
            kb[r] = ka[i]
            ib[r] = ia[i]
            cnt[pass_][d] = r + 1
        t = ka; ka = kb; kb = t
        t = ia; ia = ib; ib = t
        in_b = 1 - in_b
    jb.in_b = in_b


cdef void* _radix4_thread(void* arg) noexcept nogil:
    _radix4(<SortJob*>arg)
    return NULL


cdef enum:
    MIN_SORT_SPLIT = 1 << 17  # sort two halves on two threads from this many blocks


cdef tuple _sort4(const uint32_t[::1] starts, const uint32_t[::1] ends):
    """Stable sort by start (LSD radix, see _radix4; from MIN_SORT_SPLIT blocks the two
    halves are sorted on two threads and merged, ties taken from the first half), then a
    stable insertion sort by end inside each run of equal starts (runs are short: a
    start is shared only by nested blocks and duplicates). Returns (sorted starts,
    permutation, two scratch arrays free for the caller) as uint32 arrays of n + 1 (the
    last item unused)."""
    cdef Py_ssize_t n = starts.shape[0], i, j, h, p
    if ends.shape[0] != n:
        raise ValueError("starts and ends differ in length")
    if n >= 1 << 32:
        raise ValueError("too many blocks")
    keys_a = np.empty(n + 1, np.uint32)
    keys_b = np.empty(n + 1, np.uint32)
    idx_a = np.empty(n + 1, np.uint32)
    idx_b = np.empty(n + 1, np.uint32)
    cdef uint32_t[::1] kav = keys_a
    cdef uint32_t[::1] kbv = keys_b
    cdef uint32_t[::1] iav = idx_a
    cdef uint32_t[::1] ibv = idx_b
    cdef uint32_t* ka = &kav[0]
    cdef uint32_t* kb = &kbv[0]
    cdef uint32_t* ia = &iav[0]
    cdef uint32_t* ib = &ibv[0]
    cdef uint32_t k, x, y
    cdef SortJob jobs[2]
    cdef pthread_t tid
    cdef bint threaded = False, tb
    if n == 0:
        return keys_a, idx_a, keys_b, idx_b
    with nogil:
        if n < MIN_SORT_SPLIT or _NTHREADS_C < 2:
            jobs[0].starts = &starts[0]
            jobs[0].off = 0
            jobs[0].n = n
            jobs[0].ka = ka; jobs[0].kb = kb; jobs[0].ia = ia; jobs[0].ib = ib
            _radix4(&jobs[0])
            if jobs[0].in_b:
                ka, kb = kb, ka
                ia, ib = ib, ia
        else:
            h = n // 2
            for j in range(2):
                jobs[j].starts = &starts[0]
                jobs[j].off = 0 if j == 0 else h
                jobs[j].n = h if j == 0 else n - h
                jobs[j].ka = ka + jobs[j].off; jobs[j].kb = kb + jobs[j].off
                jobs[j].ia = ia + jobs[j].off; jobs[j].ib = ib + jobs[j].off
            threaded = pthread_create(&tid, NULL, _radix4_thread, &jobs[1]) == 0
            _radix4(&jobs[0])
            if threaded:
                pthread_join(tid, NULL)
            else:
                _radix4(&jobs[1])
            # both sorted runs into kb/ib, then merge them into ka/ia
            for j in range(2):
                if not jobs[j].in_b:
                    memcpy(kb + jobs[j].off, ka + jobs[j].off, jobs[j].n * sizeof(uint32_t))
                    memcpy(ib + jobs[j].off, ia + jobs[j].off, jobs[j].n * sizeof(uint32_t))
            i = 0
            j = h
            p = 0
            while i < h and j < n:
                x = kb[i]
                y = kb[j]
                tb = y < x
                ka[p] = y if tb else x
                ia[p] = ib[j] if tb else ib[i]
                j += tb
                i += 1 - tb
                p += 1
            while i < h:
                ka[p] = kb[i]; ia[p] = ib[i]; i += 1; p += 1
            while j < n:
                ka[p] = kb[j]; ia[p] = ib[j]; j += 1; p += 1
        # equal starts: larger blocks first, equal blocks in input order
        for i in range(1, n):
            if ka[i] == ka[i - 1]:
                x = ia[i]
                j = i
                while j > 0 and ka[j - 1] == ka[i] and ends[ia[j - 1]] < ends[x]:
                    ia[j] = ia[j - 1]
                    j -= 1
                ia[j] = x
    if ka == &kav[0]:
        keys_a, keys_b = keys_a, keys_b
    else:
        keys_a, keys_b = keys_b, keys_a
    if ia == &iav[0]:
        idx_a, idx_b = idx_a, idx_b
    else:
        idx_a, idx_b = idx_b, idx_a
    return keys_a, idx_a, keys_b, idx_b


def sort_blocks4(const uint32_t[::1] starts not None, const uint32_t[::1] ends not None):
    """Stable permutation (int64) ordering blocks by start ascending, then end descending."""
    cdef Py_ssize_t i, n = starts.shape[0]
    keys, idx, _, _ = _sort4(starts, ends)
    cdef const uint32_t[::1] ia = idx
    out = np.empty(n, np.int64)
    cdef int64_t[::1] o = out
    with nogil:
        for i in range(n):
            o[i] = ia[i]
    return out


def group_blocks4(const uint32_t[::1] starts not None, const uint32_t[::1] ends not None,
                  const int32_t[::1] vals not None, int32_t excl):
    """Sort blocks as sort_blocks4 and group identical ones, in one pass.

    Returns (gs, ge, gv, flags, vsorted, gstart): per group its start, end, first value
    (in input order) and a flag (0: every entry has the first value, 1: an entry has the
    value `excl`, 2: mixed values without `excl`); the values in sorted order and, per
    group, where its entries begin in them (int64, n_groups + 1 items)."""
    cdef Py_ssize_t i, g = 0, n = starts.shape[0]
    if ends.shape[0] != n or vals.shape[0] != n:
        raise ValueError("starts, ends and vals differ in length")
    keys, idx, spare1, spare2 = _sort4(starts, ends)
    cdef const uint32_t[::1] ka = keys
    cdef const uint32_t[::1] ia = idx
    # the outputs reuse the sort's buffers: group g is written after item i >= g of the
    # sorted keys / permutation was read, so starts and values compact in place
    gs_a = keys
    gv_a = idx.view(np.int32)
    ge_a = spare1
    vs_a = spare2.view(np.int32)
    fl_a = np.empty(n, np.uint8)
    st_a = np.empty(n + 1, np.int64)
    cdef uint32_t[::1] gs = gs_a
    cdef uint32_t[::1] ge = ge_a
    cdef int32_t[::1] gv = gv_a
    cdef uint8_t[::1] fl = fl_a
    cdef int32_t[::1] vs = vs_a
    cdef int64_t[::1] st = st_a
    cdef uint32_t s, e, j
    cdef int32_t x
    cdef Py_ssize_t pf
    with nogil:
        for i in range(n):
            # the reads through the permutation are random: fetch ahead
            pf = i + PF_DIST if i + PF_DIST < n else n - 1
            __builtin_prefetch(&ends[ia[pf]])
            __builtin_prefetch(&vals[ia[pf]])
            j = ia[i]
            s = ka[i]
            e = ends[j]
            x = vals[j]
            vs[i] = x
            if g == 0 or s != gs[g - 1] or e != ge[g - 1]:
                gs[g] = s
                ge[g] = e
                gv[g] = x
                fl[g] = 1 if x == excl else 0
                st[g] = i
                g += 1
            elif fl[g - 1] != 1:
                if x == excl:
                    fl[g - 1] = 1
                elif x != gv[g - 1]:
                    fl[g - 1] = 2
        st[g] = n
    # views, not copies: the callers keep the groups only until the index is built
    return gs_a[:g], ge_a[:g], gv_a[:g], fl_a[:g], vs_a[:n], st_a[:g + 1]


def finish_groups4(int32_t[::1] gid not None, const uint8_t[::1] flags not None,
                   int32_t excl, bint set_mode):
    """group_blocks4's group values made final, in place and in one pass: -1 for a group
    with an exclusion (set mode: any entry; trie mode: its first) and, in set mode, the
    positions (int64) of the groups with mixed values, for the caller to give value-set ids.
    """
    cdef Py_ssize_t i, m = 0, n = gid.shape[0]
    if flags.shape[0] != n:
        raise ValueError("gid and flags differ in length")
    with nogil:
        for i in range(n):
            if gid[i] == excl or (set_mode and flags[i] == 1):
                gid[i] = -1
            if set_mode and flags[i] == 2:
                m += 1
    mixed = np.empty(m, np.int64)
    cdef int64_t[::1] mx = mixed
    if m:
        m = 0
        with nogil:
            for i in range(n):
                if flags[i] == 2:
                    mx[m] = i
                    m += 1
    return mixed


def blocks_sorted4(const uint32_t[::1] starts not None, const uint32_t[::1] ends not None):
    """Are the blocks ordered by start ascending, then end descending?"""
    cdef Py_ssize_t i, n = starts.shape[0]
    cdef bint ok = True
    with nogil:
        for i in range(1, n):
            if starts[i] < starts[i - 1] or (starts[i] == starts[i - 1] and ends[i] > ends[i - 1]):
                ok = False
                break
    return ok
