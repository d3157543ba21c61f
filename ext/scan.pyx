# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled address parsing for `rblmirror scan`: whole chunks of bytes in, arrays out.

parse_chunk() reads the complete lines of a buffer, either one address per line
(IPv4 dotted quads with leading zeros allowed, as rbldnsd; IPv6 as the ipaddress
module takes it, with an optional %zone) or, with extract=True, every address found
anywhere in the text (Postfix `host[203.0.113.7]`, Exim `[2001:db8::1]:25`, ...).
No Python object is made per line; rblmirror/scan.py is the Python face.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t, int64_t
from cpython.unicode cimport PyUnicode_FromStringAndSize
from libc.string cimport memchr, memcpy
cimport numpy as cnp
from ipsearch cimport fmt4, parse4
import numpy as np

cnp.import_array()

cdef enum:
    FAM4 = 4
    FAM6 = 6

cdef inline bint _ws(unsigned char c) noexcept nogil:
    return c == 32 or c == 9 or c == 13 or c == 10 or c == 11 or c == 12


cdef inline int _hexval(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef bint parse6(const unsigned char* p, Py_ssize_t n, uint64_t* hi,
                 uint64_t* lo) noexcept nogil:
    """An IPv6 address as Python's ipaddress takes it: 1-4 hex digits per group, at most
    one `::` (standing for at least one group), an optional trailing dotted quad
    (no leading zeros) in place of the last two groups."""
    cdef uint16_t groups[8]
    cdef int ng = 0, gap = -1, k, d, j
    cdef Py_ssize_t i = 0, start
    cdef int hv
    cdef uint32_t v4, x
    if n < 2:
        return False
    if p[0] == 58:  # leading ':' must be '::'
        if p[1] != 58:
            return False
        gap = 0
        i = 2
        if i == n:
            hi[0] = 0
            lo[0] = 0
            return True
    while True:
        # one group (or the trailing dotted quad)
        start = i
        x = 0
        d = 0
        while i < n:
            hv = _hexval(p[i])
            if hv < 0:
                break
            if d == 4:
                return False
            x = (x << 4) | <uint32_t>hv
            d += 1
            i += 1
        if i < n and p[i] == 46:  # embedded IPv4: the rest of the text
            if ng > 6 or not parse4(p + start, n - start, &v4, True):
                return False
            groups[ng] = <uint16_t>(v4 >> 16)
            groups[ng + 1] = <uint16_t>(v4 & 0xFFFF)
            ng += 2
            i = n
            break
        if d == 0:
            return False
        if ng == 8:
            return False
        groups[ng] = <uint16_t>x
        ng += 1
        if i == n:
            break
        if p[i] != 58:
            return False
        i += 1
        if i < n and p[i] == 58:  # '::'
            if gap >= 0:
                return False
            gap = ng
            i += 1
            if i == n:
                break
        elif i == n:
            return False  # trailing single ':'
    if gap >= 0:
        if ng > 7:
            return False
        # move the groups after the gap to the end
        k = 8 - ng
        j = ng - 1
        while j >= gap:
            groups[j + k] = groups[j]
            j -= 1
        for j in range(gap, gap + k):
            groups[j] = 0
    elif ng != 8:
        return False
    hi[0] = ((<uint64_t>groups[0] << 48) | (<uint64_t>groups[1] << 32)
             | (<uint64_t>groups[2] << 16) | <uint64_t>groups[3])
    lo[0] = ((<uint64_t>groups[4] << 48) | (<uint64_t>groups[5] << 32)
             | (<uint64_t>groups[6] << 16) | <uint64_t>groups[7])
    return True


cdef inline bint _tokchar(unsigned char c) noexcept nogil:
    # letters, digits, '.', ':', '-', '_': an address is only taken when it is the whole
    # token, so `ip-1.2.3.4.example.net` or `v1.2.3.4` yield nothing
    return ((48 <= c <= 58) or (65 <= c <= 90) or (97 <= c <= 122) or c == 46
            or c == 45 or c == 95)


cdef class _Out:
    """Growable output arrays (one row per address found)."""
    cdef public object fam, v4, hi, lo, line
    cdef uint8_t[::1] f
    cdef uint32_t[::1] a4
    cdef uint64_t[::1] h
    cdef uint64_t[::1] l
    cdef uint32_t[::1] ln
    cdef Py_ssize_t n, cap

    def __cinit__(self, Py_ssize_t cap):
        self.n = 0
        self._alloc(max(cap, 16))

    cdef _alloc(self, Py_ssize_t cap):
        if self.n == 0:
            self.fam = np.empty(cap, np.uint8)
            self.v4 = np.empty(cap, np.uint32)
            self.hi = np.empty(cap, np.uint64)
            self.lo = np.empty(cap, np.uint64)
            self.line = np.empty(cap, np.uint32)
        else:
            self.fam = np.resize(self.fam, cap)
            self.v4 = np.resize(self.v4, cap)
            self.hi = np.resize(self.hi, cap)
            self.lo = np.resize(self.lo, cap)
            self.line = np.resize(self.line, cap)
        self.f = self.fam
        self.a4 = self.v4
        self.h = self.hi
        self.l = self.lo
        self.ln = self.line
        self.cap = cap

    cdef inline int add4(self, uint32_t v, uint32_t line) except -1:
        if self.n == self.cap:
            self._alloc(self.cap * 2)
        self.f[self.n] = FAM4
        self.a4[self.n] = v
        self.h[self.n] = 0
        self.l[self.n] = 0
        self.ln[self.n] = line
        self.n += 1
        return 0

    cdef inline int add6(self, uint64_t hi, uint64_t lo, uint32_t line) except -1:
        if self.n == self.cap:
            self._alloc(self.cap * 2)
        self.f[self.n] = FAM6
        self.a4[self.n] = 0
        self.h[self.n] = hi
        self.l[self.n] = lo
        self.ln[self.n] = line
        self.n += 1
        return 0


cdef bint _plain_line(const unsigned char* p, Py_ssize_t n, _Out out, uint32_t line):
    """One address per line. Returns False for a bad line (blank/comment lines never
    reach here)."""
    cdef uint32_t v
    cdef uint64_t hi, lo
    cdef Py_ssize_t i, m = n
    for i in range(n):
        if p[i] == 58:  # IPv6: an optional %zone is ignored, as addr.parse does
            for i in range(n):
                if p[i] == 37:
                    m = i
                    break
            if parse6(p, m, &hi, &lo):
                out.add6(hi, lo, line)
                return True
            return False
    if parse4(p, n, &v, False):
        out.add4(v, line)
        return True
    return False


cdef int _extract_line(const unsigned char* p, Py_ssize_t n, _Out out, uint32_t line):
    """Every address that is a whole token of the line; returns how many were found."""
    cdef Py_ssize_t i = 0, j, s, e, k, colons
    cdef int found = 0
    cdef uint32_t v
    cdef uint64_t hi, lo
    cdef bint hexdigit
    while i < n:
        if not _tokchar(p[i]):
            i += 1
            continue
        j = i
        colons = 0
        while j < n and _tokchar(p[j]):
            if p[j] == 58:
                colons += 1
            j += 1
        s, e = i, j
        i = j
        # trim punctuation around the token: "1.2.3.4." at a sentence end, "-" dashes
        while s < e and (p[s] == 46 or p[s] == 45 or p[s] == 95):
            s += 1
        while e > s and (p[e - 1] == 46 or p[e - 1] == 45 or p[e - 1] == 95):
            e -= 1
        if e - s < 2:
            continue
        if colons == 0:
            if e - s >= 7 and parse4(p + s, e - s, &v, False):
                out.add4(v, line)
                found += 1
            continue
        # "IPv6:2001:db8::1" (Postfix, SMTP address literals)
        if e - s > 5 and (p[s] == 73 or p[s] == 105) and (p[s + 1] == 80 or p[s + 1] == 112) \
                and (p[s + 2] == 118 or p[s + 2] == 86) and p[s + 3] == 54 and p[s + 4] == 58:
            s += 5
        # a trailing ':' (a label "client 1.2.3.4:") is punctuation
        while e > s and p[e - 1] == 58 and not (e - s >= 2 and p[e - 2] == 58):
            e -= 1
        hexdigit = False
        for k in range(s, e):
            if _hexval(p[k]) >= 0:
                hexdigit = True
                break
        if hexdigit and parse6(p + s, e - s, &hi, &lo):
            out.add6(hi, lo, line)
            found += 1
            continue
        if colons != 1:
            continue
        # "1.2.3.4:25" (an address and a port) or "smtp:1.2.3.4" (a label, an address)
        k = s
        while k < e and p[k] != 58:
            k += 1
        if k - s >= 7 and parse4(p + s, k - s, &v, False):
            out.add4(v, line)
            found += 1
        elif e - k - 1 >= 7 and parse4(p + k + 1, e - k - 1, &v, False):
            out.add4(v, line)
            found += 1
    return found


def parse_chunk(const unsigned char[::1] buf not None, bint final=True, bint extract=False,
                int max_bad=5):
    """Parse the complete lines of buf (every line when final, else up to the last
    newline).

    In line mode a '#' starts a comment (a whole line, or after the address).
    Returns a dict: consumed (bytes used), lines, skipped (blank and '#' lines; in
    extract mode the lines without an address), bad (lines that are not one address;
    never in extract mode), bad_samples [(line index, bytes)] (at most max_bad), and
    the arrays fam (uint8: 4 or 6), v4 (uint32), hi, lo (uint64: IPv6 halves), line
    (uint32: the index of the line each address came from, 0-based in this chunk).
    """
    cdef Py_ssize_t n = buf.shape[0], pos = 0, end, eol, s, e, k, consumed
    cdef const unsigned char* p = &buf[0] if n else NULL
    cdef uint32_t line = 0
    cdef Py_ssize_t skipped = 0, bad = 0
    cdef _Out out = _Out(n // 12 + 16)
    samples = []
    # the last complete line ends at the last newline
    end = n
    if not final:
        while end > 0 and p[end - 1] != 10:
            end -= 1
    consumed = end
    while pos < end:
        eol = pos
        while eol < end and p[eol] != 10:
            eol += 1
        s, e = pos, eol
        pos = eol + 1
        if extract:
            if _extract_line(p + s, e - s, out, line) == 0:
                skipped += 1
        else:
            while s < e and _ws(p[s]):
                s += 1
            while e > s and _ws(p[e - 1]):
                e -= 1
            if s < e and p[s] != 35:  # a trailing "# comment" after the address
                k = s
                while k < e and p[k] != 35:
                    k += 1
                if k < e:
                    e = k
                    while e > s and _ws(p[e - 1]):
                        e -= 1
            if s == e or p[s] == 35:
                skipped += 1
            elif not _plain_line(p + s, e - s, out, line):
                bad += 1
                if len(samples) < max_bad:
                    samples.append((line, bytes(buf[s:e])))
        line += 1
    k = out.n
    return {"consumed": consumed, "lines": line, "skipped": skipped, "bad": bad,
            "bad_samples": samples, "fam": out.fam[:k], "v4": out.v4[:k],
            "hi": out.hi[:k], "lo": out.lo[:k], "line": out.line[:k]}


def parse_ip6(text):
    """One IPv6 address (bytes or str) to an int, or None: the compiled parser, for tests."""
    cdef bytes b = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    cdef uint64_t hi, lo
    if parse6(b, len(b), &hi, &lo):
        return (int(hi) << 64) | int(lo)
    return None


def format_ip4_many(const uint32_t[::1] ips not None):
    """Dotted quads (a list of str) for an array of IPv4 addresses."""
    cdef Py_ssize_t i, m = ips.shape[0]
    cdef char buf[16]
    cdef Py_ssize_t k
    cdef uint32_t v
    out = [None] * m
    for i in range(m):
        v = ips[i]
        k = fmt4(<unsigned char*>buf, v)
        out[i] = PyUnicode_FromStringAndSize(buf, k)
    return out


def emit_rows(const uint8_t[::1] fam not None, const uint32_t[::1] v4 not None,
              const int32_t[::1] ids not None, list texts6 not None,
              const unsigned char[::1] blob not None, const int64_t[::1] start not None,
              const int64_t[::1] end not None, const int32_t[::1] nph not None,
              const int32_t[::1] maxlen not None, slow, const uint8_t[::1] force=None):
    """Output bytes for rows of addresses: row i is template c = ids[i] (blob[start[c]:
    end[c]], holding nph[c] NUL bytes) with every NUL replaced by the address
    (IPv4 formatted here, IPv6 taken from texts6: one bytes per IPv6 row, in order).
    An empty template writes nothing. A row whose address text is longer than
    maxlen[c] (the template cannot hold it: a TXT would pass rbldnsd's 254-byte cap)
    is written as slow(i) returns it (bytes), and so is a row with force[i] set.
    Returns a uint8 array."""
    cdef Py_ssize_t m = ids.shape[0], i, size = 0, n6 = 0, k6 = 0, pos = 0, t0, t1
    cdef Py_ssize_t ncombo = start.shape[0], ks = 0
    cdef int32_t c
    cdef const unsigned char* b = &blob[0] if blob.shape[0] else NULL
    cdef const unsigned char* q
    cdef unsigned char abuf[16]
    cdef const unsigned char* ap
    cdef Py_ssize_t alen
    cdef bytes t6, sb
    if fam.shape[0] != m or v4.shape[0] != m or (force is not None and force.shape[0] != m):
        raise ValueError("fam, v4, ids and force differ in length")
    if end.shape[0] != ncombo or nph.shape[0] != ncombo or maxlen.shape[0] != ncombo:
        raise ValueError("start, end, nph and maxlen differ in length")
    if ncombo and (min(start) < 0 or max(end) > blob.shape[0]):
        raise ValueError("a template lies outside the blob")
    slow_rows = []
    # first pass: the size (every address counted at its longest) and the slow rows
    for i in range(m):
        c = ids[i]
        if c < 0 or c >= ncombo:
            raise ValueError("combination id out of range")
        if fam[i] == 6:
            alen = len(<bytes>texts6[n6])
            n6 += 1
        else:
            alen = fmt4(abuf, v4[i])
        if alen > maxlen[c] or (force is not None and force[i]):
            sb = slow(i)
            slow_rows.append(sb)
            size += len(sb)
        else:
            size += end[c] - start[c] + nph[c] * alen
    if n6 != len(texts6):
        raise ValueError("texts6 must hold one text per IPv6 row")
    out = np.empty(size, np.uint8)
    cdef uint8_t[::1] ov = out
    cdef unsigned char* w = <unsigned char*>&ov[0] if size else NULL
    for i in range(m):
        c = ids[i]
        t0 = start[c]
        t1 = end[c]
        if fam[i] == 6:
            t6 = texts6[k6]
            k6 += 1
            ap = t6
            alen = len(t6)
        else:
            alen = fmt4(abuf, v4[i])
            ap = abuf
        if alen > maxlen[c] or (force is not None and force[i]):
            sb = slow_rows[ks]
            ks += 1
            memcpy(w + pos, <const char*>sb, len(sb))
            pos += len(sb)
            continue
        while t0 < t1:
            q = <const unsigned char*>memchr(b + t0, 0, t1 - t0)
            if q == NULL:
                memcpy(w + pos, b + t0, t1 - t0)
                pos += t1 - t0
                break
            memcpy(w + pos, b + t0, q - (b + t0))
            pos += q - (b + t0)
            memcpy(w + pos, ap, alen)
            pos += alen
            t0 = (q - b) + 1
    return out[:pos]
