"""The statistics file's lines (rbldnsd's -s format) from the per-zone counters, the
query log's file handling (buffering, reopen, the [+]PATH syntax) and the [server] keys."""
from __future__ import annotations

import pytest

from rblmirror.dns import querylog, stats
from rblmirror.dns.counters import COUNTER_NAMES, Counters
from rblmirror.dns.rrl import RRL
from rblmirror.errors import ConfigError
from rblmirror.mirror.config import parse_config


def counts(**kw: int) -> dict[str, int]:
    return {**dict.fromkeys(COUNTER_NAMES, 0), **kw}


def test_stats_line_absolute_and_relative(tmp_path):
    c = {"b.test": counts(queries=10, listed=4, not_listed=6, nxdomain=5, refused=1,
                         query_bytes=300, bytes=700),
         "a.test": counts(queries=2, errors=2, query_bytes=40, bytes=60),
         "*": counts(queries=3, refused=3, query_bytes=90, bytes=90)}
    s = stats.StatsFile(str(tmp_path / "s"), zones=["b.test", "a.test"])
    assert s.format(c, now=5) == ("5 b.test:10:4:5:300:700 a.test:2:0:0:40:60 "
                                  "*:15:4:5:430:850\n")
    r = stats.StatsFile(str(tmp_path / "s"), relative=True, zones=["b.test", "a.test"])
    r.format(c, now=5)
    c["b.test"]["queries"] += 1
    c["b.test"]["nxdomain"] += 1
    assert r.format(c, now=6) == "6 b.test:1:0:1:0:0 a.test:0:0:0:0:0 *:1:0:1:0:0\n"
    s.start()
    s.finish(c)
    lines = (tmp_path / "s").read_text().splitlines()
    assert len(lines) == 3 and lines[0].isdigit() and lines[2].isdigit()
    assert " b.test:11:4:6:300:700 " in lines[1]


def test_targets():
    assert querylog.parse_target("+/x/q.log") == ("/x/q.log", True)
    assert querylog.parse_target("q.log") == ("q.log", False)
    assert stats.parse_target("+s") == ("s", True)
    with pytest.raises(ValueError, match="no file name"):
        querylog.parse_target("+")


def test_query_log_buffers_and_reopens(tmp_path):
    p = tmp_path / "q.log"
    q = querylog.QueryLog(str(p))
    q.write(b"1 a\n")
    assert p.read_text() == ""  # buffered
    q.flush()
    assert p.read_text() == "1 a\n"
    q.write(b"2 b\n")
    p.rename(tmp_path / "q.log.1")
    q.reopen()  # the buffered line goes to the old file, the next to the new one
    q.write(b"3 c\n")
    q.close()
    assert (tmp_path / "q.log.1").read_text() == "1 a\n2 b\n"
    assert p.read_text() == "3 c\n"
    u = querylog.QueryLog(str(p), unbuffered=True)
    u.write(b"4 d\n")
    assert p.read_text() == "3 c\n4 d\n"
    u.close()
    with pytest.raises(OSError, match="cannot open the query log"):
        querylog.QueryLog(str(tmp_path / "no" / "such" / "dir"))


def test_log_line_for_a_reply():
    pytest.importorskip("rblmirror._dnsfast")
    import dnslib
    r = dnslib.DNSRecord.question("2.0.0.127.bl.test", "TXT").reply()
    r.add_answer(dnslib.RR("2.0.0.127.bl.test", dnslib.QTYPE.TXT, rdata=dnslib.TXT("x")))
    raw = r.pack()
    assert querylog.line(raw, "2001:db8::1", now=7) == \
        f"7 2001:db8::1 2.0.0.127.bl.test TXT IN: NOERROR/1/{len(raw)}\n".encode()
    r.header.rcode = 9
    r.q.qtype = 999
    raw = r.pack()
    ln = querylog.line(raw, "1.2.3.4", now=7)
    assert ln is not None and ln.endswith(b" type999 IN: NOTAUTH/1/%d\n" % len(raw))
    assert querylog.line(raw[:14], "1.2.3.4") is None


def test_server_keys(tmp_path):
    cfg = parse_config({"server": {"query_log": "+logs/q.log", "stats_file": "st",
                                   "stats_interval": "5m", "public": True,
                                   "rrl_rate": 5, "rrl_window": 30}},
                       str(tmp_path / "c.toml"))
    assert cfg.query_log == f"+{tmp_path}/logs/q.log"
    assert cfg.stats_file == f"{tmp_path}/st" and cfg.stats_interval == 300
    assert cfg.public and cfg.rrl == {"rate": 5, "window": 30}
    for bad, msg in (({"public": "yes"}, "public must be true or false"),
                     ({"rrl_rate": "fast"}, "rrl_rate must be a number"),
                     ({"public": True, "rrl_slip": 99}, "rrl_slip must be 0..10"),
                     ({"query_log": ""}, "query_log must be a file path"),
                     ({"rrl_window": 9}, "need rrl_rate or public")):
        with pytest.raises(ConfigError, match=msg) as e:
            parse_config({"server": bad}, str(tmp_path / "c.toml"))
        assert "c.toml" in str(e.value)
    assert RRL().rate == 20 and Counters().merged() == {}


def test_log_line_and_truncated_take_any_bytes():
    """Random and cut replies: a line that parses, or None; never a crash or overrun."""
    d = pytest.importorskip("rblmirror._dnsfast")
    import random
    import re
    import dnslib
    rnd = random.Random(13)
    good = dnslib.DNSRecord.question("a.b.c.bl.test", "A").reply().pack()
    line_re = re.compile(rb"^\d+ 1\.2\.3\.4 \S+ \S+ \S+: \S+/\d+/\d+\n$")
    seen = 0
    for i in range(20000):
        if i % 2:
            raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80)))
        else:
            cut = bytearray(good[:rnd.randrange(1, len(good) + 1)])
            for _ in range(rnd.randrange(3)):
                cut[rnd.randrange(len(cut))] = rnd.randrange(256)
            raw = bytes(cut)
        ln = d.log_line(raw, "1.2.3.4", 5)
        if ln is not None:
            assert line_re.match(ln), (raw, ln)
            assert ln.endswith(b"/%d\n" % len(raw))
            seen += 1
        t = d.truncated(raw)
        if t is not None:
            assert len(t) <= len(raw) and t[2] & 2 and t[6:12] == b"\0" * 6
    assert seen > 200  # (the cut replies with their whole question)
