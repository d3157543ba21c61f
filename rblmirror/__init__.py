"""rblmirror: a DNSBL mirror and local lookup engine with a compiled IP-range index.

The package root imports nothing heavy: `rblmirror --help`, `status` and `snippets` load
neither numpy nor an extension. `rblmirror.Dataset` is loaded on first use."""
from typing import TYPE_CHECKING

from .errors import RblmirrorError

if TYPE_CHECKING:  # what __getattr__ loads, for the type checker
    from .data.dataset import Dataset
    from .data.values import Listing

__all__ = ["Dataset", "Listing", "RblmirrorError"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "Dataset":
        from .data.dataset import Dataset
        return Dataset
    if name == "Listing":
        from .data.values import Listing
        return Listing
    raise AttributeError(f"module 'rblmirror' has no attribute {name!r}")
