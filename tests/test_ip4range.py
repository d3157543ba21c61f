"""ip4set's subject syntax (rbldnsd's ip4range) and the dotted prefixes of every IPv4
format, compiled in ext/loader.pyx, against a plain Python statement of the same rules
(the references below: the parsers this project used before the rules moved to C)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rblmirror import _loader
from rblmirror.data.formats.ipparse import _bits, _mask4

_DIGITS = frozenset("0123456789")


def ip4prefix(s: str, i: int = 0) -> tuple[int, int, int] | None:
    """1-4 dotted octets at s[i:]: (bits 8/16/24/32, value, end index)."""
    v, n = 0, len(s)
    for k in range(4):
        if k:
            if i >= n or s[i] != "." or i + 1 >= n or s[i + 1] not in _DIGITS:
                return (8 * k, v, i)
            i += 1
        j = i
        while j < n and s[j] in _DIGITS:
            j += 1
        if j == i:
            return None
        o = int(s[i:j])
        if o > 255:
            return None
        v |= o << (24 - 8 * k)
        i = j
    return (32, v, i)


def ref_ip4range(s: str) -> tuple[int, int, int, int] | None:
    """'a.b.c.d', 'a.b.c', 'a.b/12', 'a-b', '10.1-10.2', '127.0.0.1-255': (bits, start,
    end, end index); bits 32 for a dash range; None when invalid."""
    p = ip4prefix(s)
    if p is None:
        return None
    bits, a, i = p
    if i < len(s) and s[i] == "-":
        q = ip4prefix(s, i + 1)
        if q is None:
            return None
        bbits, b, i = q
        if bbits == 8:  # 127.0.0.1-2 means 127.0.0.1-127.0.0.2
            if bits != 8:
                b = (b >> (bits - 8)) | (a & _mask4(bits - 8))
            bbits = bits
        elif bbits != bits:
            return None
        if bbits != 32:
            b |= ~_mask4(bbits) & 0xFFFFFFFF
        if a > b:
            return None
        return 32, a, b, i
    if i < len(s) and s[i] == "/":
        r = _bits(s, i + 1)
        if r is None:
            return None
        bits, i = r
    elif bits == 8:  # bare numbers are not accepted; use /8
        return None
    return bits, a, a | (~_mask4(bits) & 0xFFFFFFFF), i


octet = st.one_of(st.integers(0, 255).map(str), st.integers(0, 400).map(str),
                  st.integers(0, 255).map(lambda o: "0" * 3 + str(o)), st.just(""))
prefix = st.lists(octet, min_size=1, max_size=5).map(".".join)
tail = st.sampled_from(["", " ", "\t", " :2:v", ":3", "#c", ";c", " junk", "\r", "x", ".",
                        "\u00e9", "\udcff", "-", "/", "//8"])


@st.composite
def subject(draw):
    s = draw(prefix)
    form = draw(st.integers(0, 2))
    if form == 1:
        s += "-" + draw(prefix)
    elif form == 2:
        s += "/" + draw(st.one_of(st.integers(0, 40).map(str), st.just("0024"),
                                  st.just(""), st.just("99999999999")))
    return s + draw(tail)


@settings(max_examples=3000, deadline=None)
@given(s=st.one_of(subject(), st.text("0123456789.-/ :#x", max_size=24)))
def test_ip4range_matches_reference(s):
    assert _loader.ip4range(s) == ref_ip4range(s), s


@settings(max_examples=1000, deadline=None)
@given(s=st.one_of(subject(), st.text("0123456789.-/ :#x\u00e9", max_size=24)),
       i=st.integers(0, 6))
def test_ip4prefix_matches_reference(s, i):
    if i <= len(s):
        assert _loader.ip4prefix(s, i) == ip4prefix(s, i), (s, i)


def test_ip4range_forms():
    """Each of rbldnsd's forms, and the refusals, spelled out."""
    ip = 0x7F000001
    assert _loader.ip4range("127.0.0.1") == (32, ip, ip, 9)
    assert _loader.ip4range("127.0.0.1-255") == (32, ip, 0x7F0000FF, 13)
    assert _loader.ip4range("127.0.0.1-127.0.1.2 :2:") == (32, ip, 0x7F000102, 19)
    assert _loader.ip4range("10.1-10.2") == (32, 0x0A010000, 0x0A02FFFF, 9)
    assert _loader.ip4range("10.1.2-4") == (32, 0x0A010200, 0x0A0104FF, 8)
    assert _loader.ip4range("10-11") == (32, 0x0A000000, 0x0BFFFFFF, 5)
    assert _loader.ip4range("10.1.2") == (24, 0x0A010200, 0x0A0102FF, 6)
    assert _loader.ip4range("10.1/12") == (12, 0x0A010000, 0x0A0FFFFF, 7)
    assert _loader.ip4range("10/8") == (8, 0x0A000000, 0x0AFFFFFF, 4)
    assert _loader.ip4range("10.1-10") == (32, 0x0A010000, 0x0A0AFFFF, 7)  # 10.1-10.10
    for bad in ["10", "10.1-10.2.3", "10.1.2.3-10.1.2", "1.2.3.5-1.2.3.4", "1.2.3.256",
                "1.2.3.4/33", "1.2.3.4/", "", "-1", "1.2.3.4-"]:
        assert _loader.ip4range(bad) is None, bad
