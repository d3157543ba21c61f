# cython: language_level=3
"""The compiled domain-name index (dnset), shared by ext/names.pyx and the DNS fast path.

Everything here is a C type or an inline function (no module import happens on
`from names cimport ...`, as with ipsearch.pxd). A module holding a `rblmirror._names.
NameIndex` gets its table with `names_table(idx.table_capsule())` (valid while the
NameIndex lives: keep a reference) and looks a name up, without the GIL, with
`names_find_wire(table, wire, len, &at)`.

Layout (the snapshot stores exactly these arrays):

    blob    u8   byte 0 unused (offset 0 means "empty slot"), then one record per name:
                   [L] [wire: L bytes] [value: i32 little-endian]
                 wire = the name lowercased, in DNS label form (length-prefixed labels,
                 no root label), 1 <= L <= 254; the top 2 bits of its first byte (a
                 label length, <= 63) hold the record's kind:
                   ST_EXACT  the name itself                 value = value id
                   ST_WILD   its subdomains (`*.name`)       value = value id
                   ST_BOTH   both (`.name`, or both listed with one value)
                   ST_PAIR   both, with different values:    value = index into pairs
                 a value id is >= 0, or -1 for an exclusion; INT32_MIN marks a duplicate
                 merged into an earlier record and left in place (no slot points at it)
    slots   u32  open addressing, linear probing, cap = len(slots) > number of names:
                 0 = empty, else (tag << off_bits) | record offset, where off_bits =
                 bit_length(len(blob) - 1) and the tag is the hash's low 32 - off_bits
                 bits (a probe touches the blob only when the tag agrees)
    pairs   i32  (exact value, wild value) per ST_PAIR record
    params  u64  [NAMES_LAYOUT, number of names, hash mask, midpoint]: the midpoint is
                 a record's offset near the middle of the blob (0: none), where the
                 second of the two walks of the open-time check starts

The hash of a name is computed label by label from the right, so the hashes of all
the suffixes of a query come out of one pass over it; every candidate is confirmed by
comparing the stored bytes, so a hash collision can cost a probe but never answer
wrongly. Lookups are bounds-checked against the arrays (a record offset or value id
out of range reads as "no match"), so even a table that passed validation by accident
cannot make them read outside it.
"""
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t
from libc.string cimport memcmp, memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer

cdef enum:
    NAMES_LAYOUT = 1
    NAMES_NOT_LISTED = -1    # names_find*: no entry matched
    NAMES_EXCLUDED = -2      # names_find*: the entry that matched is an exclusion
    NAMES_NO_ENTRY = -3      # names_record_value: the record has no entry of that kind
    NAMES_MAX_WIRE = 254     # an entry's wire length (253 characters of text)
    NAMES_MAX_LABELS = 128
    ST_PAIR = 0
    ST_EXACT = 1
    ST_WILD = 2
    ST_BOTH = 3

cdef extern from *:
    """
    #define RBLM_NAMES_SEED 0x5f4d3b2a1c0e9f87ULL
    #define RBLM_NAMES_CAPSULE "rblmirror._names.NameTable"
    """
    uint64_t RBLM_NAMES_SEED
    const char* RBLM_NAMES_CAPSULE
    void __builtin_prefetch(const void*) nogil


ctypedef struct NameTable:
    const uint8_t* blob
    uint64_t blob_len
    const uint32_t* slots   # NULL when cap == 0
    uint32_t cap
    int off_bits
    uint32_t off_mask
    uint32_t tag_mask
    const int32_t* pairs
    uint32_t npairs
    uint64_t hash_mask      # all ones; 0 in the forced-collision tests (every hash equal)
    int32_t nvalues         # value ids are < nvalues


cdef inline uint64_t _load64(const uint8_t* p) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, p, 8)
    return w


cdef inline uint64_t names_label_hash(uint64_t h, const uint8_t* p, int m) noexcept nogil:
    """Fold one label (its length byte and characters: m = length + 1 bytes at p) into h.
    Reads whole 8-byte words: p[0 : m + 7] must be readable (the bytes past m are
    masked off)."""
    cdef int i = 0
    cdef uint64_t w
    while i + 8 <= m:
        h = (h ^ _load64(p + i)) * <uint64_t>0x9E3779B97F4A7C15ULL
        h ^= h >> 29
        i += 8
    if i < m:
        w = _load64(p + i) & ((<uint64_t>1 << (8 * (m - i))) - 1)
        h = (h ^ w) * <uint64_t>0x9E3779B97F4A7C15ULL
        h ^= h >> 29
    return h


cdef inline uint64_t names_final(const NameTable* t, uint64_t h) noexcept nogil:
    """The hash of a name (murmur3's fmix64 of the folded labels), masked."""
    h ^= h >> 33
    h *= <uint64_t>0xFF51AFD7ED558CCDULL
    h ^= h >> 33
    h *= <uint64_t>0xC4CEB9FE1A85EC53ULL
    h ^= h >> 33
    return h & t.hash_mask


cdef inline uint32_t names_slot_of(const NameTable* t, uint64_t f) noexcept nogil:
    return <uint32_t>(((f >> 32) * <uint64_t>t.cap) >> 32)


cdef inline uint32_t names_probe(const NameTable* t, uint64_t f, const uint8_t* q,
                                 uint32_t qlen) noexcept nogil:
    """Offset of the record holding the lowercased wire name q[0:qlen], else 0."""
    cdef uint32_t i = names_slot_of(t, f), s, off
    cdef uint32_t tag = <uint32_t>f & t.tag_mask
    cdef uint32_t n = 0
    while n < t.cap:
        s = t.slots[i]
        if s == 0:
            return 0
        if (s >> t.off_bits) == tag:
            off = s & t.off_mask
            if (<uint64_t>off + qlen + 5 <= t.blob_len and t.blob[off] == qlen
                    and (t.blob[off + 1] & 63) == q[0]
                    and memcmp(t.blob + off + 2, q + 1, qlen - 1) == 0):
                return off
        i += 1
        if i == t.cap:
            i = 0
        n += 1
    return 0


