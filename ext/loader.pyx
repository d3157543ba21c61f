# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled fast path for loading IPv4 dump files (rblmirror._loader).

`scan4()` walks a whole file buffer once and takes the lines of the one common shape
itself: a bare dotted quad, optionally `!`-prefixed (an exclusion) and optionally with a
`/bits` CIDR suffix, followed by nothing but blanks and an optional `#`/`;` comment.
Blank lines and plain comments are skipped. Every other line (specials, `:` default
lines, entries with values, prefixes, ranges, IPv6, anything odd) is handed back as
text, in file order, for the Python parser; each handed-back line says how many fast
blocks and lines came before it, so the caller can interleave both exactly as the
pure-Python loader would. No I/O here: bytes in, arrays out.
"""
from libc.stdint cimport uint32_t, uint64_t, uint8_t, int64_t
from libc.string cimport memchr
cdef extern from "<malloc.h>" nogil:
    int malloc_trim(size_t pad)
    int mallopt(int param, int value)
    int M_MMAP_THRESHOLD
from cpython.unicode cimport PyUnicode_DecodeUTF8
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


cdef class _Out:
    """Growable block arrays (start, end, excluded)."""
    cdef object s_arr, e_arr, x_arr
    cdef uint32_t* s
    cdef uint32_t* e
    cdef uint8_t* x
    cdef Py_ssize_t n, cap

    def __cinit__(self, Py_ssize_t cap):
        self.cap = cap if cap > 16 else 16
        self.n = 0
        self._alloc(self.cap)

    cdef _alloc(self, Py_ssize_t cap):
        cdef uint32_t[::1] sv
        cdef uint32_t[::1] ev
        cdef uint8_t[::1] xv
        s2 = np.empty(cap, np.uint32)
        e2 = np.empty(cap, np.uint32)
        x2 = np.empty(cap, np.uint8)
        if self.n:
            s2[:self.n] = self.s_arr[:self.n]
            e2[:self.n] = self.e_arr[:self.n]
            x2[:self.n] = self.x_arr[:self.n]
        self.s_arr, self.e_arr, self.x_arr = s2, e2, x2
        sv = s2
        ev = e2
        xv = x2
        self.s = &sv[0]
        self.e = &ev[0]
        self.x = &xv[0]
        self.cap = cap

    cdef inline int add(self, uint32_t s, uint32_t e, uint8_t x) except -1:
        if self.n == self.cap:
            self._alloc(self.cap * 2)
        self.s[self.n] = s
        self.e[self.n] = e
        self.x[self.n] = x
        self.n += 1
        return 0

    cdef result(self):
        return (self.s_arr[:self.n], self.e_arr[:self.n], self.x_arr[:self.n])


cdef int _add_levels(_Out out, uint64_t lo, uint64_t hi, uint8_t x) except -1:
    """[lo, hi] as ip4set stores it: rbldnsd's ip4range_expand, the largest aligned /8,
    /16, /24 or /32 block that fits, repeatedly (the one home of this split)."""
    cdef uint64_t size
    while lo <= hi:
        size = 1 << 24
        while size > 1 and ((lo & (size - 1)) != 0 or lo + size - 1 > hi):
            size >>= 8
        out.add(<uint32_t>lo, <uint32_t>(lo + size - 1), x)
        lo += size
    return 0


def level_blocks(uint32_t a, uint32_t b):
    """[a, b] split into ip4set's aligned /8, /16, /24 and /32 blocks: [(lo, hi), ...]."""
    cdef _Out out = _Out(16)
    _add_levels(out, a, b, 0)
    s, e, _ = out.result()
    return list(zip(s.tolist(), e.tolist()))


