"""rblmirror in rbldnsd's place: run a parsed rbldnsd command line (rbldnsd_args) the way
rbldnsd runs, on our server (dns.supervisor.serve).

    sys.exit(main(sys.argv))        # the rblmirror-rbldnsd script, /usr/sbin/rbldnsd's stand-in

rbldnsd's order is kept, so a mistake shows as it does there (a message on stderr,
exit 1): the options, then the zones' and -b's checks, then (unless -n, or the service
manager waits for READY=1) the fork, whose parent exits 0 once the zones are loaded and
answered (1 if the daemon died first); the sockets bound (and those passed in by socket
activation taken), the pid file written, the user switched (as root without -u: to
`rbldns`, as rbldnsd does), the zones loaded, READY=1. SIGHUP reloads, SIGUSR1 logs the
counters, SIGUSR2 logs and resets them, SIGTERM/SIGINT stop (the pid file removed).
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__, privileges
from ..errors import RblmirrorError
from ..zonespec import ZoneSpec
from .rbldnsd_args import HelpRequested, RbldnsdArgs, UsageError, parse

#: the user rbldnsd becomes when started as root without -u
DEFAULT_USER = "rbldns"
DATASET_TYPES = ("ip4set", "ip4tset", "ip4trie", "ip6tset", "ip6trie", "dnset", "combined",
                 "generic", "acl")

USAGE = """\
{prog}: rbl dns daemon (rblmirror {version}, rbldnsd-compatible)
Usage is: {prog} options zonespec...
where options are:
 -u user[:group] - run as this user:group (rbldns)
 -r rootdir - read the zone files below this directory (no chroot here)
 -w workdir - working directory with zone files
 -b address[/port] - bind to (listen on) this address (required)
 -4 - use IPv4 socket type
 -6 - use IPv6 socket type
 -t ttl - default TTL value to set in answers (35m), -t def:min:max
 -v - hide version information (version.bind is always refused here)
 -e - accepted, ignored (CIDRs with host bits set are reported and skipped)
 -c check - time interval to check for data file updates (1m)
 -p pidfile - write pid to specified file
 -n - do not become a daemon
 -f - accepted (reloads never stop answers here)
 -q - quickstart: the parent returns before the zones are loaded
 -l [+]logfile - log queries and answers to this file (+ for unbuffered)
 -s [+]statsfile - write a statistics line into this file every check interval
 -a - omit the AUTH section from regular replies (always so here)
 -A - accepted, ignored (no AUTH section in regular replies here)
 -F facility - accepted, ignored (logs on stderr, syslog once in the background)
 -C - accepted, ignored
 -x extension, -X extarg - accepted, ignored (no rbldnsd extensions here)
 -d - dump all zones in BIND format to standard output and exit
each zone specified using `name:type:file,file...'
syntax, repeated names constitute the same zone.
Available dataset types: {types}
"""


def usage(prog: str) -> str:
    return USAGE.format(prog=prog, version=__version__, types=", ".join(DATASET_TYPES))


def main(argv: Sequence[str]) -> int:
    """rbldnsd's main: argv[0] is the program (its name prefixes the messages)."""
    prog = os.path.basename(argv[0]) if argv else "rbldnsd"
    if len(argv) <= 1:
        sys.stdout.write(usage(prog))
        return 1
    try:
        args = parse(list(argv[1:]))
    except HelpRequested:
        sys.stdout.write(usage(prog))
        return 0
    except UsageError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        if e.hint:
            print(f"{prog}: type `{prog} -h' for help", file=sys.stderr)
        return 1
    try:
        return run(args, prog)
    except (RblmirrorError, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


def target_user(args: RbldnsdArgs) -> privileges.Target | None:
    """Whom to become: -u, else rbldns when root (rbldnsd refuses to serve as root)."""
    user = args.user
    if user is None and os.geteuid() == 0:
        user = DEFAULT_USER
    if user is None:
        return None
    try:
        target = privileges.lookup(user, args.group)
    except RblmirrorError:
        raise UsageError(f"unknown user `{user}'") from None
    if target.uid == 0:
        raise UsageError("daemon should not run as root, specify -u option")
    return target


def run(args: RbldnsdArgs, prog: str = "rbldnsd") -> int:
    from ..dns import daemon, supervisor, systemd
    from ..dns.signals import hold_signals

    hold_signals()
    for w in args.warnings():
        print(f"{prog}: warning: {w}", file=sys.stderr)
    specs = args.zone_specs()
    if args.dump:  # as rbldnsd -d: the zones in BIND format on standard output, no serving
        from ..dns.zone import Zone
        from .dump import dump
        dump(Zone.from_specs(specs), sys.stdout)
        sys.stdout.flush()
        return 0
    listen = args.listen()
    # taken before the fork: LISTEN_PID names this process
    inherited = systemd.inherited_sockets()
    if not listen and not inherited:
        raise UsageError("no address to listen on (-b option) specified")
    target = target_user(args)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"{prog}[%(process)d]: %(levelname)s %(message)s")
    detach = None
    if not args.foreground and not os.environ.get("NOTIFY_SOCKET"):
        detach = daemon.Detach.fork()
    drop = privileges.on_bound(target) if target is not None else None
    pid_written = False

    def on_bound(bound: list[ZoneSpec]) -> None:
        nonlocal pid_written
        if args.pidfile:
            owner = (target.uid, target.gid) if target is not None and os.geteuid() == 0 \
                else None
            daemon.write_pidfile(args.pidfile, owner)
            pid_written = True
        if drop is not None:
            drop(bound)
        if args.quick and detach is not None:
            detach.ready()

    def on_ready() -> None:
        n = len(listen) + len(inherited)
        zones = len({s.name for s in specs})
        print(f"{prog}: rblmirror {__version__} started ({n} socket(s), {zones} zone(s))",
              flush=True)
        if detach is not None:
            detach.ready()

    try:
        # statistics: a line every check interval, as rbldnsd writes them (and at
        # SIGUSR1 and exit); with -c 0, only those
        return supervisor.serve(specs, listen, 1, inherited=inherited, on_bound=on_bound,
                                on_ready=on_ready, check_interval=float(args.check),
                                query_log=args.query_log(), stats=args.stats_file(),
                                stats_interval=float(args.check) or float("inf"))
    finally:
        if pid_written and args.pidfile:
            daemon.remove_pidfile(args.pidfile)


def script() -> None:
    """The console script (rblmirror-rbldnsd): rbldnsd's command line as given."""
    sys.exit(main(sys.argv))
