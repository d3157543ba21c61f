"""Run as the service user: `serve --user` after binding privileged ports, and `fetch` /
`rollback` started as root before they touch the state dir (`as_service_user`).

    target = privileges.lookup("rblmirror")       # fails early for an unknown user
    ... bind port 53 as root ...
    privileges.drop(target, chown=[scratch_dir])   # setgroups, setgid, setuid; irreversible

Everything the server reads after the drop (zone files, state_dir snapshots) must be
readable by that user; serve drops before loading, so the scratch folder where it compiles
snapshots is the user's (or hand one over with chown=).
"""
from __future__ import annotations

import grp
import logging
import os
import pwd
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import PrivilegeError

if TYPE_CHECKING:
    from .zonespec import ZoneSpec

log = logging.getLogger("rblmirror.privileges")



@dataclass(frozen=True)
class Target:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def lookup(user: str, group: str | None = None) -> Target:
    """The user (name or numeric id) and its groups; `group` overrides the primary group."""
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"no such user: {user!r}") from None
    gid = pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise PrivilegeError(f"no such group: {group!r}") from None
    groups = tuple(sorted(set(os.getgrouplist(pw.pw_name, gid))))
    return Target(pw.pw_name, pw.pw_uid, gid, groups, pw.pw_dir)


def drop(target: Target, chown: Sequence[str] = ()) -> None:
    """Become `target` for good (all threads: glibc applies set*id process-wide)."""
    if os.geteuid() == target.uid and os.getegid() == target.gid:
        return
    if os.geteuid() != 0:
        raise PrivilegeError(f"--user {target.name} needs root (running as uid {os.geteuid()})")
    for path in chown:
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, target.uid, target.gid)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), target.uid, target.gid)
    import concurrent.futures.thread  # noqa: F401  (asyncio imports it lazily; the
    # interpreter's folder may not be readable after the drop)
    os.setgroups(list(target.groups))
    os.setgid(target.gid)
    os.setuid(target.uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not happen
        raise PrivilegeError("could not drop root privileges")
    os.environ["HOME"] = target.home
    os.environ["USER"] = os.environ["LOGNAME"] = target.name
    log.info("running as user %s (uid %d, gid %d)", target.name, target.uid, target.gid)


def unreadable(paths: Iterable[str]) -> list[str]:
    """Those of `paths` the current (already dropped) user cannot read."""
    return [p for p in paths if not os.access(p, os.R_OK)]


def on_bound(target: Target, adopt_dir: str | None = None
             ) -> Callable[[Sequence[ZoneSpec]], None]:
    """A dns.supervisor.serve on_bound hook, called with the zone specs once every socket
    is bound and before anything loads: hand `adopt_dir` (the state dir) to the user if it exists,
    drop (so the zones are parsed, and the reload scratch folder made, as the user), then
    check the files."""
    def hook(specs: Sequence[ZoneSpec]) -> None:
        if adopt_dir and os.geteuid() == 0 and os.path.isdir(adopt_dir):
            n = len(adopt(adopt_dir, target))
            if n:
                log.warning("%s: %d file(s) given to user %s (left by a run as root)",
                            adopt_dir, n, target.name)
        drop(target)
        files = [f for s in specs for f in s.files]
        for p in unreadable(files):
            log.error("user %s cannot read %s: its zone will not load", target.name, p)
        import sys
        if not os.access(sys.executable, os.X_OK):
            log.error("user %s cannot run %s: loads (compiled in a child process) will "
                      "fail; install rblmirror where that user can reach it", target.name,
                      sys.executable)
    return hook


def state_dir_owner(state_dir: str) -> Target | None:
    """The owner of an existing state dir, when that is not root."""
    try:
        uid = os.stat(state_dir).st_uid
    except OSError:
        return None
    if uid == 0:
        return None
    try:
        return lookup(str(uid))
    except PrivilegeError:  # a uid with no passwd entry: nobody to become
        return None


def adopt(state_dir: str, target: Target) -> list[str]:
    """Give `target` whatever under state_dir belongs to someone else (files an older
    root-run fetch left behind, e.g. a root-owned lock). Symlinks are not followed.
    Returns the paths changed."""
    changed = []
    for dirpath, dirnames, filenames in os.walk(state_dir):
        for p in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            try:
                st = os.lstat(p)
                if (st.st_uid, st.st_gid) != (target.uid, target.gid):
                    os.lchown(p, target.uid, target.gid)
                    changed.append(p)
            except FileNotFoundError:
                continue
    return changed


def as_service_user(state_dir: str, user: str | None) -> Target | None:
    """Started as root: become the service user (`user`, else the state dir's owner)
    before touching the state dir, creating it for that user if missing and handing over
    what an earlier root run left in it. Not root: nothing to do (but asking for another
    user is an error). Root with no user and a root-owned state dir: stays root."""
    if os.geteuid() != 0:
        if user is not None and lookup(user).uid != os.geteuid():
            raise PrivilegeError(f"running as uid {os.geteuid()}: only root can switch to "
                                 f"user {user}")
        return None
    target = lookup(user) if user else state_dir_owner(state_dir)
    if target is None or target.uid == 0:
        return None
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
    n = len(adopt(state_dir, target))
    if n:
        log.warning("%s: %d file(s) given to user %s (left by a run as root)", state_dir, n,
                    target.name)
    drop(target)
    return target
