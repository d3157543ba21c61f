"""A primary's export: the compiled snapshots its replicas pull, served by a real
`rsync --daemon` whose configuration this module writes.

    STATE_DIR/export/NAME/snapshot      the source's current snapshot (a hard link to it)
    STATE_DIR/export/NAME/state.json    ExportedState: its sha256 and size, entries, serial,
                                        when it was made and when upstream last answered
    STATE_DIR/rsyncd.conf               module `rblmirror` (read only, path = export/)
    STATE_DIR/rsyncd.log                the daemon's log

`publish()` runs after every swap (a fetch that made a snapshot, one that found upstream
unchanged, a rollback): the snapshot first, then its state, each replaced atomically (a
replica that pulls between the two renames sees a checksum that does not match and
refuses the pair; its next pull gets both). A replica (`format = "snapshot"`,
mirror/replica.py) reads the state with `read_exported()`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from typing import TypedDict

from .config import Config, SourceConfig
from ..errors import ConfigError, ListenError, Rejected, StateError
from ..files import link_atomically, write_atomically
from .state import SourceDir, SourceState

log = logging.getLogger("rblmirror.mirror.export")

MODULE = "rblmirror"
EXPORT_DIR = "export"
SNAPSHOT_FILE = "snapshot"
STATE_FILE = "state.json"
CONF_FILE = "rsyncd.conf"
LOG_FILE = "rsyncd.log"
#: the version of ExportedState's layout (a replica refuses another)
VERSION = 1


class ExportedState(TypedDict):
    """What a primary says about the snapshot it exports for one source."""

    version: int
    source: str
    format: str            # the dataset format (the primary's [[source]] format)
    snapshot: str          # its name on the primary (snapshots/ID.snap)
    sha256: str            # of the exported snapshot file
    size: int              # its length in bytes
    entries: int
    serial: int | None     # the dump's $SOA serial
    created: float         # when the primary made it (its upstream's data time)
    last_success: float    # the primary's last good fetch from upstream (freshness)
    exported: float        # when it was published


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def export_root(state_dir: str) -> str:
    return os.path.join(state_dir, EXPORT_DIR)


def publish(state_dir: str, src: SourceConfig, st: SourceState | None = None
            ) -> ExportedState | None:
    """Put the source's current snapshot and its state into the export folder (None when
    it has no snapshot yet). A snapshot already exported (the same file) is not hashed
    again: only its state is rewritten (the upstream time moves on)."""
    sd = SourceDir(state_dir, src.name)
    st = st if st is not None else sd.load_state()
    current = sd.current_snapshot()
    fresh = st.fresh_since
    if current is None or st.snapshot is None or st.entries is None or fresh is None:
        return None
    real = os.path.realpath(current)
    folder = os.path.join(export_root(state_dir), src.name)
    snap = os.path.join(folder, SNAPSHOT_FILE)
    try:
        os.makedirs(folder, exist_ok=True)
        old = _read_quietly(os.path.join(folder, STATE_FILE))
        if old is not None and _same_file(snap, real):
            sha, size = old["sha256"], old["size"]
        else:
            sha, size = sha256_file(real), os.path.getsize(real)
            link_atomically(real, snap)
        exp: ExportedState = {
            "version": VERSION, "source": src.name,
            "format": st.upstream_format or src.format, "snapshot": st.snapshot,
            "sha256": sha, "size": size, "entries": st.entries, "serial": st.serial,
            "created": st.upstream_created or st.created or fresh, "last_success": fresh,
            "exported": time.time()}
        write_atomically(os.path.join(folder, STATE_FILE),
                         json.dumps(exp, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise StateError(f"{src.name}: cannot export to {folder}: "
                         f"{e.filename or folder}: {e.strerror}") from None
    return exp


def publish_all(cfg: Config, state_dir: str) -> list[str]:
    """Export every source that has a snapshot; the names exported."""
    return [s.name for s in cfg.sources.values() if publish(state_dir, s) is not None]


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _read_quietly(path: str) -> ExportedState | None:
    try:
        return read_exported(path)
    except Rejected:
        return None


def read_exported(path: str) -> ExportedState:
    """An exported state file; Rejected (naming the file) when it is missing, not JSON
    or not of this layout."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise Rejected(f"{path}: no exported state (is the url a primary's "
                       f"rsync://HOST:PORT/{MODULE}/SOURCE?)") from None
    except (OSError, ValueError) as e:
        raise Rejected(f"{path}: unreadable exported state ({e})") from None
    if not isinstance(d, dict) or d.get("version") != VERSION:
        got = d.get("version") if isinstance(d, dict) else None
        raise Rejected(f"{path}: exported state of layout {got!r}, this version reads "
                       f"{VERSION}")
    kinds: dict[str, type | tuple[type, ...]] = {
        "source": str, "format": str, "snapshot": str, "sha256": str, "size": int,
        "entries": int, "serial": (int, type(None)), "created": (int, float),
        "last_success": (int, float), "exported": (int, float)}
    for key, kind in kinds.items():
        if not isinstance(d.get(key), kind) or isinstance(d.get(key), bool):
            raise Rejected(f"{path}: exported state: bad or missing {key!r}: "
                           f"{d.get(key)!r}")
    exp: ExportedState = d  # type: ignore[assignment]  # every key checked above
    return exp


