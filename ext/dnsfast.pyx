# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled DNS fast path: the common query shapes answered in C, byte-identical to
rblmirror.server.respond() (the dnslib reference path), plus a batched UDP loop
(recvmmsg/sendmmsg in a thread with the GIL released).

FastPath(table) precomputes, per zone that only has IP datasets at its apex: the zone's
wire name, its datasets' index arrays, per value id the A rdata and the TXT template
split around `$`/`$$`, TTLs and the negative-answer SOA. answer(packet) returns the reply
bytes, or None when the packet is not one of the shapes handled here (the caller then
uses the reference path). No Python object is touched per packet in fast_answer().
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t
from libc.string cimport memcpy, memcmp, memset
from libc.stdlib cimport malloc, free, calloc
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME
cimport cython
from ipsearch cimport FINE, _value4, fmt4
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
DEF OUTBUF = 4096
DEF BATCH = 64
DEF RECVBUF = 65536
DEF EDNS_SIZE = 1232

cdef enum:
    C_QUERIES = 0
    C_LISTED = 1
    C_NOTLISTED = 2
    C_REFUSED = 3
    C_ERRORS = 4
    C_BYTES = 5
    NCOUNTERS = 6


cdef struct Piece:
    int32_t off   # into the blob
    int32_t len   # -1: the subject (the queried IPv4 address as text)


cdef struct Lst:
    int32_t a_id       # id of the A value's text (dedup is on the text, as Zone.answer)
    uint8_t a[4]
    int32_t p_first    # first piece of the TXT template
    int32_t p_n        # number of pieces; -1: no TXT


cdef struct DS:
    const uint32_t* starts
    const int32_t* vals
    const uint32_t* bucket   # the index's first-level table (ipsearch.FINE_BITS)
    uint32_t ttl
    int32_t set_first  # index into set_off (per value id of this dataset)
    int32_t nvals


cdef struct FZone:
    uint8_t wire[MAXZ_WIRE]   # lowercase wire name of the zone, without the root byte
    int wlen
    int ds_first
    int ds_n
    int has_soa
    uint32_t soa_ttl
    uint8_t mname[MAXZ_WIRE]  # uncompressed wire names (with the root byte)
    int mlen
    uint8_t rname[MAXZ_WIRE]
    int rlen
    uint8_t times[20]
    double expires            # 0: never
    uint64_t counters[NCOUNTERS]


cdef struct Fast:
    FZone* zones
    int nzones
    DS* dss
    int32_t* set_off      # per (dataset, value id): first Lst; then the next one's start
    Lst* lsts
    Piece* pieces
    const uint8_t* blob


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


