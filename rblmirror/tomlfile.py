"""TOML files read into dicts: the one home of open + tomllib.load + the read and decode
errors turned into the caller's own error (the config's ConfigError, the catalogue's
CatalogueError), naming the file (and tomllib's line and column)."""
from __future__ import annotations

import tomllib

from .errors import RblmirrorError


def load(path: str, error: type[RblmirrorError], what: str = "") -> dict[str, object]:
    """The TOML file at `path`; `error` when it cannot be read ("cannot read WHAT PATH:
    reason") or is not valid TOML ("PATH: invalid TOML: ... (at line L, column C)")."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise error(f"cannot read {what + ' ' if what else ''}{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: invalid TOML: {e}") from None
