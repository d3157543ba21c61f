# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled DNS path: the answer decision for names below a zone (its one home), the
common query shapes answered in C byte-identical to rblmirror.dns.wire.respond() (the
dnslib reference packing), and a batched UDP loop (recvmmsg/sendmmsg in a thread with the
GIL released).

FastPath(table) precomputes, per zone of the table: its wire name, its subzones (as
answer.Prepared orders them: the longest first), per subzone its datasets' index arrays
(IPv4 segments with their first-level table, IPv6 segments, the compiled dnset index),
per value id the A rdata and the TXT template as values.template_pieces() splits it, TTLs
and the negative-answer SOA. Every zone of the table is compiled.

decide() is the answer below a zone (see its docstring for the rules). Two callers:
- answer(packet) (and UdpLoop): parses the packet, decides, writes the reply (the SOA in
  the authority of a negative answer, the OPT, the counters); None when the packet is not
  one of the shapes handled here (the caller then uses the reference path): the apex,
  names outside every zone, an expired zone, a reply that needs TC, odd headers, a query
  with an OPT and a non-ASCII byte in a label below the zone (dnslib drops it), an empty
  non-terminal test longer than SCAN_MAX segments. No Python object is touched per packet.
- below(zone, labels, qtype): the same decision for Python (answer.answer: the dnslib
  path, check, scan), with no size limit.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t
from libc.string cimport memcpy, memcmp, memset
from libc.stdlib cimport malloc, free, calloc
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME, CLOCK_MONOTONIC
cimport cython
from ipsearch cimport FINE, _value4, _find4, _search, fmt4, v6_asks, ASK6, ASK4
from ipsearch cimport __builtin_prefetch
from ip6search cimport Idx6, find6 as idx_find6, any6 as idx_any6
from cpython.pycapsule cimport PyCapsule_GetPointer
from names cimport NameTable, names_find_wire, names_table, names_wire_to_text
from qlogline cimport QLOG_LINE_MAX, qlog_line, qlog_peer
from rrl cimport RrlTable, RrlAccount, rrl_account, rrl_peer, RRL_PASS, RRL_DROP, RRL_SLIP
import numpy as np

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr_storage:
        pass
    struct iovec:
        void* iov_base
        size_t iov_len
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int fd, mmsghdr* v, unsigned int n, int flags, void* timeout)
    int sendmmsg(int fd, mmsghdr* v, unsigned int n, int flags)
    int MSG_WAITFORONE
    int MSG_TRUNC

cdef extern from "<errno.h>" nogil:
    int errno
    int EINTR
    int EBADF
    int ENOTSOCK

DEF MAXZ_WIRE = 256
DEF MAX_RR = 256
#: the decision for Python (FastPath.below): a TCP message's room, and its records
DEF BELOW_BUF = 65535
DEF BELOW_RR = 8192
DEF SCAN_ALL = 1 << 62
DEF OUTBUF = 4096
DEF BATCH = 64
DEF RECVBUF = 65536
DEF EDNS_SIZE = 1232
DEF MAXLAB = 130
DEF NREG = 400
#: segments an empty non-terminal test looks at before it hands the name back
DEF SCAN_MAX = 256

#: a dataset this small is searched without its first-level table (which would cost a
#: cache miss per query: every zone has the RFC 5782 test points, a 2-entry dataset)
DEF SMALL = 64
#: the IPv6 first-level table: 16 bits after the prefix all segment starts share

cdef const char* HEX = b"0123456789abcdef"
from rblmirror.errors import ZoneSpecError
from rblmirror.dns.counters import COUNTER_NAMES as _COUNTER_NAMES
if len(_COUNTER_NAMES) != NCOUNTERS:
    raise ImportError("dns.counters.COUNTER_NAMES and dnsfast's counter enum differ")
from rblmirror.data.values import TXT_EMIT_MAX as _TXT_EMIT_MAX, template_pieces
from rblmirror.zonespec import DEFAULT_TTL as _DEFAULT_TTL
#: TXT rdata is cut at this many bytes (values.TXT_EMIT_MAX, rbldnsd's txtsubst cap)
cdef int TXT_MAX = _TXT_EMIT_MAX
if not 0 < TXT_MAX <= 255:
    raise ImportError("values.TXT_EMIT_MAX must be 1..255")
#: a nibble label's value (0-15), or 255: not a hex digit
cdef uint8_t NIB[256]
memset(NIB, 255, 256)
for _i in range(16):
    NIB[ord("0123456789abcdef"[_i])] = _i
    NIB[ord("0123456789ABCDEF"[_i])] = _i

cdef enum:
    C_QUERIES = 0
    C_LISTED = 1
    C_NOTLISTED = 2
    C_REFUSED = 3
    C_ERRORS = 4
    C_BYTES = 5
    C_NXDOMAIN = 6
    C_QBYTES = 7
    NCOUNTERS = 8

cdef enum:
    DS_IP = 0
    DS_NAMES = 1
    DS_GENERIC = 2   # generic: records by exact name (formats/generic.py)

#: what the client's ACL entries say (formats/acl.py): flags, as rbldnsd ORs the global
#: ACL's and the zone's
cdef enum:
    ACL_IGNORE = 1   # no reply
    ACL_REFUSE = 2   # REFUSED
    ACL_EMPTY = 4    # the data says nothing (generic records still answer)
    ACL_ALWAYS = 8   # every name the data would look up: the ACL's value instead
#: an ACL value id's action (Fast.act, parallel to set_off); 0: a value (A+TXT)
cdef enum:
    ACT_VALUE = 0
    ACT_IGNORE = 1
    ACT_REFUSE = 2
    ACT_EMPTY = 3
    ACT_PASS = 4
#: fast_answer(): no reply at all (an ACL's ignore)
DEF DROP = -2

#: an ACL's keyword (formats/acl.py: a Listing's `a`) -> its ACT_ code
_ACTS = {"ignore": ACT_IGNORE, "refuse": ACT_REFUSE, "empty": ACT_EMPTY, "pass": ACT_PASS}


cdef struct Piece:
    int32_t off   # into the blob
    int32_t len   # -1: the subject (the queried address as text, or the matched name)


cdef struct Lst:
    int32_t a_id       # id of the A value's text (dedup is on the text, as answer.py)
    uint8_t a[4]
    int32_t p_first    # first piece of the TXT template
    int32_t p_n        # number of pieces; -1: no TXT


cdef struct GRec:      # one generic record
    uint16_t rtype     # 1 A, 15 MX, 16 TXT
    uint32_t ttl
    int32_t off        # its rdata in the blob (a TXT's with its length byte)
    int32_t len
    int32_t a_id       # A: the id of its text, as Lst.a_id; else -1


cdef struct Peer:      # the client (rbldnsd's p_peer)
    int fam            # 0: unknown, 4, 6
    uint32_t ip4
    uint64_t h6
    uint64_t l6
    uint8_t text[48]   # as getnameinfo(NI_NUMERICHOST) writes it: `$` in an ACL's TXT
    int text_len


cdef struct AclOut:    # acl_outcome()
    int flags          # ACL_*
    int ds             # ACL_ALWAYS: the ACL whose value answers, and its value id
    int32_t vid


cdef struct DS:
    int kind
    const NameTable* names   # DS_NAMES: the compiled dnset index (ext/names.pxd)
    const uint32_t* starts   # IPv4 segments
    const int32_t* vals
    const uint32_t* bucket   # the IPv4 index's first-level table (ipsearch.FINE_BITS)
    Py_ssize_t n4            # IPv4 segments
    Idx6 v6                  # the compact IPv6 index (ext/ip6search.pxd)
    int has4                 # IPIndex.has_v4() / has_v6()
    int has6
    uint32_t ttl
    int32_t set_first        # index into set_off (per value id of this dataset)
    int32_t nvals
    int asks4                # the format answers IPv4 / IPv6 names (ip4*, ip6*, plain):
    int asks6                # an ACL value answers those (rbldnsd's query functions)
    int32_t g_first          # DS_GENERIC: index into g_off (per group id)
    int32_t ngroups
    int32_t g_apex           # the group at the (sub)zone's own name, -1: none


cdef struct FSub:
    uint8_t wire[MAXZ_WIRE]  # the subzone's labels (wire, no root byte), as configured
    int wlen
    int nlab                 # 0: the zone itself
    int ds_first
    int ds_n


cdef struct FZone:
    uint8_t wire[MAXZ_WIRE]   # lowercase wire name of the zone, without the root byte
    int wlen
    int nlab
    int sub_first
    int sub_n
    int has_soa
    uint32_t soa_ttl
    uint8_t mname[MAXZ_WIRE]  # uncompressed wire names (with the root byte)
    uint8_t rname[MAXZ_WIRE]
    uint8_t times[20]
    double expires            # 0: never
    int acl                   # the zone's ACL (an index into dss), -1: none
    uint64_t counters[NCOUNTERS]


cdef struct Fast:
    FZone* zones
    int nzones
    FSub* subs
    DS* dss
    int32_t* set_off      # per (dataset, value id): first Lst; then the next one's start
    Lst* lsts
    Piece* pieces
    const uint8_t* blob
    int minimal_any       # RFC 8482: ANY answered as A
    uint8_t* act          # per set_off entry: ACT_* (an ACL's keywords), else ACT_VALUE
    GRec* grecs           # generic records, per group in answer order
    int32_t* g_off        # per (dataset, group id): first GRec; then the next one's start
    int gacl              # the global ACL (an index into dss), -1: none


cdef struct Out:
    uint8_t* out
    int pos
    int limit             # past this the records do not fit: the decision gives up (-1)
    int want_a
    int want_txt
    int want_mx
    int start             # where the records begin (decide() sets it)
    int nrr
    int na
    int nt
    int max_rr            # room in the three arrays below
    Py_ssize_t scan_max   # segments an empty non-terminal test may look at (else -1)
    int* a_seen
    int* t_off
    int* t_len


cdef inline void put16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = (v >> 8) & 255
    p[1] = v & 255


cdef inline void put32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = (v >> 24) & 255
    p[1] = (v >> 16) & 255
    p[2] = (v >> 8) & 255
    p[3] = v & 255


