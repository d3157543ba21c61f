"""dnset: domain names, '*.name' (subdomains only) and '.name' (name and subdomains).

An exact match wins (even an exclusion); otherwise the longest wildcard. `$` in a TXT is
the matched entry (lowercased; a wildcard's base name), as rbldnsd does.
"""
from __future__ import annotations

from .base import EXCL, Format, entry_value


def valid_name(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    return all(0 < len(label) <= 63 for label in name.split("."))


class DNSet(Format):
    name = "dnset"
    mode = "set"

    def line(self, c, text, default, where):
        excl = text[0] == "!"
        s = text[1:].lstrip(" \t") if excl else text
        end = 0
        while end < len(s) and s[end] not in " \t#;:":
            end += 1
        subject, rest = s[:end].lower(), s[end:]
        kinds: tuple[str, ...]
        if subject.startswith("*."):
            kinds, subject = ("wild",), subject[2:]
        elif subject.startswith("."):
            kinds, subject = ("exact", "wild"), subject[1:]
        else:
            kinds = ("exact",)
        subject = subject.rstrip(".")
        if not valid_name(subject):
            return "invalid domain name"
        warn = None
        if excl:
            vid = EXCL
        else:
            v, warn = entry_value(rest, default)
            if v is None:
                return warn
            vid = c.value_id(v)
        for k in kinds:
            c.names.append((k, subject, vid))
        c.entries += 1
        return warn


FORMAT = DNSet
