"""rblmirror: a DNSBL mirror and local lookup engine with a compiled IP-range index."""
from .dataset import Dataset
from .errors import RblmirrorError
from .values import Listing

__all__ = ["Dataset", "Listing", "RblmirrorError"]
__version__ = "0.1.0"