cdef inline int wire_len(const uint8_t* w) noexcept nogil:
    """Length of an uncompressed wire name including the root byte."""
    cdef int i = 0
    while w[i]:
        i += w[i] + 1
    return i + 1


cdef inline bint eq_ci(const uint8_t* q, const uint8_t* low, int n) noexcept nogil:
    """q (a query's wire bytes, any case) equals low (lowercase wire bytes); length
    bytes are below 64, so lowering every byte in A-Z is safe."""
    cdef int i
    cdef uint8_t d
    for i in range(n):
        d = q[i]
        if 65 <= d <= 90:
            d += 32
        if d != low[i]:
            return False
    return True


cdef inline bint non_ascii(const uint8_t* q, const int* lab, int n) noexcept nogil:
    """A byte >= 128 in one of the n labels at lab[0..n)."""
    cdef int i, j
    for i in range(n):
        for j in range(lab[i] + 1, lab[i] + 1 + q[lab[i]]):
            if q[j] >= 128:
                return True
    return False


cdef int encode_name(uint8_t* out, int pos, int limit, const uint8_t* name,
                     int* reg_off, const uint8_t** reg_ptr, int* reg_len, int* nreg,
                     int maxreg) noexcept nogil:
    """dnslib's DNSBuffer.encode_name: every suffix of every name written so far is
    remembered (first offset wins, exact bytes, case-sensitive); the first suffix already
    seen becomes a pointer. Returns the new position, -1 when it does not fit."""
    cdef int i, k, l, sl
    cdef const uint8_t* s
    while name[0]:
        sl = wire_len(name)
        for k in range(nreg[0]):
            if reg_len[k] == sl and memcmp(reg_ptr[k], name, sl) == 0:
                if pos + 2 > limit:
                    return -1
                put16(out + pos, 0xC000 | reg_off[k])
                return pos + 2
        if nreg[0] < maxreg:
            reg_off[nreg[0]] = pos
            reg_ptr[nreg[0]] = name
            reg_len[nreg[0]] = sl
            nreg[0] += 1
        else:
            return -1
        l = name[0] + 1
        if pos + l > limit:
            return -1
        memcpy(out + pos, name, l)
        pos += l
        name += l
    if pos + 1 > limit:
        return -1
    out[pos] = 0
    return pos + 1


cdef inline double now_real() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline int32_t look4(const DS* ds, uint32_t ip) noexcept nogil:
    """The value id of an IPv4 address (the index's rule: ipsearch._value4)."""
    if ds.n4 <= SMALL:
        return ds.vals[_search(ds.starts, 1, ds.n4, ip)]
    return _value4(ds.starts, ds.vals, ds.bucket, ip)


# ----------------------------------------------------------------- IPv6 segments
cdef int fmt6(uint8_t* w, uint64_t h, uint64_t l) noexcept nogil:
    """str(ipaddress.IPv6Address(v)): lowercase hex groups without leading zeros, the
    first longest run of two or more zero groups as `::`. Returns the length (<= 39)."""
    cdef uint32_t g[8]
    cdef int i, k = 0, best = -1, blen = 0, cur = -1, clen = 0, d, started
    cdef uint32_t x
    for i in range(4):
        g[i] = (h >> (48 - 16 * i)) & 0xFFFF
        g[4 + i] = (l >> (48 - 16 * i)) & 0xFFFF
    for i in range(8):
        if g[i] == 0:
            if cur < 0:
                cur = i
                clen = 0
            clen += 1
            if clen > blen:
                blen = clen
                best = cur
        else:
            cur = -1
            clen = 0
    if blen < 2:
        best = -1
    i = 0
    started = 1  # (here: no separator needed before the next group)
    while i < 8:
        if i == best:
            w[k] = 58
            w[k + 1] = 58
            k += 2
            i += blen
            started = 1
            continue
        if not started:
            w[k] = 58
            k += 1
        x = g[i]
        d = 12
        while d > 0 and not (x >> d) & 15:
            d -= 4
        while d >= 0:
            w[k] = HEX[(x >> d) & 15]
            k += 1
            d -= 4
        started = 0
        i += 1
    return k


cdef inline int any4(const DS* ds, uint32_t lo, uint32_t hi, Py_ssize_t scan_max) noexcept nogil:
    """Any listed IPv4 address in [lo, hi]: 1 yes, 0 no, -1 not decided within scan_max
    segments."""
    cdef Py_ssize_t i = _find4(ds.starts, ds.bucket, lo)
    cdef Py_ssize_t j = _find4(ds.starts, ds.bucket, hi)
    cdef Py_ssize_t x
    for x in range(i, j + 1):
        if ds.vals[x] >= 0:
            return 1
        if x - i >= scan_max:
            return -1
    return 0


cdef inline int any6(const DS* ds, uint64_t ph, uint64_t pl, uint64_t th,
                     uint64_t tl, Py_ssize_t scan_max) noexcept nogil:
    """Any listed IPv6 address in [p, t]: 1 yes, 0 no, -1 not decided within scan_max
    segments (ip6search.any6)."""
    return idx_any6(&ds.v6, ph, pl, th, tl, scan_max)


cdef inline void shl128(uint64_t h, uint64_t l, int s, uint64_t* oh, uint64_t* ol) noexcept nogil:
    """(h, l) << s for 0 <= s < 128."""
    if s == 0:
        oh[0] = h
        ol[0] = l
    elif s < 64:
        oh[0] = (h << s) | (l >> (64 - s))
        ol[0] = l << s
    else:
        oh[0] = l << (s - 64)
        ol[0] = 0


cdef inline void shr128(uint64_t h, uint64_t l, int s, uint64_t* oh, uint64_t* ol) noexcept nogil:
    """(h, l) >> s for 0 <= s < 128."""
    if s == 0:
        oh[0] = h
        ol[0] = l
    elif s < 64:
        ol[0] = (l >> s) | (h << (64 - s))
        oh[0] = h >> s
    else:
        ol[0] = h >> (s - 64)
        oh[0] = 0


cdef int ent_check(Fast* f, FSub* s, const uint8_t* q, int* lab, int n,
                   Py_ssize_t scan_max) noexcept nogil:
    """The empty non-terminal test for the n labels at lab[0..n): 1 when some listed
    address lies under the partial reverse name (1-3 octets, or fewer than 32 nibbles,
    also inside the IPv4-mapped and 6to4 ranges of an IPv4 dataset), 0 when none, -1 when
    it is not decided within scan_max segments per range."""
    cdef int i, j, ln, all_oct = 1, all_nib = 1, r, bits, blen, v4bits, shift, bi
    cdef uint32_t o, pfx4, v4
    cdef uint64_t vh = 0, vl = 0, ph, pl, th, tl, bh, bl, xh, xl, yh, yl, m4
    cdef uint64_t ov = 0
    cdef uint8_t d
    cdef DS* ds
    if n <= 0:
        return 0
    for i in range(n):
        ln = q[lab[i]]
        if ln != 1:
            all_nib = 0
        else:
            d = q[lab[i] + 1]
            if not (48 <= d <= 57 or 97 <= d <= 102 or 65 <= d <= 70):
                all_nib = 0
        if ln > 3:
            all_oct = 0
        elif all_oct:
            o = 0
            for j in range(ln):
                d = q[lab[i] + 1 + j]
                if d < 48 or d > 57:
                    all_oct = 0
                    break
                o = o * 10 + (d - 48)
            if o > 255:
                all_oct = 0
        if not all_oct and not all_nib:
            return 0
    if n < 4 and all_oct:
        for i in range(n - 1, -1, -1):
            o = 0
            for j in range(q[lab[i]]):
                o = o * 10 + (q[lab[i] + 1 + j] - 48)
            ov = (ov << 8) | o
        pfx4 = <uint32_t>(ov << (8 * (4 - n)))
        for i in range(s.ds_n):
            ds = &f.dss[s.ds_first + i]
            if ds.kind != DS_IP:
                continue
            r = any4(ds, pfx4, pfx4 | <uint32_t>((1ULL << (32 - 8 * n)) - 1), scan_max)
            if r:
                return r
    if n == 4 and all_oct:
        return 0
    if n >= 32 or not all_nib:
        return 0
    # v: the n nibbles as a number (the last label most significant)
    for i in range(n - 1, -1, -1):
        d = q[lab[i] + 1]
        if d <= 57:
            d -= 48
        elif d >= 97:
            d -= 87
        else:
            d -= 55
        shl128(vh, vl, 4, &vh, &vl)
        vl |= d
    bits = 4 * n
    shl128(vh, vl, 128 - bits, &ph, &pl)
    # top = pfx | ((1 << (128 - bits)) - 1)
    if 128 - bits >= 64:
        th = ph | ((1ULL << (64 - bits)) - 1)
        tl = 0xFFFFFFFFFFFFFFFFULL
    else:
        th = ph
        tl = pl | ((1ULL << (128 - bits)) - 1)
    for i in range(s.ds_n):
        ds = &f.dss[s.ds_first + i]
        if ds.kind != DS_IP:
            continue
        if ds.has6:
            r = any6(ds, ph, pl, th, tl, scan_max)
            if r:
                return r
        if ds.has4:
            for bi in range(2):
                if bi == 0:  # ::ffff:0:0/96, the v4-mapped addresses
                    bh = 0
                    bl = 0xFFFFULL << 32
                    blen = 96
                else:        # 2002::/16, 6to4
                    bh = 0x2002ULL << 48
                    bl = 0
                    blen = 16
                if bits <= blen:
                    shr128(bh, bl, 128 - bits, &xh, &xl)
                    if xh == vh and xl == vl:
                        r = any4(ds, 0, 0xFFFFFFFFU, scan_max)
                        if r:
                            return r
                else:
                    shr128(ph, pl, 128 - blen, &xh, &xl)
                    shr128(bh, bl, 128 - blen, &yh, &yl)
                    if xh == yh and xl == yl:
                        v4bits = bits - blen
                        if v4bits > 32:
                            v4bits = 32
                        shift = 128 - blen - 32
                        shr128(ph, pl, shift, &xh, &xl)
                        v4 = <uint32_t>(xl & 0xFFFFFFFFULL)
                        m4 = (1ULL << (32 - v4bits)) - 1
                        v4 &= <uint32_t>(~m4 & 0xFFFFFFFFULL)
                        r = any4(ds, v4, v4 | <uint32_t>m4, scan_max)
                        if r:
                            return r
    return 0


