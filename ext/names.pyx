# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled dnset index and loader (rblmirror._names).

`NameIndex` answers rbldnsd's dnset rule for a name (see names.pxd for the layout and
the lookup): an exact entry wins, even an exclusion; else the longest `*.name`/`.name`
wildcard among the name's proper suffixes. Its arrays are its own memory (built here)
or a snapshot's mapping (checked by the constructor).

`NameBuilder` collects records (name, kind, value id) and `finish()`es them into a
NameIndex: duplicates merged as the set-mode rule says (an exclusion wins; otherwise
every distinct value, in file order), the hash table built in C.

`DnsetScanner` parses dnset text in C straight into a NameBuilder, one buffer of the
file at a time, with no Python object per line: names lowercased (ASCII, as DNS),
validated (at most 253 characters, labels of 1-63), `*.`/`.`/`!` forms, the default
value and `# comment`s. A line with its own value has its value text parsed once by the
Python parser (base.entry_value) per distinct text and default; specials (`$...`) and
default lines (`:A:TXT`) are handed back to the caller's line loop (base.load_lines),
which hands the scanner the default in force before it goes on (zonefmt/dnset.py).
No I/O here.
"""
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t, int64_t, uint16_t
from libc.stdlib cimport malloc, realloc, free, calloc
from libc.string cimport memcpy, memset, memmove, memchr, memcmp
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_AsUTF8AndSize
from cpython.pycapsule cimport PyCapsule_New
from cpython.buffer cimport PyBUF_WRITABLE
cimport cython
import numpy as np

from names cimport *  # the layout, the lookup (shared with the DNS fast path)

cdef enum:
    EXCL_IN = -2             # the collector's exclusion value (zonefmt.base.EXCL)
    DROP = -100              # a value that is invalid: the entry is skipped
    DEAD = -2147483647 - 1   # a duplicate record merged into an earlier one
    UNKNOWN = -101           # the default's value id, not asked yet
    RING = 16                # build passes: hashes computed this far ahead (prefetch)
    VC_SLOTS = 1024          # value-text cache (per default in force)
    VC_MAX = 512
    VC_ARENA = 1 << 20

cdef uint64_t ALL_ONES = 0xFFFFFFFFFFFFFFFFULL


# ------------------------------------------------------------------------ memory
cdef class _Mem:
    """malloc'd bytes exposed read-only through the buffer protocol (numpy views of it
    keep it alive); freed with the last view."""
    cdef void* p
    cdef Py_ssize_t n
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef char fmt[2]

    def __dealloc__(self):
        free(self.p)

    def __getbuffer__(self, Py_buffer* buf, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("read-only")
        self.shape[0] = self.n
        self.strides[0] = 1
        self.fmt[0] = b'B'
        self.fmt[1] = 0
        buf.buf = self.p
        buf.obj = self
        buf.len = self.n
        buf.readonly = 1
        buf.itemsize = 1
        buf.format = self.fmt
        buf.ndim = 1
        buf.shape = self.shape
        buf.strides = self.strides
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer* buf):
        pass


cdef object _array(void* p, Py_ssize_t nbytes, object dtype):
    """A read-only numpy array owning p (malloc'd; freed when the array goes)."""
    cdef _Mem m = _Mem.__new__(_Mem)
    if p == NULL:
        p = malloc(8)
        if p == NULL:
            raise MemoryError()
        nbytes = 0
    m.p = p
    m.n = nbytes
    return np.frombuffer(m, dtype=dtype)


cdef inline int _bit_length(uint64_t x) noexcept nogil:
    cdef int n = 0
    while x:
        n += 1
        x >>= 1
    return n


cdef int _setup(NameTable* t, uint64_t blob_len, uint32_t cap, uint64_t hash_mask) except -1:
    t.blob_len = blob_len
    t.cap = cap
    t.off_bits = _bit_length(blob_len - 1) if blob_len > 1 else 1
    if t.off_bits > 31:
        raise OverflowError("the name index is limited to 2 GiB of names")
    t.off_mask = (<uint32_t>1 << t.off_bits) - 1
    t.tag_mask = (<uint32_t>1 << (32 - t.off_bits)) - 1
    t.hash_mask = hash_mask
    return 0


cdef inline uint64_t _stored_hash(const NameTable* t, const uint8_t* blob,
                                  uint32_t off) noexcept nogil:
    """The hash of the name stored at blob[off] (as a query for it computes it)."""
    cdef uint8_t buf[256 + 8]
    cdef uint8_t labs[NAMES_MAX_LABELS]
    cdef int L = blob[off], i = 0, k = 0, j
    cdef uint64_t h = RBLM_NAMES_SEED
    memcpy(buf, blob + off + 1, L)
    buf[0] &= 63
    memset(buf + L, 0, 8)
    while i < L and k < NAMES_MAX_LABELS:
        labs[k] = <uint8_t>i
        k += 1
        i += 1 + buf[i]
    for j in range(k - 1, -1, -1):
        h = names_label_hash(h, buf + labs[j], buf[labs[j]] + 1)
    return names_final(t, h)


cdef inline bint _same_name(const uint8_t* blob, uint32_t a, uint32_t b) noexcept nogil:
    cdef uint32_t L = blob[a]
    return (L == blob[b] and (blob[a + 1] & 63) == (blob[b + 1] & 63)
            and memcmp(blob + a + 2, blob + b + 2, L - 1) == 0)


cdef inline int32_t _value_at(const uint8_t* blob, uint32_t off) noexcept nogil:
    cdef int32_t v
    memcpy(&v, blob + off + 1 + blob[off], 4)
    return v


cdef inline void _set_value(uint8_t* blob, uint32_t off, int st, int32_t v) noexcept nogil:
    blob[off + 1] = (blob[off + 1] & 63) | (st << 6)
    memcpy(blob + off + 1 + blob[off], &v, 4)


# ------------------------------------------------------------------------ checking
cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t*, const void*, void* (*)(void*) noexcept nogil, void*)
    int pthread_join(pthread_t, void**)


