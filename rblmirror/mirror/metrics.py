"""Prometheus metrics for `rblmirror serve --metrics ADDR:PORT`: each source's state (read
from the state files at scrape time), each mirrored zone's, and the server's counters."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, Protocol

from .config import Config
from ..dns.counters import COUNTER_NAMES, Counters
from .state import STATES
from .status import source_report, zone_report

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from .._dnsfast import FastPath

#: the numeric fields of status.SourceRow exported as gauges
_Field = Literal["last_attempt", "last_success", "age", "max_age", "entries", "serial",
                 "failures", "next_due", "bytes_received", "upstream_success", "pull_age"]


class ServedZones(Protocol):
    """What the metrics read of the server's zone table (dns.reload.Zones)."""

    @property
    def fast(self) -> FastPath | None: ...
    @property
    def generation(self) -> int: ...


class ServerView(Protocol):
    """What the metrics read of a running server (dns.server.Server)."""

    @property
    def counters(self) -> Counters: ...
    @property
    def zones(self) -> ServedZones: ...


class SourceAndServerMetrics:
    """A prometheus_client collector: read at each scrape, nothing cached."""

    def __init__(self, cfg: Config, state_dir: str, server: ServerView | None = None):
        self.cfg = cfg
        self.state_dir = state_dir
        self.server = server

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        now = time.time()
        sources = source_report(self.cfg, self.state_dir, now)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ("source",)
                  ) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"rblmirror_{name}", doc, labels=list(labels))

        state = gauge("source_state", "1 for the source's current state",
                      ("source", "state"))
        fields: list[tuple[str, _Field, str]] = [
            ("source_last_attempt_timestamp_seconds", "last_attempt", "Last fetch attempt"),
            ("source_last_success_timestamp_seconds", "last_success",
             "Last fetch that got good data (new or unchanged)"),
            ("source_age_seconds", "age", "Seconds since the last success (a replica: "
             "since its primary's last success upstream)"),
            ("source_upstream_success_timestamp_seconds", "upstream_success",
             "A replica: its primary's last good fetch from upstream"),
            ("source_pull_age_seconds", "pull_age",
             "A replica: seconds since it last pulled good data from its primary"),
            ("source_max_age_seconds", "max_age", "Older than this is stale"),
            ("source_entries", "entries", "Entries in the current snapshot"),
            ("source_serial", "serial", "$SOA serial of the current snapshot"),
            ("source_consecutive_failures", "failures", "Failed or rejected attempts in a row"),
            ("source_next_fetch_timestamp_seconds", "next_due", "When the next fetch is due"),
            ("source_last_transfer_bytes", "bytes_received", "Bytes received last time"),
        ]
        fams = [(gauge(n, doc), key) for n, key, doc in fields]
        for s in sources:
            for st in STATES:
                state.add_metric([s["source"], st], 1.0 if s["state"] == st else 0.0)
            for fam, key in fams:
                v = s[key]
                if v is not None:
                    fam.add_metric([s["source"]], float(v))
        yield state
        for fam, _ in fams:
            yield fam
        zstate = GaugeMetricFamily("rblmirror_zone_servfail",
                                   "1 when the zone answers SERVFAIL (stale or no data)",
                                   labels=["zone"])
        zentries = GaugeMetricFamily("rblmirror_zone_entries",
                                     "Entries of the zone's mirrored snapshots", labels=["zone"])
        for z in zone_report(self.cfg, sources):
            if z["state"] == "local":
                continue
            zstate.add_metric([z["zone"]], 1.0 if z["answers"] == "SERVFAIL" else 0.0)
            zentries.add_metric([z["zone"]], float(z["entries"] or 0))
        yield zstate
        yield zentries
        if self.cfg.watches:
            yield self._watch()
        if self.server is not None:
            yield from self._counters(self.server)

    def _watch(self) -> Metric:
        from prometheus_client.core import GaugeMetricFamily

        from .watch import gauges
        fam = GaugeMetricFamily("rblmirror_watch_listed",
                                "Watched addresses/domains the zone listed at the last watch "
                                "pass", labels=["watch", "zone"])
        try:
            got = gauges(self.state_dir)
        except Exception:  # an unreadable state file: no samples rather than no scrape
            got = {}
        names = {w.name for w in self.cfg.watches}
        for (w, z), n in sorted(got.items()):
            if w in names:
                fam.add_metric([w, z], float(n))
        return fam

    def _counters(self, server: ServerView) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snap = server.counters.merged(server.zones.fast)
        fams = {k: CounterMetricFamily(f"rblmirror_dns_{k}" if k != "bytes" else
                                       "rblmirror_dns_response_bytes",
                                       f"DNS {k.replace('_', ' ')} per zone ('*': no zone)",
                                       labels=["zone"]) for k in COUNTER_NAMES}
        for zone, c in snap.items():
            for k in COUNTER_NAMES:
                fams[k].add_metric([zone], float(c.get(k, 0)))
        yield from fams.values()
        gen = GaugeMetricFamily("rblmirror_zones_generation",
                                "Zone table loads so far (1 + reloads)")
        gen.add_metric([], float(server.zones.generation))
        yield gen


def start(addr: str, cfg: Config, state_dir: str, server: ServerView | None = None,
          sock: socket.socket | None = None) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics on ADDR:PORT in a daemon thread; returns (the HTTP server, thread).
    sock: the socket already bound and listening there (serve binds before loading)."""
    from prometheus_client import CollectorRegistry, start_http_server

    from .. import endpoint
    registry = CollectorRegistry()
    registry.register(SourceAndServerMetrics(cfg, state_dir, server))
    if sock is None:
        host, port = endpoint.parse(addr)
        return start_http_server(port, addr=host, registry=registry)
    return _serve_on(sock, registry)


def _serve_on(sock: socket.socket, registry: CollectorRegistry
              ) -> tuple[WSGIServer, threading.Thread]:
    """prometheus_client's start_http_server, on a socket bound beforehand."""
    from wsgiref.simple_server import WSGIRequestHandler

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    class OnSocket(ThreadingWSGIServer):
        address_family = sock.family

    httpd = OnSocket(sock.getsockname()[:2], Quiet, bind_and_activate=False)
    httpd.socket.close()
    sock.setblocking(True)
    httpd.socket = sock
    httpd.server_address = sock.getsockname()
    httpd.server_name, httpd.server_port = sock.getsockname()[:2]
    httpd.setup_environ()
    httpd.set_app(make_wsgi_app(registry))
    t = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
    t.start()
    return httpd, t