# ----------------------------------------------------------------- records
cdef int emit(Fast* f, Out* o, DS* ds, int32_t vid, const uint8_t* subj,
              int subj_len) noexcept nogil:
    """The records of one dataset's value id, merged into what o holds: per listing its A
    (unless an identical A is there already) then its TXT (likewise), the TXT template's
    pieces executed with the subject and cut at TXT_MAX bytes. 0, or -1 when it does not
    fit (o.limit, o.max_rr) or the value id is out of range."""
    cdef int32_t s0, s1, j
    cdef int i, d, tl, rd_at, dup
    cdef Lst* L
    cdef Piece* P
    cdef uint8_t* out = o.out
    if vid >= ds.nvals:
        return -1
    s0 = f.set_off[ds.set_first + vid]
    s1 = f.set_off[ds.set_first + vid + 1]
    for j in range(s0, s1):
        L = &f.lsts[j]
        if o.want_a:
            dup = 0
            for i in range(o.na):
                if o.a_seen[i] == L.a_id:
                    dup = 1
                    break
            if not dup:
                if o.pos > o.limit or o.na >= o.max_rr:
                    return -1
                o.a_seen[o.na] = L.a_id
                o.na += 1
                put16(out + o.pos, 0xC00C)
                put16(out + o.pos + 2, 1)
                put16(out + o.pos + 4, 1)
                put32(out + o.pos + 6, ds.ttl)
                put16(out + o.pos + 10, 4)
                memcpy(out + o.pos + 12, L.a, 4)
                o.pos += 16
                o.nrr += 1
        if o.want_txt and L.p_n >= 0:
            if o.pos > o.limit or o.nt >= o.max_rr:
                return -1
            rd_at = o.pos + 13
            tl = 0
            for i in range(L.p_n):
                P = &f.pieces[L.p_first + i]
                if P.len < 0:
                    d = subj_len
                    if tl + d > TXT_MAX:
                        d = TXT_MAX - tl
                    memcpy(out + rd_at + tl, subj, d)
                else:
                    d = P.len
                    if tl + d > TXT_MAX:
                        d = TXT_MAX - tl
                    memcpy(out + rd_at + tl, f.blob + P.off, d)
                tl += d
                if tl >= TXT_MAX:
                    break
            dup = 0
            for i in range(o.nt):
                if o.t_len[i] == tl and memcmp(out + o.t_off[i], out + rd_at, tl) == 0:
                    dup = 1
                    break
            if dup:
                continue
            o.t_off[o.nt] = rd_at
            o.t_len[o.nt] = tl
            o.nt += 1
            put16(out + o.pos, 0xC00C)
            put16(out + o.pos + 2, 16)
            put16(out + o.pos + 4, 1)
            put32(out + o.pos + 6, ds.ttl)
            put16(out + o.pos + 10, tl + 1)
            out[o.pos + 12] = tl
            o.pos += 13 + tl
            o.nrr += 1
    return 0


cdef int emit_generic(Fast* f, Out* o, DS* ds, int32_t gid) noexcept nogil:
    """The records of one generic group (a name's A, MX, TXT), merged into what o holds
    as emit() merges: an identical record once. 0, or -1 when they do not fit."""
    cdef int32_t j, g0, g1
    cdef int i, dup, rl, p
    cdef GRec* R
    cdef uint8_t* out = o.out
    if gid < 0 or gid >= ds.ngroups:
        return -1
    g0 = f.g_off[ds.g_first + gid]
    g1 = f.g_off[ds.g_first + gid + 1]
    for j in range(g0, g1):
        R = &f.grecs[j]
        if R.rtype == 1:
            if not o.want_a:
                continue
            dup = 0
            for i in range(o.na):
                if o.a_seen[i] == R.a_id:
                    dup = 1
                    break
            if dup:
                continue
            if o.na >= o.max_rr:
                return -1
            o.a_seen[o.na] = R.a_id
            o.na += 1
        elif R.rtype == 16:
            if not o.want_txt:
                continue
            dup = 0
            for i in range(o.nt):
                if o.t_len[i] == R.len - 1 and \
                        memcmp(out + o.t_off[i], f.blob + R.off + 1, R.len - 1) == 0:
                    dup = 1
                    break
            if dup:
                continue
            if o.nt >= o.max_rr:
                return -1
            o.t_off[o.nt] = o.pos + 13
            o.t_len[o.nt] = R.len - 1
            o.nt += 1
        else:
            if not o.want_mx:
                continue
            dup = 0
            p = o.start
            for i in range(o.nrr):  # (MX records are few: compared in place)
                rl = (out[p + 10] << 8) | out[p + 11]
                if out[p + 3] == 15 and out[p + 2] == 0 and rl == R.len and \
                        memcmp(out + p + 12, f.blob + R.off, rl) == 0:
                    dup = 1
                    break
                p += 12 + rl
            if dup:
                continue
        if o.pos > o.limit or o.pos + 12 + R.len > o.limit + 512:
            return -1
        put16(out + o.pos, 0xC00C)
        put16(out + o.pos + 2, R.rtype)
        put16(out + o.pos + 4, 1)
        put32(out + o.pos + 6, R.ttl)
        put16(out + o.pos + 10, R.len)
        memcpy(out + o.pos + 12, f.blob + R.off, R.len)
        o.pos += 12 + R.len
        o.nrr += 1
    return 0


cdef void unify_ttls(Out* o, int sources) noexcept nogil:
    """rbldnsd's checkrr_present(): the records of one type carry one TTL, the smallest
    of theirs (RFC 2181's RRset rule). sources: how many datasets wrote records (one
    non-generic dataset writes one TTL: nothing to do)."""
    cdef uint8_t* out = o.out
    cdef int i, k, p, rl, nt = 0
    cdef uint16_t rt
    cdef uint16_t types[8]
    cdef uint32_t mins[8]
    cdef uint32_t ttl
    if o.nrr < 2 or sources < 2:
        return
    p = o.start
    for i in range(o.nrr):
        rt = (out[p + 2] << 8) | out[p + 3]
        ttl = (<uint32_t>out[p + 6] << 24) | (out[p + 7] << 16) | (out[p + 8] << 8) | out[p + 9]
        rl = (out[p + 10] << 8) | out[p + 11]
        for k in range(nt):
            if types[k] == rt:
                if ttl < mins[k]:
                    mins[k] = ttl
                break
        else:
            if nt < 8:
                types[nt] = rt
                mins[nt] = ttl
                nt += 1
        p += 12 + rl
    p = o.start
    for i in range(o.nrr):
        rt = (out[p + 2] << 8) | out[p + 3]
        rl = (out[p + 10] << 8) | out[p + 11]
        for k in range(nt):
            if types[k] == rt:
                put32(out + p + 6, mins[k])
                break
        p += 12 + rl


cdef int acl_look(Fast* f, int dsi, const Peer* peer, AclOut* a) noexcept nogil:
    """One ACL's entry for the client (the longest prefix holding its address; IPv6 as
    it is, no 6to4 or mapped rule, as rbldnsd's btrie): its flags into a (a value: the
    first one found answers). 0, or -1 for a value id out of range."""
    cdef DS* ds
    cdef int32_t vid = -1
    if dsi < 0 or peer.fam == 0:
        return 0
    ds = &f.dss[dsi]
    if peer.fam == 4 and ds.has4:
        vid = look4(ds, peer.ip4)
    elif peer.fam == 6 and ds.has6:
        vid = idx_find6(&ds.v6, peer.h6, peer.l6)
    if vid < 0:
        return 0
    if vid >= ds.nvals:
        return -1
    k = f.act[ds.set_first + vid]
    if k == ACT_IGNORE:
        a.flags |= ACL_IGNORE
    elif k == ACT_REFUSE:
        a.flags |= ACL_REFUSE
    elif k == ACT_EMPTY:
        a.flags |= ACL_EMPTY
    elif k == ACT_VALUE:
        a.flags |= ACL_ALWAYS
        if a.ds < 0:
            a.ds = dsi
            a.vid = vid
    return 0


cdef inline void acl_outcome(Fast* f, FZone* z, const Peer* peer, AclOut* a) noexcept nogil:
    """The global ACL's and then the zone's (z NULL: the global one only) entries for
    the client, ORed (rbldnsd: the global ACL's value answers before the zone's)."""
    a.flags = 0
    a.ds = -1
    a.vid = -1
    if peer == NULL or peer.fam == 0:
        return
    if acl_look(f, f.gacl, peer, a) < 0:
        a.flags |= ACL_REFUSE  # (a corrupt index: refuse rather than guess)
    if z != NULL and acl_look(f, z.acl, peer, a) < 0:
        a.flags |= ACL_REFUSE


cdef void peer_text(Peer* p) noexcept nogil:
    """The address as glibc's inet_ntop (getnameinfo's numeric host) writes it: IPv6 as
    fmt6, but a mapped (::ffff:a.b.c.d) or compatible (::a.b.c.d) address with its last
    32 bits dotted."""
    cdef int k
    if p.fam == 4:
        p.text_len = fmt4(p.text, p.ip4)
        return
    if p.h6 == 0 and (p.l6 >> 32) == 0xFFFF:
        memcpy(p.text, b"::ffff:", 7)
        p.text_len = 7 + fmt4(p.text + 7, <uint32_t>(p.l6 & 0xFFFFFFFFULL))
    elif p.h6 == 0 and (p.l6 >> 32) == 0 and (p.l6 >> 16) != 0:
        memcpy(p.text, b"::", 2)
        p.text_len = 2 + fmt4(p.text + 2, <uint32_t>(p.l6 & 0xFFFFFFFFULL))
    else:
        p.text_len = fmt6(p.text, p.h6, p.l6)


