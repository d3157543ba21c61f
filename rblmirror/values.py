"""A and TXT values: the Listing dataclass and rbldnsd's TXT template rules.

A template's TXT is stored as rbldnsd stores it (at most 255 bytes, `$n` variables and
the `$=` base template not yet applied). `Template.finish(vars, base)` applies the
dataset's substitution variables once at load time, leaving only `$` (the queried
subject) and `$$` (a dollar sign); `render()` substitutes those per query and caps the
result at 254 bytes, exactly as rbldnsd's txtsubst() does.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def substitute_vars(txt: str, variables: dict[int, str]) -> str:
    """Replace `$0`..`$9` by the dataset's variables (undefined ones stay literal).

    `$$` and a lone `$` are kept for render(); the variable text is inserted as is, but
    its own dollars are escaped so render() emits them literally, as rbldnsd does.
    """
    if "$" not in txt:
        return txt
    out: list[str] = []
    i, n = 0, len(txt)
    while i < n:
        j = txt.find("$", i)
        if j < 0:
            out.append(txt[i:])
            break
        out.append(txt[i:j])
        nxt = txt[j + 1 : j + 2]
        if nxt == "$":
            out.append("$$")
            i = j + 2
        elif nxt.isdigit() and nxt.isascii():
            val = variables.get(int(nxt))
            out.append("$$" + nxt if val is None else val.replace("$", "$$"))
            i = j + 2
        else:
            out.append("$")
            i = j + 1
    return "".join(out)


def render(txt: str, subject: str) -> str:
    """Substitute `$` with the subject and `$$` with `$`; cap at 254 bytes like rbldnsd."""
    if "$" in txt:
        txt = "$".join(part.replace("$", subject) for part in txt.split("$$"))
    b = txt_bytes(txt)
    if len(b) > TXT_EMIT_MAX:
        return txt_str(b[:TXT_EMIT_MAX])
    return txt


def render_bytes(txt: str, subject: str) -> bytes:
    """render() as the bytes that go on the wire."""
    return txt_bytes(render(txt, subject))[:TXT_EMIT_MAX]


def cap_template(txt: str) -> str:
    """Keep at most 255 bytes of a template, as rbldnsd does when it loads one."""
    b = txt_bytes(txt)
    return txt if len(b) <= TXT_LOAD_MAX else txt_str(b[:TXT_LOAD_MAX])
