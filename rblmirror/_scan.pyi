"""Type stub for the compiled scan parsers (rblmirror._scan, ext/scan.pyx)."""
from collections.abc import Callable
from typing import TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

_Bytes: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]

class _Chunk(TypedDict):  # what parse_chunk returns (a plain dict at run time)
    consumed: int  # bytes used
    lines: int
    skipped: int  # blank and '#' lines; in extract mode the lines without an address
    bad: int  # lines that are not one address (never in extract mode)
    bad_samples: list[tuple[int, bytes]]  # (line index, the line), at most max_bad
    fam: npt.NDArray[np.uint8]  # 4 or 6, one row per address found
    v4: npt.NDArray[np.uint32]
    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    line: npt.NDArray[np.uint32]  # the line each address came from, 0-based in the chunk

def parse_chunk(buf: _Bytes, final: bool = ..., extract: bool = ...,
                max_bad: int = ...) -> _Chunk: ...
def parse_ip6(text: str | bytes) -> int | None: ...
def format_ip4_many(ips: npt.NDArray[np.uint32]) -> list[str]: ...
def emit_rows(fam: npt.NDArray[np.uint8], v4: npt.NDArray[np.uint32],
              ids: npt.NDArray[np.int32], texts6: list[bytes], blob: _Bytes,
              start: npt.NDArray[np.int64], end: npt.NDArray[np.int64],
              nph: npt.NDArray[np.int32], maxlen: npt.NDArray[np.int32],
              slow: Callable[[int], bytes], force: npt.NDArray[np.uint8] | None = ...
              ) -> npt.NDArray[np.uint8]: ...
