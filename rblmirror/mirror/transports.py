"""Transports: bring a source's upstream dump into its data folder.

rsync (the real client, so the next run transfers only deltas; rsync writes a temp file
and renames it), HTTP(S) with conditional requests (ETag / If-Modified-Since; written to a
temp file, fsynced, renamed), or a local file (copied the same way). A transport never
leaves a half-written dump under the dump's name.
"""
from __future__ import annotations

import contextlib
import email.utils
import os
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass

from .. import __version__
from .config import SourceConfig
from ..errors import FetchError
from ..files import replacing
from .state import SourceState

USER_AGENT = f"rblmirror/{__version__} (+DNSBL mirror; honours min_interval)"
CONTIMEOUT = 30  # seconds to connect to an rsync daemon



@dataclass
class Transfer:
    path: str                  # the dump file, complete
    changed: bool | None       # False: upstream said unchanged (304, nothing transferred)
    bytes_received: int = 0    # on the wire
    literal_bytes: int | None = None   # rsync: data sent as is (not matched to the old file)
    matched_bytes: int | None = None   # rsync: data rebuilt from the old file
    file_size: int | None = None
    etag: str | None = None
    last_modified: str | None = None


def transfer(src: SourceConfig, data_dir: str, st: SourceState) -> Transfer:
    if src.is_replica:
        return pull_export(src, data_dir)
    dest = os.path.join(data_dir, src.filename)
    if src.kind == "rsync":
        return rsync(src.url, dest, src.timeout, src.password_file)
    if src.kind == "http":
        return http(src.url, dest, src.timeout, st)
    return copy_file(src.url, dest)


# ------------------------------------------------------------------------ rsync
_RSYNC_EXIT = {
    1: "syntax or usage error", 2: "protocol incompatibility", 3: "errors selecting files",
    5: "error starting client-server protocol", 10: "error in socket I/O",
    11: "error in file I/O", 12: "error in rsync protocol data stream",
    20: "killed by a signal", 23: "partial transfer due to error",
    24: "source file vanished", 30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
}
_STAT = re.compile(r"^(Literal data|Matched data|Total bytes received|Total file size|"
                   r"Number of regular files transferred): ([\d,.]+)", re.M)


def rsync_command(url: str | list[str], dest: str, timeout: float,
                  password_file: str | None = None) -> list[str]:
    """url: one remote file, or several of one daemon's module (into the folder dest)."""
    urls = [url] if isinstance(url, str) else url
    cmd = ["rsync", "-z", "--times", f"--timeout={max(1, int(timeout))}", "--stats",
           "--no-motd"]
    if urls[0].lower().startswith("rsync://") or "::" in urls[0]:
        cmd.append(f"--contimeout={CONTIMEOUT}")  # only valid when talking to a daemon
        if password_file:
            cmd.append(f"--password-file={password_file}")
    return cmd + ["--", *urls, dest]


#: what a primary's [export] publishes per source (export.py), what a replica pulls
EXPORT_FILES = ("state.json", "snapshot")


def pull_export(src: SourceConfig, data_dir: str) -> Transfer:
    """A replica's transfer: the exported state and snapshot of one source from its
    primary (rsync://PRIMARY:PORT/rblmirror/NAME, or a local export folder) into
    data_dir, by one rsync run (the snapshot as a delta against the last one pulled).
    Transfer.path is the pulled snapshot; its state.json lies beside it."""
    base = src.url.rstrip("/")
    dest = os.path.join(data_dir, EXPORT_FILES[1])
    if src.kind == "rsync":
        tr = rsync([f"{base}/{f}" for f in EXPORT_FILES], data_dir + "/", src.timeout,
                   src.password_file, dest)
        return tr
    got = [copy_file(os.path.join(base, f), os.path.join(data_dir, f)) for f in EXPORT_FILES]
    return Transfer(dest, any(t.changed for t in got),
                    bytes_received=sum(t.bytes_received for t in got),
                    file_size=got[1].file_size)


