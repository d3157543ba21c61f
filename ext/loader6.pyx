# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled IPv6 load path (rblmirror._loader6): ip6trie/ip6tset line scanner, block sort
and flatten.

`Scan6` walks dump buffers and takes the common entry lines itself: IPv6 CIDRs in every
textual form ipparse.ip6cidr() accepts, `!` exclusions, and (ip6trie) whatever value text
follows the subject, interned once per distinct text. Blank lines and comments are
skipped. Every other line (specials, `:` default lines, anything it does not accept: bad
lines included, so their warning comes from the Python parser) is handed back as text in
file order, between chunks of fast entries, so the caller can interleave both exactly as
the pure-Python loader would. Entries are CIDRs as (hi, lo) uint64 starts + prefix length,
with a value-text code and the line's ordinal (file base + line number).

`count6` and `Store6` hold a load's entries in 12-byte records cut into buckets by the
top 16 bits of their start (a first pass counts each bucket's room), sorted in place a
bucket at a time, the duplicates marked (for the warnings); `Flat6` turns sorted CIDR
blocks into segments where the innermost block wins and the first of identical blocks is
kept, and `Build6` those into the compact index of ext/ip6search.pxd (`Store6.flatten`,
and `sort6` + `flatten6` for blocks given as arrays: IPIndex.build), giving the input's
pages back as it is read. No I/O here: bytes in, arrays out.
"""
from libc.stdint cimport uint64_t, uint32_t, uint16_t, uint8_t, int32_t, int64_t
from libc.string cimport memchr, memcmp, memcpy, memset
from libc.stdlib cimport malloc, realloc, free
from cpython.unicode cimport PyUnicode_DecodeUTF8
from posix.mman cimport madvise, MADV_DONTNEED
cimport numpy as cnp
import numpy as np
from ip6search cimport KEY6

cnp.import_array()

cdef extern from *:
    """
    typedef unsigned __int128 rbl_u128;
    """
    ctypedef unsigned long long u128 "rbl_u128"

cdef enum:
    TRIE = 0          # ip6trie: CIDRs, host bits refused, values
    TSET = 1          # ip6tset: a:b:c:d /64 listings, /128 exclusions, no values
    VT_EXCL = 0       # value-text code of an exclusion
    VT_DEFAULT = 1    # value-text code of "no value" (nothing or a comment follows)

TRIE_MODE = TRIE
TSET_MODE = TSET
CODE_EXCL = VT_EXCL
CODE_DEFAULT = VT_DEFAULT


cdef inline bint _blank(unsigned char ch) noexcept nogil:
    return ch == 32 or ch == 9  # as base.read_lines: a CR stays part of the line


cdef inline bint _digit(unsigned char ch) noexcept nogil:
    return 48 <= ch <= 57


cdef inline int _hexval(unsigned char ch) noexcept nogil:
    if 48 <= ch <= 57:
        return ch - 48
    ch |= 0x20
    if 97 <= ch <= 102:
        return ch - 87
    return -1


cdef inline bint _end_ok(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """ipparse.end_ok: end of line, a blank, a comment or a value."""
    cdef unsigned char ch
    if i >= n:
        return True
    ch = p[i]
    return ch == 32 or ch == 9 or ch == 35 or ch == 59 or ch == 58


cdef uint8_t _CLS[256]  # a byte's class: its hex digit value, or CL_COLON/CL_DOT/CL_OTHER
cdef enum:
    CL_COLON = 16
    CL_DOT = 17
    CL_OTHER = 255


cdef void _init_cls() noexcept:
    cdef int ch
    for ch in range(256):
        _CLS[ch] = CL_OTHER if _hexval(ch) < 0 else _hexval(ch)
    _CLS[58] = CL_COLON
    _CLS[46] = CL_DOT


_init_cls()


cdef Py_ssize_t _parse6(const unsigned char* p, Py_ssize_t i, Py_ssize_t n,
                        uint64_t* hi, uint64_t* lo, int* bits) noexcept nogil:
    """ipparse.ip6cidr() at p[i:n]: the end index, or -1 where it returns None.

    The subject is the longest run of [0-9A-Fa-f:.]; with a '.' in it (a dotted-quad
    tail) or without a ':' it is no address. Groups are 1-4 hex digits; one '::' may
    stand for at least one zero group; a ':' may not lead or trail except as '::'.
    Without '::' the groups given set the default length (16 a group; 8 groups: 128),
    with '::' it is 128; then '/len' (any number of digits, <= 128) may follow."""
    cdef u128 acc = 0, head = 0, val
    cdef int ng = 0, gap = -1, nd, v, c, b
    cdef Py_ssize_t j = i
    cdef bint after_gap = False
    if j + 1 < n and p[j] == 58 and p[j + 1] == 58:
        gap = 0
        after_gap = True
        j += 2
    while True:
        nd = 0
        v = 0
        while j < n:
            c = _CLS[p[j]]
            if c >= 16:
                break
            v = (v << 4) | c
            nd += 1
            j += 1
        if nd > 4:
            return -1
        c = _CLS[p[j]] if j < n else CL_OTHER
        if nd == 0:
            # no digits: only the end of the subject right after a '::' may come here
            if not after_gap or c == CL_COLON or c == CL_DOT:
                return -1
            break
        if ng == 8:
            return -1
        acc = (acc << 16) | <u128>v
        ng += 1
        if c == CL_COLON:
            j += 1
            if j < n and p[j] == 58:
                if gap >= 0:
                    return -1
                gap = ng
                head = acc
                acc = 0
                after_gap = True
                j += 1
            else:
                after_gap = False
            continue
        if c == CL_DOT:
            return -1
        break
    if gap < 0:
        if ng < 2:
            return -1  # no ':' at all
        b = 16 * ng
        val = acc << (16 * (8 - ng)) if ng < 8 else acc
    else:
        if ng > 7:
            return -1  # '::' must stand for one group at least
        b = 128
        val = acc if gap == 0 else ((head << (16 * (8 - gap))) | acc)
    if j < n and p[j] == 47:  # '/len'
        i = j + 1
        j = i
        v = 0
        while j < n and _digit(p[j]):
            if v <= 1000:
                v = v * 10 + (p[j] - 48)
            j += 1
        if j == i or v > 128:
            return -1
        b = v
    hi[0] = <uint64_t>(val >> 64)
    lo[0] = <uint64_t>val
    bits[0] = b
    return j


cdef inline bint _host_bits(uint64_t h, uint64_t l, int b) noexcept nogil:
    if b >= 128:
        return False
    if b > 64:
        return (l & ((<uint64_t>1 << (128 - b)) - 1)) != 0
    if l != 0:
        return True
    if b == 64:
        return False
    if b == 0:
        return h != 0
    return (h & ((<uint64_t>1 << (64 - b)) - 1)) != 0


cdef inline uint64_t _fnv(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t x = 1469598103934665603ULL
    cdef Py_ssize_t i
    for i in range(n):
        x = (x ^ p[i]) * 1099511628211ULL
    return x | 1  # 0 marks an empty slot


cdef class Scan6:
    """Scanner state over the files of one dataset: the entry arrays (grown in place),
    the interned value texts, the line counters.

    Value-text codes: 0 an exclusion, 1 no value (nothing or a comment after the
    subject), 2 + k the k-th distinct value text."""
    cdef int mode
    cdef object hi_a, lo_a, bits_a, vt_a, ord_a
    cdef uint64_t* hi
    cdef uint64_t* lo
    cdef uint8_t* bits
    cdef int32_t* vt
    cdef uint32_t* ordn
    cdef readonly Py_ssize_t n
    cdef Py_ssize_t cap
    cdef readonly uint64_t base    # ordinal of line 0 of the current file
    cdef readonly Py_ssize_t lineno  # lines of the current file scanned so far
    cdef bint started
    # interned texts: an open-addressing table of (hash, code) into a byte pool
    cdef uint64_t* slot_hash
    cdef int32_t* slot_code
    cdef Py_ssize_t nslots
    cdef unsigned char* pool
    cdef Py_ssize_t pool_len, pool_cap
    cdef Py_ssize_t* offs          # text k is pool[offs[k]:offs[k + 1]]
    cdef readonly Py_ssize_t ntexts
    cdef Py_ssize_t offs_cap
    # first appearances of value-text codes in the current chunk
    cdef int32_t* stamp
    cdef Py_ssize_t stamp_cap
    cdef int32_t chunk_no
    cdef list firsts

    def __cinit__(self, int mode, Py_ssize_t cap_hint=0):
        if mode != TRIE and mode != TSET:
            raise ValueError("mode must be TRIE_MODE or TSET_MODE")
        self.mode = mode
        self.n = 0
        self.cap = 0
        self.base = 0
        self.lineno = 0
        self._grow(cap_hint if cap_hint > 1024 else 1024)
        self.nslots = 1024
        self.slot_hash = <uint64_t*>malloc(self.nslots * sizeof(uint64_t))
        self.slot_code = <int32_t*>malloc(self.nslots * sizeof(int32_t))
        self.pool_cap = 4096
        self.pool = <unsigned char*>malloc(self.pool_cap)
        self.pool_len = 0
        self.offs_cap = 256
        self.offs = <Py_ssize_t*>malloc(self.offs_cap * sizeof(Py_ssize_t))
        self.ntexts = 0
        self.stamp_cap = 258
        self.stamp = <int32_t*>malloc(self.stamp_cap * sizeof(int32_t))
        if (self.slot_hash == NULL or self.slot_code == NULL or self.pool == NULL
                or self.offs == NULL or self.stamp == NULL):
            raise MemoryError()
        memset(self.slot_hash, 0, self.nslots * sizeof(uint64_t))
        memset(self.stamp, 0xFF, self.stamp_cap * sizeof(int32_t))
        self.offs[0] = 0
        self.chunk_no = 0
        self.firsts = []

    def __dealloc__(self):
        free(self.slot_hash)
        free(self.slot_code)
        free(self.pool)
        free(self.offs)
        free(self.stamp)

    cdef int _grow(self, Py_ssize_t cap) except -1:
        """Resize the entry arrays in place (realloc: a big block is remapped, not copied;
        pages past what is written are never touched, so they cost no memory)."""
        if self.cap == 0:
            self.hi_a = np.empty(cap, np.uint64)
            self.lo_a = np.empty(cap, np.uint64)
            self.bits_a = np.empty(cap, np.uint8)
            self.vt_a = np.empty(cap, np.int32)
            self.ord_a = np.empty(cap, np.uint32)
        else:
            for a in (self.hi_a, self.lo_a, self.bits_a, self.vt_a, self.ord_a):
                a.resize(cap, refcheck=False)
        self.hi = <uint64_t*>cnp.PyArray_DATA(self.hi_a)
        self.lo = <uint64_t*>cnp.PyArray_DATA(self.lo_a)
        self.bits = <uint8_t*>cnp.PyArray_DATA(self.bits_a)
        self.vt = <int32_t*>cnp.PyArray_DATA(self.vt_a)
        self.ordn = <uint32_t*>cnp.PyArray_DATA(self.ord_a)
        self.cap = cap
        return 0

    cdef inline int _add(self, uint64_t h, uint64_t l, int b, int32_t code,
                         uint64_t ordinal) except -1:
        self._put(h, l, b, code, ordinal)
        if code >= VT_DEFAULT and self.stamp[code] != self.chunk_no:
            self.stamp[code] = self.chunk_no
            self.firsts.append(code)
        return 0

    cdef inline int _put(self, uint64_t h, uint64_t l, int b, int32_t code,
                         uint64_t ordinal) except -1:
        if self.n == self.cap:
            self._grow(self.cap * 2)
        if ordinal > 0xFFFFFFFFULL:
            raise OverflowError("more than 2**32 lines in one dataset")
        self.hi[self.n] = h
        self.lo[self.n] = l
        self.bits[self.n] = <uint8_t>b
        self.vt[self.n] = code
        self.ordn[self.n] = <uint32_t>ordinal
        self.n += 1
        return 0

    cdef int32_t _intern(self, const unsigned char* p, Py_ssize_t m) except -1:
        """The code of a value text (2 + its index), adding it when new."""
        cdef uint64_t h = _fnv(p, m)
        cdef Py_ssize_t mask = self.nslots - 1, s = <Py_ssize_t>(h & <uint64_t>mask), k
        cdef int32_t code
        while self.slot_hash[s] != 0:
            if self.slot_hash[s] == h:
                k = self.slot_code[s] - 2
                if (self.offs[k + 1] - self.offs[k] == m
                        and memcmp(self.pool + self.offs[k], p, m) == 0):
                    return self.slot_code[s]
            s = (s + 1) & mask
        # new text
        if self.pool_len + m > self.pool_cap:
            while self.pool_len + m > self.pool_cap:
                self.pool_cap *= 2
            self.pool = <unsigned char*>_realloc(self.pool, self.pool_cap)
        memcpy(self.pool + self.pool_len, p, m)
        self.pool_len += m
        if self.ntexts + 2 > self.offs_cap:
            self.offs_cap *= 2
            self.offs = <Py_ssize_t*>_realloc(self.offs, self.offs_cap * sizeof(Py_ssize_t))
        self.offs[self.ntexts + 1] = self.pool_len
        code = <int32_t>(self.ntexts + 2)
        self.ntexts += 1
        if code >= self.stamp_cap:
            k = self.stamp_cap
            self.stamp_cap *= 2
            self.stamp = <int32_t*>_realloc(self.stamp, self.stamp_cap * sizeof(int32_t))
            memset(self.stamp + k, 0xFF, (self.stamp_cap - k) * sizeof(int32_t))
        self.slot_hash[s] = h
        self.slot_code[s] = code
        if 2 * self.ntexts > self.nslots:
            self._rehash()
        return code

    cdef int _rehash(self) except -1:
        cdef Py_ssize_t old = self.nslots, i, s, mask
        cdef uint64_t* oh = self.slot_hash
        cdef int32_t* oc = self.slot_code
        self.nslots = old * 4
        mask = self.nslots - 1
        self.slot_hash = <uint64_t*>malloc(self.nslots * sizeof(uint64_t))
        self.slot_code = <int32_t*>malloc(self.nslots * sizeof(int32_t))
        if self.slot_hash == NULL or self.slot_code == NULL:
            raise MemoryError()
        memset(self.slot_hash, 0, self.nslots * sizeof(uint64_t))
        for i in range(old):
            if oh[i] != 0:
                s = <Py_ssize_t>(oh[i] & <uint64_t>mask)
                while self.slot_hash[s] != 0:
                    s = (s + 1) & mask
                self.slot_hash[s] = oh[i]
                self.slot_code[s] = oc[i]
        free(oh)
        free(oc)
        return 0

    def new_file(self):
        """Start the next file: its line ordinals follow the previous file's. Returns the
        ordinal base of the new file (its line L has ordinal base + L)."""
        if self.started:
            self.base += <uint64_t>self.lineno + 1
        self.started = True
        self.lineno = 0
        return self.base

    def text(self, int32_t code):
        """The value text behind a code >= 2 (decoded as base.read_lines decodes)."""
        cdef Py_ssize_t k = code - 2
        if k < 0 or k >= self.ntexts:
            raise IndexError(code)
        return PyUnicode_DecodeUTF8(<const char*>(self.pool + self.offs[k]),
                                    self.offs[k + 1] - self.offs[k], "surrogateescape")

    def add(self, uint64_t hi, uint64_t lo, int bits, int32_t vid, uint64_t ordinal):
        """Append one entry the Python parser took, with its value id as it stays (no
        code: apply() never sees it, it lies past every chunk scanned so far)."""
        if not 0 <= bits <= 128:
            raise ValueError("prefix length outside 0..128")
        self._put(hi, lo, bits, vid, ordinal)

    def select(self, Py_ssize_t e0, Py_ssize_t e1, const uint8_t[::1] flag not None):
        """(ordinals uint32, codes int32) of the entries in [e0, e1) whose code c has
        flag[c] set (codes outside flag are not selected)."""
        cdef Py_ssize_t i, m = 0, nf = flag.shape[0]
        cdef int32_t c
        if e0 < 0 or e1 > self.n or e0 > e1:
            raise IndexError("entry range")
        for i in range(e0, e1):
            c = self.vt[i]
            if 0 <= c < nf and flag[c]:
                m += 1
        ords = np.empty(m, np.uint32)
        codes = np.empty(m, np.int32)
        cdef uint32_t[::1] o = ords
        cdef int32_t[::1] cv = codes
        m = 0
        for i in range(e0, e1):
            c = self.vt[i]
            if 0 <= c < nf and flag[c]:
                o[m] = self.ordn[i]
                cv[m] = c
                m += 1
        return ords, codes

    def commit(self, Store6 store not None):
        """Move the entries scanned and added so far (their value ids final: apply()
        done) into store, and start over at entry 0."""
        cdef Py_ssize_t i
        for i in range(self.n):
            store._put(self.hi[i], self.lo[i], self.bits[i], self.vt[i], self.ordn[i])
        self.n = 0

    def apply(self, Py_ssize_t e0, Py_ssize_t e1, const int32_t[::1] lut not None):
        """Replace the value-text codes of entries [e0, e1) by lut[code] (value ids)."""
        cdef Py_ssize_t i, m = lut.shape[0]
        cdef int32_t c
        if e0 < 0 or e1 > self.n or e0 > e1:
            raise IndexError("entry range")
        for i in range(e0, e1):
            c = self.vt[i]
            if c < 0 or c >= m:
                raise IndexError(f"code {c} outside the table")
        with nogil:
            for i in range(e0, e1):
                self.vt[i] = lut[self.vt[i]]

    cdef object _chunk(self, Py_ssize_t e0):
        item = (e0, self.n, self.firsts)
        self.firsts = []
        self.chunk_no += 1
        return item

    def feed(self, const unsigned char[::1] data not None, bint final):
        """Scan data, the next bytes of the current file. Unless final, the scan stops
        at the start of the last line without a newline (the caller feeds it again with
        what follows). Returns (bytes consumed, items): in file order,
        (lineno, text) for a line the Python parser must take (stripped of blanks,
        decoded UTF-8 with surrogateescape, as base.read_lines) and (e0, e1, codes) for
        entries [e0, e1) taken here, codes being the value-text codes >= 1 they use in
        order of first appearance."""
        cdef Py_ssize_t n = data.shape[0]
        cdef const unsigned char* p = &data[0] if n else NULL
        cdef Py_ssize_t pos = 0, a, b, i, j, e0
        cdef const unsigned char* nl
        cdef uint64_t h, l
        cdef int bits, g, nd, v, d
        cdef int32_t code
        cdef bint excl, ok
        items = []
        e0 = self.n
        while pos < n:
            nl = <const unsigned char*>memchr(p + pos, 10, n - pos)
            if nl == NULL and not final:
                break
            b = (nl - p) if nl != NULL else n
            a = pos
            pos = b + 1
            self.lineno += 1
            while a < b and _blank(p[a]):
                a += 1
            while b > a and _blank(p[b - 1]):
                b -= 1
            if a == b:
                continue
            # what base.load_lines does before the format sees a line
            ok = False
            if p[a] == 36 or ((p[a] == 35 or p[a] == 59 or p[a] == 58)
                              and b - a >= 2 and p[a + 1] == 36):
                pass  # a special
            elif p[a] == 35 or p[a] == 59:
                continue  # a comment
            elif p[a] == 58 and (b - a < 2 or p[a + 1] != 58):
                pass  # a default line
            else:
                i = a
                excl = p[i] == 33
                if excl:
                    i += 1
                    while i < b and _blank(p[i]):
                        i += 1
                if self.mode == TRIE:
                    i = _parse6(p, i, b, &h, &l, &bits) if i < b else -1
                    if i >= 0 and _end_ok(p, i, b) and not _host_bits(h, l, bits):
                        ok = True
                        if excl:
                            code = VT_EXCL
                        else:
                            while i < b and _blank(p[i]):
                                i += 1
                            if i == b or p[i] == 35 or p[i] == 59:
                                code = VT_DEFAULT
                            else:
                                code = self._intern(p + i, b - i)
                elif excl:  # ip6tset: a whole address
                    i = _parse6(p, i, b, &h, &l, &bits) if i < b else -1
                    if i >= 0 and _end_ok(p, i, b) and bits == 128:
                        ok = True
                        code = VT_EXCL
                else:  # ip6tset: exactly a:b:c:d, then nothing, a blank or a comment
                    h = 0
                    g = 0
                    while g < 4:
                        nd = 0
                        v = 0
                        while i < b and nd < 4:
                            d = _hexval(p[i])
                            if d < 0:
                                break
                            v = (v << 4) | d
                            nd += 1
                            i += 1
                        if nd == 0:
                            break
                        h = (h << 16) | <uint64_t>v
                        g += 1
                        if g < 4:
                            if i < b and p[i] == 58:
                                i += 1
                            else:
                                break
                    if g == 4 and (i == b or p[i] == 32 or p[i] == 9 or p[i] == 35
                                   or p[i] == 59):
                        ok = True
                        l = 0
                        bits = 64
                        code = VT_DEFAULT
            if ok:
                self._add(h, l, bits, code, self.base + <uint64_t>self.lineno)
            else:
                if self.n > e0:
                    items.append(self._chunk(e0))
                    e0 = self.n
                items.append((self.lineno, PyUnicode_DecodeUTF8(
                    <const char*>(p + a), b - a, "surrogateescape")))
            if nl == NULL:
                pos = n
                break
        if self.n > e0:
            items.append(self._chunk(e0))
        return (pos if pos < n else n), items


cdef void* _realloc(void* p, size_t size) except NULL:
    cdef void* q = realloc(p, size)
    if q == NULL:
        raise MemoryError()
    return q


def parse6(bytes text not None):
    """ipparse.ip6cidr() in C, for tests: (bits, value, end index) or None."""
    cdef uint64_t h, l
    cdef int bits
    cdef const unsigned char* p = text
    cdef Py_ssize_t e = _parse6(p, 0, len(text), &h, &l, &bits) if len(text) else -1
    if e < 0:
        return None
    return bits, (int(h) << 64) | int(l), e


# ------------------------------------------------------------------------ sorting
cdef inline bint _less(const uint64_t* hi, const uint64_t* lo, const uint8_t* bits,
                       const uint32_t* ordn, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """(hi, lo, bits, ordinal) of a < that of b."""
    if hi[a] != hi[b]:
        return hi[a] < hi[b]
    if lo[a] != lo[b]:
        return lo[a] < lo[b]
    if bits[a] != bits[b]:
        return bits[a] < bits[b]
    if ordn != NULL:
        return ordn[a] < ordn[b]
    return False


cdef void _flag_sort(uint64_t* k, uint32_t* ix, Py_ssize_t n, int shift) noexcept nogil:
    """In-place MSD radix sort (American flag sort) of k[0:n] by their bits below
    shift + 8, moving ix along; not stable (the callers break ties themselves)."""
    cdef Py_ssize_t cnt[256]
    cdef Py_ssize_t head[256]
    cdef Py_ssize_t end[256]
    cdef Py_ssize_t i, j, s
    cdef int b, d
    cdef uint64_t kv, tk, x
    cdef uint32_t iv, ti
    while True:
        if n <= 32:  # insertion sort by the whole key
            for i in range(1, n):
                kv = k[i]
                iv = ix[i]
                j = i
                while j > 0 and k[j - 1] > kv:
                    k[j] = k[j - 1]
                    ix[j] = ix[j - 1]
                    j -= 1
                k[j] = kv
                ix[j] = iv
            return
        memset(cnt, 0, sizeof(cnt))
        for i in range(n):
            cnt[(k[i] >> shift) & 255] += 1
        d = (k[0] >> shift) & 255
        if cnt[d] == n:  # one value in this digit: the next one
            if shift == 0:
                return
            shift -= 8
            continue
        s = 0
        for b in range(256):
            head[b] = s
            s += cnt[b]
            end[b] = s
        for b in range(256):
            while head[b] < end[b]:
                kv = k[head[b]]
                iv = ix[head[b]]
                d = (kv >> shift) & 255
                while d != b:
                    j = head[d]
                    head[d] += 1
                    tk = k[j]
                    ti = ix[j]
                    k[j] = kv
                    ix[j] = iv
                    kv = tk
                    iv = ti
                    d = (kv >> shift) & 255
                k[head[b]] = kv
                ix[head[b]] = iv
                head[b] += 1
        if shift == 0:
            return
        s = 0
        for b in range(256):
            if cnt[b] > 1:
                _flag_sort(k + s, ix + s, cnt[b], shift - 8)
            s += cnt[b]
        return


cdef struct RunCtx:
    const uint64_t* lo
    const uint8_t* bits
    const uint32_t* ordn


cdef int _cmp_run(const void* x, const void* y, void* arg) noexcept nogil:
    """qsort_r order of two block indexes with one high half: (lo, bits, ordinal, index)."""
    cdef RunCtx* c = <RunCtx*>arg
    cdef uint32_t a = (<const uint32_t*>x)[0], b = (<const uint32_t*>y)[0]
    if c.lo[a] != c.lo[b]:
        return -1 if c.lo[a] < c.lo[b] else 1
    if c.bits[a] != c.bits[b]:
        return -1 if c.bits[a] < c.bits[b] else 1
    if c.ordn != NULL and c.ordn[a] != c.ordn[b]:
        return -1 if c.ordn[a] < c.ordn[b] else 1
    return -1 if a < b else (1 if a > b else 0)


cdef extern from "<stdlib.h>" nogil:
    void qsort_r(void* base, size_t nmemb, size_t size,
                 int (*compar)(const void*, const void*, void*) noexcept nogil, void* arg)


def sort6(hi not None, const uint64_t[::1] lo not None, const uint8_t[::1] bits not None,
          ordinal=None, bint inplace=False):
    """The order of CIDR blocks by (start, prefix length[, ordinal]) as a uint32
    permutation, or None when they are in that order already; blocks with identical keys
    keep their order (stable). A block's start is (hi, lo).

    inplace: hi (writable) is left sorted, so only the other arrays need the permutation
    (and the sort needs no copy of it). The sort itself takes no memory but the
    permutation: an in-place MSD radix sort of hi, then runs of one hi by the rest."""
    cdef const uint64_t[::1] hv = hi
    cdef Py_ssize_t n = hv.shape[0], i, j, r, k
    cdef const uint32_t[::1] ov
    cdef const uint32_t* op = NULL
    cdef uint32_t x
    cdef uint64_t[::1] hw
    if lo.shape[0] != n or bits.shape[0] != n:
        raise ValueError("hi, lo and bits differ in length")
    if n >= 0xFFFFFFFF:
        raise ValueError("too many blocks")
    if ordinal is not None:
        ov = ordinal
        if ov.shape[0] != n:
            raise ValueError("ordinal differs in length")
        op = &ov[0] if n else NULL
    if n < 2:
        return None
    cdef const uint64_t* H = &hv[0]
    cdef const uint64_t* L = &lo[0]
    cdef const uint8_t* B = &bits[0]
    cdef bint ordered = True
    with nogil:
        for i in range(1, n):
            if _less(H, L, B, op, i, i - 1):
                ordered = False
                break
    if ordered:
        return None
    perm = np.empty(n, np.uint32)
    if inplace:
        hw = hi  # raises for a read-only array
    else:
        hw = np.array(hi, np.uint64)  # a copy
    cdef uint32_t* ia = <uint32_t*>cnp.PyArray_DATA(perm)
    cdef uint64_t* ka = &hw[0]
    cdef RunCtx ctx
    ctx.lo = L
    ctx.bits = B
    ctx.ordn = op
    with nogil:
        for i in range(n):
            ia[i] = <uint32_t>i
        _flag_sort(ka, ia, n, 56)
    with nogil:
        # runs with one high half: by (lo, bits, ordinal, input position), which makes
        # the whole order that of a stable sort
        i = 0
        while i < n:
            j = i + 1
            while j < n and ka[j] == ka[i]:
                j += 1
            if j - i > 24:
                qsort_r(ia + i, j - i, sizeof(uint32_t), _cmp_run, &ctx)
            elif j - i > 1:
                for r in range(i + 1, j):
                    x = ia[r]
                    k = r
                    while k > i and _cmp_run(&x, &ia[k - 1], &ctx) < 0:
                        ia[k] = ia[k - 1]
                        k -= 1
                    ia[k] = x
            i = j
    return perm


def take(arr not None, const uint32_t[::1] perm not None):
    """arr[perm] for a 1-d contiguous array and a uint32 permutation (no int64 copy of the
    indexes, as numpy's fancy indexing makes)."""
    a = np.ascontiguousarray(arr)
    cdef Py_ssize_t n = perm.shape[0], i, m = a.shape[0]
    cdef int size = a.dtype.itemsize
    out = np.empty(n, a.dtype)
    cdef const char* src = <const char*>cnp.PyArray_DATA(a)
    cdef char* dst = <char*>cnp.PyArray_DATA(out)
    for i in range(n):
        if perm[i] >= m:
            raise IndexError("permutation index outside the array")
    with nogil:
        if size == 8:
            for i in range(n):
                (<uint64_t*>dst)[i] = (<const uint64_t*>src)[perm[i]]
        elif size == 4:
            for i in range(n):
                (<uint32_t*>dst)[i] = (<const uint32_t*>src)[perm[i]]
        elif size == 1:
            for i in range(n):
                dst[i] = src[perm[i]]
        else:
            for i in range(n):
                memcpy(dst + i * size, src + <Py_ssize_t>perm[i] * size, size)
    return out


# ------------------------------------------------------------------------ flatten
cdef inline u128 _hostmask(int b) noexcept nogil:
    if b <= 0:
        return ~(<u128>0)
    if b >= 128:
        return 0
    return ((<u128>1) << (128 - b)) - 1


import os as _os
cdef Py_ssize_t _PAGE = _os.sysconf("SC_PAGE_SIZE")


cdef inline void _drop_pages(const void* base, Py_ssize_t used, Py_ssize_t* done) noexcept nogil:
    """Give back the whole pages of base[done:used] (bytes) that lie inside the array."""
    cdef size_t a = (<size_t>base + <size_t>done[0] + _PAGE - 1) & ~(<size_t>_PAGE - 1)
    cdef size_t z = (<size_t>base + <size_t>used) & ~(<size_t>_PAGE - 1)
    if z > a:
        madvise(<void*>a, z - a, MADV_DONTNEED)
        done[0] = <Py_ssize_t>(z - <size_t>base)


# ------------------------------------------------------------------------ the index
cdef uint64_t _M48 = 0xFFFFFFFFFFFFULL


cdef class Build6:
    """The compact index of ext/ip6search.pxd, from segments given in order (`_push`:
    start, value id >= -1; the first at ::, adjacent values distinct). `arrays()`
    ends it: (params, tab, keys, codes, runj, runoff, runlo, runval), what
    _index.Index6 takes and a snapshot stores. The arrays grow in place (realloc: the
    pages past what is written are never touched)."""
    cdef object keys_a, codes_a, runj_a, runoff_a, runlo_a, runval_a
    cdef uint8_t* keys
    cdef uint8_t* codes
    cdef uint32_t* runj
    cdef uint32_t* runoff
    cdef uint64_t* runlo
    cdef int32_t* runval
    cdef Py_ssize_t m, mcap, nruns, rcap, npairs, pcap, nseg
    cdef int width
    cdef uint32_t run
    cdef uint32_t* tops  # tops[t]: the first group whose top 16 bits are >= t
    cdef Py_ssize_t next_top
    cdef uint64_t gh     # the open group's high half
    cdef bint open_
    cdef Py_ssize_t gp0  # its first pair
    cdef int32_t last    # the last segment's value
    cdef uint64_t ph, pl  # the last start pushed
    cdef bint done

    def __cinit__(self, Py_ssize_t hint=0):
        self.mcap = hint + 16 if hint > 0 else 1024
        self.keys_a = np.empty(KEY6 * self.mcap + 2, np.uint8)
        self.codes_a = np.empty(self.mcap, np.uint8)
        self.width = 1
        self.run = 0xFF
        self.rcap = 256
        self.runj_a = np.empty(self.rcap, np.uint32)
        self.runoff_a = np.empty(self.rcap + 1, np.uint32)
        self.pcap = 1024
        self.runlo_a = np.empty(self.pcap, np.uint64)
        self.runval_a = np.empty(self.pcap, np.int32)
        self._ptrs()
        self.tops = <uint32_t*>malloc(65537 * sizeof(uint32_t))
        if self.tops == NULL:
            raise MemoryError()
        self.m = self.nruns = self.npairs = self.nseg = self.next_top = 0
        self.open_ = False
        self.done = False
        self.last = -1

    def __dealloc__(self):
        free(self.tops)

    cdef void _ptrs(self) noexcept:
        self.keys = <uint8_t*>cnp.PyArray_DATA(self.keys_a)
        self.codes = <uint8_t*>cnp.PyArray_DATA(self.codes_a)
        self.runj = <uint32_t*>cnp.PyArray_DATA(self.runj_a)
        self.runoff = <uint32_t*>cnp.PyArray_DATA(self.runoff_a)
        self.runlo = <uint64_t*>cnp.PyArray_DATA(self.runlo_a)
        self.runval = <int32_t*>cnp.PyArray_DATA(self.runval_a)

    cdef int _widen(self, int w) except -1:
        """Codes of w bytes (the values outgrew the width); the run code follows."""
        cdef Py_ssize_t j
        cdef uint32_t c, run = 0xFFFF if w == 2 else 0xFFFFFFFFU
        cdef uint16_t c2
        new = np.empty(w * self.mcap, np.uint8)
        cdef uint8_t* q = <uint8_t*>cnp.PyArray_DATA(new)
        for j in range(self.m):
            c = self._code(j)
            if c == self.run:
                c = run
            if w == 2:
                c2 = <uint16_t>c
                memcpy(q + 2 * j, &c2, 2)
            else:
                memcpy(q + 4 * j, &c, 4)
        self.codes_a = new
        self.width = w
        self.run = run
        self._ptrs()
        return 0

    cdef inline uint32_t _code(self, Py_ssize_t j) noexcept:
        cdef uint16_t c2
        cdef uint32_t c4
        if self.width == 1:
            return self.codes[j]
        if self.width == 2:
            memcpy(&c2, self.codes + 2 * j, 2)
            return c2
        memcpy(&c4, self.codes + 4 * j, 4)
        return c4

    cdef inline int _pair(self, uint64_t l, int32_t v) except -1:
        if self.npairs == self.pcap:
            self.pcap *= 2
            self.runlo_a.resize(self.pcap, refcheck=False)
            self.runval_a.resize(self.pcap, refcheck=False)
            self._ptrs()
        self.runlo[self.npairs] = l
        self.runval[self.npairs] = v
        self.npairs += 1
        return 0

    cdef int _close(self) except -1:
        """End the open group: a key and a code (and a run unless it is one segment at
        low half 0)."""
        cdef uint32_t c
        cdef uint16_t c2
        cdef uint64_t t = self.gh >> 48
        if self.m == self.mcap:
            self.mcap *= 2
            self.keys_a.resize(KEY6 * self.mcap + 2, refcheck=False)
            self.codes_a.resize(self.width * self.mcap, refcheck=False)
            self._ptrs()
        while <uint64_t>self.next_top <= t:
            self.tops[self.next_top] = <uint32_t>self.m
            self.next_top += 1
        if self.npairs - self.gp0 == 1 and self.runlo[self.gp0] == 0:
            c = <uint32_t>(self.runval[self.gp0] + 1)
            self.npairs = self.gp0
            if c >= self.run:
                self._widen(2 if c < 0xFFFF else 4)
        else:
            if self.nruns == self.rcap:
                self.rcap *= 2
                self.runj_a.resize(self.rcap, refcheck=False)
                self.runoff_a.resize(self.rcap + 1, refcheck=False)
                self._ptrs()
            self.runj[self.nruns] = <uint32_t>self.m
            self.runoff[self.nruns] = <uint32_t>self.gp0
            self.nruns += 1
            c = self.run
        memcpy(self.keys + KEY6 * self.m, &self.gh, KEY6)  # little-endian: the low 48 bits
        if self.width == 1:
            self.codes[self.m] = <uint8_t>c
        elif self.width == 2:
            c2 = <uint16_t>c
            memcpy(self.codes + 2 * self.m, &c2, 2)
        else:
            memcpy(self.codes + 4 * self.m, &c, 4)
        self.m += 1
        self.open_ = False
        return 0

    cdef int _push(self, uint64_t h, uint64_t l, int32_t v) except -1:
        if self.done:
            raise ValueError("the index is made already")
        if v < -1:
            raise ValueError("value id below -1")
        if self.nseg == 0 and (h != 0 or l != 0):
            raise ValueError("the first segment must start at ::")
        if self.nseg and (h < self.ph or (h == self.ph and l <= self.pl)):
            raise ValueError("segment starts not in increasing order")
        self.ph = h
        self.pl = l
        if self.nseg and v == self.last:
            return 0  # adjacent equal values: one segment
        if self.open_ and h != self.gh:
            self._close()
        if not self.open_:
            self.gh = h
            self.open_ = True
            self.gp0 = self.npairs
            if l != 0:
                self._pair(0, self.last)  # the value in force at (h, 0)
        self._pair(l, v)
        self.last = v
        self.nseg += 1
        return 0

    def push(self, uint64_t hi, uint64_t lo, int32_t value):
        """One segment (for tests; the flatten pushes from C)."""
        self._push(hi, lo, value)

    def arrays(self):
        """End the index: its arrays (see the class doc)."""
        cdef Py_ssize_t j, k, nb, target
        cdef uint64_t tmin, tmax, base, hj
        cdef int shift = 0
        cdef uint64_t kk
        cdef Py_ssize_t t
        if self.done:
            raise ValueError("the index is made already")
        if self.nseg == 0:
            self._push(0, 0, -1)
        if self.open_:
            self._close()
        self.done = True
        while self.next_top <= 65536:
            self.tops[self.next_top] = <uint32_t>self.m
            self.next_top += 1
        self.runoff[self.nruns] = <uint32_t>self.npairs
        # the first-level table: about 8 groups a bucket (two cache lines of keys),
        # 2**4..2**17 buckets (512 KiB), shift <= 48
        target = 16
        while target < (1 << 17) and 8 * target < self.m:
            target *= 2
        tmin = self._high(1) if self.m > 1 else 0
        tmax = self._high(self.m - 1)
        while shift < 48 and (tmax >> shift) - (tmin >> shift) >= <uint64_t>target:
            shift += 1
        base = tmin >> shift
        nb = <Py_ssize_t>((tmax >> shift) - base) + 1
        tab = np.empty(nb + 1, np.uint32)
        cdef uint32_t* tp = <uint32_t*>cnp.PyArray_DATA(tab)
        k = 0  # buckets [0, k) have their first group set
        t = 0
        for j in range(self.m):
            while self.tops[t + 1] <= j:
                t += 1
            memcpy(&kk, self.keys + KEY6 * j, 8)
            hj = (<uint64_t>t << 48) | (kk & _M48)
            if (hj >> shift) < base:
                continue  # group 0 before every bucket
            while k <= <Py_ssize_t>((hj >> shift) - base):
                tp[k] = <uint32_t>j
                k += 1
        while k <= nb:
            tp[k] = <uint32_t>self.m
            k += 1
        free(self.tops)
        self.tops = NULL
        self.keys_a.resize(KEY6 * self.m + 2, refcheck=False)
        self.codes_a.resize(self.width * self.m, refcheck=False)
        self.runj_a.resize(self.nruns, refcheck=False)
        self.runoff_a.resize(self.nruns + 1, refcheck=False)
        self.runlo_a.resize(self.npairs, refcheck=False)
        self.runval_a.resize(self.npairs, refcheck=False)
        keys = self.keys_a
        keys[KEY6 * self.m:] = 0
        params = np.array([self.m, self.nseg, self.width, self.run, base, shift, nb,
                           self.nruns], np.uint64)
        out = (params, tab, keys, self.codes_a, self.runj_a, self.runoff_a, self.runlo_a,
               self.runval_a)
        self.keys_a = self.codes_a = self.runj_a = self.runoff_a = None
        self.runlo_a = self.runval_a = None
        return out

    cdef uint64_t _high(self, Py_ssize_t j) noexcept:
        """Group j's high half (tops must be complete)."""
        cdef Py_ssize_t a = 0, z = 65536, mid
        cdef uint64_t kk
        while z - a > 1:  # the last t with tops[t] <= j
            mid = (a + z) >> 1
            if self.tops[mid] <= j:
                a = mid
            else:
                z = mid
        memcpy(&kk, self.keys + KEY6 * j, 8)
        return (<uint64_t>a << 48) | (kk & _M48)


cdef class Flat6:
    """The flatten of CIDR blocks (the innermost block wins, of identical blocks the
    first is kept) into a Build6, one block at a time in (start, prefix length) order."""
    cdef Build6 out
    cdef u128 se[132]       # open blocks' ends (a nesting of distinct CIDRs: <= 129)
    cdef int32_t sg[132]    # and their group ids
    cdef int sp
    cdef u128 cur, ps
    cdef int pb
    cdef bint full          # the last segment reaches the top of the space

    def __cinit__(self, Py_ssize_t hint=0):
        self.out = Build6(hint)
        self.sp = 0
        self.cur = 0
        self.ps = 0
        self.pb = -1
        self.full = False

    cdef inline int _emit(self, u128 start, int32_t v) except -1:
        return self.out._push(<uint64_t>(start >> 64), <uint64_t>start, v)

    cdef int _close_to(self, u128 s, bint last) except -1:
        """Close every open block that ends before s (all of them when last)."""
        cdef u128 te, top = ~(<u128>0)
        cdef int32_t tg
        while self.sp > 0 and (last or self.se[self.sp - 1] < s):
            te = self.se[self.sp - 1]
            tg = self.sg[self.sp - 1]
            if not self.full and self.cur <= te:
                self._emit(self.cur, tg)
                if te == top:
                    self.full = True
                else:
                    self.cur = te + 1
            self.sp -= 1
        return 0

    cdef int block(self, uint64_t hi, uint64_t lo, int bits, int32_t g) except -1:
        """The next block: start (hi, lo) without host bits, prefix length, group id
        (-1: an exclusion). Returns 1 for a duplicate of the block before (skipped)."""
        cdef u128 s = ((<u128>hi) << 64) | lo
        if bits > 128 or bits < 0:
            raise ValueError("prefix length outside 0..128")
        if self.pb >= 0:
            if s == self.ps and bits == self.pb:
                return 1
            if s < self.ps or (s == self.ps and bits < self.pb):
                raise ValueError("blocks not sorted by (start, prefix length)")
        self.ps = s
        self.pb = bits
        self._close_to(s, False)
        if not self.full and self.cur < s:
            self._emit(self.cur, self.sg[self.sp - 1] if self.sp > 0 else -1)
            self.cur = s
        if self.sp >= 130:
            raise ValueError("blocks nested deeper than 129")
        self.se[self.sp] = s | _hostmask(bits)
        self.sg[self.sp] = g
        self.sp += 1
        return 0

    def finish(self):
        """The index's arrays (Build6.arrays)."""
        self._close_to(0, True)
        if not self.full:
            self._emit(self.cur, -1)
        return self.out.arrays()


# ------------------------------------------------------------------------ the store
cdef packed struct Short6:
    # an entry of /64 or shorter (its low half 0) in its bucket (the top 16 bits of its
    # start): 12 bytes
    uint32_t ordn
    uint32_t h32    # start bits 64..95 (the high half's low 32 bits)
    uint16_t h16    # start bits 96..111
    uint8_t bits    # DEAD: a later duplicate, dropped
    uint8_t code    # 0 an exclusion, 1..254 value id + 1, ESC: in the escape table


cdef packed struct Long6:
    # any other entry (longer than /64, or past its bucket's counted room): 25 bytes
    uint64_t hi
    uint64_t lo
    uint32_t ordn
    int32_t vid
    uint8_t bits


cdef enum:
    DEAD = 255
    ESC = 255
    V_EXCL = -2   # base.EXCL
    V_DROP = -3   # fast6.DROP


cdef inline uint64_t _s_hi(const Short6* r, uint64_t t) noexcept nogil:
    return (t << 48) | (<uint64_t>r.h16 << 32) | r.h32


cdef inline int _cmp_key(uint64_t ah, uint64_t al, int ab, uint32_t ao,
                         uint64_t bh, uint64_t bl, int bb, uint32_t bo) noexcept nogil:
    if ah != bh:
        return -1 if ah < bh else 1
    if al != bl:
        return -1 if al < bl else 1
    if ab != bb:
        return -1 if ab < bb else 1
    if ao != bo:
        return -1 if ao < bo else 1
    return 0


cdef int _cmp_short(const void* x, const void* y) noexcept nogil:
    cdef const Short6* a = <const Short6*>x
    cdef const Short6* b = <const Short6*>y
    return _cmp_key(_s_hi(a, 0), 0, a.bits, a.ordn, _s_hi(b, 0), 0, b.bits, b.ordn)


cdef int _cmp_long(const void* x, const void* y) noexcept nogil:
    cdef const Long6* a = <const Long6*>x
    cdef const Long6* b = <const Long6*>y
    return _cmp_key(a.hi, a.lo, a.bits, a.ordn, b.hi, b.lo, b.bits, b.ordn)


cdef void _sift(Short6* a, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t c
    cdef Short6 t
    while True:
        c = 2 * i + 1
        if c >= n:
            return
        if c + 1 < n and _cmp_short(&a[c], &a[c + 1]) < 0:
            c += 1
        if _cmp_short(&a[i], &a[c]) >= 0:
            return
        t = a[i]
        a[i] = a[c]
        a[c] = t
        i = c


cdef extern from "<stdlib.h>" nogil:
    void qsort(void* base, size_t nmemb, size_t size,
               int (*compar)(const void*, const void*) noexcept nogil)


cdef void _siftl(Long6* a, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t c
    cdef Long6 t
    while True:
        c = 2 * i + 1
        if c >= n:
            return
        if c + 1 < n and _cmp_long(&a[c], &a[c + 1]) < 0:
            c += 1
        if _cmp_long(&a[i], &a[c]) >= 0:
            return
        t = a[i]
        a[i] = a[c]
        a[c] = t
        i = c


cdef void _sort_longs(Long6* a, Py_ssize_t n) noexcept nogil:
    """In place, no scratch (glibc's qsort would copy them all)."""
    cdef Py_ssize_t i
    cdef Long6 t
    if n < 2:
        return
    i = n // 2
    while i > 0:
        i -= 1
        _siftl(a, i, n)
    i = n
    while i > 1:
        i -= 1
        t = a[0]
        a[0] = a[i]
        a[i] = t
        _siftl(a, 0, i)


cdef void _sort_shorts(Short6* a, Py_ssize_t n) noexcept nogil:
    """In place, no scratch (heapsort; a bucket may hold every entry of a list)."""
    cdef Py_ssize_t i
    cdef Short6 t
    if n < 2:
        return
    i = n // 2
    while i > 0:
        i -= 1
        _sift(a, i, n)
    i = n
    while i > 1:
        i -= 1
        t = a[0]
        a[0] = a[i]
        a[i] = t
        _sift(a, 0, i)


def count6(const unsigned char[::1] data not None, bint final, uint32_t[::1] counts not None):
    """The first pass of a load: per bucket (the top 16 bits of a start), how many
    lines of data could be entries of /64 or shorter (an upper bound of what the
    scanner takes: every line whose subject parses as an IPv6 CIDR). As Scan6.feed,
    unless final the count stops before the last line without a newline; returns the
    bytes consumed."""
    cdef Py_ssize_t n = data.shape[0], pos = 0, a, b, i
    cdef const unsigned char* p = &data[0] if n else NULL
    cdef const unsigned char* nl
    cdef uint64_t h, l
    cdef int bits
    if counts.shape[0] != 65536:
        raise ValueError("65536 counts expected")
    with nogil:
        while pos < n:
            nl = <const unsigned char*>memchr(p + pos, 10, n - pos)
            if nl == NULL and not final:
                break
            b = (nl - p) if nl != NULL else n
            a = pos
            pos = b + 1
            while a < b and _blank(p[a]):
                a += 1
            if a == b or p[a] == 36 or p[a] == 35 or p[a] == 59 or \
                    (p[a] == 58 and (b - a < 2 or p[a + 1] != 58)):
                continue
            i = a
            if p[i] == 33:
                i += 1
                while i < b and _blank(p[i]):
                    i += 1
            if i < b and _parse6(p, i, b, &h, &l, &bits) >= 0 and bits <= 64:
                counts[h >> 48] += 1
    return pos if pos < n else n


cdef class Store6:
    """A dataset's IPv6 entries between the scan and the index, in about 12 bytes each:
    the /64-and-shorter ones in one array cut into 65536 buckets by the top 16 bits of
    their start, each bucket's room counted by a first pass (count6); the others (longer
    prefixes, and whatever finds its bucket full) as 25-byte records. Value ids of
    254 and more sit in an escape table by line ordinal.

    `sort()` orders each bucket and marks the later of identical blocks dead (their
    ordinals and blocks are the duplicate warnings); `flatten()` makes the index
    (Build6.arrays()) a bucket at a time, giving each bucket's pages back when done."""
    cdef object sh_a        # Short6 records (bytes as uint8)
    cdef Short6* sh
    cdef uint64_t* start    # [65537]: bucket t's room is sh[start[t]:start[t + 1]]
    cdef uint32_t* fill     # [65536]: used of it
    cdef object lg_a
    cdef Long6* lg
    cdef Py_ssize_t nlg, lgcap
    cdef object esc_o, esc_v   # escape table: ordinals, value ids (uint32, int32)
    cdef uint32_t* eo
    cdef int32_t* ev
    cdef Py_ssize_t nesc, esccap
    cdef readonly bint sorted_
    cdef readonly Py_ssize_t count

    def __cinit__(self, const uint32_t[::1] counts not None):
        cdef Py_ssize_t t
        cdef uint64_t tot = 0
        if counts.shape[0] != 65536:
            raise ValueError("65536 counts expected")
        self.start = <uint64_t*>malloc(65537 * sizeof(uint64_t))
        self.fill = <uint32_t*>malloc(65536 * sizeof(uint32_t))
        if self.start == NULL or self.fill == NULL:
            raise MemoryError()
        for t in range(65536):
            self.start[t] = tot
            tot += counts[t]
            self.fill[t] = 0
        self.start[65536] = tot
        self.sh_a = np.empty(tot * sizeof(Short6) + 1, np.uint8)  # untouched until written
        self.sh = <Short6*>cnp.PyArray_DATA(self.sh_a)
        self.lgcap = 1024
        self.lg_a = np.empty(self.lgcap * sizeof(Long6), np.uint8)
        self.lg = <Long6*>cnp.PyArray_DATA(self.lg_a)
        self.nlg = 0
        self.esccap = 256
        self.esc_o = np.empty(self.esccap, np.uint32)
        self.esc_v = np.empty(self.esccap, np.int32)
        self.eo = <uint32_t*>cnp.PyArray_DATA(self.esc_o)
        self.ev = <int32_t*>cnp.PyArray_DATA(self.esc_v)
        self.nesc = 0
        self.sorted_ = False
        self.count = 0

    def __dealloc__(self):
        free(self.start)
        free(self.fill)

    cdef int _put(self, uint64_t h, uint64_t l, int bits, int32_t vid, uint32_t o) except -1:
        cdef uint64_t t = h >> 48
        cdef Short6* r
        cdef Long6* q
        if vid == V_DROP:
            return 0  # an entry skipped for its value: never seen, so never a duplicate
        if self.sorted_:
            raise ValueError("the store is sorted already")
        if vid == V_EXCL:
            vid = -1
        elif vid < 0:
            raise ValueError("value id below 0")
        self.count += 1
        if bits <= 64 and l == 0 and self.fill[t] < self.start[t + 1] - self.start[t]:
            r = &self.sh[self.start[t] + self.fill[t]]
            self.fill[t] += 1
            r.ordn = o
            r.h32 = <uint32_t>h
            r.h16 = <uint16_t>(h >> 32)
            r.bits = <uint8_t>bits
            if vid + 1 < ESC:
                r.code = <uint8_t>(vid + 1)
            else:
                r.code = ESC
                if self.nesc == self.esccap:
                    self.esccap *= 2
                    self.esc_o.resize(self.esccap, refcheck=False)
                    self.esc_v.resize(self.esccap, refcheck=False)
                    self.eo = <uint32_t*>cnp.PyArray_DATA(self.esc_o)
                    self.ev = <int32_t*>cnp.PyArray_DATA(self.esc_v)
                self.eo[self.nesc] = o
                self.ev[self.nesc] = vid
                self.nesc += 1
            return 0
        if self.nlg == self.lgcap:
            self.lgcap *= 2
            self.lg_a.resize(self.lgcap * sizeof(Long6), refcheck=False)
            self.lg = <Long6*>cnp.PyArray_DATA(self.lg_a)
        q = &self.lg[self.nlg]
        self.nlg += 1
        q.hi = h
        q.lo = l
        q.ordn = o
        q.vid = vid
        q.bits = <uint8_t>bits
        return 0

    def add(self, uint64_t hi, uint64_t lo, int bits, int32_t vid, uint32_t ordinal):
        """One entry (value id, base.EXCL or fast6.DROP) straight in (for tests, and the
        entries of Python format code)."""
        if not 0 <= bits <= 128:
            raise ValueError("prefix length outside 0..128")
        self._put(hi, lo, bits, vid, ordinal)

    cdef inline int32_t _vid(self, const Short6* r) noexcept nogil:
        cdef Py_ssize_t a = 0, n = self.nesc, half
        if r.code != ESC:
            return <int32_t>r.code - 1
        while n > 1:
            half = n >> 1
            a += half * (self.eo[a + half] <= r.ordn)
            n -= half
        return self.ev[a]

    def sort(self):
        """Order every bucket by (start, prefix length, ordinal) and mark all but the
        first of identical blocks dead. Returns the dead ones: (ordinals uint32, hi, lo
        uint64, bits uint8), in block order."""
        cdef Py_ssize_t t, i, j, k, e, m = 0
        cdef Short6* a
        cdef Long6* q
        cdef uint64_t ph = 0, pl = 0, hh
        cdef int pb = -1
        if self.sorted_:
            raise ValueError("the store is sorted already")
        self.sorted_ = True
        with nogil:
            _sort_longs(self.lg, self.nlg)
            if self.nesc > 1:  # by ordinal (appended mostly in order)
                _sort_esc(self.eo, self.ev, self.nesc)
            for t in range(65536):
                if self.fill[t] <= 65536:  # glibc's qsort copies: a bucket's worth
                    qsort(&self.sh[self.start[t]], self.fill[t], sizeof(Short6), _cmp_short)
                else:
                    _sort_shorts(&self.sh[self.start[t]], self.fill[t])
        # the duplicates: walk every bucket's two sorted sequences together
        dups_o, dups_h, dups_l, dups_b = [], [], [], []
        j = 0
        for t in range(65536):
            a = &self.sh[self.start[t]]
            e = self.fill[t]
            i = 0
            while i < e or (j < self.nlg and (self.lg[j].hi >> 48) == <uint64_t>t):
                if j < self.nlg and (self.lg[j].hi >> 48) == <uint64_t>t and (
                        i == e or _cmp_key(self.lg[j].hi, self.lg[j].lo, self.lg[j].bits,
                                           self.lg[j].ordn, _s_hi(&a[i], t), 0, a[i].bits,
                                           a[i].ordn) < 0):
                    q = &self.lg[j]
                    j += 1
                    if q.hi == ph and q.lo == pl and q.bits == pb:
                        dups_o.append(q.ordn)
                        dups_h.append(q.hi)
                        dups_l.append(q.lo)
                        dups_b.append(q.bits)
                        q.bits = DEAD
                        continue
                    ph = q.hi
                    pl = q.lo
                    pb = q.bits
                else:
                    hh = _s_hi(&a[i], t)
                    if hh == ph and pl == 0 and a[i].bits == pb:
                        dups_o.append(a[i].ordn)
                        dups_h.append(hh)
                        dups_l.append(0)
                        dups_b.append(a[i].bits)
                        a[i].bits = DEAD
                    else:
                        ph = hh
                        pl = 0
                        pb = a[i].bits
                    i += 1
        return (np.array(dups_o, np.uint32), np.array(dups_h, np.uint64),
                np.array(dups_l, np.uint64), np.array(dups_b, np.uint8))

    cdef int _walk(self, Flat6 f, list out, bint consume) except -1:
        """Every live block in order: into f (the flatten), or appended to out as
        (hi, lo, bits, vid); consume: each bucket's pages go back when it is done."""
        cdef Py_ssize_t t, i, j = 0, e
        cdef Short6* a
        cdef Long6* q
        cdef Py_ssize_t d_sh = 0, d_lg = 0
        if not self.sorted_:
            raise ValueError("sort() the store first")
        for t in range(65536):
            a = &self.sh[self.start[t]]
            e = self.fill[t]
            i = 0
            while True:
                # the dead first: their marks would disorder the comparison
                while i < e and a[i].bits == DEAD:
                    i += 1
                while j < self.nlg and self.lg[j].bits == DEAD:
                    j += 1
                if not (i < e or (j < self.nlg and (self.lg[j].hi >> 48) == <uint64_t>t)):
                    break
                if j < self.nlg and (self.lg[j].hi >> 48) == <uint64_t>t and (
                        i == e or _cmp_key(self.lg[j].hi, self.lg[j].lo, self.lg[j].bits,
                                           self.lg[j].ordn, _s_hi(&a[i], t), 0, a[i].bits,
                                           a[i].ordn) < 0):
                    q = &self.lg[j]
                    j += 1
                    if f is not None:
                        f.block(q.hi, q.lo, q.bits, q.vid)
                    else:
                        out.append((q.hi, q.lo, q.bits, q.vid))
                else:
                    if f is not None:
                        f.block(_s_hi(&a[i], t), 0, a[i].bits, self._vid(&a[i]))
                    else:
                        out.append((_s_hi(&a[i], t), 0, a[i].bits, self._vid(&a[i])))
                    i += 1
            if consume and (t & 31) == 31:
                _drop_pages(self.sh, self.start[t + 1] * sizeof(Short6), &d_sh)
                _drop_pages(self.lg, j * sizeof(Long6), &d_lg)
        return 0

    def flatten(self, bint consume=True):
        """The index's arrays (Build6.arrays()) of the live blocks; consume: the store's
        pages go back as the buckets are read (it is empty afterwards)."""
        cdef Flat6 f = Flat6(2 * self.count + 1)
        self._walk(f, None, consume)
        if consume:
            self._clear()
        return f.finish()

    def blocks(self):
        """The live blocks in order, as (hi, lo, bits, vid) arrays (a copy, for tests and
        for merging with blocks from elsewhere); vid -1 for an exclusion."""
        out = []
        self._walk(None, out, False)
        cols = list(zip(*out)) if out else [(), (), (), ()]
        return (np.array(cols[0], np.uint64), np.array(cols[1], np.uint64),
                np.array(cols[2], np.uint8), np.array(cols[3], np.int32))

    cdef void _clear(self) noexcept:
        self.sh_a = self.lg_a = self.esc_o = self.esc_v = None
        self.sh = NULL
        self.lg = NULL
        self.nlg = 0
        self.nesc = 0
        self.count = 0
        memset(self.fill, 0, 65536 * sizeof(uint32_t))
        memset(self.start, 0, 65537 * sizeof(uint64_t))


cdef void _sort_esc(uint32_t* o, int32_t* v, Py_ssize_t n) noexcept nogil:
    """Insertion sort by ordinal, both arrays together (nearly in order already)."""
    cdef Py_ssize_t i, j
    cdef uint32_t ko
    cdef int32_t kv
    for i in range(1, n):
        ko = o[i]
        kv = v[i]
        j = i
        while j > 0 and o[j - 1] > ko:
            o[j] = o[j - 1]
            v[j] = v[j - 1]
            j -= 1
        o[j] = ko
        v[j] = kv


def flatten6(const uint64_t[::1] hi not None, const uint64_t[::1] lo not None,
             const uint8_t[::1] bits not None, const int32_t[::1] gids not None,
             bint consume=False):
    """The compact index (Build6.arrays(): ext/ip6search.pxd) of CIDR blocks where the
    innermost block wins.

    Input: blocks sorted by (start, prefix length) (sort6), start = (hi, lo) without host
    bits, each with its group id (-1: an exclusion); of identical blocks the first is
    kept. The segments: the first starts at ::, adjacent equal values merged.

    consume: the inputs are the caller's to throw away, and their memory is handed back
    to the system as they are read (what was read reads as zeros afterwards), so the
    peak is about the output's size rather than input + output."""
    cdef Py_ssize_t n = hi.shape[0], i
    if lo.shape[0] != n or bits.shape[0] != n or gids.shape[0] != n:
        raise ValueError("hi, lo, bits and gids differ in length")
    cdef Flat6 f = Flat6(2 * n + 1)
    cdef Py_ssize_t d_hi = 0, d_lo = 0, d_bits = 0, d_g = 0
    for i in range(n):
        if consume and (i & 0xFFFF) == 0 and i:
            _drop_pages(&hi[0], i * 8, &d_hi)
            _drop_pages(&lo[0], i * 8, &d_lo)
            _drop_pages(&bits[0], i, &d_bits)
            _drop_pages(&gids[0], i * 4, &d_g)
        f.block(hi[i], lo[i], bits[i], gids[i])
    return f.finish()


