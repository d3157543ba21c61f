# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled fast path for loading IPv4 dump files (rblmirror._loader).

`scan4()` walks a whole file buffer once and takes the lines of the common shapes
itself: for plain and ip4tset a bare dotted quad, optionally `!`-prefixed (an exclusion)
and (plain) optionally with a `/bits` CIDR suffix, followed by nothing but blanks and an
optional `#`/`;` comment; for ip4set every subject form of rbldnsd's ip4range (`_range4`,
the one home of that syntax: addresses, prefixes, CIDRs, the dash ranges), `!`
exclusions, and entries with their own value (the value text goes back, the blocks stay).
Blank lines and plain comments are skipped. Every other line (specials, `:` default
lines, IPv6, anything odd or invalid) is handed back as text, in file order, for the
Python parser; each handed-back line says how many fast
blocks and lines came before it, so the caller can interleave both exactly as the
pure-Python loader would. No I/O here: bytes in, arrays out.
"""
from libc.stdint cimport uint32_t, uint64_t, uint8_t, int32_t, int64_t
from libc.string cimport memchr
cdef extern from "<malloc.h>" nogil:
    int malloc_trim(size_t pad)
    int mallopt(int param, int value)
    int M_MMAP_THRESHOLD
from cpython.unicode cimport PyUnicode_DecodeUTF8
from posix.mman cimport madvise, MADV_DONTNEED
cdef extern from "<sys/mman.h>" nogil:
    int MADV_NOHUGEPAGE
from libc.stdint cimport uintptr_t
import numpy as np

cdef enum:  # cidr_mode values
    NO_CIDR = 0      # '/bits' lines are handed back (ip4tset)
    ONE_BLOCK = 1    # a CIDR is one block (plain, ip4trie)
    LEVELS = 2       # a CIDR is split into /8, /16, /24, /32 level blocks (ip4set)


cdef inline bint _blank(unsigned char ch) noexcept nogil:
    return ch == 32 or ch == 9  # as base.read_lines: a CR stays part of the line


cdef inline bint _digit(unsigned char ch) noexcept nogil:
    return 48 <= ch <= 57


cdef inline Py_ssize_t _quad(const unsigned char* p, Py_ssize_t i, Py_ssize_t n,
                             uint32_t* out) noexcept nogil:
    """Parse a.b.c.d (1-3 digits an octet, <= 255) at p[i:n]; end index or -1."""
    cdef uint32_t v = 0, o
    cdef int k, d
    for k in range(4):
        if k:
            if i >= n or p[i] != 46:
                return -1
            i += 1
        o = 0
        d = 0
        while i < n and _digit(p[i]):
            if d == 3:
                return -1
            o = o * 10 + (p[i] - 48)
            i += 1
            d += 1
        if d == 0 or o > 255:
            return -1
        v = (v << 8) | o
    out[0] = v
    return i


cdef inline bint _end_ok(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """After an ip4set subject: end of line, a blank, a comment or a value (ipparse.end_ok)."""
    return i >= n or p[i] == 32 or p[i] == 9 or p[i] == 35 or p[i] == 59 or p[i] == 58


cdef inline uint32_t _mask(int bits) noexcept nogil:
    cdef uint64_t ones = 0xFFFFFFFF
    if bits == 0:
        return 0
    return <uint32_t>((ones << (32 - bits)) & ones)


cdef Py_ssize_t _prefix4(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, int* bits,
                         uint32_t* out) noexcept nogil:
    """1-4 dotted octets at p[i:n] (any number of digits an octet, value <= 255):
    bits 8/16/24/32 and the value, left-aligned; the end index, or -1."""
    cdef uint32_t v = 0, o
    cdef Py_ssize_t j
    cdef int k
    for k in range(4):
        if k:
            if i >= n or p[i] != 46 or i + 1 >= n or not _digit(p[i + 1]):
                bits[0] = 8 * k
                out[0] = v
                return i
            i += 1
        j = i
        o = 0
        while j < n and _digit(p[j]):
            if o <= 255:
                o = o * 10 + (p[j] - 48)
            j += 1
        if j == i or o > 255:
            return -1
        v |= o << (24 - 8 * k)
        i = j
    bits[0] = 32
    out[0] = v
    return i


cdef Py_ssize_t _range4(const unsigned char* p, Py_ssize_t i, Py_ssize_t n, int* bits,
                        uint32_t* lo, uint32_t* hi) noexcept nogil:
    """rbldnsd's ip4range() at p[i:n] (the one home of the ip4set subject syntax):
    'a.b.c.d', 'a.b.c', 'a.b/12', 'a-b', '10.1-10.2', '127.0.0.1-255', 'a.b.c.d-e.f.g.h'.
    Sets bits (32 for a dash range, else the CIDR or prefix length; lo may keep host
    bits: the caller decides), lo and hi; returns the end index, or -1 when invalid."""
    cdef int abits, bbits
    cdef uint32_t a, b, o
    cdef Py_ssize_t j
    i = _prefix4(p, i, n, &abits, &a)
    if i < 0:
        return -1
    if i < n and p[i] == 45:  # '-'
        i = _prefix4(p, i + 1, n, &bbits, &b)
        if i < 0:
            return -1
        if bbits == 8:  # 127.0.0.1-2 means 127.0.0.1-127.0.0.2
            if abits != 8:
                b = (b >> (abits - 8)) | (a & _mask(abits - 8))
            bbits = abits
        elif bbits != abits:
            return -1
        if bbits != 32:
            b |= ~_mask(bbits)
        if a > b:
            return -1
        bits[0] = 32
        lo[0] = a
        hi[0] = b
        return i
    if i < n and p[i] == 47:  # '/'
        j = i + 1
        o = 0
        while j < n and _digit(p[j]):
            if o <= 32:
                o = o * 10 + (p[j] - 48)
            j += 1
        if j == i + 1 or o > 32:
            return -1
        abits = <int>o
        i = j
    elif abits == 8:  # bare numbers are not accepted; use /8
        return -1
    bits[0] = abits
    lo[0] = a
    hi[0] = a | ~_mask(abits)
    return i


def ip4prefix(str s not None, Py_ssize_t i=0):
    """1-4 dotted octets at s[i:] (see _prefix4): (bits 8/16/24/32, value, end index)
    or None."""
    cdef bytes raw = s.encode("latin-1", "replace")  # one byte a character
    cdef const unsigned char* p = <const unsigned char*>(<char*>raw)
    cdef int bits = 0
    cdef uint32_t v = 0
    if i < 0 or i > len(raw):
        return None
    i = _prefix4(p, i, len(raw), &bits, &v)
    if i < 0:
        return None
    return bits, v, i


def ip4range(str s not None):
    """rbldnsd's ip4range() on a line's subject: (bits, start, end, end index) or None
    (see _range4; bits is 32 for a dash range, start may keep host bits)."""
    cdef bytes raw = s.encode("latin-1", "replace")  # one byte a character
    cdef const unsigned char* p = <const unsigned char*>(<char*>raw)
    cdef int bits = 0
    cdef uint32_t lo = 0, hi = 0
    cdef Py_ssize_t i = _range4(p, 0, len(raw), &bits, &lo, &hi)
    if i < 0:
        return None
    return bits, lo, hi, i


cdef class _Col:
    """A growable uint32 column: a numpy array with room to spare (untouched pages of a
    big one cost nothing until written)."""
    cdef object arr
    cdef uint32_t* p
    cdef Py_ssize_t n, cap

    def __cinit__(self, Py_ssize_t cap):
        self.n = 0
        self.arr = None
        self._grow(cap if cap > 16 else 16)

    cdef int _grow(self, Py_ssize_t cap) except -1:
        cdef uint32_t[::1] mv
        a = np.empty(cap, np.uint32)
        if self.n:
            a[:self.n] = self.arr[:self.n]
        self.arr = a
        mv = a
        self.p = &mv[0]
        self.cap = cap
        return 0

    cdef int reserve(self, Py_ssize_t total) except -1:
        if total > self.cap:
            self._grow(total if total > 2 * self.cap else 2 * self.cap)
        return 0

    cdef inline int push(self, uint32_t x) except -1:
        if self.n == self.cap:
            self._grow(self.cap * 2)
        self.p[self.n] = x
        self.n += 1
        return 0

    cdef view(self, Py_ssize_t i0, Py_ssize_t i1):
        return self.arr[i0:i1]


cdef enum:
    EXCL = -2      # base.EXCL: an exclusion's value
    UNSET = -1     # a listed block until fill() gives it its value id
    DROP = -3      # an entry whose own value is invalid: rbldnsd skips it


cdef class Blocks4:
    """What scan4() takes from the files of one load: blocks (start, end, value) in file
    order, the value EXCL for an exclusion and UNSET for a listed block until fill(); the
    entries with their own value (line, value text id, first block, block count; the
    distinct value texts in `texts`); and the counters of the current segment (the
    lines since the last line handed back to Python)."""
    cdef _Col s, e, v
    cdef _Col vl_line, vl_text, vl_b0, vl_nb
    cdef dict _text_ids
    cdef public list texts
    cdef public Py_ssize_t lines, listed
    cdef Py_ssize_t first_listed  # block of the segment's first listed default-valued line

    def __cinit__(self, Py_ssize_t cap=16):
        self.s = _Col(cap)
        self.e = _Col(cap)
        self.v = _Col(cap)
        self.vl_line = _Col(16)
        self.vl_text = _Col(16)
        self.vl_b0 = _Col(16)
        self.vl_nb = _Col(16)
        self._text_ids = {}
        self.texts = []
        self.lines = self.listed = 0
        self.first_listed = -1

    def reserve(self, Py_ssize_t more):
        """Room for `more` blocks beyond the current ones."""
        for c in (self.s, self.e, self.v):
            (<_Col>c).reserve(self.s.n + more)

    @property
    def n(self):
        return self.s.n

    @property
    def nvalue_lines(self):
        return self.vl_line.n

    cdef inline void counted(self, bint excl) noexcept:
        """A line that made blocks (from the current block on): counted in the segment,
        as listed unless an exclusion."""
        self.lines += 1
        if not excl:
            self.listed += 1
            if self.first_listed < 0:
                self.first_listed = self.s.n

    cdef inline int add(self, uint32_t s, uint32_t e, int32_t v) except -1:
        self.s.push(s)
        self.e.push(e)
        self.v.push(<uint32_t>v)
        return 0

    cdef int value_line(self, Py_ssize_t lineno, const unsigned char* p, Py_ssize_t n,
                        Py_ssize_t b0) except -1:
        text = PyUnicode_DecodeUTF8(<const char*>p, n, "surrogateescape")
        k = self._text_ids.get(text)
        if k is None:
            k = self._text_ids[text] = len(self.texts)
            self.texts.append(text)
        if self.s.n > 0xFFFFFFFF or lineno > 0xFFFFFFFF:
            raise ValueError("too many blocks or lines")
        self.vl_line.push(<uint32_t>lineno)
        self.vl_text.push(<uint32_t>k)
        self.vl_b0.push(<uint32_t>b0)
        self.vl_nb.push(<uint32_t>(self.s.n - b0))
        return 0

    def cut(self):
        """(blocks, lines, listed lines, value lines, first listed default-valued block or
        -1) so far; a new segment starts."""
        r = (self.s.n, self.lines, self.listed, self.vl_line.n, self.first_listed)
        self.first_listed = -1
        return r

    def mark(self):
        """The state to go back to with reset() (to scan a file again)."""
        return (self.s.n, self.vl_line.n, self.lines, self.listed, self.first_listed)

    def reset(self, tuple mark):
        cdef Py_ssize_t n = mark[0], m = mark[1]
        if n > self.s.n or m > self.vl_line.n:
            raise ValueError("reset: not an earlier mark")
        self.s.n = self.e.n = self.v.n = n
        self.vl_line.n = self.vl_text.n = self.vl_b0.n = self.vl_nb.n = m
        self.lines, self.listed, self.first_listed = mark[2], mark[3], mark[4]

    def value_lines(self, Py_ssize_t i0, Py_ssize_t i1):
        """Entries with their own value i0..i1: (line, text id, first block) arrays."""
        return self.vl_line.view(i0, i1), self.vl_text.view(i0, i1), self.vl_b0.view(i0, i1)

    def arrays(self):
        """(starts uint32, ends uint32, values int32) of the blocks, views."""
        n = self.s.n
        return self.s.view(0, n), self.e.view(0, n), self.v.view(0, n).view(np.int32)

    def fill(self, const int64_t[::1] seg_end not None, const int32_t[::1] seg_vid not None,
             const int32_t[::1] vl_vid not None):
        """Give every listed block its value id, in place: a segment's default-valued
        blocks (those before seg_end[j]) seg_vid[j], an entry's own-value blocks its
        vl_vid (DROP: dropped by drop())."""
        cdef Py_ssize_t i = 0, j, k, t, n = self.s.n, m = seg_end.shape[0]
        cdef uint32_t* v = self.v.p
        cdef uint32_t* b0 = self.vl_b0.p
        cdef uint32_t* nb = self.vl_nb.p
        cdef uint32_t x, ex = <uint32_t>(<int32_t>EXCL)
        if seg_vid.shape[0] != m or vl_vid.shape[0] != self.vl_line.n:
            raise ValueError("fill: sizes differ")
        if m and seg_end[m - 1] != n:
            raise ValueError("fill: the segments do not cover the blocks")
        with nogil:
            for j in range(m):
                x = <uint32_t>seg_vid[j]
                while i < seg_end[j]:
                    if v[i] != ex:
                        v[i] = x
                    i += 1
            for k in range(vl_vid.shape[0]):
                x = <uint32_t>vl_vid[k]
                for t in range(nb[k]):
                    v[b0[k] + t] = x

    def insert(self, const int64_t[::1] at not None, const uint32_t[::1] s not None,
               const uint32_t[::1] e not None, const int32_t[::1] v not None):
        """Blocks from the Python parser into place, in place (np.insert for a
        nondecreasing `at`, items at one position keeping their order): one pass from
        the back into the spare room."""
        cdef Py_ssize_t n = self.s.n, m = at.shape[0], q, src, dst
        if s.shape[0] != m or e.shape[0] != m or v.shape[0] != m:
            raise ValueError("insert: sizes differ")
        for q in range(m):
            if at[q] < 0 or at[q] > n or (q and at[q] < at[q - 1]):
                raise ValueError("positions must be nondecreasing and within the blocks")
        self.reserve(m)
        cdef uint32_t* ps = self.s.p
        cdef uint32_t* pe = self.e.p
        cdef uint32_t* pv = self.v.p
        with nogil:
            src = n - 1
            dst = n + m - 1
            q = m - 1
            while q >= 0:
                while src >= at[q]:
                    ps[dst] = ps[src]
                    pe[dst] = pe[src]
                    pv[dst] = pv[src]
                    src -= 1
                    dst -= 1
                ps[dst] = s[q]
                pe[dst] = e[q]
                pv[dst] = <uint32_t>v[q]
                dst -= 1
                q -= 1
        self.s.n = self.e.n = self.v.n = n + m

    def drop(self):
        """Remove the DROP blocks, in place; how many there were."""
        cdef Py_ssize_t i, w = 0, n = self.s.n
        cdef uint32_t* ps = self.s.p
        cdef uint32_t* pe = self.e.p
        cdef uint32_t* pv = self.v.p
        cdef uint32_t dr = <uint32_t>(<int32_t>DROP)
        with nogil:
            for i in range(n):
                if pv[i] != dr:
                    if w != i:
                        ps[w] = ps[i]
                        pe[w] = pe[i]
                        pv[w] = pv[i]
                    w += 1
        self.s.n = self.e.n = self.v.n = w
        return n - w


    def take_buckets(self):
        """The blocks moved into new arrays by their start's top octet (256 buckets, in
        address order, file order kept inside each): (starts, ends, values, bounds int64
        of 257, wide: a block reaches past its own /8). Consumes the Blocks4: its arrays' pages go back to the system as they are
        read (the new ones fill as the old ones empty), and it is empty afterwards."""
        cdef Py_ssize_t n = self.s.n, i, k, done = 0
        cdef int64_t cnt[257]
        cdef const uint32_t* ps = self.s.p
        cdef const uint32_t* pe = self.e.p
        cdef const uint32_t* pv = self.v.p
        cdef uint32_t x
        cdef bint wide = False
        for k in range(257):
            cnt[k] = 0
        with nogil:
            for i in range(n):
                cnt[(ps[i] >> 24) + 1] += 1
                if (pe[i] >> 24) != (ps[i] >> 24):
                    wide = True
            for k in range(1, 257):
                cnt[k] += cnt[k - 1]
        bounds = np.empty(257, np.int64)
        for k in range(257):
            bounds[k] = cnt[k]
        bs_a = np.empty(n, np.uint32)
        be_a = np.empty(n, np.uint32)
        bv_a = np.empty(n, np.uint32)
        cdef uint32_t[::1] bs = bs_a
        cdef uint32_t[::1] be = be_a
        cdef uint32_t[::1] bv = bv_a
        with nogil:
            if n:  # 256 write fronts each: small pages, or every huge page is hit at once
                _small_pages(&bs[0], n)
                _small_pages(&be[0], n)
                _small_pages(&bv[0], n)
            for i in range(n):
                x = ps[i]
                k = cnt[x >> 24]
                cnt[x >> 24] = k + 1
                bs[k] = x
                be[k] = pe[i]
                bv[k] = pv[i]
                if (i + 1) % (1 << 20) == 0 or i + 1 == n:
                    # from the last whole page given back (edges left by earlier calls)
                    _release(ps, done, i + 1)
                    _release(pe, done, i + 1)
                    _release(pv, done, i + 1)
                    done = i + 1 - (1 << 20) if i + 1 > (1 << 20) else 0
        for c in (self.s, self.e, self.v):
            (<_Col>c).n = 0
            (<_Col>c)._grow(16)
        self.vl_line.n = self.vl_text.n = self.vl_b0.n = self.vl_nb.n = 0
        return bs_a, be_a, bv_a.view(np.int32), bounds, wide


cdef void _release(const uint32_t* p, Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """Give the whole pages inside p[i0:i1] back to the system (their contents are lost:
    only for data read for the last time). Whole 2 MiB pages: numpy asks for huge pages
    for big arrays, and a huge page partly given back stays resident."""
    cdef uintptr_t a = <uintptr_t>(p + i0), b = <uintptr_t>(p + i1)
    cdef uintptr_t page = 1 << 21
    a = (a + page - 1) & ~(page - 1)
    b = b & ~(page - 1)
    if b > a:
        madvise(<void*>a, b - a, MADV_DONTNEED)


cdef void _small_pages(uint32_t* p, Py_ssize_t n) noexcept nogil:
    cdef uintptr_t a = <uintptr_t>p, b = <uintptr_t>(p + n), page = 4096
    a = a & ~(page - 1)
    b = (b + page - 1) & ~(page - 1)
    madvise(<void*>a, b - a, MADV_NOHUGEPAGE)


def release_pages(uint32_t[::1] arr not None, Py_ssize_t upto):
    """Give the pages of arr[:upto] back to the system; arr[:upto] reads as zeros after
    (for an array the caller owns and has read for the last time)."""
    if upto < 0 or upto > arr.shape[0]:
        raise ValueError("upto out of range")
    if upto:
        _release(&arr[0], 0, upto)


cdef int _add_levels(Blocks4 out, uint64_t lo, uint64_t hi, int32_t v) except -1:
    """[lo, hi] as ip4set stores it: rbldnsd's ip4range_expand, the largest aligned /8,
    /16, /24 or /32 block that fits, repeatedly (the one home of this split)."""
    cdef uint64_t size
    while lo <= hi:
        size = 1 << 24
        while size > 1 and ((lo & (size - 1)) != 0 or lo + size - 1 > hi):
            size >>= 8
        out.add(<uint32_t>lo, <uint32_t>(lo + size - 1), v)
        lo += size
    return 0


def level_blocks(uint32_t a, uint32_t b):
    """[a, b] split into ip4set's aligned /8, /16, /24 and /32 blocks: [(lo, hi), ...]."""
    cdef Blocks4 out = Blocks4(16)
    _add_levels(out, a, b, 0)
    s, e, _ = out.arrays()
    return list(zip(s.tolist(), e.tolist()))