cdef int fast_answer(Fast* f, const uint8_t* q, int n, uint8_t* out) noexcept nogil:
    """The reply for a query of a handled shape (its length), or -1 (not handled)."""
    cdef int pos, ln, end, last, nl = 0, i, j, k, d, qend, qtype, qclass
    cdef int lab[130]
    cdef int edns = 0, limit, rdlen, rem, olen, arc
    cdef uint32_t ip = 0, v
    cdef int zone_at, zwl, zi
    cdef FZone* z
    cdef DS* ds
    cdef Lst* L
    cdef Piece* P
    cdef int32_t vid, s0, s1
    cdef int found = 0, nrr = 0, want_a, want_txt, rcode
    cdef int a_seen[MAX_RR]
    cdef int t_off[MAX_RR]
    cdef int t_len[MAX_RR]
    cdef int na = 0, nt = 0, dup, tl, rd_at
    cdef uint8_t subj[16]
    cdef int subj_len = 0
    cdef int reg_off[300]
    cdef const uint8_t* reg_ptr[300]
    cdef int reg_len[300]
    cdef int nreg = 0
    cdef int p2
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
        if ln > 63 or end > last or nl >= 128:
            return -1
        lab[nl] = pos
        nl += 1
        pos = end
    if nl < 5:
        return -1
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
    # the address: exactly 4 labels of 1-3 ASCII digits <= 255 (reversed)
    for i in range(4):
        pos = lab[i]
        ln = q[pos]
        if ln > 3:
            return -1
        v = 0
        for j in range(ln):
            d = q[pos + 1 + j]
            if d < 48 or d > 57:
                return -1
            v = v * 10 + (d - 48)
        if v > 255:
            return -1
        ip |= v << (8 * i)
    # the zone: the labels after the fourth, ASCII case-insensitively
    zone_at = lab[4]
    zwl = qend - 5 - zone_at   # without the root byte
    z = NULL
    for zi in range(f.nzones):
        if f.zones[zi].wlen != zwl:
            continue
        k = 1
        j = 0
        while j < zwl:
            ln = q[zone_at + j]
            if ln != f.zones[zi].wire[j]:
                k = 0
                break
            for i in range(1, ln + 1):
                d = q[zone_at + j + i]
                if 65 <= d <= 90:
                    d += 32
                if d != f.zones[zi].wire[j + i]:
                    k = 0
                    break
            if not k:
                break
            j += ln + 1
        if k:
            z = &f.zones[zi]
            break
    if z == NULL:
        return -1
    if z.expires != 0 and now_real() >= z.expires - 2.0:
        return -1
    limit = 512 if arc == 0 else (edns if edns < EDNS_SIZE else EDNS_SIZE)
    want_a = qtype == 1 or qtype == 255
    want_txt = qtype == 16
    # header + question (dnslib writes the question name uncompressed, as received)
    memcpy(out, q, qend)
    out[2] = 0x84 | (q[2] & 1)
    out[3] = 0
    memset(out + 6, 0, 6)
    pos = qend
    # the question's suffixes in dnslib's names dict
    for i in range(nl):
        reg_off[nreg] = lab[i]
        reg_ptr[nreg] = q + lab[i]
        reg_len[nreg] = qend - 4 - lab[i]
        nreg += 1
    for k in range(z.ds_n):
        ds = &f.dss[z.ds_first + k]
        vid = _value4(ds.starts, ds.vals, ds.bucket, ip)
        if vid < 0:
            continue
        found = 1
        if vid >= ds.nvals:
            return -1
        s0 = f.set_off[ds.set_first + vid]
        s1 = f.set_off[ds.set_first + vid + 1]
        for j in range(s0, s1):
            L = &f.lsts[j]
            if want_a:
                dup = 0
                for i in range(na):
                    if a_seen[i] == L.a_id:
                        dup = 1
                        break
                if dup:
                    continue
                if na >= MAX_RR or pos + 16 > OUTBUF - 11:
                    return -1
                a_seen[na] = L.a_id
                na += 1
                put16(out + pos, 0xC00C)
                put16(out + pos + 2, 1)
                put16(out + pos + 4, 1)
                put32(out + pos + 6, ds.ttl)
                put16(out + pos + 10, 4)
                memcpy(out + pos + 12, L.a, 4)
                pos += 16
                nrr += 1
            elif want_txt and L.p_n >= 0:
                if pos + 13 + 254 > OUTBUF - 11 or nt >= MAX_RR:
                    return -1
                if subj_len == 0:
                    subj_len = fmt4(subj, ip)
                rd_at = pos + 13
                tl = 0
                for i in range(L.p_n):
                    P = &f.pieces[L.p_first + i]
                    if P.len < 0:
                        d = subj_len
                        if tl + d > 254:
                            d = 254 - tl
                        memcpy(out + rd_at + tl, subj, d)
                    else:
                        d = P.len
                        if tl + d > 254:
                            d = 254 - tl
                        memcpy(out + rd_at + tl, f.blob + P.off, d)
                    tl += d
                    if tl >= 254:
                        break
                dup = 0
                for i in range(nt):
                    if t_len[i] == tl and memcmp(out + t_off[i], out + rd_at, tl) == 0:
                        dup = 1
                        break
                if dup:
                    continue
                t_off[nt] = rd_at
                t_len[nt] = tl
                nt += 1
                put16(out + pos, 0xC00C)
                put16(out + pos + 2, 16)
                put16(out + pos + 4, 1)
                put32(out + pos + 6, ds.ttl)
                put16(out + pos + 10, tl + 1)
                out[pos + 12] = tl
                pos += 13 + tl
                nrr += 1
    if not found:
        if q[lab[0]] == 1 and q[lab[1]] == 1 and q[lab[2]] == 1 and q[lab[3]] == 1:
            # four one-digit labels are also a partial IPv6 nibble name: the reference
            # path may answer it as an empty non-terminal (NODATA); let it decide
            return -1
        out[3] = 3  # NXDOMAIN
    if nrr:
        put16(out + 6, nrr)
    elif z.has_soa:
        # the SOA (TTL = its minimum) owned by the apex: a pointer into the question
        if pos + 12 > OUTBUF - 11:
            return -1
        put16(out + pos, 0xC000 | zone_at)
        put16(out + pos + 2, 6)
        put16(out + pos + 4, 1)
        put32(out + pos + 6, z.soa_ttl)
        rd_at = pos + 10
        pos += 12
        pos = encode_name(out, pos, OUTBUF - 11 - 20, z.mname, reg_off, reg_ptr, reg_len,
                          &nreg, 300)
        if pos < 0:
            return -1
        pos = encode_name(out, pos, OUTBUF - 11 - 20, z.rname, reg_off, reg_ptr, reg_len,
                          &nreg, 300)
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
    if pos > limit:
        return -1  # needs TC: the reference path sets it
    z.counters[C_QUERIES] += 1
    z.counters[C_LISTED if found else C_NOTLISTED] += 1
    z.counters[C_BYTES] += pos
    return pos


