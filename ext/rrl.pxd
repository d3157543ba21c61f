# cython: language_level=3
"""Response rate limiting's accounts (BIND's and Knot's RRL scheme, per client prefix):
a fixed-size table of accounts keyed by the client's prefix (/24 IPv4, /56 IPv6 by
default), no allocation per query. The one home of the accounting; dnsfast's UdpLoop
asks it for every UDP reply it is about to send, and dnsfast.RateLimiter wraps it.

An account earns `rate` credits a second, is never above `rate` nor below
-rate * window; each reply costs one. While it is negative the reply is limited: every
`slip`-th limited reply goes out truncated (TC=1: a real resolver retries over TCP,
which is not limited), the others are dropped (slip 0: all dropped; 1: all truncated).
A client flooding above the rate therefore gets its first second's worth, then only the
slipped replies, until it has stayed quiet for `window` seconds.

The table has 2**bits slots; a prefix hashes to two neighbouring slots and takes the
less recently used one when neither is its own (an evicted account starts again with
full credit). Several UDP threads of one process share the table without a lock: a race
can lose one debit, never corrupt an account beyond that."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef enum:
    RRL_PASS = 0
    RRL_DROP = 1
    RRL_SLIP = 2

cdef struct RrlAccount:
    uint64_t key        # the prefix (IPv4: its 32 bits; IPv6: the top 64), masked
    double balance
    double last         # CLOCK_MONOTONIC seconds of its last reply
    uint32_t slipped    # limited replies since the last slip
    uint8_t family      # 0: empty slot, 4, 6

cdef struct RrlTable:
    RrlAccount* acct
    uint32_t mask       # slots - 1
    double rate
    double floor        # -rate * window
    int slip
    uint64_t mask4      # the prefix masks
    uint64_t mask6
    uint64_t passed, dropped, slipped


cdef inline int rrl_account(RrlTable* t, int family, uint64_t addr, double now) noexcept nogil:
    """The verdict for one reply to a client (family 4: addr its 32 bits, 6: its top 64):
    RRL_PASS, RRL_DROP or RRL_SLIP."""
    cdef uint64_t key = addr & (t.mask4 if family == 4 else t.mask6)
    cdef uint64_t h = (key ^ (<uint64_t>family << 61)) * <uint64_t>0x9E3779B97F4A7C15ULL
    cdef uint32_t i = <uint32_t>(h >> 40) & t.mask
    cdef RrlAccount* a = &t.acct[i]
    cdef RrlAccount* b = &t.acct[i ^ 1]
    cdef double bal
    if not (a.family == family and a.key == key):
        if b.family == family and b.key == key:
            a = b
        else:
            if b.last < a.last:
                a = b
            a.family = family
            a.key = key
            a.balance = t.rate
            a.last = now
            a.slipped = 0
    bal = a.balance + (now - a.last) * t.rate
    if bal > t.rate:
        bal = t.rate
    bal -= 1.0
    if bal < t.floor:
        bal = t.floor
    a.balance = bal
    a.last = now
    if bal >= 0:
        t.passed += 1
        return RRL_PASS
    if t.slip > 0:
        a.slipped += 1
        if a.slipped >= <uint32_t>t.slip:
            a.slipped = 0
            t.slipped += 1
            return RRL_SLIP
    t.dropped += 1
    return RRL_DROP


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <netinet/in.h>
    #include <sys/socket.h>
    /* a client's address for rrl_account: 4 (out: the IPv4 address), 6 (out: the top 64
       bits of the IPv6 one; an IPv4-mapped one counts as IPv4), or 0 */
    static int rrl_peer(const void *sa, uint64_t *out) {
      const struct sockaddr *s = (const struct sockaddr *)sa;
      const unsigned char *b;
      int i;
      uint64_t v = 0;
      if (s->sa_family == AF_INET) {
        *out = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return 4;
      }
      if (s->sa_family != AF_INET6) return 0;
      b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
      if (!memcmp(b, "\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\xff\\xff", 12)) {
        *out = ((uint64_t)b[12] << 24) | (b[13] << 16) | (b[14] << 8) | b[15];
        return 4;
      }
      for (i = 0; i < 8; i++) v = (v << 8) | b[i];
      *out = v;
      return 6;
    }
    """
    int rrl_peer(const void* sa, uint64_t* out) nogil
