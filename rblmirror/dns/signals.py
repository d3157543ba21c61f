"""The signals a server holds (SIGTERM, SIGINT, SIGHUP, SIGUSR1): blocked from the start
of serve (hold_signals), noted by `note` while no code that acts on them has its handler
in place, so that none is lost and none ever has its default action."""
from __future__ import annotations

import signal
from types import FrameType

#: what serve() holds blocked from its start: each is handled once its handler exists
SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1})
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

#: signals `note` took before the code that acts on them had its handler in place
noted: list[int] = []


def note(signum: int, _frame: FrameType | None = None) -> None:
    noted.append(signum)


def hold_signals() -> set[int | signal.Signals]:
    """Block SIGNALS in this thread (threads started from here on inherit that) and give
    them a handler that notes them (for a thread started before, which has them
    unblocked): from here on none has its default action, none is lost. serve() begins
    with it; the CLI calls it as early as it can. Returns the previous mask."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    for s in SIGNALS:
        if signal.getsignal(s) is not note:
            signal.signal(s, note)
    return old