def scan4(const unsigned char[::1] data not None, int cidr_mode, bint allow_excl,
          Blocks4 out not None, Py_ssize_t lineno, bint final):
    """Scan the whole lines of a piece of an IPv4 dump into `out`.

    `lineno` is the number of lines before the piece; unless `final`, a last line
    without its newline is left for the next piece. Returns (slow, consumed bytes,
    lines so far): `slow` lists (lineno, text) + out.cut() for every line the Python
    parser must see (text stripped of spaces and tabs, decoded UTF-8 with
    surrogateescape, as base.read_lines does). Line numbers count '\\n' from 1.
    """
    cdef Py_ssize_t n = data.shape[0]
    cdef const unsigned char* p = &data[0] if n else NULL
    cdef Py_ssize_t pos = 0, a, b, i, j, k, end
    cdef const unsigned char* nl
    cdef uint32_t ip, bits, rlo = 0, rhi = 0
    cdef int rbits = 0
    cdef uint64_t lo, hi, mask
    cdef int32_t vx
    cdef uint8_t excl
    slow = []
    mask = 0xFFFFFFFF
    if not final:  # whole lines only
        end = n
        while end > 0 and p[end - 1] != 10:
            end -= 1
        n = end
    while pos < n:
        lineno += 1
        nl = <const unsigned char*>memchr(p + pos, 10, n - pos)
        b = (nl - p) if nl != NULL else n
        a = pos
        pos = b + 1
        while a < b and _blank(p[a]):
            a += 1
        while b > a and _blank(p[b - 1]):
            b -= 1
        if a == b:
            continue
        # '#' or ';' comments, but not '#$' / ';$' specials (base.is_special)
        if (p[a] == 59 or p[a] == 35) and (b - a < 2 or p[a + 1] != 36):
            continue
        i = a
        excl = 0
        if p[i] == 33 and allow_excl:  # '!'
            excl = 1
            i += 1
            while i < b and (p[i] == 32 or p[i] == 9):
                i += 1
        vx = EXCL if excl else UNSET
        if cidr_mode == LEVELS:  # ip4set: every subject form of ip4range
            i = _range4(p, i, b, &rbits, &rlo, &rhi)
            if i >= 0 and (not _end_ok(p, i, b) or rbits == 0
                           or (rlo & ~_mask(rbits))):  # the parser warns
                i = -1
            if i < 0:
                slow.append((lineno,
                             PyUnicode_DecodeUTF8(<const char*>(p + a), b - a,
                                                  "surrogateescape")) + out.cut())
                continue
            j = i
            while j < b and (p[j] == 32 or p[j] == 9):
                j += 1
            # an exclusion ignores what follows; an entry's rest is its own value
            if j < b and p[j] != 35 and p[j] != 59 and not excl:
                k = out.s.n
                _add_levels(out, rlo, rhi, UNSET)
                out.value_line(lineno, p + i, b - i, k)
                continue
            out.counted(excl)
            if rlo == rhi:
                out.add(rlo, rhi, vx)
            else:
                _add_levels(out, rlo, rhi, vx)
            continue
        # plain, ip4tset: [!] a.b.c.d [/bits] [blanks] [#|; comment]
        i = _quad(p, i, b, &ip)
        bits = 32
        if i >= 0 and i < b and p[i] == 47:  # '/'
            if cidr_mode == NO_CIDR:
                i = -1
            else:
                j = i + 1
                bits = 0
                while j < b and _digit(p[j]) and j - i <= 2:
                    bits = bits * 10 + (p[j] - 48)
                    j += 1
                if j == i + 1 or bits > 32 or bits == 0 or (j < b and _digit(p[j])):
                    i = -1
                else:
                    i = j
                    mask = ((<uint64_t>0xFFFFFFFF) << (32 - bits)) & 0xFFFFFFFF
                    if ip & ~mask & 0xFFFFFFFF:  # host bits set: the parser warns
                        i = -1
        if i >= 0 and i < b:
            j = i
            while j < b and (p[j] == 32 or p[j] == 9):
                j += 1
            if j < b and p[j] != 35 and p[j] != 59:  # a value or junk follows
                i = -1
        if i < 0:
            slow.append((lineno,
                         PyUnicode_DecodeUTF8(<const char*>(p + a), b - a, "surrogateescape"))
                        + out.cut())
            continue
        out.counted(excl)
        lo = ip
        hi = lo | ((~mask) & 0xFFFFFFFF) if bits < 32 else lo
        out.add(<uint32_t>lo, <uint32_t>hi, vx)  # one block (no levels here)
    return slow, n, lineno


cdef bint _fixed_threshold = False


def fix_mmap_threshold():
    """Fix glibc's mmap threshold at 1 MiB (once per process), before a load allocates
    its big temporaries. glibc's default raises the threshold each time a big mapped
    block is freed, after which multi-megabyte arrays come from the heap and, freed, stay
    resident there (a loaded process would sit at its loading peak); fixed, every block
    of 1 MiB or more is its own mapping and goes back to the system when freed."""
    global _fixed_threshold
    if not _fixed_threshold:
        mallopt(M_MMAP_THRESHOLD, 1 << 20)
        _fixed_threshold = True


def trim_heap():
    """Hand the free heap memory a load leaves (its smaller pieces: decoded text, lists,
    tuples) back to the system. Well under a millisecond to a few milliseconds."""
    with nogil:
        malloc_trim(0)
