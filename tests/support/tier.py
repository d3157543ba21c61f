"""The fast tier's guard (a pytest plugin, loaded for tests/ and benchmarks/ by pyproject's
addopts): a test that starts a process (a server, dig, rbldnsd, rsync, a child of
rblmirror, a fork) must carry the `integration` marker, so that `pytest -m "not
integration"` starts none and runs in seconds. In every run, a test without the marker that
tries to is stopped before the process starts and fails, naming what it tried to start.

    pytestmark = pytest.mark.integration      # a module whose tests start processes
    @pytest.mark.integration                  # or one test
"""
from __future__ import annotations

import _posixsubprocess
import functools
import os
import subprocess

import pytest

MARKER = "integration"
#: (module, name) of every way a test process starts another: subprocess (and asyncio's
#: subprocesses, through it) calls its own alias of _posixsubprocess.fork_exec or
#: os.posix_spawn; multiprocessing calls _posixsubprocess.fork_exec or os.fork; pty,
#: os.spawn* and daemons os.fork
_STARTERS = [(subprocess, "_fork_exec"), (_posixsubprocess, "fork_exec"), (os, "fork"),
             (os, "forkpty"), (os, "system"), (os, "posix_spawn"), (os, "posix_spawnp"),
             (os, "execv"), (os, "execve")]


class StartsAProcess(RuntimeError):
    """Raised in place of starting a process from a test not marked `integration`."""


def _guarded(item, name, real):
    def refuse(*args, **kwargs):
        what = _describe(name, args)
        item.stash.setdefault(_SEEN, []).append(what)
        raise StartsAProcess(f"{item.nodeid} starts a process ({what}) but is not marked "
                             f"{MARKER!r} (pytestmark = pytest.mark.{MARKER})") from None
    return functools.wraps(real)(refuse)


def _describe(name: str, args: tuple) -> str:
    argv = None
    if name in ("_fork_exec", "fork_exec") and args:
        argv = args[0]
    elif name in ("posix_spawn", "posix_spawnp", "execv", "execve") and len(args) > 1:
        argv = args[1]
    elif name == "system" and args:
        argv = [args[0]]
    if argv:
        try:
            return f"{name}: " + " ".join(os.fsdecode(a) for a in list(argv)[:6])
        except TypeError:
            pass
    return name


_SEEN = pytest.StashKey[list]()


def _run_guarded(item):
    if item.get_closest_marker(MARKER) is not None:
        return (yield)
    saved = []
    for mod, name in _STARTERS:
        if hasattr(mod, name):
            real = getattr(mod, name)
            saved.append((mod, name, real))
            setattr(mod, name, _guarded(item, name, real))
    try:
        return (yield)
    finally:
        for mod, name, real in saved:
            setattr(mod, name, real)
        seen = item.stash.get(_SEEN, [])
        if seen:
            item.stash[_SEEN] = []
            msg = f"{item.nodeid} is not marked {MARKER!r} but starts processes: " + \
                "; ".join(seen)
            raise pytest.fail.Exception(msg, pytrace=False) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _run_guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _run_guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _run_guarded(item))
