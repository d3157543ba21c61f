"""rbldnsd's `-d`: the zones written out in BIND master-file format.

    dump(zones, out)            # zones: dns.zone.Zone (loaded), out: a text stream

The layout is rbldnsd's dumpzone(): a header comment, per zone `$ORIGIN`, the SOA and NS
records of its data (`$SOA`/`$NS`; nothing synthesized), then per dataset a `$TTL` line
and its records, in rbldnsd's line shapes: `name<TAB>A<TAB>addr` with a `<TAB>TXT<TAB>"..."`
continuation (the TXT with `$` replaced as rbldnsd's dump replaces it), a wildcard
`*.name` for a range of names, `CNAME excluded` for a domain exclusion, generic records
as `name<TAB>ttl<TAB>TYPE<TAB>data`, a combined dataset's subzones under their own
`$ORIGIN` lines. The acl datasets are not dumped (rbldnsd has no dump for them).

Where the text differs from rbldnsd's (the zone a BIND server would load from it answers
the same):
- IP datasets are written from the compiled index: its disjoint address ranges, each cut
  into octet (IPv4) or nibble (IPv6) wildcards as rbldnsd's dump_ip4range/dump_ip6range
  cut a range. rbldnsd writes each entry as given and an exclusion inside it as
  `CNAME excluded`; here the listed pieces around an exclusion are written instead. So
  a wildcard line's `$` (the first address of that line, as in rbldnsd) is the start of
  the piece, not of the entry; an exact address's is the same.
- rbldnsd's ip4trie and ip6trie dumps lose the rest of a range after a nested exclusion
  with an entry inside it (`10/8`, `!10.9/16`, `10.9.9/24`: nothing of 10.10-10.255 is
  written, though rbldnsd answers for it); here the whole range is written;
- a name's generic records of one type come in file order (rbldnsd's qsort leaves them
  in no fixed order), names in rbldnsd's order (by wire length, then bytes);
- the version comment names rblmirror.
"""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

from ..data.formats.generic import T_A, T_MX, T_TXT, mx_text
from ..data.values import Listing, render

if TYPE_CHECKING:
    from ..data.dataset import Dataset
    from ..dns.zone import Zone


def dump(zones: Iterable[Zone], out: TextIO, now: float | None = None) -> None:
    """Write the zones as rbldnsd -d writes them (see the module docstring)."""
    from .. import __version__
    stamp = time.ctime(time.time() if now is None else now)
    out.write(f"; zone dump made {stamp}\n; rblmirror version {__version__}\n")
    for z in zones:
        out.writelines(zone_lines(z))


def zone_lines(z: Zone) -> Iterator[str]:
    yield f"$ORIGIN\t{z.name}.\n"
    soa = z.soa
    if soa is not None:
        s, ds = soa
        serial = s.serial or int(max((d.meta.mtime for d in z._all_datasets()), default=0))
        ttl = s.ttl if s.ttl is not None else z.ttl_of(ds)
        yield (f"@\t{ttl}\tSOA\t{s.origin}.\t{s.person}.\t"
               f"({serial} {s.refresh} {s.retry} {s.expire} {s.minttl})\n")
    ns = z.ns
    if ns is not None:
        n, ds = ns
        ttl = n.ttl if n.ttl is not None else z.ttl_of(ds)
        for name in n.names:
            yield f"\t{ttl}\tNS\t{name}.\n"
    sections = {id(ch) for c in z.containers for _, ch in c.children}
    for a in z.data:
        if id(a.dataset) in sections:  # a combined section: written with its container
            continue
        yield f"$TTL {z.ttl_of(a.dataset)}\n"
        yield from dataset_lines(a.dataset)
    for c in z.containers:
        yield f"$TTL {z.ttl_of(c)}\n"
        for subzones, child in c.children:
            for sz in subzones:
                yield f"$ORIGIN {z.name if sz == '@' else sz + '.' + z.name}.\n"
                yield from dataset_lines(child)


def dataset_lines(ds: Dataset) -> Iterator[str]:
    """One dataset's records (relative names), as its rbldnsd dump function writes them."""
    if ds.is_acl:
        return
    if ds.is_generic:
        yield from _generic_lines(ds)
    elif ds.is_names:
        yield from _names_lines(ds)
    else:
        yield from _ip4_lines(ds)
        yield from _ip6_lines(ds)


def a_txt(name: str, values: tuple[Listing, ...] | None, subst: str) -> Iterator[str]:
    """rbldnsd's dump_a_txt() for each value (None: an exclusion)."""
    if values is None:
        yield f"{name}\tCNAME\texcluded\n"
        return
    for v in values:
        yield f"{name}\tA\t{v.a}\n"
        if v.txt is not None:
            t = render(v.txt, subst)
            if t:
                yield '\tTXT\t"' + t.replace('"', '\\"') + '"\n'