cdef int peer_from_sockaddr(const uint8_t* sa, int salen, Peer* p) noexcept nogil:
    """The client of a received datagram (Linux sockaddr_in / sockaddr_in6); 0, or -1
    for another family (then no ACL entry applies, as in rbldnsd)."""
    cdef int i
    cdef uint16_t fam
    p.fam = 0
    p.text_len = 0
    if salen < 2:
        return -1
    memcpy(&fam, sa, 2)
    if fam == 2 and salen >= 8:
        p.fam = 4
        p.ip4 = (<uint32_t>sa[4] << 24) | (sa[5] << 16) | (sa[6] << 8) | sa[7]
    elif fam == 10 and salen >= 24:
        p.fam = 6
        p.h6 = 0
        p.l6 = 0
        for i in range(8):
            p.h6 = (p.h6 << 8) | sa[8 + i]
            p.l6 = (p.l6 << 8) | sa[16 + i]
    else:
        return -1
    peer_text(p)
    return 0


cdef int _peer(object peer, Peer* p) except -1:
    """A Python peer (an address string, or None) as a Peer."""
    p.fam = 0
    p.text_len = 0
    if peer is None:
        return 0
    import ipaddress
    a = ipaddress.ip_address(peer.split("%", 1)[0] if isinstance(peer, str) else peer)
    if a.version == 4:
        p.fam = 4
        p.ip4 = int(a)
    else:
        p.fam = 6
        p.h6 = int(a) >> 64
        p.l6 = int(a) & 0xFFFFFFFFFFFFFFFF
    peer_text(p)
    return 0


cdef int decide(Fast* f, FZone* z, const uint8_t* q, int* lab, int nb, int qtype,
                bint minimal_any, Out* o, const AclOut* acl, const Peer* peer) noexcept nogil:
    """The answer for the nb labels at lab[0..nb) below zone z (lab[nb]: where they end;
    each lab[i] is a label's length byte in q), for qtype: the records go into o, after
    o.pos, owned by the question's name (a pointer to offset 12). The one home of these
    rules (the dnslib path and check/scan ask it through FastPath.below):

    - the subzone: the longest one whose labels are a suffix of the name (ASCII letters
      compare case-insensitively, every other byte exactly, labels as they are: a dot
      inside a label is a byte of it); none: NXDOMAIN;
    - its own name: NOERROR, nothing (NODATA), counted as listed;
    - else per dataset, in order: a domain dataset looks the labels up as one name (`$`:
      the entry matched); an IP dataset an IPv4 name (4 labels of 1-3 digits <= 255) or
      an IPv6 name (32 single nibbles: IPv4-mapped asks the IPv4 data only, 6to4 the IPv6
      data and then the IPv4 address inside; `$`: the address found); what they list is
      merged by emit() (an identical A once, an identical TXT once, A before TXT per
      listing);
    - nothing listed: a partial reverse name with listed addresses below it is an empty
      non-terminal (NOERROR, NODATA), anything else NXDOMAIN;
    - qtype: A and TXT records for ANY (A only with minimal_any: RFC 8482), A for A, TXT
      for TXT, none for another type (NODATA when listed);
    - a generic dataset answers its records for the exact name (the (sub)zone's own name:
      its `@` records), A, MX, TXT in that order (MX for MX and a full ANY); the records
      of one type carry the smallest of their TTLs (rbldnsd's checkrr_present); for a
      client with an ACL's `empty` or value, a name it has is NODATA (rbldnsd's generic
      compares the query type with those flags ORed in, and no record has that type);
    - the client's ACL entries (acl, rbldnsd's check_query_overwrites): `empty`: no
      dataset but generic ones says anything (NXDOMAIN, no empty non-terminal); a value:
      every dataset that would look the name up (a domain dataset any name, an IP one
      the names of its family) is answered by the ACL's A and TXT instead (`$`: the
      client's address), once. (ignore and refuse are the packet's, before this.)

    Returns rcode | (listed << 8), or -1 when the records do not fit o, or an empty
    non-terminal test is not decided within o.scan_max (the packet path hands the query
    to the reference packing then)."""
    cdef FSub* s = NULL
    cdef FSub* ss
    cdef DS* ds
    cdef int si, st, i, j, k, ln, d, nrel, r, found = 0, is4 = 0, is6 = 0, at = 0
    cdef int32_t vid
    cdef uint32_t ip4 = 0, v
    cdef uint64_t h6 = 0, l6 = 0
    cdef uint8_t subj4[16]
    cdef uint8_t subj6[48]
    cdef uint8_t subjn[264]
    cdef int subj4_len = 0, subj6_len = 0, subjn_len = 0
    cdef int empty = 0, always = 0, addpeer = 0, always_flag = 0, sources = 0
    o.want_a = qtype == 1 or qtype == 255
    o.want_txt = qtype == 16 or (qtype == 255 and not minimal_any)
    o.want_mx = qtype == 15 or (qtype == 255 and not minimal_any)
    o.start = o.pos
    if acl != NULL:
        empty = (acl.flags & ACL_EMPTY) != 0
        always_flag = (acl.flags & ACL_ALWAYS) != 0
        always = not empty and always_flag and acl.ds >= 0 and peer != NULL
    for si in range(z.sub_n):
        ss = &f.subs[z.sub_first + si]
        if ss.nlab == 0:
            s = ss
            break
        if nb < ss.nlab:
            continue
        st = lab[nb - ss.nlab]
        if lab[nb] - st == ss.wlen and eq_ci(q + st, ss.wire, ss.wlen):
            s = ss
            break
    if s == NULL:
        return 3  # no subzone matches: NXDOMAIN
    nrel = nb - s.nlab
    if nrel == 0:  # a subzone's own name: NOERROR (listed), its generic `@` records
        for k in range(s.ds_n):
            ds = &f.dss[s.ds_first + k]
            if ds.kind == DS_GENERIC and ds.g_apex >= 0 and not (empty or always_flag):
                if emit_generic(f, o, ds, ds.g_apex) < 0:
                    return -1
        unify_ttls(o, 2)
        return 1 << 8
    # the address: 4 labels of 1-3 digits <= 255, or 32 single nibbles (reversed)
    if nrel == 4:
        is4 = 1
        for i in range(4):
            k = lab[i]
            ln = q[k]
            if ln > 3:
                is4 = 0
                break
            v = 0
            for j in range(ln):
                d = q[k + 1 + j]
                if d < 48 or d > 57:
                    is4 = 0
                    break
                v = v * 10 + (d - 48)
            if not is4 or v > 255:
                is4 = 0
                break
            ip4 |= v << (8 * i)
    elif nrel == 32:
        is6 = 1
        for i in range(32):
            k = lab[i]
            d = NIB[q[k + 1]]
            if q[k] != 1 or d == 255:
                is6 = 0
                break
            if i < 16:
                l6 |= (<uint64_t>d) << (4 * i)
            else:
                h6 |= (<uint64_t>d) << (4 * (i - 16))
        if is6:  # rbldnsd's rule (v4-mapped: the IPv4 data only; 6to4: the IPv6
            # data, then the IPv4 address inside)
            k = v6_asks(h6, l6, &ip4)
            is6 = (k & ASK6) != 0
            is4 = (k & ASK4) != 0
    for k in range(s.ds_n):
        ds = &f.dss[s.ds_first + k]
        if ds.kind == DS_GENERIC:  # the exact name (its index holds exact names only)
            vid = names_find_wire(ds.names, q + lab[0], lab[nrel] - lab[0], &at)
            if vid >= 0:
                found = 1
                # (an ACL's empty or value: rbldnsd's generic compares the query type
                # with those flags in it, finds no record of that "type": NODATA)
                if not (empty or always_flag):
                    if emit_generic(f, o, ds, vid) < 0:
                        return -1
                    sources += 2  # (its records have their own TTLs)
            continue
        if empty:
            continue
        if always:
            if ds.kind == DS_NAMES or (is4 and ds.asks4) or (is6 and ds.asks6):
                addpeer = 1
            continue
        if ds.kind == DS_NAMES:
            # the labels below the (sub)zone as one name; `$` is the entry matched
            vid = names_find_wire(ds.names, q + lab[0], lab[nrel] - lab[0], &at)
            if vid >= 0:
                found = 1
                subjn_len = 0
                if o.want_txt:
                    subjn_len = names_wire_to_text(q + lab[0] + at,
                                                   lab[nrel] - lab[0] - at, subjn)
                    if subjn_len < 0:
                        return -1
                    for j in range(subjn_len):
                        if 65 <= subjn[j] <= 90:
                            subjn[j] += 32
                if emit(f, o, ds, vid, subjn, subjn_len) < 0:
                    return -1
                sources += 1
            continue
        if is6 and ds.has6:
            vid = idx_find6(&ds.v6, h6, l6)
            if vid >= 0:
                found = 1
                if o.want_txt and subj6_len == 0:
                    subj6_len = fmt6(subj6, h6, l6)
                if emit(f, o, ds, vid, subj6, subj6_len) < 0:
                    return -1
                sources += 1
                continue
        if is4 and ds.has4:
            vid = look4(ds, ip4)
            if vid >= 0:
                found = 1
                if o.want_txt and subj4_len == 0:
                    subj4_len = fmt4(subj4, ip4)
                if emit(f, o, ds, vid, subj4, subj4_len) < 0:
                    return -1
                sources += 1
    if addpeer:  # the ACL's value, after the generic records (rbldnsd: after the loop)
        found = 1
        if emit(f, o, &f.dss[acl.ds], acl.vid, peer.text, peer.text_len) < 0:
            return -1
        sources += 1
    if found:
        unify_ttls(o, sources)
        return 1 << 8
    if empty:
        return 3
    # (a complete IPv4 or IPv6 name is never an empty non-terminal)
    r = 0 if nrel >= 32 or (nrel == 4 and is4 and not is6) else \
        ent_check(f, s, q, lab, nrel, o.scan_max)
    if r < 0:
        return -1
    return 3 if r == 0 else 0  # NXDOMAIN, or an empty non-terminal: NOERROR, NODATA


