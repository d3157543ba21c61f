"""rblmirror: a DNSBL mirror and local lookup engine with a compiled IP-range index.

The package root imports nothing heavy: `rblmirror --help`, `status` and `snippets` load
neither numpy nor an extension. `rblmirror.Dataset` is loaded on first use."""
from .errors import RblmirrorError

__all__ = ["Dataset", "Listing", "RblmirrorError"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Dataset":
        from .dataset import Dataset
        return Dataset
    if name == "Listing":
        from .values import Listing
        return Listing
    raise AttributeError(f"module 'rblmirror' has no attribute {name!r}")
