"""The bundled zones/ folder: the default config, the example zones and the RFC 5782
test point files. In a checkout (editable install) it is the checkout's zones/; a wheel
installs a copy under PREFIX/share/rblmirror/zones."""
from __future__ import annotations

import sys
from pathlib import Path


def _zones_dir() -> Path:
    here = Path(__file__).resolve().parents[1] / "zones"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "rblmirror" / "zones"


ZONES_DIR = _zones_dir()
