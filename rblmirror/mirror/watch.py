"""Watching the operator's own addresses and domains ([[watch]] in the config).

A pass (`run_pass`) looks every watched address and domain up in every zone, as `serve`
answers it (the zones of zoneset.ZoneSelection, Zone.lookup; a catalogued list's error
codes read as errors, never listings), compares what is listed with the last-alerted
state in STATE_DIR/watch.json, and alerts on the changes only (newly listed, delisted):
through the watch's command (the alert as JSON on its stdin), webhook (POSTed as JSON)
and mail_to (a mail through the local MTA: /usr/sbin/sendmail -t -oi). A zone that
cannot answer (stale, not fetched, an error code) changes nothing: its last state stands.
When a watch's alert cannot be delivered its state is not advanced, so the next pass
alerts again (a duplicate rather than a lost alert).

`fetch` and `serve` run a pass after every pass that swapped in a snapshot; `rblmirror
watch --once` runs one for cron. The metrics export the state as
rblmirror_watch_listed{watch,zone} (watched subjects listed by the zone).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
import email.policy
from email.message import EmailMessage
from typing import Any

from ..data import catalogue as cat
from ..errors import AddressError, StateError
from ..files import write_atomically
from .config import Config, WatchConfig
from .zoneset import ZoneSelection, catalogued, unanswered

log = logging.getLogger("rblmirror.mirror.watch")

STATE_FILE = "watch.json"
SENDMAIL = ("/usr/sbin/sendmail", "-t", "-oi")
HOOK_TIMEOUT = 60.0
LISTED, DELISTED = "listed", "delisted"


@dataclass(frozen=True)
class Listing:
    """A watched subject listed by a zone."""

    watch: str
    zone: str
    subject: str
    codes: tuple[str, ...]
    #: what the codes mean (the catalogue's words), None when not catalogued
    meaning: str | None = None
    #: the TXT record(s)
    reason: str | None = None
    #: the catalogue entry the zone serves
    list: str | None = None
    delist_url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.zone} {self.subject}"

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["codes"] = list(self.codes)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Listing:
        return cls(**{**d, "codes": tuple(d.get("codes", ()))})


@dataclass(frozen=True)
class Change:
    event: str  # LISTED or DELISTED
    listing: Listing

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, **self.listing.as_json()}

    def text(self) -> str:
        x = self.listing
        what = f"{x.subject} {self.event} by {x.zone}"
        if x.list:
            what += f" ({x.list})"
        rows = [what]
        if x.codes:
            rows.append(f"  code {', '.join(x.codes)}" + (f": {x.meaning}" if x.meaning else ""))
        if x.reason:
            rows.append(f"  reason: {x.reason}")
        if x.delist_url and self.event == LISTED:
            rows.append(f"  delisting: {x.delist_url}")
        return "\n".join(rows)


@dataclass
class Pass:
    """What one pass saw and did."""

    checked: float
    listed: list[Listing] = field(default_factory=list)
    changes: dict[str, list[Change]] = field(default_factory=dict)  # watch -> its changes
    #: zones that could not answer for a subject, alerts that could not be delivered
    errors: list[str] = field(default_factory=list)
    #: (watch, zone) -> how many of the watch's subjects the zone lists
    gauges: dict[tuple[str, str], int] = field(default_factory=dict)

    def exit_status(self) -> int:
        """1 when something watched is listed, else 2 when something went wrong, else 0."""
        return 1 if self.listed else 2 if self.errors else 0

    def text(self) -> str:
        """The changes (each with its code, reason and delisting link), then a line per
        current listing."""
        rows = [c.text() for cs in self.changes.values() for c in cs]
        for x in self.listed:
            rows.append(f"{x.watch}\t{x.subject}\tlisted by {x.zone}\t{', '.join(x.codes)}"
                        + (f"\t{x.reason}" if x.reason else ""))
        if not self.listed:
            rows.append("nothing watched is listed")
        return "\n".join(rows) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "listed": [x.as_json() for x in self.listed],
                "changes": {w: [c.as_json() for c in cs] for w, cs in self.changes.items()},
                "errors": self.errors}


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def load_state(state_dir: str) -> dict[str, Any]:
    """The last-alerted state: {"checked": ts, "watches": {name: {"zones": [...],
    "listed": {"ZONE SUBJECT": listing}}}}."""
    p = state_path(state_dir)
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        return {"checked": None, "watches": {}}
    except (OSError, ValueError) as e:
        raise StateError(f"{p}: unreadable watch state ({e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("watches"), dict):
        raise StateError(f"{p}: not a watch state file")
    return d


def gauges(state_dir: str) -> dict[tuple[str, str], int]:
    """(watch, zone) -> watched subjects the zone listed at the last pass (the metrics)."""
    out = {}
    for w, st in load_state(state_dir)["watches"].items():
        for z in st.get("zones", []):
            out[(w, z)] = 0
        for x in st.get("listed", {}).values():
            out[(w, x["zone"])] = out.get((w, x["zone"]), 0) + 1
    return out


def check(cfg: Config, state_dir: str, now: float | None = None
          ) -> tuple[dict[str, dict[str, Listing]], dict[str, list[str]], set[str], list[str]]:
    """Look every watched subject up: (watch -> key -> Listing, watch -> zones checked,
    keys that could not be answered, errors)."""
    sel = ZoneSelection(cfg)
    zones = sel.load(state_dir)
    entries = catalogued(sel)
    found: dict[str, dict[str, Listing]] = {}
    checked: dict[str, list[str]] = {}
    unknown: set[str] = set()
    errors: list[str] = []
    for w in cfg.watches:
        subjects = [(a, "ip") for a in w.addresses()] + [(d, "name") for d in w.domains]
        mine = found.setdefault(w.name, {})
        checked[w.name] = []
        silent: dict[tuple[str, str], list[str]] = {}  # (zone, why) -> subjects
        for z in zones:
            kind = z.kind()
            todo = [s for s, k in subjects if kind in (k, "mixed")]
            if not todo:
                continue
            checked[w.name].append(z.name)
            entry = entries.get(z.name)
            for s in todo:
                key = f"{z.name} {s}"
                why = unanswered(z, s, now)
                if why is not None:
                    unknown.add(f"{w.name} {key}")
                    silent.setdefault((z.name, why), []).append(s)
                    continue
                try:
                    f = z.lookup(s)
                except AddressError as e:  # (the config checked the subjects)
                    errors.append(f"watch {w.name}: {s}: {e}")
                    continue
                if not f.listed:
                    continue
                meaning = None
                if entry is not None:
                    status, error, meanings = cat.read_answers(entry, f.a)
                    if status == cat.ERROR:
                        unknown.add(f"{w.name} {key}")
                        silent.setdefault((z.name, f"an error code, not a listing: {error}"),
                                          []).append(s)
                        continue
                    meaning = "; ".join(m for _, m in meanings if m) or None
                delist = None
                if entry is not None:
                    tmpl = entry.delist_url or entry.lookup_url
                    delist = tmpl.format(subject=s) if tmpl else None
                mine[key] = Listing(w.name, z.name, s, f.a, meaning,
                                    " / ".join(f.txt) or None,
                                    entry.name if entry is not None else None, delist)
        for (zone, why), subj in silent.items():
            errors.append(f"watch {w.name}: {zone} gave no answer for {subj[0]}"
                          + (f" and {len(subj) - 1} more" if len(subj) > 1 else "")
                          + f": {why}")
    return found, checked, unknown, errors


def run_pass(cfg: Config, state_dir: str, now: float | None = None, *,
             deliver: bool = True) -> Pass:
    """One pass: look up, compare with the last-alerted state, alert on changes, save."""
    t = time.time() if now is None else now
    old = load_state(state_dir)
    found, checked, unknown, errors = check(cfg, state_dir, now)
    p = Pass(t, errors=list(errors))
    new_state: dict[str, Any] = {"checked": t, "watches": {}}
    for w in cfg.watches:
        before = {k: Listing.from_json(v) for k, v in
                  old["watches"].get(w.name, {}).get("listed", {}).items()}
        now_listed = dict(found.get(w.name, {}))
        for k, x in before.items():  # a zone that could not answer keeps its last state
            if f"{w.name} {k}" in unknown:
                now_listed.setdefault(k, x)
        changes = [Change(LISTED, x) for k, x in sorted(now_listed.items()) if k not in before]
        changes += [Change(DELISTED, x) for k, x in sorted(before.items())
                    if k not in now_listed]
        ok = True
        if changes:
            p.changes[w.name] = changes
            if deliver:
                failed = alert(w, changes, len(now_listed), t)
                p.errors += failed
                ok = not failed
        keep = now_listed if ok else before
        new_state["watches"][w.name] = {"zones": checked.get(w.name, []),
                                        "listed": {k: x.as_json() for k, x in keep.items()}}
        p.listed += [now_listed[k] for k in sorted(now_listed)]
        for z in checked.get(w.name, []):
            p.gauges[(w.name, z)] = sum(1 for x in now_listed.values() if x.zone == z)
    try:
        os.makedirs(state_dir, exist_ok=True)
        write_atomically(state_path(state_dir),
                         json.dumps(new_state, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise StateError(f"cannot write {state_path(state_dir)}: {e.strerror}") from None
    return p


# ---- alerts -------------------------------------------------------------------------
def payload(w: WatchConfig, changes: Iterable[Change], listed_now: int, ts: float
            ) -> dict[str, Any]:
    return {"watch": w.name, "time": ts, "listed_now": listed_now,
            "changes": [c.as_json() for c in changes]}


def summary(w: WatchConfig, changes: list[Change]) -> str:
    n_on = sum(1 for c in changes if c.event == LISTED)
    n_off = len(changes) - n_on
    parts = [f"{n_on} newly listed"] if n_on else []
    parts += [f"{n_off} delisted"] if n_off else []
    first = changes[0].listing
    return (f"rblmirror watch {w.name}: {', '.join(parts)}"
            + (f" ({first.subject} by {first.zone})" if len(changes) == 1 else ""))


def alert(w: WatchConfig, changes: list[Change], listed_now: int, ts: float) -> list[str]:
    """Send the alert to each of the watch's targets; the errors (empty: all delivered)."""
    body = json.dumps(payload(w, changes, listed_now, ts), ensure_ascii=False).encode()
    errors = []
    if w.command:
        try:
            r = subprocess.run(list(w.command), input=body, capture_output=True,
                               timeout=HOOK_TIMEOUT,
                               env={**os.environ, "RBLMIRROR_WATCH": w.name,
                                    "RBLMIRROR_CHANGES": str(len(changes))})
            if r.returncode != 0:
                err = r.stderr.decode("utf-8", "replace").strip().splitlines()
                errors.append(f"watch {w.name}: command {w.command[0]} exited "
                              f"{r.returncode}" + (f": {err[-1]}" if err else ""))
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(f"watch {w.name}: command {w.command[0]}: {e}")
    if w.webhook:
        req = urllib.request.Request(w.webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "rblmirror-watch"})
        try:
            with urllib.request.urlopen(req, timeout=HOOK_TIMEOUT) as resp:
                resp.read()
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"watch {w.name}: webhook {w.webhook}: {e}")
    if w.mail_to:
        msg = EmailMessage()
        msg["To"] = w.mail_to
        msg["Subject"] = summary(w, changes)
        msg["X-Rblmirror-Watch"] = w.name
        msg.set_content("\n\n".join(c.text() for c in changes) +
                        f"\n\n{listed_now} watched listing(s) now.\n")
        try:
            # (headers unfolded up to RFC 5322's line limit: folded at 78 the subject
            # comes back with a leading space)
            raw = msg.as_bytes(policy=email.policy.default.clone(max_line_length=998))
            r = subprocess.run(list(SENDMAIL), input=raw, capture_output=True,
                               timeout=HOOK_TIMEOUT)
            if r.returncode != 0:
                errors.append(f"watch {w.name}: {SENDMAIL[0]} exited {r.returncode}: "
                              f"{r.stderr.decode('utf-8', 'replace').strip()}")
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(f"watch {w.name}: {SENDMAIL[0]}: {e}")
    for problem in errors:
        log.error("%s", problem)
    return errors


def after_swaps(cfg: Config, state_dir: str) -> Pass | None:
    """The pass `fetch` and `serve` run after swapping in snapshots (None: no [[watch]]);
    its problems are logged, never raised (the swap stands)."""
    if not cfg.watches:
        return None
    try:
        p = run_pass(cfg, state_dir)
    except Exception:
        log.exception("watch pass failed")
        return None
    for e in p.errors:
        log.warning("%s", e)
    return p