def _wire(labels, lower=False):
    out = bytearray()
    for x in labels:
        if not 0 < len(x) <= 63:
            raise ValueError("bad label")
        out.append(len(x))
        out += x.lower() if lower else x
    return bytes(out)


def _name_labels(s):
    # as server._name: the text's labels, empty ones dropped
    return [x.encode("utf-8", "surrogateescape") for x in s.split(".") if x]


def _template_pieces(txt):
    """values.render() as pieces: split on `$$` (a dollar), then each `$` is the subject."""
    from rblmirror.values import txt_bytes
    out = []  # list of bytes or None (the subject)
    parts = txt.split("$$")
    for pi, part in enumerate(parts):
        if pi:
            out.append(b"$")
        sub = part.split("$")
        for si, s in enumerate(sub):
            if si:
                out.append(None)
            if s:
                out.append(txt_bytes(s))
    return out


cdef class FastPath:
    """The compiled answers for the IP zones of a ZoneTable (see the module docstring)."""
    cdef Fast f
    cdef object keep        # numpy arrays and bytes whose memory the C structs point into
    cdef readonly list zone_names
    cdef readonly list skipped

    def __cinit__(self):
        memset(&self.f, 0, sizeof(Fast))

    def __dealloc__(self):
        free(self.f.zones)
        free(self.f.dss)
        free(self.f.set_off)
        free(self.f.lsts)
        free(self.f.pieces)

    def __init__(self, table, previous=None):
        from rblmirror.values import TXT_EMIT_MAX
        from dnslib import A
        from dnslib.label import DNSBuffer
        import struct
        self.keep = []
        self.zone_names = []
        self.skipped = []
        names = [zz.name for zz in table.zones]
        zspecs = []
        dss = []
        set_off = []
        lsts = []
        pieces = []
        blob = bytearray()
        a_ids = {}
        for zone in table.zones:
            why = None
            if any(o != zone.name and o.endswith("." + zone.name) for o in names):
                why = "has subzones served as zones"
            elif not zone.datasets:
                why = "no datasets"
            elif any(a.subzone != "" or a.dataset.is_names for a in zone.datasets):
                why = "not only IP datasets at the apex"
            elif not zone.name.isascii():
                why = "non-ASCII name"
            if why:
                self.skipped.append((zone.name, why))
                continue
            try:
                zw = _wire([x.encode() for x in zone.name.split(".")], lower=True)
                if len(zw) >= MAXZ_WIRE - 20:
                    raise ValueError("zone name too long")
                p = zone.prepared()
                zs = {"wire": zw, "ds_first": len(dss), "expires": float(p.expires or 0)}
                if p.soa_neg is not None:
                    s = p.soa_neg.data
                    mn = _wire(_name_labels(s.mname)) + b"\0"
                    rn = _wire(_name_labels(s.rname)) + b"\0"
                    if len(mn) > 254 or len(rn) > 254:
                        raise ValueError("SOA name too long")
                    zs["soa"] = (struct.pack("!I", p.soa_neg.ttl), mn, rn,
                                 struct.pack("!IIIII", s.serial, s.refresh, s.retry,
                                             s.expire, s.minttl))
                zdss = []
                for att in zone.datasets:
                    ds = att.dataset
                    starts = np.ascontiguousarray(ds.index.v4.starts_array, dtype=np.uint32)
                    vals = np.ascontiguousarray(ds.index.v4.vals_array, dtype=np.int32)
                    bucket = np.ascontiguousarray(ds.index.v4.table_array, dtype=np.uint32)
                    ttl = zone.ttl_of(ds)
                    struct.pack("!I", ttl)
                    first = len(set_off)
                    nv = ds.value_count
                    for vid in range(nv):
                        set_off.append(len(lsts))
                        for lv in ds.values(vid):
                            buf = DNSBuffer()
                            A(lv.a).pack(buf)
                            if len(buf.data) != 4:
                                raise ValueError("bad A value")
                            aid = a_ids.setdefault(lv.a, len(a_ids))
                            if lv.txt:
                                pf = len(pieces)
                                for pc in _template_pieces(lv.txt):
                                    if pc is None:
                                        pieces.append((0, -1))
                                    else:
                                        pieces.append((len(blob), len(pc)))
                                        blob += pc
                                lsts.append((aid, bytes(buf.data), pf, len(pieces) - pf))
                            else:
                                lsts.append((aid, bytes(buf.data), 0, -1))
                    set_off.append(len(lsts))  # end of the last value id
                    zdss.append((starts, vals, bucket, ttl, first, nv))
                zs["ds_n"] = len(zdss)
            except Exception as e:  # this zone stays on the reference path
                self.skipped.append((zone.name, f"{type(e).__name__}: {e}"))
                continue
            dss.extend(zdss)
            zs["ds_first"] = len(dss) - len(zdss)
            zspecs.append((zone.name, zs))
        # allocate the C structures
        self.f.nzones = len(zspecs)
        self.f.zones = <FZone*>calloc(max(1, len(zspecs)), sizeof(FZone))
        self.f.dss = <DS*>calloc(max(1, len(dss)), sizeof(DS))
        self.f.set_off = <int32_t*>calloc(max(1, len(set_off)), sizeof(int32_t))
        self.f.lsts = <Lst*>calloc(max(1, len(lsts)), sizeof(Lst))
        self.f.pieces = <Piece*>calloc(max(1, len(pieces)), sizeof(Piece))
        if not (self.f.zones and self.f.dss and self.f.set_off and self.f.lsts and self.f.pieces):
            raise MemoryError()
        blob_b = bytes(blob) + b"\0"
        self.keep.append(blob_b)
        self.f.blob = <const uint8_t*><char*>blob_b
        cdef int i
        cdef const uint32_t[::1] mv_s
        cdef const int32_t[::1] mv_v
        cdef const uint32_t[::1] mv_b
        for i, (starts, vals, bucket, ttl, first, nv) in enumerate(dss):
            self.keep.append((starts, vals, bucket))
            mv_s = starts
            mv_v = vals
            mv_b = bucket
            if mv_b.shape[0] != FINE + 1 or mv_s.shape[0] == 0:
                raise ValueError("unexpected index layout")
            self.f.dss[i].starts = &mv_s[0]
            self.f.dss[i].vals = &mv_v[0]
            self.f.dss[i].bucket = &mv_b[0]
            self.f.dss[i].ttl = ttl
            self.f.dss[i].set_first = first
            self.f.dss[i].nvals = nv
        for i, x in enumerate(set_off):
            self.f.set_off[i] = x
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
            z.ds_first = zs["ds_first"]
            z.ds_n = zs["ds_n"]
            z.expires = zs["expires"]
            if "soa" in zs:
                ttl_b, mn, rn, times = zs["soa"]
                z.has_soa = 1
                z.soa_ttl = int.from_bytes(ttl_b, "big")
                memcpy(z.mname, <char*>mn, len(mn))
                z.mlen = len(mn)
                memcpy(z.rname, <char*>rn, len(rn))
                z.rlen = len(rn)
                memcpy(z.times, <char*>times, 20)
            old = prev.get(name)
            if old:  # counters carry over a reload
                z.counters[C_QUERIES] = old["queries"]
                z.counters[C_LISTED] = old["listed"]
                z.counters[C_NOTLISTED] = old["not_listed"]
                z.counters[C_BYTES] = old["bytes"]
            self.zone_names.append(name)

    def answer(self, data):
        """Reply bytes for a handled query shape, else None (use the reference path)."""
        cdef const uint8_t[::1] mv = data
        cdef uint8_t out[OUTBUF]
        cdef int n = mv.shape[0], r
        if n == 0:
            return None
        with nogil:
            r = fast_answer(&self.f, &mv[0], n, out)
        if r < 0:
            return None
        return (<char*>out)[:r]

    def counters(self):
        """{zone: {queries, listed, not_listed, refused, errors, bytes}} for the fast path."""
        cdef int i
        out = {}
        for i in range(self.f.nzones):
            c = self.f.zones[i].counters
            out[self.zone_names[i]] = {"queries": c[0], "listed": c[1], "not_listed": c[2],
                                       "refused": c[3], "errors": c[4], "bytes": c[5]}
        return out