cdef struct Check:  # one half of a table's structure check (NameIndex._validate)
    const NameTable* t
    uint64_t off, stop          # records from off (a record's start) to stop
    uint64_t s0, s1             # slots [s0, s1)
    uint64_t count, sum_rec, used, sum_slot, outside
    int bad


cdef void _check_init(Check* c, const NameTable* t, uint64_t off, uint64_t stop,
                      uint64_t s0, uint64_t s1) noexcept nogil:
    c.t = t
    c.off = off
    c.stop = stop
    c.s0 = s0
    c.s1 = s1
    c.count = c.sum_rec = c.used = c.sum_slot = c.outside = 0
    c.bad = 0


cdef inline uint64_t _mix_off(uint64_t o) noexcept nogil:
    return (o * <uint64_t>0x9E3779B97F4A7C15ULL) ^ (o >> 7)


cdef void _check_run(Check* c) noexcept nogil:
    """Walk the records from c.off to c.stop (they must end exactly there: the records
    fill the blob; their label structure is not checked, since a malformed name can
    only fail to match: lookups compare bounded bytes), value ids in range; then the
    slots [s0, s1): each empty or pointing inside the blob. The counts and the sums of
    the (mixed) record offsets tie the slots to the records."""
    cdef const NameTable* t = c.t
    cdef const uint8_t* b = t.blob
    cdef uint64_t off = c.off, stop = c.stop, end = t.blob_len, L, i, nz
    cdef uint64_t count = 0, sum_rec = 0, used = 0, sum_slot = 0, outside = 0
    cdef int32_t v
    cdef uint32_t s, o
    while off < stop:
        L = b[off]
        if L < 1 or L > NAMES_MAX_WIRE or off + L + 5 > end:
            c.bad = 1
            break
        memcpy(&v, b + off + 1 + L, 4)
        if v != DEAD:  # DEAD: a merged duplicate left in place (no slot points at it)
            if (b[off + 1] >> 6) == ST_PAIR:
                if v < 0 or <uint64_t>v >= t.npairs:
                    c.bad = 3
                    break
            elif v < -1 or v >= t.nvalues:
                c.bad = 3
                break
            count += 1
            sum_rec += _mix_off(off)
        off += L + 5
    c.off = off
    for i in range(c.s0, c.s1):  # branch-free: about 70 % of the slots are used, at random
        s = t.slots[i]
        o = s & t.off_mask
        nz = s != 0
        used += nz
        outside |= nz & ((o == 0) | (o >= end))
        sum_slot += _mix_off(o) & (<uint64_t>0 - nz)
    c.count, c.sum_rec, c.used, c.sum_slot, c.outside = count, sum_rec, used, sum_slot, outside


cdef void* _check_thread(void* arg) noexcept nogil:
    _check_run(<Check*>arg)
    return NULL


