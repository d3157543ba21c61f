# cython: language_level=3
"""The query log's line, rbldnsd's `-l` format (its logreply()), written in C from a
reply packet (the one home of the format: the compiled UDP loop formats a batch with it,
the other paths call dnsfast.log_line):

    TIME PEER NAME TYPE CLASS: RCODE/ANCOUNT/LENGTH\n

TIME: seconds since the epoch; PEER: the client's address (numeric); NAME: the
question's name as dns_dntop() prints it (case kept, `"` `.` `;` `\\` `@` `$` escaped
with a backslash, bytes <= 0x20 or >= 0x7f as \\DDD, the root as "."); TYPE, CLASS and
RCODE: rbldnsd's names (dns.h; an unknown one as type%d, class%d, rcode%d); ANCOUNT: the
low byte of the answer count, as rbldnsd prints it; LENGTH: the reply's bytes."""

cdef extern from *:
    """
    #include <stdio.h>
    #include <string.h>
    #include <arpa/inet.h>
    #include <netinet/in.h>
    #include <sys/socket.h>

    /* rbldnsd's dns.h names (dns_maketab.awk: the enum name after DNS_x_) */
    static const char *qlog_type_name(unsigned t, char *buf) {
      static const char *const low[] = {
        "INVALID", "A", "NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR", "NULL", "WKS",
        "PTR", "HINFO", "MINFO", "MX", "TXT", "RP", "AFSDB", "X25", "ISDN", "RT", "NSAP",
        "NSAP_PTR", "SIG", "KEY", "PX", "GPOS", "AAAA", "LOC", "NXT", "EID", "NIMLOC",
        "SRV", "ATMA", "NAPTR", "KX", "CERT", "A6", "DNAME", "SINK", "OPT"};
      if (t <= 41) return low[t];
      switch (t) {
      case 250: return "TSIG"; case 251: return "IXFR"; case 252: return "AXFR";
      case 253: return "MAILB"; case 254: return "MAILA"; case 255: return "ANY";
      case 256: return "ZXFR"; case 65536: return "MAX";
      }
      sprintf(buf, "type%u", t);
      return buf;
    }

    static const char *qlog_class_name(unsigned c, char *buf) {
      switch (c) {
      case 0: return "INVALID"; case 1: return "IN"; case 3: return "CH";
      case 4: return "HS"; case 255: return "ANY";
      }
      sprintf(buf, "class%u", c);
      return buf;
    }

    static const char *qlog_rcode_name(unsigned r, char *buf) {
      static const char *const low[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED", "YXDOMAIN",
        "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
      if (r <= 10) return low[r];
      switch (r) {
      case 16: return "BADSIG"; case 17: return "BADKEY"; case 18: return "BADTIME";
      }
      sprintf(buf, "rcode%u", r);
      return buf;
    }

    /* the peer's numeric address into out (at least INET6_ADDRSTRLEN), its length */
    static int qlog_peer(const void *sa, char *out) {
      int fam = ((const struct sockaddr *)sa)->sa_family;
      const void *a;
      if (fam == AF_INET) a = &((const struct sockaddr_in *)sa)->sin_addr;
      else if (fam == AF_INET6) a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
      else { out[0] = '?'; out[1] = 0; return 1; }
      if (!inet_ntop(fam, a, out, INET6_ADDRSTRLEN)) { out[0] = '?'; out[1] = 0; return 1; }
      return (int)strlen(out);
    }

    /* One line for the reply r (rlen bytes) to `peer` (text, plen bytes) at `now` into
       out (QLOG_LINE_MAX bytes); its length, or 0 when the reply has no whole question. */
    #define QLOG_LINE_MAX 1400
    static int qlog_line(char *out, unsigned long now, const char *peer, int plen,
                         const unsigned char *r, int rlen) {
      char *d = out, tb[24], cb[24], rb[24];
      int p = 12, n, k;
      unsigned c;
      if (rlen < 17 || plen > 64) return 0;
      d += sprintf(d, "%lu ", now);
      memcpy(d, peer, plen);
      d += plen;
      *d++ = ' ';
      if (r[p] == 0) { *d++ = '.'; p = 13; }
      else {
        while ((n = r[p]) != 0) {
          if (n > 63 || p + n + 1 > rlen - 5 || p + n + 1 > 12 + 255) return 0;
          if (p != 12) *d++ = '.';
          for (k = 1; k <= n; k++) {
            c = r[p + k];
            switch (c) {
            case '"': case '.': case ';': case '\\\\': case '@': case '$':
              *d++ = '\\\\'; *d++ = (char)c; break;
            default:
              if (c <= 0x20 || c >= 0x7f) {
                *d++ = '\\\\'; *d++ = (char)('0' + c / 100);
                *d++ = (char)('0' + (c % 100) / 10); *d++ = (char)('0' + c % 10);
              } else *d++ = (char)c;
            }
          }
          p += n + 1;
        }
        p += 1;
      }
      if (p + 4 > rlen) return 0;
      d += sprintf(d, " %s %s: %s/%u/%d\\n",
                   qlog_type_name(((unsigned)r[p] << 8) | r[p + 1], tb),
                   qlog_class_name(((unsigned)r[p + 2] << 8) | r[p + 3], cb),
                   qlog_rcode_name(r[3] & 15, rb), (unsigned)r[7], rlen);
      return (int)(d - out);
    }
    """
    enum: QLOG_LINE_MAX
    int qlog_peer(const void* sa, char* out) nogil
    int qlog_line(char* out, unsigned long now, const char* peer, int plen,
                  const unsigned char* r, int rlen) nogil
