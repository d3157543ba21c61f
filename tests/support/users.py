"""Running a child as another user (`nobody`): a Python it can run; the ids it runs with
are support.processes.status_ids."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import rblmirror


def exposed_root(cmd: list[str], scratch: Path) -> list[str]:
    """The interpreter may live under /root (mode 0700, e.g. pyenv), where `nobody` cannot
    run it for the reload's compile child. In a private mount namespace (unshare -m, the
    host untouched) put a 0755 tmpfs over /root with only the needed folders bound back,
    as if Python were installed under /usr."""
    need = {Path(p).resolve() for p in (sys.executable, sys.prefix, os.path.dirname(os.__file__),
                                         Path(rblmirror.__file__).parents[1])}
    tops = sorted({p.relative_to("/root").parts[0] for p in need
                   if p.is_relative_to("/root") and p != Path("/root")})
    if not tops:
        return cmd
    hold = scratch / "root"
    hold.mkdir()
    script = [f"mount --bind /root {hold}", "mount -t tmpfs -o mode=755 tmpfs /root"]
    for t in tops:
        script += [f"mkdir -p /root/{t}", f"mount --bind {hold}/{t} /root/{t}"]
    script.append('exec "$@"')
    return ["unshare", "-m", "sh", "-ec", "; ".join(script), "sh", *cmd]