cdef int fast_answer(Fast* f, const uint8_t* q, int n, uint8_t* out,
                     const Peer* peer) noexcept nogil:
    """The reply for a query of a handled shape (its length), -1 (not handled), or DROP
    (no reply: the client's ACL entry says ignore, the global one before anything else,
    as rbldnsd): the packet parsed here (header, question, one OPT, the zone: the longest
    suffix), the records from decide(), the rest of the reply from finish_reply(). A
    client the ACLs refuse is handed to the reference path (which says REFUSED)."""
    cdef int pos, ln, end, last, nl = 0, i, qend, qtype, qclass, name_end
    cdef int lab[MAXLAB]
    cdef int edns = 0, rdlen, rem, olen, arc
    cdef int nb, zi, r, p2
    cdef FZone* z = NULL
    cdef FZone* zz
    cdef Out o
    cdef int a_seen[MAX_RR]
    cdef int t_off[MAX_RR]
    cdef int t_len[MAX_RR]
    cdef AclOut acl
    acl.flags = 0
    acl.ds = -1
    acl.vid = -1
    if peer != NULL and f.gacl >= 0:
        acl_outcome(f, NULL, peer, &acl)
        if acl.flags & ACL_IGNORE:
            return DROP
    if n < 17 or (q[2] & 0xFE) != 0 or q[4] != 0 or q[5] != 1:
        return -1
    if q[6] or q[7] or q[8] or q[9] or q[10]:
        return -1
    arc = q[11]
    if arc > 1:
        return -1
    last = n - 5
    if last > 12 + 255 - 1:
        last = 12 + 255 - 1
    pos = 12
    while True:
        ln = q[pos]
        if ln == 0:
            break
        end = pos + ln + 1
        if ln > 63 or end > last or nl >= MAXLAB - 2:
            return -1
        lab[nl] = pos
        nl += 1
        pos = end
    name_end = pos
    lab[nl] = pos
    qtype = (q[pos + 1] << 8) | q[pos + 2]
    qclass = (q[pos + 3] << 8) | q[pos + 4]
    qend = pos + 5
    if qclass != 1:
        return -1
    if qtype >= 250 and qtype != 255:
        return -1
    if arc == 1:  # exactly one OPT RR, as dnslib parses it
        p2 = qend
        if p2 + 11 > n or q[p2] != 0 or q[p2 + 1] != 0 or q[p2 + 2] != 41:
            return -1
        edns = (q[p2 + 3] << 8) | q[p2 + 4]
        if edns < 512:
            edns = 512
        rdlen = (q[p2 + 9] << 8) | q[p2 + 10]
        if p2 + 11 + rdlen != n:
            return -1
        i = p2 + 11
        rem = rdlen
        while rem > 4:
            olen = (q[i + 2] << 8) | q[i + 3]
            if olen > rem - 4:
                return -1
            i += 4 + olen
            rem -= 4 + olen
    # the zone: the longest zone that is a suffix of the name (ZoneTable.find)
    nb = nl + 1
    for zi in range(f.nzones):
        zz = &f.zones[zi]
        i = nl - zz.nlab
        if 0 <= i < nb and name_end - lab[i] == zz.wlen and eq_ci(q + lab[i], zz.wire, zz.wlen):
            z = zz
            nb = i
    if z == NULL or nb == 0:
        return -1  # out of zone (REFUSED) or the apex
    if peer != NULL and (f.gacl >= 0 or z.acl >= 0):
        acl_outcome(f, z, peer, &acl)
        if acl.flags & ACL_IGNORE:
            return DROP
        if acl.flags & ACL_REFUSE:
            return -1
    if z.expires != 0 and now_real() >= z.expires - 2.0:
        return -1
    if arc and non_ascii(q, lab, nb):
        # dnslib refuses a label that is not UTF-8 when it parses a query with an OPT:
        # the reference path drops it
        return -1
    # header + question (dnslib writes the question name uncompressed, as received)
    memcpy(out, q, qend)
    out[2] = 0x84 | (q[2] & 1)
    out[3] = 0
    memset(out + 6, 0, 6)
    o.out = out
    o.pos = qend
    o.limit = 512 if arc == 0 else (edns if edns < EDNS_SIZE else EDNS_SIZE)
    o.nrr = 0
    o.na = 0
    o.nt = 0
    o.max_rr = MAX_RR
    o.scan_max = SCAN_MAX
    o.a_seen = a_seen
    o.t_off = t_off
    o.t_len = t_len
    r = decide(f, z, q, lab, nb, qtype, f.minimal_any, &o, &acl, peer)
    if r < 0:
        return -1
    r = finish_reply(z, q, lab, nl, nb, qend, arc, &o, r)
    if r >= 0:
        z.counters[C_QBYTES] += n
    return r


cdef inline int finish_reply(FZone* z, const uint8_t* q, const int* lab, int nl, int nb,
                             int qend, int arc, Out* o, int decided) noexcept nogil:
    """The reply around decide()'s records (o, after the question): the rcode, the
    answer count, the SOA (TTL = its minimum, owned by the apex, its names compressed as
    dnslib compresses them) when there are no records, the OPT when the query had one,
    the zone's counters. Its length, or -1 when it needs TC (the reference path sets it)."""
    cdef uint8_t* out = o.out
    cdef int pos = o.pos, i, rd_at
    cdef int listed = decided >> 8
    cdef int reg_off[NREG]
    cdef const uint8_t* reg_ptr[NREG]
    cdef int reg_len[NREG]
    cdef int nreg = 0
    out[3] = decided & 15
    if pos > o.limit:
        return -1
    if o.nrr:
        put16(out + 6, o.nrr)
    elif z.has_soa:
        # the SOA (TTL = its minimum) owned by the apex: a pointer into the question
        for i in range(nl):
            reg_off[nreg] = lab[i]
            reg_ptr[nreg] = q + lab[i]
            reg_len[nreg] = qend - 4 - lab[i]
            nreg += 1
        if pos + 12 > OUTBUF - 11:
            return -1
        put16(out + pos, 0xC000 | lab[nb])
        put16(out + pos + 2, 6)
        put16(out + pos + 4, 1)
        put32(out + pos + 6, z.soa_ttl)
        rd_at = pos + 10
        pos += 12
        pos = encode_name(out, pos, OUTBUF - 11 - 20, z.mname, reg_off, reg_ptr, reg_len,
                          &nreg, NREG)
        if pos < 0:
            return -1
        pos = encode_name(out, pos, OUTBUF - 11 - 20, z.rname, reg_off, reg_ptr, reg_len,
                          &nreg, NREG)
        if pos < 0:
            return -1
        memcpy(out + pos, z.times, 20)
        pos += 20
        put16(out + rd_at, pos - rd_at - 2)
        put16(out + 8, 1)
    if arc:
        out[pos] = 0
        put16(out + pos + 1, 41)
        put16(out + pos + 3, EDNS_SIZE)
        put32(out + pos + 5, 0)
        put16(out + pos + 9, 0)
        pos += 11
        out[11] = 1
    if pos > o.limit:
        return -1  # needs TC: the reference path sets it
    z.counters[C_QUERIES] += 1
    z.counters[C_LISTED if listed else C_NOTLISTED] += 1
    z.counters[C_BYTES] += pos
    if (decided & 15) == 3:
        z.counters[C_NXDOMAIN] += 1
    return pos


def zone_nlab(w):
    n = i = 0
    while i < len(w):
        i += w[i] + 1
        n += 1
    return n


def _wire(labels, lower=False):
    out = bytearray()
    for x in labels:
        if not 0 < len(x) <= 63:
            raise ValueError("bad label")
        out.append(len(x))
        out += x.lower() if lower else x
    return bytes(out)


def _name_labels(s):
    # as wire._name: the text's labels, empty ones dropped
    return [x.encode("utf-8", "surrogateescape") for x in s.split(".") if x]


cdef object _sockaddr_text(const uint8_t* sa, int salen):
    """A datagram's sender as address text (None for another family)."""
    cdef Peer p
    if peer_from_sockaddr(sa, salen, &p) < 0:
        return None
    return (<char*>p.text)[:p.text_len].decode("ascii")


def peer_text_of(peer):
    """The `$` of an ACL value for a client address (for the tests: glibc's inet_ntop)."""
    cdef Peer p
    _peer(peer, &p)
    return (<char*>p.text)[:p.text_len].decode("ascii")


def format6(hi, lo):
    """fmt6 from Python (for the tests: it must equal str(ipaddress.IPv6Address))."""
    cdef uint8_t w[48]
    cdef int n = fmt6(w, hi, lo)
    return (<char*>w)[:n].decode("ascii")


