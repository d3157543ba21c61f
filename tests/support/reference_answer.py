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
- ANY: A and TXT (minimal: A only); A: A; TXT: TXT; another type: none;
- a generic dataset: the exact name's records (the subzone's own name: its `@` ones), A
  then MX then TXT, file order inside a type, an identical one once (MX for MX and a full
  ANY); for a client with an ACL's `empty` or value: a name it has, without records;
- the records of one type carry the smallest of their TTLs;
- the client's ACL entries (global, then the zone's; the longest prefix): `empty`: only
  generic datasets answer, nothing listed is NXDOMAIN; a value: every non-generic dataset
  that would look the name up (a domain dataset: any name; an IP one: a name of its
  family) is answered, once, by the ACL's A and TXT with `$` the client's address as
  inet_ntop writes it (after the generic records).
"""
from __future__ import annotations

import bisect
import ipaddress
import socket
from typing import Any

import numpy as np

from rblmirror.data import addr
from rblmirror.data.formats.generic import TYPE_ORDER
from rblmirror.dns.answer import NOERROR, NXDOMAIN, T_A, T_ANY, T_MX, T_TXT
from rblmirror.dns.zone import Zone
from rblmirror.zonespec import DEFAULT_TTL

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


def _mapped(ip: tuple[int, int]) -> bool:
    return ip[0] == addr.V6 and ip[1] >> 32 == 0xFFFF


def _v4_inside(ip: tuple[int, int]) -> bool:
    """A 6to4 or mapped IPv6 name asks IPv4 data too (rbldnsd's dntoip())."""
    return ip[0] == addr.V6 and (ip[1] >> 112 == _6TO4 or _mapped(ip))


def _address(labels: list[bytes]) -> tuple[int, int] | None:
    if len(labels) == 4 and all(_is_octet(x) for x in labels):
        return addr.V4, int.from_bytes(bytes(int(x) for x in reversed(labels)), "big")
    if len(labels) == 32 and all(_is_nibble(x) for x in labels):
        return addr.V6, int(b"".join(reversed(labels)), 16)
    return None


def acl_entry(ds, peer: str) -> tuple[str, Any]:
    """An ACL's entry for a client: ("ignore"|"refuse"|"empty"|"pass", None) or
    ("value", Listing), None when no entry holds it (the last segment start <= it)."""
    a = ipaddress.ip_address(peer)
    if a.version == 4:
        starts, vals = ds.index.segments4()
        vid = int(vals[bisect.bisect_right(starts.tolist(), int(a)) - 1])
    else:
        v6 = ds.index.v6
        keys = [(int(h) << 64) | int(l) for h, l in zip(v6.hi_array.tolist(),
                                                        v6.lo_array.tolist())]
        vid = int(v6.vals_array[bisect.bisect_right(keys, int(a)) - 1])
    if vid < 0:
        return "none", None
    v = ds.values(vid)[0]
    return (v.a, None) if v.a in ("ignore", "refuse", "empty", "pass") else ("value", v)


def acl_flags(zone: Zone, peer: str | None) -> tuple[set[str], tuple[Any, Any] | None]:
    """The client's ACL actions (global, then the zone's) and the value that answers."""
    acts: set[str] = set()
    value = None
    if peer is None:
        return acts, value
    for ds in (zone.global_acl, zone.acl):
        if ds is None:
            continue
        act, v = acl_entry(ds, peer)
        acts.add(act)
        if act == "value" and value is None:
            value = (ds, v)
    return acts, value


def peer_text(peer: str) -> str:
    a = ipaddress.ip_address(peer)
    return socket.inet_ntop(socket.AF_INET if a.version == 4 else socket.AF_INET6, a.packed)


def generic_records(ds, labels: list[bytes]) -> list[tuple[int, int, bytes]]:
    """A generic dataset's records for the lowercased labels (none: its `@` records)."""
    want = tuple(labels)
    recs = [(t, ttl, rd) for n, t, ttl, rd in ds.records
            if (tuple(n.encode("utf-8", "surrogateescape").split(b".")) if n else ()) == want]
    return sorted(recs, key=lambda r: TYPE_ORDER[r[0]])


def _add(out, rtype: int, ttl: int, data: bytes) -> None:
    if not any(t == rtype and d == data for t, _, d in out):
        out.append((rtype, ttl, data))


def _same_ttls(out):
    low: dict[int, int] = {}
    for t, ttl, _ in out:
        low[t] = min(low.get(t, ttl), ttl)
    return [(t, low[t], d) for t, _, d in out]


def decide(zone: Zone, labels: list[bytes], qtype: int, minimal_any: bool = False,
           peer: str | None = None):
    """(rcode, [(rtype, ttl, data)], listed) as FastPath.below gives them."""
    low = [ascii_lower(x) for x in labels]
    want_a = qtype in (T_A, T_ANY)
    want_txt = qtype == T_TXT or (qtype == T_ANY and not minimal_any)
    want_mx = qtype == T_MX or (qtype == T_ANY and not minimal_any)
    wanted = {T_A: want_a, T_TXT: want_txt, T_MX: want_mx}
    acts, acl_value = acl_flags(zone, peer)
    empty = "empty" in acts
    always = not empty and acl_value is not None
    for sz, dss in zone.prepared().subzones:
        sw = [ascii_lower(x.encode("utf-8", "surrogateescape")) for x in sz]
        k = len(sw)
        if k and (len(low) < k or low[len(low) - k:] != sw):
            continue
        rel = low[:len(low) - k]
        out: list[tuple[int, int, bytes]] = []
        if not rel:
            for ds in dss:
                if ds.is_generic and not ("empty" in acts or acl_value is not None):
                    for rt, rttl, rd in generic_records(ds, []):
                        if wanted[rt]:
                            _add(out, rt, rttl, rd[1:] if rt == T_TXT else rd)
            return NOERROR, _same_ttls(out), True
        ip = _address(rel)
        found = addpeer = False
        for ds in dss:
            if ds.is_generic:
                recs = generic_records(ds, rel)
                found = found or bool(recs)
                if "empty" in acts or acl_value is not None:
                    continue  # the name is there, its records not (rbldnsd's flags)
                for rt, rttl, rd in recs:
                    if wanted[rt]:
                        _add(out, rt, rttl, rd[1:] if rt == T_TXT else rd)
                continue
            if empty:
                continue
            if always:
                is4 = ip is not None and (ip[0] == addr.V4 or _v4_inside(ip))
                is6 = ip is not None and ip[0] == addr.V6 and not _mapped(ip)
                asks4, asks6 = not ds.format.startswith("ip6"), not ds.format.startswith("ip4")
                if ds.is_names or (is4 and asks4) or (is6 and asks6):
                    addpeer = True
                continue
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
        if addpeer and acl_value is not None and peer is not None:
            found = True
            acl_ds, acl_v = acl_value
            acl_ttl = acl_ds.meta.ttl if acl_ds.meta.ttl is not None else DEFAULT_TTL
            if want_a:
                _add(out, T_A, acl_ttl, bytes(int(x) for x in acl_v.a.split(".")))
            if want_txt and acl_v.txt:
                _add(out, T_TXT, acl_ttl, plain_render(acl_v.txt, peer_text(peer)))
        if found:
            return NOERROR, _same_ttls(out), True
        if empty:
            return NXDOMAIN, [], False
        if empty_non_terminal(dss, rel):
            return NOERROR, [], False
        return NXDOMAIN, [], False
    return NXDOMAIN, [], False