cdef class UdpLoop:
    """One UDP socket served from a thread: recvmmsg a batch (GIL released), answer the
    handled shapes in C with the current FastPath (read once per batch from
    `zones.fast`, so a reload's swap is picked up on the next batch), hand the rest to
    `slow(packet) -> bytes | None` with the GIL, then sendmmsg the batch.
    The socket must be blocking with a receive timeout (SO_RCVTIMEO) so stop() is seen."""
    cdef int fd
    cdef int stopping
    cdef object zones
    cdef object slow
    cdef readonly uint64_t batches, fast_answers, slow_answers

    def __init__(self, int fd, zones, slow):
        self.fd = fd
        self.zones = zones
        self.slow = slow
        self.stopping = 0

    def stop(self):
        self.stopping = 1

    def run(self):
        cdef uint8_t* rbuf = <uint8_t*>malloc(BATCH * RECVBUF)
        cdef uint8_t* obuf = <uint8_t*>malloc(BATCH * OUTBUF)
        cdef sockaddr_storage* names = <sockaddr_storage*>calloc(BATCH, sizeof(sockaddr_storage))
        cdef iovec* riov = <iovec*>calloc(BATCH, sizeof(iovec))
        cdef iovec* siov = <iovec*>calloc(BATCH, sizeof(iovec))
        cdef mmsghdr* rmsg = <mmsghdr*>calloc(BATCH, sizeof(mmsghdr))
        cdef mmsghdr* smsg = <mmsghdr*>calloc(BATCH, sizeof(mmsghdr))
        cdef int rlen[BATCH]
        cdef int i, r, ns, sent, k, nslow
        cdef Fast* fp
        cdef const uint8_t[::1] mv
        if not (rbuf and obuf and names and riov and siov and rmsg and smsg):
            free(rbuf); free(obuf); free(names); free(riov); free(siov); free(rmsg); free(smsg)
            raise MemoryError()
        try:
            while not self.stopping:
                with nogil:
                    for i in range(BATCH):
                        riov[i].iov_base = rbuf + i * RECVBUF
                        riov[i].iov_len = RECVBUF
                        memset(&rmsg[i], 0, sizeof(mmsghdr))
                        rmsg[i].msg_hdr.msg_name = &names[i]
                        rmsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                        rmsg[i].msg_hdr.msg_iov = &riov[i]
                        rmsg[i].msg_hdr.msg_iovlen = 1
                    r = recvmmsg(self.fd, rmsg, BATCH, MSG_WAITFORONE, NULL)
                if r <= 0:
                    if r < 0 and (errno == EBADF or errno == ENOTSOCK):
                        break  # the socket was closed under us
                    continue  # timeout (to look at the stop flag) or EINTR
                if self.stopping:
                    break
                fast = self.zones.fast
                fp = NULL
                if isinstance(fast, FastPath):
                    fp = &(<FastPath>fast).f
                nslow = 0
                with nogil:
                    for i in range(r):
                        rlen[i] = -1
                        if fp != NULL and rmsg[i].msg_len > 0:
                            rlen[i] = fast_answer(fp, rbuf + i * RECVBUF, rmsg[i].msg_len,
                                                  obuf + i * OUTBUF)
                        if rlen[i] < 0:
                            nslow += 1
                keep = None
                if nslow:
                    keep = []
                    for i in range(r):
                        if rlen[i] >= 0:
                            continue
                        try:
                            out = self.slow((<char*>(rbuf + i * RECVBUF))[:rmsg[i].msg_len])
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
                with nogil:
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
        finally:
            free(rbuf); free(obuf); free(names); free(riov); free(siov); free(rmsg); free(smsg)
