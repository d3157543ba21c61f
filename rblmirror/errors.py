"""One exception tree for rblmirror. Each class's docstring is its default message."""
from __future__ import annotations


class RblmirrorError(Exception):
    """rblmirror failed"""

    def __init__(self, message: str | None = None):
        super().__init__(message or (self.__doc__ or "").strip())


class AddressError(RblmirrorError, ValueError):
    """not a valid IPv4 or IPv6 address"""


class ZoneFileError(RblmirrorError):
    """the zone file cannot be read"""


class UnknownFormatError(ZoneFileError):
    """unknown dataset format"""


class ZoneSpecError(RblmirrorError):
    """bad zone specification (expected NAME:FORMAT:FILE[,FILE...])"""


class SnapshotError(RblmirrorError):
    """the snapshot file is missing, truncated or not an rblmirror snapshot"""


class ConfigError(RblmirrorError):
    """bad configuration"""


class ScanInputError(RblmirrorError):
    """cannot read the input"""


class CorpusError(RblmirrorError):
    """cannot read the corpus"""


class FetchError(RblmirrorError):
    """the source could not be fetched"""


class Rejected(RblmirrorError):
    """the dump failed validation"""


class StateError(RblmirrorError):
    """the source's state cannot be read or written"""


class PrivilegeError(RblmirrorError):
    """cannot switch to the requested user"""


class ListenError(RblmirrorError):
    """cannot listen on the address"""


class CatalogueError(RblmirrorError):
    """the catalogue of public lists is invalid"""


class BounceError(RblmirrorError):
    """no blocked address or domain found in the text"""
