"""rbldnsd's command line read as rbldnsd reads it (rblmirror.tools.rbldnsd_args): getopt
forms, values, the -b address forms and the zone files below -r/-w; nothing is started.
tests/test_rbldnsd_command.py runs the same vectors against both programs."""
from __future__ import annotations

import os
import socket

import pytest

from rblmirror.tools.rbldnsd_args import (DEFAULT_CHECK, HelpRequested, UsageError, parse,
                                          parse_time, parse_ttl_option, resolve_bind)
from rblmirror.zonespec import DEFAULT_TTL, ZoneSettings


def test_getopt_forms_combined_attached_and_after_the_zones():
    a = parse(["-nq", "-b127.0.0.1/5353", "bl.test:ip4set:list", "-p", "/run/x.pid",
               "-t", "5m", "-b", "::1/5354", "-vv", "-a", "dn.test:dnset:a,b"])
    assert a.foreground and a.quick
    assert a.binds == ["127.0.0.1/5353", "::1/5354"]
    assert a.zones == ["bl.test:ip4set:list", "dn.test:dnset:a,b"]
    assert a.pidfile == "/run/x.pid"
    assert a.ttl == (300, 0, 0) and a.ttl_given
    assert a.hide_version == 2 and a.lazy is True
    assert a.listen() == ["127.0.0.1:5353", "[::1]:5354"]


def test_defaults_are_rbldnsds():
    a = parse(["bl.test:ip4set:f"])
    assert a.ttl == (DEFAULT_TTL, 0, 0) and a.check == DEFAULT_CHECK == 60
    assert not a.foreground and a.binds == [] and a.user is None and a.lazy is None
    assert a.warnings() == []


@pytest.mark.parametrize("argv,message,hint", [
    (["-z", "bl:ip4set:f"], "invalid option -- 'z'", True),
    (["-b"], "option requires an argument -- 'b'", True),
    (["-n"], "no zone(s) to service specified (-h for help)", False),
    (["-t", "foo", "z:ip4set:f"], "invalid ttl (-t) value `foo'", False),
    (["-t", "0", "z:ip4set:f"], "invalid ttl (-t) value `0'", False),
    (["-t", "10:x", "z:ip4set:f"], "invalid minttl (-t) value `10:x'", False),
    (["-t", "::9q", "z:ip4set:f"], "invalid maxttl (-t) value `::9q'", False),
    (["-t", "10:20", "z:ip4set:f"], "inconsistent def:min:max ttl: 10:20:0", False),
    (["-c", "1x", "z:ip4set:f"], "invalid check interval (-c) value `1x'", False),
    (["-F", "nonsense", "z:ip4set:f"], "log facility nonsense is not valid", False),
])
def test_bad_vectors_give_rbldnsds_message(argv, message, hint):
    with pytest.raises(UsageError) as e:
        parse(argv)
    assert str(e.value) == message and e.value.hint is hint


def test_help():
    with pytest.raises(HelpRequested):
        parse(["-h", "z:ip4set:f"])


@pytest.mark.parametrize("text,value", [("30", 30), ("2m", 120), ("1H", 3600), ("1d", 86400),
                                        ("2w", 1209600), ("5s", 5), ("", None), ("m", None),
                                        ("1x", None), ("4294967296", None)])
def test_time_values(text, value):
    assert parse_time(text) == value


@pytest.mark.parametrize("text,ttl", [("30", (30, 0, 0)), ("::1h", (2100, 0, 3600)),
                                      (":60", (2100, 60, 0)), ("1h:1m:1d", (3600, 60, 86400)),
                                      ("600:", (600, 0, 0))])
def test_ttl_option_keeps_what_is_left_out(text, ttl):
    assert parse_ttl_option(text, (2100, 0, 0)) == ttl


def test_record_ttl_is_rbldnsds_parse_ttl():
    s = ZoneSettings(ttl=(300, 60, 600))
    assert [s.record_ttl(x) for x in (None, 0, 10, 100, 6000)] == [300, 300, 60, 100, 600]
    assert ZoneSettings().record_ttl(None) == DEFAULT_TTL


def test_bind_forms():
    assert resolve_bind("127.2") == ["127.0.0.2:53"]  # inet_aton's short form, as rbldnsd
    assert resolve_bind("127.0.0.1/domain") == ["127.0.0.1:53"]
    assert resolve_bind("::1/5353") == ["[::1]:5353"]
    assert resolve_bind("127.0.0.1/5353", socket.AF_INET) == ["127.0.0.1:5353"]
    with pytest.raises(UsageError, match="missing host part in bind address `/53'"):
        resolve_bind("/53")
    with pytest.raises(UsageError, match=r"^1\.2\.3\.4\.5: "):
        resolve_bind("1.2.3.4.5")
    with pytest.raises(UsageError, match="127.0.0.1/nosuchservice: "):
        resolve_bind("127.0.0.1/nosuchservice")
    with pytest.raises(UsageError):  # -6 with an IPv4 address: no protocol for it
        resolve_bind("127.0.0.1", socket.AF_INET6)