# ------------------------------------------------------------------------- IP ranges
def ip4_pieces(a: int, b: int) -> Iterator[tuple[str, int]]:
    """rbldnsd's dump_ip4range(): (name, first address) of each line covering [a, b]:
    whole octets as `*.` wildcards."""
    fmt = ("{0}.{1}.{2}.{3}", "*.{0}.{1}.{2}", "*.{0}.{1}", "*.{0}")

    def lines(idx: int, start: int, count: int) -> Iterator[tuple[str, int]]:
        for x in range(start, start + count):
            yield (fmt[idx].format(x & 255, (x >> 8) & 255, (x >> 16) & 255, x >> 24),
                   (x << (8 * idx)) & 0xFFFFFFFF)

    for bits in (0, 8, 16):
        if a > b:
            return
        if (a | 255) >= b:
            if b - a == 255:
                yield from lines((bits >> 3) + 1, a >> 8, 1)
            else:
                yield from lines(bits >> 3, a, b - a + 1)
            return
        if a & 255:
            yield from lines(bits >> 3, a, 256 - (a & 255))
            a = (a >> 8) + 1
        else:
            a >>= 8
        if (b & 255) != 255:
            yield from lines(bits >> 3, b & ~255, (b & 255) + 1)
            b = (b >> 8) - 1
        else:
            b >>= 8
    if a <= b:
        yield from lines(3, a, b - a + 1)


def ip6_pieces(beg: int, end: int) -> Iterator[tuple[str, int]]:
    """rbldnsd's dump_ip6range() for [beg, end): (name, first address) of each line,
    trailing zero nibbles as a `*.` wildcard."""
    addr = beg
    while addr < end:
        nwild = 0
        while nwild < 32 and not (addr >> (4 * nwild)) & 15 and \
                addr + (1 << (4 * (nwild + 1))) <= end:
            nwild += 1
        nibbles = [format((addr >> (4 * i)) & 15, "x") for i in range(nwild, 32)]
        yield ".".join((["*"] if nwild else []) + nibbles), addr
        addr += 1 << (4 * nwild)


def _ranges(starts: list[int], vals: list[int], top: int) -> Iterator[tuple[int, int, int]]:
    for i, (s, v) in enumerate(zip(starts, vals)):
        if v >= 0:
            yield s, (starts[i + 1] - 1 if i + 1 < len(starts) else top), v


def _ip4_lines(ds: Dataset) -> Iterator[str]:
    if not ds.index.has_v4():
        return
    starts, vals = ds.index.segments4()
    for lo, hi, vid in _ranges(starts.tolist(), vals.tolist(), 0xFFFFFFFF):
        for name, first in ip4_pieces(lo, hi):
            yield from a_txt(name, ds.values(vid), str(ipaddress.IPv4Address(first)))


def _ip6_lines(ds: Dataset) -> Iterator[str]:
    if not ds.index.has_v6():
        return
    v6 = ds.index.v6
    starts = [(int(h) << 64) | int(lo) for h, lo in zip(v6.hi_array.tolist(),
                                                         v6.lo_array.tolist())]
    for lo, hi, vid in _ranges(starts, v6.vals_array.tolist(), (1 << 128) - 1):
        for name, first in ip6_pieces(lo, hi + 1):
            yield from a_txt(name, ds.values(vid), str(ipaddress.IPv6Address(first)))


# --------------------------------------------------------------------- names, generic
def _names_lines(ds: Dataset) -> Iterator[str]:
    """rbldnsd's ds_dnset_dump(): the exact entries, then the wildcards (`$`: the entry)."""
    entries = ds.names.names()
    for name, exact, _ in entries:
        if exact is not None:
            yield from a_txt(name, None if exact < 0 else ds.values(exact), name)
    for name, _, wild in entries:
        if wild is not None:
            yield from a_txt("*." + name, None if wild < 0 else ds.values(wild), name)


def _wire_key(name: str) -> tuple[int, bytes]:
    wire = b"".join(bytes([len(x)]) + x for x in
                    (lab.encode("utf-8", "surrogateescape") for lab in name.split(".") if lab))
    return len(wire), wire


def _generic_lines(ds: Dataset) -> Iterator[str]:
    """rbldnsd's ds_generic_dump(): by name (wire length, then bytes), then type."""
    names = sorted({n for n, _, _, _ in ds.records}, key=_wire_key)
    by_name: dict[str, list[tuple[int, int, bytes]]] = {}
    for n, t, ttl, rd in ds.records:
        by_name.setdefault(n, []).append((t, ttl, rd))
    for n in names:
        first = True
        for t, ttl, rd in sorted(by_name[n], key=lambda r: (T_A, T_MX, T_TXT).index(r[0])):
            owner = ("@" if not n else n) if first else ""
            first = False
            if t == T_A:
                yield f"{owner}\t{ttl}\tA\t{ipaddress.IPv4Address(rd)}\n"
            elif t == T_TXT:
                yield f'{owner}\t{ttl}\tTXT\t"{rd[1:].decode("utf-8", "surrogateescape")}"\n'
            else:
                pref, exch = mx_text(rd)
                yield f"{owner}\t{ttl}\tMX\t{pref}\t{exch}\n"
