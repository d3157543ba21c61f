"""Plain reference implementations the tests hold the compiled code to (written for
clarity, not speed; one home each, shared by the test modules that need them)."""
from __future__ import annotations


def flatten_py(blocks: list[tuple[int, int, int]], top: int) -> tuple[list[int], list[int]]:
    """Pure-Python flatten: the reference for _index.flatten4 and _loader6.flatten6.

    blocks: (start, end, gid), sorted by (start, -end), nested or disjoint, unique.
    Returns segment starts (first is 0) and values, adjacent equal values merged.
    """
    starts: list[int] = []
    vals: list[int] = []

    def emit(s: int, v: int) -> None:
        if vals and vals[-1] == v:
            return
        starts.append(s)
        vals.append(v)

    stack: list[tuple[int, int]] = []
    cur = 0
    for s, e, g in [*blocks, (top + 1, top + 1, -1)]:
        while stack and stack[-1][0] < s:
            te, tg = stack.pop()
            if cur <= te:
                emit(cur, tg)
                cur = te + 1
        if cur < s:
            emit(cur, stack[-1][1] if stack else -1)
            cur = s
        if s <= top:
            stack.append((e, g))
    return starts, vals
