"""TEST-ONLY plain reference of the answer decision below a zone (production: decide() in
ext/dnsfast.pyx, asked through answer.answer / FastPath.below). Written for clarity, not
speed, from the datasets' own data (their index lookups, the name index's stored names,
their value tables): tests hold the compiled decision to it.

The rules (rbldnsd's, measured on loopback, plus the marked improvements):
- labels compare as DNS compares them: ASCII letters case-insensitively, every other
  byte exactly; a label is a label (a dot inside one is one of its bytes);
- the subzone: the longest whose labels are a suffix of the name; none: NXDOMAIN;
- a subzone's own name: NOERROR, no records, listed;
- per dataset, in order: a domain dataset matches the name (an exact entry wins, even an
  exclusion; else the longest wildcard: `*.name` below it, `.name` it and below; `$` is the
  entry matched); an IP dataset an IPv4 name (4 labels of 1-3 digits <= 255) or an IPv6
  name (32 single nibbles: IPv4-mapped asks the IPv4 data only, 6to4 the IPv6 data and
  then the IPv4 inside; `$` is the address found);
- merged: per listing its A unless an identical A is there, then its TXT likewise;
- nothing listed: a partial reverse name with listed addresses under it (improvement over
  rbldnsd: an empty non-terminal) is NOERROR/NODATA, anything else NXDOMAIN;
- ANY: A and TXT (minimal: A only); A: A; TXT: TXT; another type: none.
"""
from __future__ import annotations

import bisect

import numpy as np

from rblmirror.data import addr
from rblmirror.dns.answer import NOERROR, NXDOMAIN, T_A, T_ANY, T_TXT
from rblmirror.dns.zone import Zone

_V4MAPPED = 0xFFFF << 32
_6TO4 = 0x2002
_NIB = b"0123456789abcdefABCDEF"


def ascii_lower(b: bytes) -> bytes:
    return bytes(c + 32 if 65 <= c <= 90 else c for c in b)


def plain_render(txt: str, subject: str) -> bytes:
    """`$$` a dollar, every other `$` the subject, cut at 254 bytes (txtsubst)."""
    out = "$".join(part.replace("$", subject) for part in txt.split("$$"))
    return out.encode("utf-8", "surrogateescape")[:254]


def _names_of(ds) -> dict[tuple[bytes, ...], tuple[int | None, int | None]]:
    cache = ds.__dict__.setdefault("_reference_names", None)
    if cache is None:
        cache = {tuple(n.encode("utf-8", "surrogateescape").split(b".")): (ex, wi)
                 for n, ex, wi in ds.names.names()}
        ds.__dict__["_reference_names"] = cache
    return cache


def match_name(ds, labels: list[bytes]) -> tuple[int, bytes]:
    """(value id or -1, the matched entry) for lowercased labels."""
    d = _names_of(ds)
    got = d.get(tuple(labels))
    if got is not None and got[0] is not None:
        return got[0], b".".join(labels)
    for k in range(1, len(labels)):
        got = d.get(tuple(labels[k:]))
        if got is not None and got[1] is not None:
            return got[1], b".".join(labels[k:])
    return -1, b""


def _is_octet(x: bytes) -> bool:
    return 1 <= len(x) <= 3 and x.isdigit() and int(x) <= 255


def _is_nibble(x: bytes) -> bool:
    return len(x) == 1 and x[0] in _NIB


def has_entries_under(ds, family: int, prefix: int, bits: int) -> bool:
    """Is any listed address inside prefix/bits? (numpy over the index's segments)"""
    if family == addr.V4:
        starts, vals = ds.index.segments4()
        top = prefix | ((1 << (32 - bits)) - 1) if bits < 32 else prefix
        i = int(np.searchsorted(starts, prefix, side="right")) - 1
        j = int(np.searchsorted(starts, top, side="right"))
        return bool((vals[max(i, 0):j] >= 0).any())
    v6 = ds.index.v6
    keys = [(int(h) << 64) | int(l) for h, l in zip(v6.hi_array.tolist(), v6.lo_array.tolist())]
    vals = v6.vals_array
    top = prefix | ((1 << (128 - bits)) - 1) if bits < 128 else prefix
    i = max(bisect.bisect_right(keys, prefix) - 1, 0)
    j = bisect.bisect_right(keys, top)
    return bool((vals[i:j] >= 0).any())