# ------------------------------------------------------------------------ the index
@cython.final
cdef class NameIndex:
    """A dnset's names: value id and matched entry for a query name (rbldnsd's rule).

    NameIndex(params, blob, slots, pairs, owner=None, nvalues=None, validate=True):
    the four arrays of names.pxd (numpy arrays, e.g. views of a snapshot's mapping
    kept alive by `owner`). With validate, the structure is checked first (every
    record well formed and inside the blob, value ids in range(-1, nvalues), the slots
    pointing at the records): ValueError says what is wrong."""
    cdef NameTable t
    cdef const uint64_t[::1] _params
    cdef const uint8_t[::1] _blob
    cdef const uint32_t[::1] _slots
    cdef const int32_t[::1] _pairs
    cdef object owner
    cdef readonly Py_ssize_t n

    def __cinit__(self, params, blob, slots, pairs, owner=None, nvalues=None,
                  bint validate=True):
        self._params = params
        self._blob = blob
        self._slots = slots
        self._pairs = pairs
        self.owner = owner
        if self._params.shape[0] != 4 or self._params[0] != NAMES_LAYOUT:
            raise ValueError("name index: unknown parameter block")
        if self._blob.shape[0] < 1:
            raise ValueError("name index: empty blob")
        if self._pairs.shape[0] % 2:
            raise ValueError("name index: odd pairs array")
        if self._slots.shape[0] > 0xFFFFFFFF or self._blob.shape[0] > 0x7FFFFFFF:
            raise ValueError("name index: arrays too large")
        hm = self._params[2]
        if hm != ALL_ONES and hm != 0:
            raise ValueError("name index: bad hash mask")
        self.n = <Py_ssize_t>self._params[1]
        _setup(&self.t, self._blob.shape[0], <uint32_t>self._slots.shape[0], hm)
        self.t.blob = &self._blob[0]
        self.t.slots = &self._slots[0] if self.t.cap else NULL
        self.t.pairs = &self._pairs[0] if self._pairs.shape[0] else NULL
        self.t.npairs = <uint32_t>(self._pairs.shape[0] // 2)
        if nvalues is None:
            self.t.nvalues = 0x7FFFFFFF
        else:
            if not 0 <= nvalues <= 0x7FFFFFFF:
                raise ValueError("name index: bad value count")
            self.t.nvalues = nvalues
        if self.n and self.t.cap <= <uint64_t>self.n:
            raise ValueError(f"name index: {self.t.cap} slots for {self.n} names")
        if validate:
            self._validate()

    cdef int _validate(self) except -1:
        cdef Check parts[2]
        cdef const NameTable* t = &self.t
        cdef uint64_t mid = self._params[3], count, i
        cdef pthread_t tid
        cdef bint threaded = False
        cdef int bad = 0
        if mid != 0 and not 1 < mid < t.blob_len:
            raise ValueError("name index: the midpoint is outside the blob")
        if mid == 0:
            mid = t.blob_len  # one walk over everything
        _check_init(&parts[0], t, 1, mid, 0, t.cap // 2)
        _check_init(&parts[1], t, mid, t.blob_len, t.cap // 2, t.cap)
        with nogil:
            if t.blob_len >= (1 << 22):  # a big index: the second half on a thread
                threaded = pthread_create(&tid, NULL, _check_thread, &parts[1]) == 0
            if not threaded:
                _check_run(&parts[1])
            _check_run(&parts[0])
            if threaded:
                pthread_join(tid, NULL)
            for i in range(2 * t.npairs):
                if t.pairs[i] < -1 or t.pairs[i] >= t.nvalues:
                    bad = 3
                    break
        for k in range(2):  # as one walk would: the first half, then the second
            if parts[k].bad == 3:
                raise ValueError(f"name index: value id outside the {t.nvalues} values")
            if parts[k].bad or parts[k].off != parts[k].stop:  # the two walks meet exactly
                raise ValueError(f"name index: malformed record at offset {parts[k].off}")
        if bad == 3:
            raise ValueError(f"name index: value id outside the {t.nvalues} values")
        if parts[0].outside or parts[1].outside:
            raise ValueError("name index: a slot points outside the blob")
        count = parts[0].count + parts[1].count
        if count != <uint64_t>self.n:
            raise ValueError(f"name index: {count} records, the parameters say {self.n}")
        if (parts[0].used + parts[1].used != count
                or parts[0].sum_slot + parts[1].sum_slot != parts[0].sum_rec + parts[1].sum_rec):
            raise ValueError("name index: the slots do not point at the records")
        return 0

    @staticmethod
    def empty():
        return NameIndex(np.array([NAMES_LAYOUT, 0, ALL_ONES, 0], np.uint64),
                         np.zeros(1, np.uint8), np.zeros(0, np.uint32),
                         np.zeros(0, np.int32), validate=False)

    def __len__(self):
        return self.n

    def __repr__(self):
        return f"<NameIndex {self.n} names, {self.nbytes} bytes>"

    @property
    def nbytes(self):
        return (self._params.shape[0] * 8 + self._blob.shape[0] + 4 * self._slots.shape[0]
                + 4 * self._pairs.shape[0])

    def arrays(self):
        """(params u64, blob u8, slots u32, pairs i32): what a snapshot stores."""
        return (np.asarray(self._params), np.asarray(self._blob), np.asarray(self._slots),
                np.asarray(self._pairs))

    def table_capsule(self):
        """A PyCapsule holding the C table (names.pxd NameTable, names_table()); valid
        while this NameIndex lives."""
        return PyCapsule_New(<void*>&self.t, RBLM_NAMES_CAPSULE, NULL)

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def match(self, str name not None):
        """(value id, matched entry) for a domain name, any case, trailing dots ignored:
        (-1, "") when not listed, (-1, entry) when the entry that matched is an exclusion.

        The matched entry is the name or the suffix of it that the entry is for,
        lowercased: what rbldnsd substitutes for `$` in the TXT."""
        cdef Py_ssize_t n
        cdef const char* p
        cdef object enc = None
        try:
            p = PyUnicode_AsUTF8AndSize(name, &n)
        except UnicodeEncodeError:  # lone surrogates: the undecodable bytes of a zone file
            enc = name.encode("utf-8", "surrogateescape")
            p = enc
            n = len(enc)
        cdef const uint8_t* s = <const uint8_t*>p
        cdef uint8_t buf[256 + 8]
        cdef uint8_t labs[NAMES_MAX_LABELS]
        cdef Py_ssize_t e = n, a, j, lo, wl
        cdef int k = 0, r, mi, c, i
        cdef bint exact_ok
        while e > 0 and s[e - 1] == 46:  # rstrip(".")
            e -= 1
        # the suffixes that can be entries: labels of 1-63 bytes, at most 254 bytes of
        # wire; lo = where the usable tail starts
        lo = e
        j = e
        wl = 0
        while j > 0:
            a = j - 1
            while a >= 0 and s[a] != 46:
                a -= 1
            # label s[a+1 : j]
            if j - (a + 1) < 1 or j - (a + 1) > 63 or wl + (j - a) > NAMES_MAX_WIRE:
                break
            wl += j - a
            lo = a + 1
            j = a
        if lo >= e:
            return (-1, "")
        exact_ok = lo == 0
        # lowercased wire of s[lo:e]: the wire offset of each label equals its text offset
        wl = e - lo + 1
        i = 0
        labs[0] = 0
        k = 1
        for j in range(lo, e):
            c = s[j]
            if c == 46:
                buf[labs[k - 1]] = <uint8_t>(j - lo - labs[k - 1])
                labs[k] = <uint8_t>(j - lo + 1)
                k += 1
            else:
                buf[j - lo + 1] = <uint8_t>(c + 32 if 65 <= c <= 90 else c)
        buf[labs[k - 1]] = <uint8_t>(wl - 1 - labs[k - 1])
        memset(buf + wl, 0, 8)
        r = names_find_lower(&self.t, buf, <uint32_t>wl, labs, k, exact_ok, &mi)
        if r == NAMES_NOT_LISTED:
            return (-1, "")
        # the matched entry, as text: buf's wire offset = the text offset in s[lo:e]
        for j in range(labs[mi], wl - 1):
            buf[j] = buf[j + 1]
        for j in range(mi + 1, k):
            buf[labs[j] - 1] = 46
        m = PyUnicode_DecodeUTF8(<const char*>(buf + labs[mi]), wl - 1 - labs[mi],
                                 "surrogateescape")
        return (-1 if r == NAMES_EXCLUDED else r, m)

    def match_wire(self, bytes wire not None):
        """names_find_wire() (the C call the DNS fast path makes) from Python:
        (result, offset of the matched suffix in wire); result is a value id,
        -1 (not listed) or -2 (the matching entry is an exclusion)."""
        cdef int at = -1
        cdef const uint8_t* p = wire
        cdef int r = names_find_wire(&self.t, p, <int>len(wire), &at)
        return (r, at)

    def names(self):
        """[(name, exact value or None, wildcard value or None)] for every stored name
        (a Python object per name: for tests and debugging)."""
        cdef const uint8_t* b = self.t.blob
        cdef uint64_t off = 1
        cdef uint8_t txt[256]
        cdef uint8_t w[256]
        cdef int L, k, ex, wi
        out = []
        while off < self.t.blob_len:
            L = b[off]
            memcpy(w, b + off + 1, L)
            w[0] &= 63
            k = names_wire_to_text(w, L, txt)
            if k < 0:  # a malformed record (only in a corrupt table): shown empty
                k = 0
            if _value_at(b, <uint32_t>off) == DEAD:
                off += L + 5
                continue
            ex = names_record_value(&self.t, <uint32_t>off, False)
            wi = names_record_value(&self.t, <uint32_t>off, True)
            out.append((PyUnicode_DecodeUTF8(<const char*>txt, k, "surrogateescape"),
                        None if ex == NAMES_NO_ENTRY else ex,
                        None if wi == NAMES_NO_ENTRY else wi))
            off += L + 5
        return out

    def value_range(self):
        """(smallest, largest) value over the entries ((0, -1) when there are none)."""
        lo, hi = 0, -1
        for _, ex, wi in self.names():
            for v in (ex, wi):
                if v is not None:
                    lo, hi = min(lo, v), max(hi, v)
        return lo, hi


# ------------------------------------------------------------------------ building
cdef inline bint _valid_name(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """dnset.valid_name on bytes: 1-253 bytes, labels of 1-63."""
    cdef Py_ssize_t j, ll = 0
    if n < 1 or n > 253:
        return False
    for j in range(n):
        if p[j] == 46:
            if ll == 0 or ll > 63:
                return False
            ll = 0
        else:
            ll += 1
    return 0 < ll <= 63


cdef inline int _state_of(bint exact, bint wild) noexcept nogil:
    return ST_BOTH if exact and wild else (ST_EXACT if exact else ST_WILD)


@cython.final
cdef class NameBuilder:
    """Records appended in file order, finished into a NameIndex.

    NameBuilder(collide=False): collide=True makes every hash equal (one probe chain
    for every name: the forced-collision tests)."""
    cdef uint8_t* blob
    cdef uint64_t len, cap
    cdef readonly Py_ssize_t records
    cdef uint64_t hash_mask
    cdef list groups      # [exact values, wild values] per record with merged values
    cdef list group_off   # the record each group belongs to
    cdef uint64_t dead_bytes
    cdef bint finished

    def __cinit__(self, bint collide=False):
        self.cap = 1 << 16
        self.blob = <uint8_t*>malloc(self.cap)
        if self.blob == NULL:
            raise MemoryError()
        self.blob[0] = 0
        self.len = 1
        self.hash_mask = 0 if collide else ALL_ONES
        self.groups = []
        self.group_off = []

    def __dealloc__(self):
        free(self.blob)

    cdef int _grow(self, uint64_t need) except -1:
        cdef uint64_t cap = self.cap
        cdef uint8_t* nb
        while cap < need:
            cap *= 2
        nb = <uint8_t*>realloc(self.blob, cap)  # large blocks: mremap, no copy
        if nb == NULL:
            raise MemoryError()
        self.blob = nb
        self.cap = cap
        return 0

    cdef inline int append(self, const uint8_t* text, int tlen, int state,
                           int32_t vid) except -1:
        """Append the name text[0:tlen] (valid: 1-253 bytes, labels of 1-63), as
        lowercased wire, with its kind and collector value id (>= 0, or EXCL_IN)."""
        cdef uint64_t at = self.len
        cdef uint8_t* out
        cdef int i, k = 1, lenpos = 0, c
        if at + tlen + 16 > self.cap:
            self._grow(at + tlen + 16)
        if self.finished:
            raise RuntimeError("NameBuilder already finished")
        self.blob[at] = <uint8_t>(tlen + 1)
        out = self.blob + at + 1
        for i in range(tlen):
            c = text[i]
            if c == 46:
                out[lenpos] = <uint8_t>(k - lenpos - 1)
                lenpos = k
            else:
                out[k] = <uint8_t>(c + 32 if 65 <= c <= 90 else c)
            k += 1
        out[lenpos] = <uint8_t>(k - lenpos - 1)
        out[0] |= <uint8_t>(state << 6)
        if vid == EXCL_IN:
            vid = -1
        memcpy(out + k, &vid, 4)
        self.len = at + tlen + 6
        self.records += 1
        return 0

    def add(self, bint wild, str name not None, int vid):
        """One entry from the Python parser: `name` lowercased and valid (DNSet.line
        checks both), an exact (wild=False) or `*.` entry (wild=True), the collector's
        value id (>= 0, or zonefmt.base.EXCL)."""
        b = name.encode("utf-8", "surrogateescape")
        cdef const uint8_t* p = b
        if not _valid_name(p, len(b)):
            raise ValueError(f"invalid domain name {name!r}")
        self.append(p, <int>len(b), ST_WILD if wild else ST_EXACT, vid)

    # -- finishing
    cdef int _merge(self, uint32_t first, uint32_t dup) except -1:
        """Record `dup` names the same name as the earlier `first`: fold it in."""
        cdef int sa = self.blob[first + 1] >> 6, sb = self.blob[dup + 1] >> 6
        cdef int32_t va = _value_at(self.blob, first), vb = _value_at(self.blob, dup)
        cdef list g
        if va >= -1:
            if va == vb:  # one value: only the kinds add up
                _set_value(self.blob, first, sa | sb, va)
                return 0
            g = [[], []]
            if sa & ST_EXACT:
                g[0].append(va)
            if sa & ST_WILD:
                g[1].append(va)
            _set_value(self.blob, first, sa, -3 - len(self.groups))
            self.groups.append(g)
            self.group_off.append(first)
        else:
            g = self.groups[-3 - va]
        if sb & ST_EXACT:
            g[0].append(vb)
        if sb & ST_WILD:
            g[1].append(vb)
        return 0

    cdef Py_ssize_t _insert_all(self, NameTable* t, uint32_t* slots, bint dedup) except -1:
        """Put every live record into the slots in blob (= file) order, computing each
        hash RING records ahead and prefetching its slot. With dedup, a record whose
        name is already in is merged into that earlier one and marked DEAD; returns how
        many were."""
        cdef uint32_t roff[RING]
        cdef uint64_t rf[RING]
        cdef uint64_t nxt = 1, end = self.len
        cdef uint32_t off, o, s, i, tag, sv, n
        cdef uint64_t f
        cdef int head = 0, pending = 0, k
        cdef Py_ssize_t dead = 0
        cdef uint8_t* b = self.blob
        for k in range(RING):  # the ring is a FIFO: position k holds the next record
            roff[k] = 0
            while nxt < end:
                o = <uint32_t>nxt
                nxt += b[o] + 5
                if _value_at(b, o) != DEAD:
                    roff[k] = o
                    rf[k] = _stored_hash(t, b, o)
                    __builtin_prefetch(&slots[names_slot_of(t, rf[k])])
                    pending += 1
                    break
        while pending:
            off = roff[head]
            if off == 0:
                head = (head + 1) % RING
                continue
            f = rf[head]
            roff[head] = 0
            pending -= 1
            while nxt < end:  # refill: this place comes round again after the others
                o = <uint32_t>nxt
                nxt += b[o] + 5
                if _value_at(b, o) != DEAD:
                    roff[head] = o
                    rf[head] = _stored_hash(t, b, o)
                    __builtin_prefetch(&slots[names_slot_of(t, rf[head])])
                    pending += 1
                    break
            head = (head + 1) % RING
            i = names_slot_of(t, f)
            tag = <uint32_t>f & t.tag_mask
            sv = (tag << t.off_bits) | off
            n = 0
            while True:
                s = slots[i]
                if s == 0:
                    slots[i] = sv
                    break
                if dedup and (s >> t.off_bits) == tag and _same_name(b, s & t.off_mask, off):
                    self._merge(s & t.off_mask, off)
                    _set_value(b, off, b[off + 1] >> 6, DEAD)
                    dead += 1
                    self.dead_bytes += b[off] + 5
                    break
                i += 1
                if i == t.cap:
                    i = 0
                n += 1
                if n > t.cap:
                    raise RuntimeError("name index: no free slot")
        return dead

    def finish(self, set_id):
        """The NameIndex of everything appended. `set_id(tuple of value ids)` gives the
        value id for an entry listed several times with different values (called only
        for those; the tuple in file order, without repeats)."""
        cdef NameTable t
        cdef uint64_t cap64
        cdef uint32_t* slots = NULL
        cdef int32_t* pairs = NULL
        cdef Py_ssize_t dead, g, npairs = 0
        cdef uint64_t rd, wr, L
        cdef uint32_t off
        cdef int st
        if self.finished:
            raise RuntimeError("NameBuilder already finished")
        self.finished = True
        n = self.records
        if n == 0:
            return NameIndex.empty() if self.hash_mask else _empty_collide()
        cap64 = <uint64_t>n + <uint64_t>n * 3 // 7 + 1  # load ~0.7
        if cap64 > 0xFFFFFFFF:
            raise OverflowError("too many names")
        _setup(&t, self.len, <uint32_t>cap64, self.hash_mask)
        slots = <uint32_t*>calloc(cap64, 4)
        if slots == NULL:
            raise MemoryError()
        try:
            dead = self._insert_all(&t, slots, True)
            # merged values: the set-mode rule per kind (an exclusion wins, else every
            # distinct value in file order), then the record's final kind and value
            pair_list = []
            for g in range(len(self.groups)):
                ex, wi = self.groups[g]
                off = self.group_off[g]
                e = _merged(ex, set_id) if ex else None
                w = _merged(wi, set_id) if wi else None
                if e is not None and w is not None:
                    if e == w:
                        _set_value(self.blob, off, ST_BOTH, e)
                    else:
                        _set_value(self.blob, off, ST_PAIR, len(pair_list) // 2)
                        pair_list += [e, w]
                elif e is not None:
                    _set_value(self.blob, off, ST_EXACT, e)
                else:
                    _set_value(self.blob, off, ST_WILD, w)
            self.groups = []
            self.group_off = []
            if dead and self.dead_bytes * 16 > self.len:
                # many merged duplicates: drop them, then hash the moved records again
                # (a few stay in the blob, marked DEAD: no slot points at them)
                rd = wr = 1
                while rd < self.len:
                    L = self.blob[rd] + 5
                    if _value_at(self.blob, <uint32_t>rd) != DEAD:
                        if wr != rd:
                            memmove(self.blob + wr, self.blob + rd, L)
                        wr += L
                    rd += L
                self.len = wr
                self.records = n = n - dead
                dead = 0
                _setup(&t, self.len, <uint32_t>cap64, self.hash_mask)
                memset(slots, 0, cap64 * 4)
                self._insert_all(&t, slots, False)
            npairs = len(pair_list) // 2
            if npairs:
                pairs = <int32_t*>malloc(8 * npairs)
                if pairs == NULL:
                    raise MemoryError()
                for g in range(2 * npairs):
                    pairs[g] = pair_list[g]
        except BaseException:
            free(slots)
            raise
        blob = <uint8_t*>realloc(self.blob, self.len)  # give back the growth slack
        if blob != NULL:
            self.blob = blob
        # a record boundary near the middle of the blob: the open-time check walks both
        # halves at once
        rd = 1
        while rd < self.len // 2:
            rd += self.blob[rd] + 5
        mid = rd if 1 < rd < self.len else 0
        blob_arr = _array(self.blob, self.len, np.uint8)
        self.blob = NULL  # owned by the array now
        slots_arr = _array(slots, cap64 * 4, np.uint32)
        pairs_arr = _array(pairs, npairs * 8, np.int32)
        params = np.array([NAMES_LAYOUT, n - dead, self.hash_mask, mid], np.uint64)
        return NameIndex(params, blob_arr, slots_arr, pairs_arr, validate=False)


def _empty_collide():
    return NameIndex(np.array([NAMES_LAYOUT, 0, 0, 0], np.uint64), np.zeros(1, np.uint8),
                     np.zeros(0, np.uint32), np.zeros(0, np.int32), validate=False)


def _merged(vals, set_id):
    """One kind's values of an entry listed several times (the set mode of
    dataset._merge): -1 if any is an exclusion, else the value set's id."""
    if -1 in vals:
        return -1
    u = tuple(dict.fromkeys(vals))
    return u[0] if len(u) == 1 else set_id(u)


# ------------------------------------------------------------------------ the scanner
cdef inline bint _blank(uint8_t c) noexcept nogil:
    return c == 32 or c == 9


cdef inline bint _delim(uint8_t c) noexcept nogil:  # ends a dnset subject: " \t#;:"
    return c == 32 or c == 9 or c == 35 or c == 59 or c == 58


@cython.final
cdef class DnsetScanner:
    """The compiled dnset line parser for one file (see the module doc).

    DnsetScanner(builder, value_id, entry_value, warn): value_id(Listing) -> id (the
    collector's), entry_value(text, default) -> (Listing | None, warning | None) (the
    Python value parser), warn(lineno, message). Calling the scanner with
    (collector, default) sets the default value in force (base.load_lines does it for
    the items zonefmt/dnset.file_items yields)."""
    cdef NameBuilder b
    cdef uint8_t* buf
    cdef uint64_t cap, start, end
    cdef bint eof
    cdef readonly Py_ssize_t lineno, entries
    cdef object value_id, entry_value, warn
    cdef object default
    cdef int32_t default_vid
    # value-text cache: open addressing on an FNV-1a hash of the text
    cdef uint64_t vc_hash[VC_SLOTS]
    cdef uint32_t vc_at[VC_SLOTS]
    cdef uint16_t vc_len[VC_SLOTS]
    cdef int32_t vc_vid[VC_SLOTS]
    cdef int32_t vc_warn[VC_SLOTS]
    cdef uint8_t* arena
    cdef uint32_t arena_len
    cdef int vc_count
    cdef list vc_warns

    def __cinit__(self, NameBuilder builder not None, value_id, entry_value, warn):
        self.b = builder
        self.value_id = value_id
        self.entry_value = entry_value
        self.warn = warn
        self.default = None
        self.default_vid = UNKNOWN
        self.cap = 0
        self.buf = NULL
        self.arena = <uint8_t*>malloc(VC_ARENA)
        if self.arena == NULL:
            raise MemoryError()
        self._clear_cache()

    def __dealloc__(self):
        free(self.buf)
        free(self.arena)

    cdef void _clear_cache(self):
        memset(self.vc_len, 0, sizeof(self.vc_len))
        self.arena_len = 0
        self.vc_count = 0
        self.vc_warns = []

    def __call__(self, c, default):
        """The default value in force from here on (base.load_lines calls this)."""
        if self.default is None or not (default is self.default or default == self.default):
            self.default = default
            self.default_vid = UNKNOWN
            self._clear_cache()

    def fill(self, readinto, Py_ssize_t chunk):
        """Read up to `chunk` more bytes with readinto(memoryview) after what is still
        unparsed (keeping a partial last line); returns the count, 0 at the end of the
        input (then the last line without a newline is parsed too)."""
        cdef uint64_t left = self.end - self.start
        cdef uint8_t* nb
        if self.start:
            memmove(self.buf, self.buf + self.start, left)
            self.start = 0
            self.end = left
        if self.cap < left + chunk + 8:
            nb = <uint8_t*>realloc(self.buf, left + chunk + 8)
            if nb == NULL:
                raise MemoryError()
            self.buf = nb
            self.cap = left + chunk + 8
        got = readinto(memoryview(<uint8_t[:chunk]>(self.buf + self.end)))
        if not got:
            self.eof = True
            return 0
        self.end += got
        return got

    cdef int32_t _default_id(self) except? -1000:
        if self.default_vid == UNKNOWN:
            self.default_vid = self.value_id(self.default)
        return self.default_vid

    cdef int32_t _value(self, const uint8_t* p, Py_ssize_t n, int32_t* widx) except? -1000:
        """Collector value id (or DROP) for an entry's own value text, parsed by the
        Python parser once per distinct text under the default in force."""
        cdef uint64_t h = 0xCBF29CE484222325ULL
        cdef Py_ssize_t j
        cdef uint32_t i
        for j in range(n):
            h = (h ^ p[j]) * <uint64_t>0x100000001B3ULL
        i = <uint32_t>(h & (VC_SLOTS - 1))
        if n <= 0xFFFF:
            while self.vc_len[i]:
                if (self.vc_hash[i] == h and self.vc_len[i] == n
                        and memcmp(self.arena + self.vc_at[i], p, n) == 0):
                    widx[0] = self.vc_warn[i]
                    return self.vc_vid[i]
                i = (i + 1) & (VC_SLOTS - 1)
        text = PyUnicode_DecodeUTF8(<const char*>p, n, "surrogateescape")
        v, msg = self.entry_value(text, self.default)
        cdef int32_t vid = DROP if v is None else self.value_id(v)
        cdef int32_t w = -1
        if msg is not None:
            w = len(self.vc_warns)
            self.vc_warns.append(msg)
        widx[0] = w
        if n <= 0xFFFF and n > 0:
            if self.vc_count >= VC_MAX or self.arena_len + n > VC_ARENA:
                self._clear_cache()
                if msg is not None:
                    self.vc_warns.append(msg)
                    w = 0
                    widx[0] = 0
                i = <uint32_t>(h & (VC_SLOTS - 1))
                while self.vc_len[i]:
                    i = (i + 1) & (VC_SLOTS - 1)
            memcpy(self.arena + self.arena_len, p, n)
            self.vc_hash[i] = h
            self.vc_at[i] = self.arena_len
            self.vc_len[i] = <uint16_t>n
            self.vc_vid[i] = vid
            self.vc_warn[i] = w
            self.arena_len += <uint32_t>n
            self.vc_count += 1
        return vid

    def next_slow(self):
        """Parse lines until one the caller must handle: returns (lineno, text) for a
        special or default line (stripped of blanks, UTF-8 with surrogateescape), or
        None when the buffer holds no more complete lines (or the input is done)."""
        cdef const uint8_t* p = self.buf
        cdef const uint8_t* nl
        cdef uint64_t a, b, i, s, e, r, nxt
        cdef int state, ll
        cdef bint excl, ok
        cdef int32_t vid, widx
        cdef uint8_t c0
        while True:
            if self.start >= self.end:
                return None
            nl = <const uint8_t*>memchr(p + self.start, 10, self.end - self.start)
            if nl == NULL:
                if not self.eof:
                    return None
                b = self.end
                nxt = self.end
            else:
                b = nl - p
                nxt = b + 1
            a = self.start
            self.start = nxt
            self.lineno += 1
            while a < b and _blank(p[a]):
                a += 1
            while b > a and _blank(p[b - 1]):
                b -= 1
            if a == b:
                continue
            c0 = p[a]
            if c0 == 36 or ((c0 == 35 or c0 == 59 or c0 == 58) and b - a >= 2
                            and p[a + 1] == 36):
                return (self.lineno, PyUnicode_DecodeUTF8(<const char*>(p + a), b - a,
                                                          "surrogateescape"))
            if c0 == 35 or c0 == 59:  # a comment
                continue
            if c0 == 58 and not (b - a >= 2 and p[a + 1] == 58):  # a default line
                return (self.lineno, PyUnicode_DecodeUTF8(<const char*>(p + a), b - a,
                                                          "surrogateescape"))
            # an entry: [!] [*.|.] name [. ...] [value | # comment]
            i = a
            excl = c0 == 33
            if excl:
                i += 1
                while i < b and _blank(p[i]):
                    i += 1
            s = i
            while i < b and not _delim(p[i]):
                i += 1
            e = i
            state = ST_EXACT
            if e - s >= 2 and p[s] == 42 and p[s + 1] == 46:
                state = ST_WILD
                s += 2
            elif e - s >= 1 and p[s] == 46:
                state = ST_BOTH
                s += 1
            while e > s and p[e - 1] == 46:
                e -= 1
            if not _valid_name(p + s, e - s):
                self.warn(self.lineno, "invalid domain name")
                continue
            widx = -1
            if excl:
                vid = EXCL_IN
            else:
                r = i
                while r < b and _blank(p[r]):
                    r += 1
                if r == b or p[r] == 35 or p[r] == 59:
                    vid = self._default_id()
                else:
                    vid = self._value(p + r, b - r, &widx)
                    if vid == DROP:
                        self.warn(self.lineno, self.vc_warns[widx])
                        continue
            self.b.append(p + s, <int>(e - s), state, vid)
            self.entries += 1
            if widx >= 0:
                self.warn(self.lineno, self.vc_warns[widx])
