"""Type stub for the compiled scan parsers (rblmirror._scan)."""
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

def parse_chunk(buf: bytes | bytearray | memoryview, final: bool = ..., extract: bool = ...,
                max_bad: int = ...) -> dict[str, Any]: ...
def parse_ip6(text: str | bytes) -> int | None: ...
def format_ip4_many(ips: npt.NDArray[np.uint32]) -> list[str]: ...
def emit_rows(fam: npt.NDArray[np.uint8], v4: npt.NDArray[np.uint32],
              ids: npt.NDArray[np.int32], texts6: list[bytes], blob: bytes,
              start: npt.NDArray[np.int64], end: npt.NDArray[np.int64],
              nph: npt.NDArray[np.int32], maxlen: npt.NDArray[np.int32],
              slow: Callable[[int], bytes]) -> npt.NDArray[np.uint8]: ...