cdef class FastPath:
    """The compiled answers for the zones of a ZoneTable, or of a list of zones (see the
    module docstring). zone_names: the zones, in the table's order (every zone is
    compiled: a zone it cannot hold is an error here)."""
    cdef Fast f
    cdef uint8_t* below_buf  # below()'s scratch message and its record tables
    cdef int* below_arrs
    cdef object keep        # numpy arrays and bytes whose memory the C structs point into
    cdef readonly list zone_names
    cdef readonly bint minimal_any
    #: some zone (or the table) has an ACL: the packet path needs the client's address
    cdef readonly bint any_acl

    def __cinit__(self):
        memset(&self.f, 0, sizeof(Fast))

    def __dealloc__(self):
        free(self.below_buf)
        free(self.below_arrs)
        free(self.f.zones)
        free(self.f.subs)
        free(self.f.dss)
        free(self.f.set_off)
        free(self.f.lsts)
        free(self.f.pieces)
        free(self.f.act)
        free(self.f.grecs)
        free(self.f.g_off)

    def __init__(self, table, previous=None, minimal_any=False):
        import ipaddress
        import struct
        self.keep = []
        self.zone_names = []
        self.minimal_any = bool(minimal_any)
        zones = list(getattr(table, "zones", table))
        zspecs = []     # (name, dict) per zone in the C table
        subs = []       # (wire, nlab, ds_first, ds_n)
        dss = []        # dicts, see below
        set_off = []
        lsts = []
        pieces = []
        blob = bytearray()
        a_ids = {}
        values_of = {}  # id(dataset) -> (set_first, nvals): value tables shared

        act = []        # per set_off entry: ACT_* (an ACL's keyword), else ACT_VALUE
        grecs = []      # generic records (rtype, ttl, blob offset, length, A id)
        g_off = []
        groups_of = {}  # id(dataset) -> (g_first, ngroups): generic tables shared

        def value_table(ds):
            got = values_of.get(id(ds))
            if got is not None:
                return got
            first = len(set_off)
            nv = ds.value_count
            for vid in range(nv):
                set_off.append(len(lsts))
                vals = ds.values(vid)
                act.append(_ACTS.get(vals[0].a, ACT_VALUE) if ds.is_acl else ACT_VALUE)
                for lv in vals:
                    if ds.is_acl and lv.a in _ACTS:  # a keyword: no records
                        lsts.append((-1, b"\0\0\0\0", 0, -1))
                        continue
                    a4 = ipaddress.IPv4Address(lv.a).packed  # (a dotted quad: zonefmt)
                    aid = a_ids.setdefault(lv.a, len(a_ids))
                    if lv.txt:
                        pf = len(pieces)
                        for pc in template_pieces(lv.txt):
                            if pc is None:
                                pieces.append((0, -1))
                            else:
                                pieces.append((len(blob), len(pc)))
                                blob.extend(pc)
                        lsts.append((aid, a4, pf, len(pieces) - pf))
                    else:
                        lsts.append((aid, a4, 0, -1))
            set_off.append(len(lsts))  # end of the last value id
            act.append(ACT_VALUE)
            values_of[id(ds)] = (first, nv, ds)  # (ds kept: its id stays unique)
            return values_of[id(ds)]

        def generic_table(ds):
            got = groups_of.get(id(ds))
            if got is not None:
                return got
            first = len(g_off)
            for recs in ds.groups:
                g_off.append(len(grecs))
                for rtype, rttl, rdata in recs:
                    aid = -1
                    if rtype == 1:
                        aid = a_ids.setdefault(str(ipaddress.IPv4Address(rdata)), len(a_ids))
                    grecs.append((rtype, rttl, len(blob), len(rdata), aid))
                    blob.extend(rdata)
            g_off.append(len(grecs))
            groups_of[id(ds)] = (first, len(ds.groups), ds)
            return groups_of[id(ds)]

        def ip_spec(ds, ttl):
            """An IP dataset's (or an ACL's) dss entry."""
            sf, nv, _ = value_table(ds)
            v4, v6 = ds.index.v4, ds.index.v6
            starts = np.ascontiguousarray(v4.starts_array, dtype=np.uint32)
            vals = np.ascontiguousarray(v4.vals_array, dtype=np.int32)
            bucket = np.ascontiguousarray(v4.table_array, dtype=np.uint32)
            fmt = ds.format
            return {"kind": DS_IP, "v4": (starts, vals, bucket),
                    "v6": v6, "has4": ds.index.has_v4(),
                    "has6": ds.index.has_v6(), "ttl": ttl, "set_first": sf, "nvals": nv,
                    "asks4": not fmt.startswith("ip6"), "asks6": not fmt.startswith("ip4")}

        def acl_index(acl, ttl_of):
            """The dss index of an ACL (compiled once per table), -1 for none."""
            if acl is None:
                return -1
            got = acls.get(id(acl))
            if got is None:
                dss.append(ip_spec(acl, ttl_of(acl)))
                got = acls[id(acl)] = (len(dss) - 1, acl)
            return got[0]

        acls = {}       # id(acl dataset) -> (its dss index, the dataset)
        gacls = {id(zn.global_acl) for zn in zones}
        if len(gacls) > 1:
            raise ZoneSpecError("the zones of one table have different global ACLs")
        gacl = -1
        if zones and zones[0].global_acl is not None:
            g = zones[0].global_acl
            gacl = acl_index(g, lambda d: d.meta.ttl if d.meta.ttl is not None else
                             _DEFAULT_TTL)

        for zone in zones:
            # zone names are lowercase ASCII (zone.normalize_name) and unique in a table
            # (ZoneTable): every zone of the table is answered here
            try:
                zw = _wire([x.encode("ascii") for x in zone.name.split(".")], lower=True)
            except (UnicodeEncodeError, ValueError):
                raise ZoneSpecError(f"bad zone name {zone.name!r}") from None
            if len(zw) >= MAXZ_WIRE:
                raise ZoneSpecError(f"zone name too long: {zone.name}")
            zs = {"wire": zw, "sub_first": len(subs), "sub_n": 0, "expires": 0.0}
            zspecs.append((zone.name, zs))
            p = zone.prepared()
            zs["expires"] = float(p.expires or 0)
            s = p.soa_neg.data
            soa_names = []
            for what, text in (("mname", s.mname), ("rname", s.rname)):
                try:
                    w = _wire(_name_labels(text)) + b"\0"
                except ValueError:
                    w = b""
                if not 1 <= len(w) <= 254:  # no DNS message could carry it
                    raise ZoneSpecError(
                        f"zone {zone.name}: its SOA {what} {text!r} is not a DNS name (a "
                        f"label over 63 bytes, or over 253 characters; set the zone's soa "
                        f"{what})")
                soa_names.append(w)
            mn, rn = soa_names
            zs["soa"] = (struct.pack("!I", p.soa_neg.ttl), mn, rn,
                         struct.pack("!IIIII", s.serial, s.refresh, s.retry,
                                     s.expire, s.minttl))
            for labels, sdss in p.subzones:
                # labels as a query carries them (ASCII letters lowered; DNS compares
                # the rest exactly); a subzone no DNS name can reach (an empty or
                # over-long label, over 255 bytes) never matches, so it is left out
                try:
                    sw = _wire([x.encode("utf-8", "surrogateescape") for x in labels],
                               lower=True)
                except ValueError:
                    continue
                if len(sw) >= MAXZ_WIRE:
                    continue
                first = len(dss)
                for ds in sdss:
                    ttl = zone.ttl_of(ds)
                    struct.pack("!I", ttl)
                    if ds.is_generic:
                        gf, ng, _ = generic_table(ds)
                        nidx = ds.names
                        dss.append({"kind": DS_GENERIC, "names": nidx,
                                    "capsule": nidx.table_capsule(), "ttl": ttl,
                                    "set_first": 0, "nvals": 0, "g_first": gf,
                                    "ngroups": ng, "g_apex": ds.apex_group})
                        continue
                    if ds.is_names:
                        sf, nv, _ = value_table(ds)
                        nidx = ds.names
                        dss.append({"kind": DS_NAMES, "names": nidx,
                                    "capsule": nidx.table_capsule(), "ttl": ttl,
                                    "set_first": sf, "nvals": nv})
                        continue
                    dss.append(ip_spec(ds, ttl))
                subs.append((sw, len(labels), first, len(dss) - first))
            zs["sub_n"] = len(subs) - zs["sub_first"]
            zs["acl"] = acl_index(zone.acl, zone.ttl_of)
        if len({zs["wire"] for _, zs in zspecs}) != len(zspecs):
            raise ZoneSpecError("two zones of one name")
        # allocate the C structures
        self.f.nzones = len(zspecs)
        self.f.minimal_any = self.minimal_any
        self.f.zones = <FZone*>calloc(max(1, len(zspecs)), sizeof(FZone))
        self.f.subs = <FSub*>calloc(max(1, len(subs)), sizeof(FSub))
        self.f.dss = <DS*>calloc(max(1, len(dss)), sizeof(DS))
        self.f.set_off = <int32_t*>calloc(max(1, len(set_off)), sizeof(int32_t))
        self.f.lsts = <Lst*>calloc(max(1, len(lsts)), sizeof(Lst))
        self.f.pieces = <Piece*>calloc(max(1, len(pieces)), sizeof(Piece))
        self.f.act = <uint8_t*>calloc(max(1, len(act)), sizeof(uint8_t))
        self.f.grecs = <GRec*>calloc(max(1, len(grecs)), sizeof(GRec))
        self.f.g_off = <int32_t*>calloc(max(1, len(g_off)), sizeof(int32_t))
        if not (self.f.zones and self.f.subs and self.f.dss and self.f.set_off and
                self.f.lsts and self.f.pieces and self.f.act and self.f.grecs and
                self.f.g_off):
            raise MemoryError()
        blob_b = bytes(blob) + b"\0"
        self.keep.append(blob_b)
        self.f.blob = <const uint8_t*><char*>blob_b
        cdef int i
        cdef const uint32_t[::1] mv_s
        cdef const int32_t[::1] mv_v
        cdef const uint32_t[::1] mv_b
        cdef DS* d
        for i, spec in enumerate(dss):
            d = &self.f.dss[i]
            d.kind = spec["kind"]
            d.ttl = spec["ttl"]
            d.set_first = spec["set_first"]
            d.nvals = spec["nvals"]
            d.g_apex = -1
            if d.kind == DS_GENERIC:
                d.g_first = spec["g_first"]
                d.ngroups = spec["ngroups"]
                d.g_apex = spec["g_apex"]
            if d.kind == DS_NAMES or d.kind == DS_GENERIC:
                self.keep.append((spec["names"], spec["capsule"]))
                d.names = names_table(spec["capsule"])
                continue
            starts, vals, bucket = spec["v4"]
            v6 = spec["v6"]
            self.keep.append((starts, vals, bucket, v6))
            mv_s = starts
            mv_v = vals
            mv_b = bucket
            if mv_b.shape[0] != FINE + 1 or mv_s.shape[0] == 0 or \
                    mv_v.shape[0] != mv_s.shape[0]:
                raise ValueError("unexpected index layout")
            d.starts = &mv_s[0]
            d.vals = &mv_v[0]
            d.bucket = &mv_b[0]
            # pointers into v6's arrays (v6 kept above)
            d.v6 = (<const Idx6*>PyCapsule_GetPointer(v6.capsule(), b"rblmirror.Idx6"))[0]
            d.n4 = mv_s.shape[0]
            d.has4 = spec["has4"]
            d.has6 = spec["has6"]
            d.asks4 = spec["asks4"]
            d.asks6 = spec["asks6"]
        cdef FSub* fs
        for i, (sw, nlab, first, n) in enumerate(subs):
            fs = &self.f.subs[i]
            memcpy(fs.wire, <char*>sw, len(sw))
            fs.wlen = len(sw)
            fs.nlab = nlab
            fs.ds_first = first
            fs.ds_n = n
        for i, x in enumerate(set_off):
            self.f.set_off[i] = x
        self.f.gacl = gacl
        for i, x in enumerate(act):
            self.f.act[i] = x
        for i, x in enumerate(g_off):
            self.f.g_off[i] = x
        for i, (rt, rttl, off, ln, aid) in enumerate(grecs):
            self.f.grecs[i].rtype = rt
            self.f.grecs[i].ttl = rttl
            self.f.grecs[i].off = off
            self.f.grecs[i].len = ln
            self.f.grecs[i].a_id = aid
        for i, (aid, a, pf, pn) in enumerate(lsts):
            self.f.lsts[i].a_id = aid
            memcpy(self.f.lsts[i].a, <char*>a, 4)
            self.f.lsts[i].p_first = pf
            self.f.lsts[i].p_n = pn
        for i, (off, ln) in enumerate(pieces):
            self.f.pieces[i].off = off
            self.f.pieces[i].len = ln
        prev = previous.counters() if previous is not None else {}
        cdef FZone* z
        for i, (name, zs) in enumerate(zspecs):
            z = &self.f.zones[i]
            w = zs["wire"]
            memcpy(z.wire, <char*>w, len(w))
            z.wlen = len(w)
            z.nlab = zone_nlab(w)
            z.sub_first = zs["sub_first"]
            z.sub_n = zs["sub_n"]
            z.acl = zs["acl"]
            z.expires = zs["expires"]
            ttl_b, mn, rn, times = zs["soa"]
            z.has_soa = 1
            z.soa_ttl = int.from_bytes(ttl_b, "big")
            memcpy(z.mname, <char*>mn, len(mn))
            memcpy(z.rname, <char*>rn, len(rn))
            memcpy(z.times, <char*>times, 20)
            old = prev.get(name)
            if old:  # counters carry over a reload
                for k, cname in enumerate(_COUNTER_NAMES):
                    z.counters[k] = old[cname]
        self.zone_names = [name for name, _ in zspecs]
        self.any_acl = gacl >= 0 or any(zs["acl"] >= 0 for _, zs in zspecs)
        # the zones' own answers (answer.answer: the dnslib path, check, scan) decide
        # with these tables too, instead of compiling each zone again
        for i, zone in enumerate(zones):
            zone.prepared().compiled = (self, i)

    def answer(self, data, peer=None):
        """Reply bytes for a handled query shape, else None (use the reference path);
        b"" for no reply at all (the client's ACL entry says ignore). peer: the client's
        address (text), for the ACLs."""
        cdef const uint8_t[::1] mv = data
        cdef uint8_t out[OUTBUF]
        cdef int n = mv.shape[0], r
        cdef Peer p
        p.fam = 0
        if peer is not None:
            _peer(peer, &p)
        if n == 0:
            return None
        with nogil:
            r = fast_answer(&self.f, &mv[0], n, out, &p if p.fam else NULL)
        if r == DROP:
            return b""
        if r < 0:
            return None
        return (<char*>out)[:r]

    def acl_action(self, int zone, peer):
        """What the ACLs say for a client before any answer (the global one, then zone
        number `zone`'s; -1: the global one only): "ignore", "refuse" or None."""
        cdef Peer p
        cdef AclOut a
        if not -1 <= zone < self.f.nzones:
            raise IndexError("no such zone")
        _peer(peer, &p)
        acl_outcome(&self.f, &self.f.zones[zone] if zone >= 0 else NULL, &p, &a)
        if a.flags & ACL_IGNORE:
            return "ignore"
        if a.flags & ACL_REFUSE:
            return "refuse"
        return None

    def below(self, int zone, labels, int qtype, bint minimal_any=False, peer=None):
        """decide() for Python: the answer for the name whose labels below zone number
        `zone` (of zone_names) are `labels` (bytes, most specific first, any case; at
        most 255 bytes as a wire name), with no message size limit (so never TC) and
        every empty non-terminal decided; peer: the client's address, whose ACL entries'
        `empty` and values decide() applies (ignore and refuse: acl_action()).
        Returns (rcode, records, listed): records [(rtype, ttl, data)] in answer order,
        owned by the name, data an A's 4 bytes or a TXT's string; listed: the name is
        listed (counters)."""
        cdef uint8_t name[256]
        cdef int lab[MAXLAB]
        cdef int nb = 0, pos = 0, r, k, i, rl, skip
        cdef Out o
        cdef uint8_t* buf
        cdef int* arrs
        cdef Peer p
        cdef AclOut acl
        if not 0 <= zone < self.f.nzones:
            raise IndexError("no such zone")
        _peer(peer, &p)
        acl_outcome(&self.f, &self.f.zones[zone], &p, &acl)
        if len(labels) > MAXLAB - 2:
            raise ValueError("too many labels")
        for x in labels:
            k = len(x)
            if not 0 < k <= 63:
                raise ValueError(f"bad label {x!r}")
            if pos + k + 1 > 255:
                raise ValueError("longer than a DNS name")
            lab[nb] = pos
            nb += 1
            name[pos] = k
            memcpy(name + pos + 1, <char*>x, k)
            pos += k + 1
        lab[nb] = pos
        if self.below_buf == NULL:  # scratch space, kept (the GIL guards it)
            self.below_buf = <uint8_t*>malloc(BELOW_BUF + 512)
            self.below_arrs = <int*>malloc(3 * BELOW_RR * sizeof(int))
            if self.below_buf == NULL or self.below_arrs == NULL:
                free(self.below_buf)
                free(self.below_arrs)
                self.below_buf = NULL
                self.below_arrs = NULL
                raise MemoryError()
        buf = self.below_buf
        arrs = self.below_arrs
        o.out = buf
        o.pos = 0
        o.limit = BELOW_BUF
        o.nrr = o.na = o.nt = 0
        o.max_rr = BELOW_RR
        o.scan_max = SCAN_ALL
        o.a_seen = arrs
        o.t_off = arrs + BELOW_RR
        o.t_len = arrs + 2 * BELOW_RR
        r = decide(&self.f, &self.f.zones[zone], name, lab, nb, qtype, minimal_any, &o, &acl,
                   &p if p.fam else NULL)
        if r < 0:
            raise ValueError("no answer: larger than a DNS message can carry, or a corrupt index")
        records = []
        pos = 0
        for i in range(o.nrr):  # owner (2), type, class, ttl (4), length, rdata
            rl = (buf[pos + 10] << 8) | buf[pos + 11]
            k = (buf[pos + 2] << 8) | buf[pos + 3]
            skip = 1 if k == 16 else 0  # a TXT's one string, without its length
            records.append((k, (buf[pos + 6] << 24) | (buf[pos + 7] << 16) |
                            (buf[pos + 8] << 8) | buf[pos + 9],
                            (<char*>(buf + pos + 12 + skip))[:rl - skip]))
            pos += 12 + rl
        return r & 15, records, bool(r >> 8)

    def counters(self):
        """{zone: {counter: n}} for the fast path (dns.counters.COUNTER_NAMES)."""
        cdef int i, k
        out = {}
        for i in range(self.f.nzones):
            c = self.f.zones[i].counters
            out[self.zone_names[i]] = {name: c[k] for k, name in enumerate(_COUNTER_NAMES)}
        return out


