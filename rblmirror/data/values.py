"""A and TXT values: the Listing dataclass and rbldnsd's TXT template rules.

A template's TXT is stored as rbldnsd stores it (at most 255 bytes, `$n` variables and
the `$=` base template not yet applied). `finish_template(txt, vars, base)` applies the
dataset's substitution variables once at load time, leaving only `$` (the queried
subject) and `$$` (a dollar sign); `render()` substitutes those per query and caps the
result at 254 bytes, exactly as rbldnsd's txtsubst() does.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

#: rbldnsd emits at most this many bytes of TXT (txtsubst caps at 254).
TXT_EMIT_MAX = 254
#: rbldnsd keeps at most this many bytes of a TXT template when loading.
TXT_LOAD_MAX = 255
DEFAULT_A = "127.0.0.2"


@dataclass(frozen=True, slots=True)
class Listing:
    """One answer for one listed subject: the A value and the TXT (None when there is none)."""

    a: str
    txt: str | None = None


def txt_bytes(s: str) -> bytes:
    """Zone text round-trips through surrogateescape, so non-UTF-8 bytes survive unchanged."""
    return s.encode("utf-8", "surrogateescape")


def txt_str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _escape(s: str) -> str:
    return s.replace("$", "$$")


def finish_template(txt: str | None, variables: dict[int, str],
                    base: str | None = None) -> str | None:
    """Apply rbldnsd's txtsubst() rules that do not depend on the query, once at load.

    The result holds only `$` (the subject) and `$$` (a dollar), for render(); None
    means no TXT record. Measured against rbldnsd 1.0~20210120:

    - an entry text starting with `=` is its own template (the `=` dropped), with or
      without a `$=` base template;
    - else, with a base template `$= ...`, the base is the template and `$=` in it is
      the entry's text inserted verbatim (its `$` are not expanded), or the subject when
      the entry has no text: so a `:6:` entry gets a TXT too;
    - else the entry's text is the template, and `$=` inside it inserts that whole text
      verbatim;
    - `$n` is variable n inserted verbatim; an undefined `$n` stays literally `$n`;
      `$$` is a dollar; `$` before anything else is the subject.
    """
    sx: str | None  # what `$=` inserts (None: the subject)
    if txt is not None and txt.startswith("="):
        template = sx = txt[1:]
    elif base:
        template = base
        sx = txt if txt else None
    elif not txt:
        return None
    else:
        template = sx = txt
    if "$" not in template:
        return template or None
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        nxt = template[j + 1:j + 2]
        if nxt == "$":
            out.append("$$")
            i = j + 2
        elif nxt.isascii() and nxt.isdigit():
            val = variables.get(int(nxt))
            out.append("$$" + nxt if val is None else _escape(val))
            i = j + 2
        elif nxt == "=":
            out.append("$" if sx is None else _escape(sx))
            i = j + 2
        else:
            out.append("$")
            i = j + 1
    return "".join(out) or None


@lru_cache(maxsize=4096)
def template_pieces(txt: str) -> tuple[bytes | None, ...]:
    """The one parse of a finished template (only `$` and `$$` left): its pieces in
    order, each literal bytes or None (the subject). `$$` is a literal dollar, every other
    `$` the subject. render_bytes() executes them here, the compiled DNS path
    (ext/dnsfast.pyx) and scan's prepared rows execute the same pieces; all cut at
    TXT_EMIT_MAX bytes."""
    out: list[bytes | None] = []
    for pi, part in enumerate(txt.split("$$")):
        if pi:
            out.append(b"$")
        for si, lit in enumerate(part.split("$")):
            if si:
                out.append(None)
            if lit:
                out.append(txt_bytes(lit))
    return tuple(out)


def render_bytes(txt: str, subject: str) -> bytes:
    """The TXT rdata for a template and its subject: the pieces with the subject in
    place, cut at 254 bytes as rbldnsd's txtsubst() cuts them."""
    subj = txt_bytes(subject)
    return b"".join(subj if p is None else p for p in template_pieces(txt))[:TXT_EMIT_MAX]


def render(txt: str, subject: str) -> str:
    """render_bytes() as text (surrogateescape keeps every byte)."""
    if "$$" not in txt:  # the common case: then the pieces are txt split on `$`
        r = txt.replace("$", subject)
        if len(r) <= TXT_EMIT_MAX and r.isascii():
            return r
    return txt_str(render_bytes(txt, subject))


def cap_template(txt: str) -> str:
    """Keep at most 255 bytes of a template, as rbldnsd does when it loads one."""
    b = txt_bytes(txt)
    return txt if len(b) <= TXT_LOAD_MAX else txt_str(b[:TXT_LOAD_MAX])