def empty_non_terminal(dss, labels: list[bytes]) -> bool:
    n = len(labels)
    if 0 < n < 4 and all(_is_octet(x) for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 8) | int(x)
        for ds in dss:
            if not ds.is_names and has_entries_under(ds, addr.V4, v << (8 * (4 - n)), 8 * n):
                return True
    if n == 4 and all(_is_octet(x) for x in labels):
        return False
    if 0 < n < 32 and all(_is_nibble(x) for x in labels):
        v = 0
        for x in reversed(labels):
            v = (v << 4) | int(x, 16)
        bits = 4 * n
        pfx = v << (128 - bits)
        for ds in dss:
            if ds.is_names:
                continue
            if ds.index.has_v6() and has_entries_under(ds, addr.V6, pfx, bits):
                return True
            if ds.index.has_v4():
                for base, blen in ((_V4MAPPED, 96), (_6TO4 << 112, 16)):
                    if bits <= blen:
                        if base >> (128 - bits) == v and has_entries_under(ds, addr.V4, 0, 0):
                            return True
                    elif pfx >> (128 - blen) == base >> (128 - blen):
                        v4bits = min(bits - blen, 32)
                        v4 = (pfx >> (128 - blen - 32)) & 0xFFFFFFFF
                        v4 &= ~((1 << (32 - v4bits)) - 1) & 0xFFFFFFFF
                        if has_entries_under(ds, addr.V4, v4, v4bits):
                            return True
    return False


def _address(labels: list[bytes]) -> tuple[int, int] | None:
    if len(labels) == 4 and all(_is_octet(x) for x in labels):
        return addr.V4, int.from_bytes(bytes(int(x) for x in reversed(labels)), "big")
    if len(labels) == 32 and all(_is_nibble(x) for x in labels):
        return addr.V6, int(b"".join(reversed(labels)), 16)
    return None


def decide(zone: Zone, labels: list[bytes], qtype: int, minimal_any: bool = False):
    """(rcode, [(rtype, ttl, data)], listed) as FastPath.below gives them."""
    low = [ascii_lower(x) for x in labels]
    want_a = qtype in (T_A, T_ANY)
    want_txt = qtype == T_TXT or (qtype == T_ANY and not minimal_any)
    for sz, dss in zone.prepared().subzones:
        sw = [ascii_lower(x.encode("utf-8", "surrogateescape")) for x in sz]
        k = len(sw)
        if k and (len(low) < k or low[len(low) - k:] != sw):
            continue
        rel = low[:len(low) - k]
        if not rel:
            return NOERROR, [], True
        ip = _address(rel)
        out: list[tuple[int, int, bytes]] = []
        found = False
        for ds in dss:
            if ds.is_names:
                vid, m = match_name(ds, rel)
                subject = m.decode("utf-8", "surrogateescape")
            elif ip is not None:
                vid, subject = ds.find_addr(*ip)
            else:
                continue
            if vid < 0:
                continue
            found = True
            ttl = zone.ttl_of(ds)
            for v in ds.values(vid):
                if want_a:
                    a = bytes(int(x) for x in v.a.split("."))
                    if not any(t == T_A and d == a for t, _, d in out):
                        out.append((T_A, ttl, a))
                if want_txt and v.txt:
                    t = plain_render(v.txt, subject)
                    if not any(rt == T_TXT and d == t for rt, _, d in out):
                        out.append((T_TXT, ttl, t))
        if found:
            return NOERROR, out, True
        if empty_non_terminal(dss, rel):
            return NOERROR, [], False
        return NXDOMAIN, [], False
    return NXDOMAIN, [], False