def rsync(url: str | list[str], dest: str, timeout: float, password_file: str | None = None,
          result: str | None = None) -> Transfer:
    """rsync url (or several) to dest; result: the file the transfer brings (default
    dest)."""
    cmd = rsync_command(url, dest, timeout, password_file)
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    except FileNotFoundError:
        raise FetchError("rsync is not installed (apt-get install rsync)") from None
    try:
        out, err = p.communicate(timeout=timeout * 2 + CONTIMEOUT + 30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise FetchError(f"rsync did not finish within {timeout * 2 + CONTIMEOUT + 30:.0f}s") \
            from None
    text = out.decode("utf-8", "replace")
    if p.returncode != 0:
        lines = [x for x in err.decode("utf-8", "replace").splitlines() if x.strip()]
        why = _RSYNC_EXIT.get(p.returncode, "failed")
        detail = lines[0] if lines else ""
        raise FetchError(f"rsync exit {p.returncode} ({why})" + (f": {detail}" if detail else ""))
    stats = {k: int(v.replace(",", "").split(".")[0]) for k, v in _STAT.findall(text)}
    dest = result or dest
    if not os.path.isfile(dest):
        raise FetchError(f"rsync finished but {dest} is not a file (does the URL name a file?)")
    files = stats.get("Number of regular files transferred")
    return Transfer(dest, None if files is None else files > 0,
                    bytes_received=stats.get("Total bytes received", 0),
                    literal_bytes=stats.get("Literal data"),
                    matched_bytes=stats.get("Matched data"),
                    file_size=stats.get("Total file size", os.path.getsize(dest)))


# ------------------------------------------------------------------------ HTTP(S)
def http(url: str, dest: str, timeout: float, st: SourceState) -> Transfer:
    headers = {"User-Agent": USER_AGENT}
    if os.path.exists(dest):  # conditional only when we still have the data it refers to
        if st.etag:
            headers["If-None-Match"] = st.etag
        if st.last_modified:
            headers["If-Modified-Since"] = st.last_modified
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            got = 0
            with replacing(dest, hidden=True) as f:
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                if length is not None and length.isdigit() and int(length) != got:
                    raise FetchError(f"HTTP transfer cut short: {got} of {length} bytes")
            lm = resp.headers.get("Last-Modified")
            if lm:
                with contextlib.suppress(TypeError, ValueError, OSError):
                    t = email.utils.parsedate_to_datetime(lm).timestamp()
                    os.utime(dest, (t, t))
            return Transfer(dest, True, bytes_received=got, literal_bytes=got, file_size=got,
                            etag=resp.headers.get("ETag"), last_modified=lm)
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return Transfer(dest, False, file_size=os.path.getsize(dest),
                            etag=e.headers.get("ETag") or st.etag,
                            last_modified=e.headers.get("Last-Modified") or st.last_modified)
        raise FetchError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FetchError(f"cannot fetch {url}: {e.reason}") from None
    except (OSError, ValueError) as e:  # timeouts, resets, bad URLs, IncompleteRead
        raise FetchError(f"cannot fetch {url}: {e}") from None


# ------------------------------------------------------------------------ local file
def copy_file(path: str, dest: str) -> Transfer:
    try:
        s = os.stat(path)
    except OSError as e:
        raise FetchError(f"cannot read {path}: {e.strerror}") from None
    with contextlib.suppress(OSError):
        d = os.stat(dest)
        if (d.st_size, d.st_mtime_ns) == (s.st_size, s.st_mtime_ns):
            return Transfer(dest, False, file_size=s.st_size)
    try:
        with open(path, "rb") as src, replacing(dest, hidden=True) as f:
            shutil.copyfileobj(src, f, 1 << 20)
            f.flush()
            shutil.copystat(path, f.name)
    except OSError as e:
        raise FetchError(f"cannot copy {path}: {e.strerror}") from None
    return Transfer(dest, True, bytes_received=s.st_size, literal_bytes=s.st_size,
                    file_size=s.st_size)
