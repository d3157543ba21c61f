"""Type stub for the compiled IPv4 load path (rblmirror._loader, ext/loader.pyx)."""
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

_Bytes: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]

# a line scan4 hands back: (lineno, text, blocks before, lines before, listed lines
# before), and for an ip4set entry with its own value also the count of its blocks
# (already in the arrays)
_SlowLine: TypeAlias = tuple[int, str, int, int, int] | tuple[int, str, int, int, int, int]

def level_blocks(a: int, b: int) -> list[tuple[int, int]]: ...
def scan4(data: _Bytes, cidr_mode: int, allow_excl: bool) -> tuple[
    npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint8], list[_SlowLine],
    tuple[int, int, int]]: ...
def insert_at(base: npt.NDArray[np.uint32], at: npt.NDArray[np.int64],
              ins: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]: ...
def fix_mmap_threshold() -> None: ...
def trim_heap() -> None: ...