def test_a_name_binds_each_of_its_addresses():
    want = []
    for *_, sa in socket.getaddrinfo("localhost", 5353, 0, socket.SOCK_DGRAM, 0,
                                     socket.AI_PASSIVE):
        host = str(sa[0])
        a = f"[{host}]:5353" if ":" in host else f"{host}:5353"
        if a not in want:
            want.append(a)
    assert resolve_bind("localhost/5353") == want and "127.0.0.1:5353" in want
    assert parse(["-b", "localhost/5353", "-b", "127.0.0.1/5353", "z:ip4set:f"]).listen() == want


def test_dump_prints_the_zones_and_exits(capsys, tmp_path):
    """-d: the zones in BIND format (tools/dump.py, the one home) on standard output, the
    command done (exit 0, nothing served); a zone that cannot load: exit 1 and why."""
    import io

    from rblmirror.dns.zone import Zone
    from rblmirror.tools.dump import dump
    from rblmirror.tools.rbldnsd import main
    z = tmp_path / "z"
    z.write_text("127.0.0.2\n10.0.0.0/24 :3:listed $\n")
    spec = f"z.test:ip4set:{z}"
    assert main(["rbldnsd", "-d", spec]) == 0
    got = capsys.readouterr().out
    want = io.StringIO()
    dump(Zone.from_specs([spec]), want)
    body = [x for x in got.splitlines() if not x.startswith(";")]
    assert body == [x for x in want.getvalue().splitlines() if not x.startswith(";")]
    assert "*.0.0.10\tA\t127.0.0.3\n\tTXT\t\"listed 10.0.0.0\"\n" in got, got
    assert main(["rbldnsd", "-d", f"z.test:ip4set:{tmp_path / 'missing'}"]) == 1
    assert "missing" in capsys.readouterr().err


def test_too_many_binds():
    with pytest.raises(UsageError, match=r"too many addresses to listen on \(20 max\)"):
        parse([x for i in range(21) for x in ("-b", f"127.0.0.{i + 1}")] + ["z:ip4set:f"])


def test_zone_files_below_root_and_workdir(tmp_path):
    a = parse(["-r", str(tmp_path), "-w", "/data", "bl.test:ip4set:list,/abs/more",
               "bl.test:dnset:names"])
    specs = a.zone_specs()
    assert [s.files for s in specs] == [(f"{tmp_path}/data/list", f"{tmp_path}/abs/more"),
                                        (f"{tmp_path}/data/names",)]
    assert specs[0].name == "bl.test" and specs[1].format == "dnset"
    assert any(w.startswith(f"-r {tmp_path}: no chroot") for w in a.warnings())
    # an absolute file is opened inside the chroot, even one that names the root
    c = parse(["-r", "/srv/rbl", "bl.test:ip4set:/srv/rbl/x,y"])
    assert c.zone_specs()[0].files == ("/srv/rbl/srv/rbl/x", "/srv/rbl/y")
    assert parse(["-r", "/srv/rbl", "-w", "sub", "z:ip4set:y"]).zone_specs()[0].files == \
        ("/srv/rbl/sub/y",)
    # -t's TTLs go with every zone
    t = parse(["-t", "60:10:600", "a.test:ip4set:x", "b.test:dnset:y"]).zone_specs()
    assert {s.settings.ttl for s in t} == {(60, 10, 600)}
    b = parse(["-w", str(tmp_path), "BL.Test.:ip4set:x"])
    assert b.zone_specs()[0].files == (f"{tmp_path}/x",) and b.zone_specs()[0].name == "bl.test"
    with pytest.raises(UsageError, match="bad zone spec 'nozone'"):
        parse(["nozone"]).zone_specs()


def test_user_group_log_and_stats_forms():
    a = parse(["-u", "rbldns:daemon", "-l", "+/var/log/q", "-s", "+stats", "z:ip4set:f"])
    assert (a.user, a.group) == ("rbldns", "daemon")
    assert (a.logfile, a.log_flush) == ("/var/log/q", True)
    assert (a.statsfile, a.stats_relative) == ("stats", True)
    b = parse(["-u", "nobody", "-l", "-", "z:ip4set:f"])
    assert (b.user, b.group, b.logfile, b.log_flush) == ("nobody", None, "-", False)


def test_options_that_make_no_sense_here_are_warned_about():
    assert parse(["-a", "z:ip4set:f"]).warnings() == []  # our replies are rbldnsd -a's
    a = parse(["-e", "-f", "-C", "-A", "-v", "-x", "ext.so", "-X", "arg", "-F", "mail",
               "z:ip4set:f"])
    text = "\n".join(a.warnings())
    for opt in ("-e", "-f", "-C", "-A", "-v", "-x/-X", "-F mail"):
        assert f"{opt}:" in text, opt


def test_notify_reaches_an_abstract_socket(monkeypatch):
    """NOTIFY_SOCKET=@name: the abstract namespace (the datagram goes to \\0name)."""
    from rblmirror.dns import systemd
    name = f"rblmirror-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1")
        assert s.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not systemd.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)  # gone: logged, never raised
    assert not systemd.notify("READY=1")


def test_passed_in_sockets_are_one_workers():
    from rblmirror.dns import supervisor
    from rblmirror.errors import ListenError
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(ListenError, match="one worker only"):
            supervisor.serve([], [], 2, inherited=[s])


def test_activation_is_for_this_process_only(monkeypatch):
    from rblmirror.dns import systemd
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))  # another process's
    assert not systemd.activated() and systemd.inherited_sockets() == []
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "0")
    assert not systemd.activated()