def scan4(const unsigned char[::1] data not None, int cidr_mode, bint allow_excl):
    """Scan a whole IPv4 dump buffer.

    Returns (starts uint32, ends uint32, excluded uint8, slow, totals) where the three
    arrays hold the fast lines' blocks in file order; `slow` is a list of
    (lineno, text, blocks_before, lines_before, listed_lines_before) for every line the
    Python parser must see (text stripped of spaces and tabs, decoded UTF-8 with
    surrogateescape, as base.read_lines does); totals is (blocks, lines, listed_lines).
    Line numbers count '\\n' from 1.
    """
    cdef Py_ssize_t n = data.shape[0]
    cdef const unsigned char* p = &data[0] if n else NULL
    cdef Py_ssize_t pos = 0, a, b, i, j, k, vstart, lineno = 0, nlines = 0, nlisted = 0
    cdef const unsigned char* nl
    cdef uint32_t ip, bits
    cdef uint64_t lo, hi, mask
    cdef uint8_t excl
    # room for every block up front (a line is at least 8 bytes; CIDR lines make more
    # blocks): pages are only faulted in when written, so the unused tail costs nothing
    cdef _Out out = _Out(n // 4 + 16)
    slow = []
    mask = 0xFFFFFFFF
    while pos <= n and n:
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
            if nl == NULL:
                break
            continue
        # '#' or ';' comments, but not '#$' / ';$' specials (base.is_special)
        if (p[a] == 59 or p[a] == 35) and (b - a < 2 or p[a + 1] != 36):
            if nl == NULL:
                break
            continue
        # the common shape: [!] a.b.c.d [/bits] [blanks] [#|; comment]
        i = a
        excl = 0
        if p[i] == 33 and allow_excl:  # '!'
            excl = 1
            i += 1
            while i < b and (p[i] == 32 or p[i] == 9):
                i += 1
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
        vstart = -1
        if i >= 0 and i < b:
            j = i
            while j < b and (p[j] == 32 or p[j] == 9):
                j += 1
            if j < b and p[j] != 35 and p[j] != 59:  # a value or junk follows
                if (cidr_mode == LEVELS and not excl
                        and (p[i] == 32 or p[i] == 9 or p[i] == 58)):  # ip4set: a value
                    vstart = i
                else:
                    i = -1
        if vstart >= 0:
            # its blocks go to the arrays; the value text goes back to the caller, which
            # parses it (base.entry_value) with the default in force at this line
            k = out.n
            lo = ip
            hi = lo | ((~mask) & 0xFFFFFFFF) if bits < 32 else lo
            _add_levels(out, lo, hi, 0)
            slow.append((lineno,
                         PyUnicode_DecodeUTF8(<const char*>(p + vstart), b - vstart,
                                              "surrogateescape"),
                         k, nlines, nlisted, out.n - k))
        elif i < 0:
            slow.append((lineno,
                         PyUnicode_DecodeUTF8(<const char*>(p + a), b - a, "surrogateescape"),
                         out.n, nlines, nlisted))
        else:
            nlines += 1
            if not excl:
                nlisted += 1
            lo = ip
            hi = lo | ((~mask) & 0xFFFFFFFF) if bits < 32 else lo
            if bits == 32 or cidr_mode == ONE_BLOCK:
                out.add(<uint32_t>lo, <uint32_t>hi, excl)
            else:
                _add_levels(out, lo, hi, excl)
        if nl == NULL:
            break
    s, e, x = out.result()
    return s, e, x, slow, (out.n, nlines, nlisted)


def insert_at(const uint32_t[::1] base not None, const int64_t[::1] at not None,
              const uint32_t[::1] ins not None):
    """np.insert(base, at, ins) for a nondecreasing `at` (items at one position keep
    their order), in one pass; int32 data goes through as a uint32 view."""
    cdef Py_ssize_t n = base.shape[0], m = ins.shape[0], i = 0, j = 0, k = 0
    if at.shape[0] != m:
        raise ValueError("at and ins differ in length")
    out = np.empty(n + m, np.uint32)
    cdef uint32_t[::1] o = out
    with nogil:
        while j < m:
            if at[j] < 0 or at[j] > n or (j and at[j] < at[j - 1]):
                with gil:
                    raise ValueError("positions must be nondecreasing and within base")
            while i < at[j]:
                o[k] = base[i]
                i += 1
                k += 1
            o[k] = ins[j]
            j += 1
            k += 1
        while i < n:
            o[k] = base[i]
            i += 1
            k += 1
    return out


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