cdef inline double now_mono() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef int tc_reply(uint8_t* dst, const uint8_t* r, int rlen) noexcept nogil:
    """The truncated reply RRL slips instead of `r` (into dst, which may be r): its
    header with TC set and no records, and its question; its length, or -1 when r has
    no whole question."""
    cdef int p = 12, n
    if rlen < 17 or r[4] != 0 or r[5] != 1:
        return -1
    while True:
        n = r[p]
        if n == 0:
            break
        if n > 63 or p + n + 1 > rlen - 5:
            return -1
        p += n + 1
    p += 5
    if p > rlen:
        return -1
    if dst != r:
        memcpy(dst, r, p)
    dst[2] |= 0x02
    memset(dst + 6, 0, 6)
    return p


def log_line(reply, str peer, unsigned long now):
    """The query log's line (qlogline.pxd, rbldnsd's format) for `reply` sent to the
    address `peer` (text) at `now` (seconds since the epoch); None when the reply has no
    whole question."""
    cdef const uint8_t[::1] mv = reply
    cdef char out[QLOG_LINE_MAX]
    cdef bytes pb = peer.encode("ascii")
    cdef int n
    if mv.shape[0] == 0:
        return None
    n = qlog_line(out, now, pb, len(pb), &mv[0], mv.shape[0])
    return (<char*>out)[:n] if n > 0 else None


def truncated(reply):
    """The reply RRL slips instead of `reply` (TC set, the question only), or None."""
    cdef bytearray out = bytearray(reply)
    cdef int n
    if len(out) == 0:
        return None
    n = tc_reply(<uint8_t*><char*>out, <uint8_t*><char*>out, len(out))
    return bytes(out[:n]) if n >= 0 else None