cdef inline int32_t names_record_value(const NameTable* t, uint32_t off,
                                       bint wild) noexcept nogil:
    """The record's value for an exact (wild=0) or wildcard (wild=1) match: a value id,
    -1 for an exclusion, or NAMES_NO_ENTRY when it has no entry of that kind (a value
    out of range reads as NAMES_NO_ENTRY too)."""
    cdef uint32_t L = t.blob[off]
    cdef int st = t.blob[off + 1] >> 6
    cdef int32_t v
    memcpy(&v, t.blob + off + 1 + L, 4)
    if st == ST_PAIR:
        if v < 0 or <uint32_t>v >= t.npairs:
            return NAMES_NO_ENTRY
        v = t.pairs[2 * v + (1 if wild else 0)]
    elif st == (ST_EXACT if wild else ST_WILD):
        return NAMES_NO_ENTRY
    if v < -1 or v >= t.nvalues:
        return NAMES_NO_ENTRY
    return v


cdef inline int names_find_lower(const NameTable* t, const uint8_t* q, uint32_t n,
                                 const uint8_t* labs, int k, bint exact_ok,
                                 int* match) noexcept nogil:
    """Look up a lowercased wire name q[0:n] (n <= 255) whose k labels start at
    q[labs[0]] = q[0], q[labs[1]], ...; q[0 : n + 7] must be readable.

    rbldnsd's dnset rule: an exact entry for the whole name wins (even an exclusion);
    else the longest `*.`/`.` wildcard among its proper suffixes. Without exact_ok, q is
    itself a proper suffix of the name asked for (its longer suffixes cannot be
    entries): q's wildcard entry is tried first. Returns the value id, NAMES_EXCLUDED
    or NAMES_NOT_LISTED; *match is the label index of the suffix that matched."""
    cdef uint64_t f[NAMES_MAX_LABELS]
    cdef uint64_t h = RBLM_NAMES_SEED
    cdef int j
    cdef uint32_t off
    cdef int32_t v
    if t.cap == 0 or k <= 0 or k > NAMES_MAX_LABELS:
        return NAMES_NOT_LISTED
    for j in range(k - 1, -1, -1):
        h = names_label_hash(h, q + labs[j], q[labs[j]] + 1)
        f[j] = names_final(t, h)
        __builtin_prefetch(&t.slots[names_slot_of(t, f[j])])
    if exact_ok:
        off = names_probe(t, f[0], q, n)
        if off:
            v = names_record_value(t, off, False)
            if v != NAMES_NO_ENTRY:
                match[0] = 0
                return NAMES_EXCLUDED if v == -1 else v
    for j in range(1 if exact_ok else 0, k):
        off = names_probe(t, f[j], q + labs[j], n - labs[j])
        if off:
            v = names_record_value(t, off, True)
            if v != NAMES_NO_ENTRY:
                match[0] = j
                return NAMES_EXCLUDED if v == -1 else v
    return NAMES_NOT_LISTED


cdef inline int names_find_wire(const NameTable* t, const uint8_t* wire, int n,
                                int* match_at) noexcept nogil:
    """Look up a name given in DNS wire form (length-prefixed labels, any case, without
    the root label: the query's labels below the zone), n bytes. Returns the value id,
    NAMES_EXCLUDED or NAMES_NOT_LISTED (also for malformed input: a label of 0 or more
    than 63 bytes, labels that do not add up to n, n > 255); *match_at is the offset in
    `wire` of the matched suffix (the matched entry is wire[*match_at:n], lowercased)."""
    cdef uint8_t buf[256 + 8]
    cdef uint8_t labs[NAMES_MAX_LABELS]
    cdef int i = 0, k = 0, m, c, e, j
    cdef int r
    if n <= 0 or n > 255:
        return NAMES_NOT_LISTED
    while i < n:
        m = wire[i]
        if m == 0 or m > 63 or i + 1 + m > n or k == NAMES_MAX_LABELS:
            return NAMES_NOT_LISTED
        labs[k] = <uint8_t>i
        k += 1
        buf[i] = <uint8_t>m
        e = i + 1 + m
        for j in range(i + 1, e):
            c = wire[j]
            buf[j] = <uint8_t>(c + 32 if 65 <= c <= 90 else c)
        i = e
    for j in range(8):
        buf[n + j] = 0
    r = names_find_lower(t, buf, n, labs, k, True, &m)
    if r != NAMES_NOT_LISTED:
        match_at[0] = labs[m]
    return r


cdef inline int names_wire_to_text(const uint8_t* wire, int n, uint8_t* out) noexcept nogil:
    """Write a (lowercased) wire name as dotted text at out (at most n - 1 bytes, no
    trailing dot); returns the text length, or -1 for malformed wire."""
    cdef int i = 0, k = 0, m
    while i < n:
        m = wire[i]
        if m == 0 or i + 1 + m > n:
            return -1
        if k:
            out[k] = 46
            k += 1
        memcpy(out + k, wire + i + 1, m)
        k += m
        i += 1 + m
    return k


cdef inline const NameTable* names_table(object capsule) except NULL:
    """The table behind NameIndex.table_capsule() (valid while that NameIndex lives)."""
    return <const NameTable*>PyCapsule_GetPointer(capsule, RBLM_NAMES_CAPSULE)