# ------------------------------------------------------------------------ rsync daemon
def rsyncd_conf(cfg: Config, state_dir: str) -> str:
    """The daemon's configuration: module `rblmirror`, read only, on [export] listen,
    the replicas of hosts_allow only (every other host refused), with auth_users and
    secrets_file when given. No chroot (systemd's unit grants no CAP_SYS_CHROOT; the
    module is read only and holds no links out); started as root, the daemon reads the
    files as the state dir's owner (the config's user, else the owner; root when the
    state dir is root's)."""
    ex = cfg.export
    if ex is None:
        raise ConfigError(f"{cfg.path or 'the config'}: no [export] table (listen = "
                          "\"ADDR:PORT\", hosts_allow = [...]): nothing to export")
    ids = []
    if os.geteuid() == 0:
        from ..privileges import lookup
        if cfg.user:
            who = lookup(cfg.user)
            uid, gid = who.uid, who.gid
        else:
            try:
                st = os.stat(state_dir)
                uid, gid = st.st_uid, st.st_gid
            except OSError:  # not made yet: root's until then
                uid, gid = 0, 0
        ids = [f"uid = {uid}", f"gid = {gid}"]
    lines = ["# written by rblmirror from the config's [export]: edits are overwritten",
             f"address = {ex.host}", f"port = {ex.port}", "use chroot = no", *ids,
             "reverse lookup = no",
             f"log file = {os.path.join(state_dir, LOG_FILE)}",
             "",
             f"[{MODULE}]",
             "comment = rblmirror compiled snapshots",
             f"path = {export_root(state_dir)}",
             "read only = yes", "write only = no", "list = yes",
             f"hosts allow = {' '.join(ex.hosts_allow)}", "hosts deny = *",
             "timeout = 600", "refuse options = delete"]
    if ex.secrets_file:
        lines += [f"auth users = {', '.join(ex.auth_users)}",
                  f"secrets file = {ex.secrets_file}", "strict modes = yes"]
    return "\n".join(lines) + "\n"


def prepare(cfg: Config, state_dir: str) -> list[str]:
    """Publish every source's snapshot, write rsyncd.conf; the daemon's argv."""
    os.makedirs(export_root(state_dir), exist_ok=True)
    conf = rsyncd_conf(cfg, state_dir)
    names = publish_all(cfg, state_dir)
    path = os.path.join(state_dir, CONF_FILE)
    write_atomically(path, conf.encode())
    log.info("exporting %s on rsync://%s:%d/%s/", ", ".join(names) or "(nothing yet)",
             cfg.export.host if cfg.export else "", cfg.export.port if cfg.export else 0,
             MODULE)
    return daemon_command(path)


def daemon_command(conf_path: str) -> list[str]:
    rsync = shutil.which("rsync")
    if rsync is None:
        raise ConfigError("rsync is not installed (apt-get install rsync): [export] runs "
                          "rsync --daemon")
    return [rsync, "--daemon", "--no-detach", f"--config={conf_path}"]


class Daemon:
    """The rsync daemon as a child of `serve`: in its own process group, ended with it
    (SIGTERM on stop, and the kernel's parent-death signal should serve die)."""

    def __init__(self, argv: list[str], cfg: Config, state_dir: str):
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        assert cfg.export is not None
        self.host, self.port = cfg.export.host, cfg.export.port
        self.log_path = os.path.join(state_dir, LOG_FILE)

    def start(self, timeout: float = 10.0) -> Daemon:
        """Start it and wait until it listens; ListenError (with its log's last lines)
        when it exits first or does not listen within `timeout`."""
        from .. import endpoint
        import socket
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        where = endpoint.format(self.host, self.port)
        ask = endpoint.client_side(where)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:  # an rsync daemon greets; another program on the port would not
                with socket.create_connection(ask, timeout=0.5) as c:
                    c.settimeout(1.0)
                    greeted = c.recv(64).startswith(b"@RSYNCD:")
            except OSError:
                greeted = False
            if greeted and self.proc.poll() is None:
                log.info("rsync --daemon (pid %d) exporting on %s", self.proc.pid, where)
                return self
            time.sleep(0.05)
        self.stop()
        raise ListenError(f"rsync --daemon did not listen on {where} ([export] listen): "
                          f"{self._log_tail() or 'no log'}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return " | ".join(x.strip() for x in f.read().splitlines()[-3:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it ends."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