cdef class RateLimiter:
    """Response rate limiting per client prefix (rrl.pxd: the accounting): `rate`
    replies a second per prefix, every `slip`-th limited reply truncated (0: none), debt
    down to -rate * window; prefixes of v4_bits (IPv4) and v6_bits (IPv6, at most 64);
    2**bits accounts. UdpLoop(rrl=...) asks it for every UDP reply."""
    cdef RrlTable t
    cdef readonly double rate, window
    cdef readonly int slip, v4_bits, v6_bits, bits

    def __cinit__(self):
        memset(&self.t, 0, sizeof(RrlTable))

    def __dealloc__(self):
        free(self.t.acct)

    def __init__(self, double rate, int slip=2, double window=15.0, int v4_bits=24,
                 int v6_bits=56, int bits=16):
        if not rate > 0:
            raise ValueError("rate must be > 0")
        if slip < 0 or not window >= 1 or not 1 <= v4_bits <= 32 or not 1 <= v6_bits <= 64:
            raise ValueError("slip >= 0, window >= 1, v4_bits 1..32, v6_bits 1..64")
        if not 4 <= bits <= 24:
            raise ValueError("bits must be 4..24")
        self.rate, self.slip, self.window = rate, slip, window
        self.v4_bits, self.v6_bits, self.bits = v4_bits, v6_bits, bits
        free(self.t.acct)
        self.t.acct = <RrlAccount*>calloc(1 << bits, sizeof(RrlAccount))
        if self.t.acct == NULL:
            raise MemoryError()
        self.t.mask = (1 << bits) - 1
        self.t.rate = rate
        self.t.floor = -rate * window
        self.t.slip = slip
        self.t.mask4 = (0xFFFFFFFF << (32 - v4_bits)) & 0xFFFFFFFF
        self.t.mask6 = 0xFFFFFFFFFFFFFFFF if v6_bits == 64 else (
            ((1 << v6_bits) - 1) << (64 - v6_bits))

    def check(self, str host, now=None):
        """The verdict for one reply to `host` (an address): "pass", "drop" or "slip"
        (now: CLOCK_MONOTONIC seconds, default the current time)."""
        import ipaddress
        a = ipaddress.ip_address(host)
        if a.version == 6 and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        cdef double t = now_mono() if now is None else now
        if a.version == 4:
            r = rrl_account(&self.t, 4, int(a), t)
        else:
            r = rrl_account(&self.t, 6, int(a) >> 64, t)
        return ("pass", "drop", "slip")[r]

    def counters(self):
        """{passed, dropped, slipped}: the replies so far by verdict."""
        return {"passed": self.t.passed, "dropped": self.t.dropped,
                "slipped": self.t.slipped}


cdef class UdpLoop:
    """One UDP socket served from a thread: recvmmsg a batch (GIL released), answer the
    handled shapes in C with the current FastPath (read once per batch from
    `zones.fast`, so a reload's swap is picked up on the next batch), hand the rest to
    `slow(packet, peer) -> bytes | None` with the GIL (peer: the client's address text),
    then sendmmsg the batch. The client's address goes to the fast path when its table
    has an ACL.
    rrl (a RateLimiter, or None): each reply is accounted to its client's prefix first,
    and dropped or sent truncated when limited. log (an object with write(bytes), or
    None): the batch's query log lines (qlogline.pxd), whole lines, one write() per
    batch, after the batch is sent.
    The socket must be blocking with a receive timeout (SO_RCVTIMEO) so stop() is seen."""
    cdef int fd
    cdef int stopping
    cdef object zones
    cdef object slow
    cdef object log
    cdef RateLimiter rrl
    cdef readonly uint64_t batches, fast_answers, slow_answers
    cdef readonly int batch

    def __init__(self, int fd, zones, slow, int batch=BATCH, log=None,
                 RateLimiter rrl=None):
        self.fd = fd
        self.zones = zones
        self.slow = slow
        self.log = log
        self.rrl = rrl
        self.stopping = 0
        if not 1 <= batch <= 1024:
            raise ValueError("batch must be 1..1024")
        self.batch = batch

    def stop(self):
        self.stopping = 1

    def run(self):
        cdef int nb = self.batch
        cdef uint8_t* rbuf = <uint8_t*>malloc(nb * RECVBUF)
        cdef uint8_t* obuf = <uint8_t*>malloc(nb * OUTBUF)
        cdef sockaddr_storage* names = <sockaddr_storage*>calloc(nb, sizeof(sockaddr_storage))
        cdef iovec* riov = <iovec*>calloc(nb, sizeof(iovec))
        cdef iovec* siov = <iovec*>calloc(nb, sizeof(iovec))
        cdef mmsghdr* rmsg = <mmsghdr*>calloc(nb, sizeof(mmsghdr))
        cdef mmsghdr* smsg = <mmsghdr*>calloc(nb, sizeof(mmsghdr))
        cdef int* rlen = <int*>calloc(nb, sizeof(int))
        cdef int i, r, ns, sent, k, nslow, fam, plen, verdict, tl
        cdef Fast* fp
        cdef Peer peer
        cdef int any_acl
        cdef const uint8_t[::1] mv
        cdef RrlTable* rt = &self.rrl.t if self.rrl is not None else NULL
        cdef int logging = self.log is not None
        cdef char* lbuf = <char*>malloc(nb * QLOG_LINE_MAX) if logging else NULL
        cdef int lpos
        cdef char ptext[64]  # the query log's client text
        cdef uint64_t paddr
        cdef double tnow
        cdef unsigned long wall
        cdef const uint8_t* rp
        if not (rbuf and obuf and names and riov and siov and rmsg and smsg and rlen) or (
                logging and lbuf == NULL):
            free(rbuf); free(obuf); free(names); free(riov); free(siov); free(rmsg); free(smsg)
            free(rlen); free(lbuf)
            raise MemoryError()
        try:
            while not self.stopping:
                with nogil:
                    for i in range(nb):
                        riov[i].iov_base = rbuf + i * RECVBUF
                        riov[i].iov_len = RECVBUF
                        memset(&rmsg[i], 0, sizeof(mmsghdr))
                        rmsg[i].msg_hdr.msg_name = &names[i]
                        rmsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                        rmsg[i].msg_hdr.msg_iov = &riov[i]
                        rmsg[i].msg_hdr.msg_iovlen = 1
                    r = recvmmsg(self.fd, rmsg, nb, MSG_WAITFORONE, NULL)
                if r <= 0:
                    if r < 0 and (errno == EBADF or errno == ENOTSOCK):
                        break  # the socket was closed under us
                    continue  # timeout (to look at the stop flag) or EINTR
                if self.stopping:
                    break
                fast = self.zones.fast
                fp = NULL
                any_acl = 0
                if isinstance(fast, FastPath):
                    fp = &(<FastPath>fast).f
                    any_acl = (<FastPath>fast).any_acl
                nslow = 0
                with nogil:
                    for i in range(r):
                        rlen[i] = -1
                        if fp != NULL and rmsg[i].msg_len > 0:
                            if any_acl and peer_from_sockaddr(
                                    <const uint8_t*>&names[i], rmsg[i].msg_hdr.msg_namelen,
                                    &peer) == 0:
                                rlen[i] = fast_answer(fp, rbuf + i * RECVBUF,
                                                      rmsg[i].msg_len, obuf + i * OUTBUF,
                                                      &peer)
                            else:
                                rlen[i] = fast_answer(fp, rbuf + i * RECVBUF,
                                                      rmsg[i].msg_len, obuf + i * OUTBUF,
                                                      NULL)
                        if rlen[i] == -1:
                            nslow += 1
                keep = None
                if nslow:
                    keep = []
                    for i in range(r):
                        if rlen[i] != -1:
                            continue
                        try:
                            out = self.slow((<char*>(rbuf + i * RECVBUF))[:rmsg[i].msg_len],
                                            _sockaddr_text(<const uint8_t*>&names[i],
                                                           rmsg[i].msg_hdr.msg_namelen))
                        except Exception:
                            out = None
                        if out is None:
                            rlen[i] = -2  # no reply
                            continue
                        keep.append(out)
                        mv = out
                        if mv.shape[0] == 0:
                            rlen[i] = -2
                            continue
                        rlen[i] = -3  # reply in siov[i], set below
                        siov[i].iov_base = <void*>&mv[0]
                        siov[i].iov_len = mv.shape[0]
                    self.slow_answers += nslow
                self.fast_answers += r - nslow
                self.batches += 1
                lpos = 0
                with nogil:
                    if rt != NULL or logging:
                        tnow = now_mono() if rt != NULL else 0.0
                        wall = <unsigned long>now_real()
                        for i in range(r):
                            if rlen[i] == -2 or rlen[i] == -1:
                                continue
                            if rlen[i] >= 0:
                                rp = obuf + i * OUTBUF
                                tl = rlen[i]
                            else:
                                rp = <const uint8_t*>siov[i].iov_base
                                tl = <int>siov[i].iov_len
                            if rt != NULL:
                                fam = rrl_peer(&names[i], &paddr)
                                if fam:
                                    verdict = rrl_account(rt, fam, paddr, tnow)
                                    if verdict == RRL_DROP:
                                        rlen[i] = -2
                                        continue
                                    if verdict == RRL_SLIP:
                                        tl = tc_reply(obuf + i * OUTBUF, rp, tl)
                                        rlen[i] = tl if tl >= 0 else -2
                                        if tl < 0:
                                            continue
                                        rp = obuf + i * OUTBUF
                            if logging:
                                plen = qlog_peer(&names[i], ptext)
                                lpos += qlog_line(lbuf + lpos, wall, ptext, plen, rp, tl)
                    ns = 0
                    for i in range(r):
                        if rlen[i] == -2 or rlen[i] == -1:
                            continue
                        if rlen[i] >= 0:
                            siov[i].iov_base = obuf + i * OUTBUF
                            siov[i].iov_len = rlen[i]
                        memset(&smsg[ns], 0, sizeof(mmsghdr))
                        smsg[ns].msg_hdr.msg_name = &names[i]
                        smsg[ns].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen
                        smsg[ns].msg_hdr.msg_iov = &siov[i]
                        smsg[ns].msg_hdr.msg_iovlen = 1
                        ns += 1
                    k = 0
                    while k < ns:
                        sent = sendmmsg(self.fd, smsg + k, ns - k, 0)
                        if sent <= 0:
                            if sent < 0 and errno == EINTR:
                                continue
                            k += 1  # skip the one that failed
                        else:
                            k += sent
                keep = None
                if lpos:
                    try:
                        self.log.write((<char*>lbuf)[:lpos])
                    except Exception:
                        pass  # (the log reports its own write errors)
        finally:
            free(rbuf); free(obuf); free(names); free(riov); free(siov); free(rmsg); free(smsg)
            free(rlen); free(lbuf)
