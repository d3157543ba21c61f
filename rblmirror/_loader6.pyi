"""Type stub for the compiled IPv6 load path (rblmirror._loader6, ext/loader6.pyx).

A cdef class takes its arguments in __cinit__: the stubs say __new__."""
from typing import Self, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

_Bytes: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
_T = TypeVar("_T", bound=np.generic)

TRIE_MODE: int  # ip6trie: CIDRs, values, host bits refused
TSET_MODE: int  # ip6tset: a:b:c:d /64 listings, /128 exclusions
CODE_EXCL: int  # value-text code of an exclusion
CODE_DEFAULT: int  # value-text code of "no value"

@disjoint_base
class Scan6:
    def __new__(cls, mode: int, cap_hint: int = ...) -> Self: ...
    @property
    def n(self) -> int: ...  # entries so far
    @property
    def base(self) -> int: ...  # ordinal of line 0 of the current file
    @property
    def lineno(self) -> int: ...  # lines of the current file scanned so far
    @property
    def ntexts(self) -> int: ...  # distinct value texts
    def new_file(self) -> int: ...
    # items: (lineno, text) for the Python parser, (e0, e1, codes) for scanned entries
    def feed(self, data: _Bytes, final: bool
             ) -> tuple[int, list[tuple[int, str] | tuple[int, int, list[int]]]]: ...
    def text(self, code: int) -> str: ...
    def add(self, hi: int, lo: int, bits: int, vid: int, ordinal: int) -> None: ...
    def select(self, e0: int, e1: int, flag: npt.NDArray[np.uint8]
               ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32]]: ...
    def apply(self, e0: int, e1: int, lut: npt.NDArray[np.int32]) -> None: ...
    def commit(self, store: Store6) -> None: ...  # the entries so far into store

#: the compact IPv6 index's arrays (as _index.Index6 takes them)
_Arrays6: TypeAlias = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint8],
                            npt.NDArray[np.uint8], npt.NDArray[np.uint32], npt.NDArray[np.uint32],
                            npt.NDArray[np.uint64], npt.NDArray[np.int32]]

@disjoint_base
class Build6:
    def __new__(cls, hint: int = ...) -> Self: ...
    def push(self, hi: int, lo: int, value: int) -> None: ...
    def arrays(self) -> _Arrays6: ...

@disjoint_base
class Flat6:
    def __new__(cls, hint: int = ...) -> Self: ...
    def finish(self) -> _Arrays6: ...

@disjoint_base
class Store6:
    def __new__(cls, counts: npt.NDArray[np.uint32]) -> Self: ...
    @property
    def sorted_(self) -> bool: ...
    @property
    def count(self) -> int: ...
    def add(self, hi: int, lo: int, bits: int, vid: int, ordinal: int) -> None: ...
    # the dead (duplicate) blocks: (ordinals, hi, lo, bits)
    def sort(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64],
                            npt.NDArray[np.uint64], npt.NDArray[np.uint8]]: ...
    def flatten(self, consume: bool = ...) -> _Arrays6: ...
    # the live blocks: (hi, lo, bits, vid)
    def blocks(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64],
                              npt.NDArray[np.uint8], npt.NDArray[np.int32]]: ...

# the first pass: per bucket, entries that could be /64 or shorter; bytes consumed
def count6(data: _Bytes, final: bool, counts: npt.NDArray[np.uint32]) -> int: ...
def parse6(text: bytes) -> tuple[int, int, int] | None: ...  # (bits, value, end index)
def sort6(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64], bits: npt.NDArray[np.uint8],
          ordinal: npt.NDArray[np.uint32] | None = ..., inplace: bool = ...
          ) -> npt.NDArray[np.uint32] | None: ...
def take(arr: npt.NDArray[_T], perm: npt.NDArray[np.uint32]) -> npt.NDArray[_T]: ...
def flatten6(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64], bits: npt.NDArray[np.uint8],
             gids: npt.NDArray[np.int32], consume: bool = ...) -> _Arrays6: ...
