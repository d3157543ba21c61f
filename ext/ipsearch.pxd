# cython: language_level=3
"""IPv4 helpers shared by the compiled modules: the segment search of the index
(ext/index.pyx, ext/dnsfast.pyx: one first-level table on the top FINE_BITS bits, then a
branch-free search among that bucket's segments) and dotted-quad parsing and formatting
(ext/index.pyx, ext/dnsfast.pyx, ext/scan.pyx)."""
from libc.stdint cimport uint32_t, int32_t, uint64_t

cdef enum:
    FINE_BITS = 18         # the lookup table: top 18 bits (1 MiB)
    FINE = 1 << FINE_BITS
    FINE_SHIFT = 32 - FINE_BITS

cdef extern from *:
    void __builtin_prefetch(const void*) nogil


cdef inline Py_ssize_t _search(const uint32_t* starts, Py_ssize_t lo, Py_ssize_t hi,
                               uint32_t ip) noexcept nogil:
    """Last segment in [lo-1, hi) whose start <= ip, given starts[lo-1] <= ip (the
    bucket's first segment, or the one before it). Branch-free halving: the compares
    are unpredictable, a conditional add is not."""
    cdef Py_ssize_t base = lo - 1, n = hi - lo + 1, half
    while n > 1:
        half = n >> 1
        base += half * (starts[base + half] <= ip)
        n -= half
    return base


cdef inline Py_ssize_t _find4(const uint32_t* starts, const uint32_t* fine,
                              uint32_t ip) noexcept nogil:
    cdef uint32_t h = ip >> FINE_SHIFT
    return _search(starts, fine[h], fine[h + 1], ip)


cdef inline int32_t _value4(const uint32_t* starts, const int32_t* vals,
                            const uint32_t* fine, uint32_t ip) noexcept nogil:
    """vals[_find4(...)], with the vals line fetched alongside the starts line (the
    answer is within a segment or two of the bucket's first), so the two misses overlap."""
    cdef uint32_t h = ip >> FINE_SHIFT
    cdef Py_ssize_t lo = fine[h]
    __builtin_prefetch(&vals[lo])
    return vals[_search(starts, lo, fine[h + 1], ip)]


cdef enum:
    ASK6 = 1   # v6_asks: look the IPv6 address up in the IPv6 data
    ASK4 = 2   # ... and (after a miss there) the IPv4 address *v4 in the IPv4 data


cdef inline int v6_asks(uint64_t h, uint64_t l, uint32_t* v4) noexcept nogil:
    """The one home of rbldnsd's rule for an IPv6 address (measured against it): what a
    dataset is asked, in order. ::ffff:a.b.c.d (IPv4-mapped): only the IPv4 data, for
    a.b.c.d. 2002:AABB:CCDD::/48 (6to4): the IPv6 data, then the IPv4 data for
    AA.BB.CC.DD. Any other (::a.b.c.d "compatible" included): the IPv6 data only.
    index.pyx (check, scan, the reference DNS path) and dnsfast.pyx use it."""
    if h == 0 and (l >> 32) == 0xFFFF:
        v4[0] = <uint32_t>l  # the low 32 bits
        return ASK4
    if (h >> 48) == 0x2002:
        v4[0] = <uint32_t>(h >> 16)  # bits 16..47 of the high half
        return ASK6 | ASK4
    return ASK6


cdef inline Py_ssize_t fmt4(unsigned char* w, uint32_t v) noexcept nogil:
    """Write v as a dotted quad at w (at most 15 bytes); returns the length."""
    cdef Py_ssize_t k = 0
    cdef int part, o
    for part in range(4):
        o = (v >> (24 - 8 * part)) & 255
        if part:
            w[k] = 46
            k += 1
        if o >= 100:
            w[k] = 48 + o // 100
            k += 1
        if o >= 10:
            w[k] = 48 + (o // 10) % 10
            k += 1
        w[k] = 48 + o % 10
        k += 1
    return k


cdef inline bint parse4(const unsigned char* p, Py_ssize_t n, uint32_t* out,
                        bint strict_zeros) noexcept nogil:
    """Exactly a.b.c.d, each part 1-3 digits <= 255 (no leading zeros when strict_zeros)."""
    cdef Py_ssize_t i = 0, digits, first
    cdef uint32_t v = 0, o
    cdef int octet
    for octet in range(4):
        if octet:
            if i >= n or p[i] != 46:
                return False
            i += 1
        o = 0
        digits = 0
        first = i
        while i < n and 48 <= p[i] <= 57:
            if digits == 3:
                return False
            o = o * 10 + (p[i] - 48)
            i += 1
            digits += 1
        if digits == 0 or o > 255:
            return False
        if strict_zeros and digits > 1 and p[first] == 48:
            return False
        v = (v << 8) | o
    if i != n:
        return False
    out[0] = v
    return True
