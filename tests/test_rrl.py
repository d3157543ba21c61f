"""Response rate limiting: the accounting (the compiled RateLimiter, on a simulated
clock), its settings, and the real server flooded from one client address (what passes
over a few seconds, the slipped replies truncated, another client unaffected, malformed
input harmless)."""
from __future__ import annotations

import socket
import time

import dnslib
import pytest
from support.dns import question
from support.serve import Serve

from rblmirror.dns.rrl import RRL, settings
from rblmirror.dns.supervisor import exposed

_dnsfast = pytest.importorskip("rblmirror._dnsfast")


def run(rl, host: str, qps: float, seconds: float, t0: float = 1000.0) -> dict[str, int]:
    out = {"pass": 0, "drop": 0, "slip": 0}
    n = int(qps * seconds)
    for i in range(n):
        out[rl.check(host, now=t0 + i / qps)] += 1
    return out


def test_under_the_rate_everything_passes():
    rl = _dnsfast.RateLimiter(50, slip=2, window=5)
    assert run(rl, "192.0.2.1", 40, 10) == {"pass": 400, "drop": 0, "slip": 0}


def test_a_flood_gets_its_first_second_then_only_slips():
    rl = _dnsfast.RateLimiter(50, slip=2, window=5)
    got = run(rl, "192.0.2.1", 1000, 3)
    assert 50 <= got["pass"] <= 52  # the first second's credit (+ what accrues meanwhile)
    assert abs(got["slip"] - got["drop"]) <= 1  # every 2nd limited reply slips
    # the whole /24 shares the account; another /24 and IPv6 have their own
    assert rl.check("192.0.2.200", now=1003.0) != "pass"
    assert rl.check("192.0.3.1", now=1003.0) == "pass"
    assert rl.check("2001:db8::1", now=1003.0) == "pass"
    # quiet for less than the window: still limited; after it: answered again
    assert rl.check("192.0.2.1", now=1003.0 + 4.0) != "pass"
    assert rl.check("192.0.2.1", now=1003.0 + 4.0 + 5.5) == "pass"


def test_slip_zero_drops_and_slip_one_truncates_all():
    for slip, want in ((0, "drop"), (1, "slip")):
        rl = _dnsfast.RateLimiter(5, slip=slip, window=1)
        got = run(rl, "2001:db8:1:2::1", 100, 1)
        assert got["pass"] == 5 and got[want] == 95
        # the /56 shares it
        assert rl.check("2001:db8:1:ff::1", now=1000.99) == want
        assert rl.check("2001:db8:1:100::1", now=1000.99) == "pass"


def test_counters_and_bad_settings():
    rl = _dnsfast.RateLimiter(1, slip=1, window=1)
    run(rl, "10.0.0.1", 10, 1)
    assert rl.counters() == {"passed": 1, "dropped": 0, "slipped": 9}
    with pytest.raises(ValueError):
        _dnsfast.RateLimiter(0)
    with pytest.raises(ValueError, match="rrl_window"):
        RRL(window=0).check()
    with pytest.raises(ValueError, match="rrl_ipv6_prefix"):
        settings(True, ipv6_prefix=80)


def test_settings_public_turns_it_on():
    assert settings(False) is None
    assert settings(True) == RRL()
    assert settings(False, rate=7) == RRL(rate=7)
    assert settings(True, rate=0) is None
    with pytest.raises(ValueError, match="need rrl_rate or public"):
        settings(False, slip=3)


def test_exposed_addresses():
    assert exposed(["127.0.0.1:53", "[::1]:53", "127.0.0.2:5353"]) == []
    assert exposed(["0.0.0.0:53", "192.0.2.1:53", "[::]:53", "127.0.0.1:53"]) == [
        "0.0.0.0:53", "192.0.2.1:53", "[::]:53"]


def test_truncated_reply():
    q = question("2.0.0.127.bl.test", "TXT", qid=7)
    r = q.reply()
    r.add_answer(dnslib.RR("2.0.0.127.bl.test", dnslib.QTYPE.TXT, rdata=dnslib.TXT("x" * 100)))
    t = dnslib.DNSRecord.parse(_dnsfast.truncated(r.pack()))
    assert t.header.tc == 1 and t.header.id == 7 and not t.rr and t.q == q.q
    assert _dnsfast.truncated(b"\x00" * 5) is None


# ------------------------------------------------------------------ the real server
def flood(port: int, src: str, seconds: float, packet: bytes) -> tuple[int, int, int]:
    """Send `packet` from src as fast as replies allow (a window of 32 in flight) for
    `seconds`; (sent, full replies, truncated replies)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setblocking(False)
    sent = full = tc = 0
    end = time.monotonic() + seconds
    inflight = 0
    last_rx = time.monotonic()
    while time.monotonic() < end:
        while inflight < 32:
            s.sendto(packet, ("127.0.0.1", port))
            sent += 1
            inflight += 1
        try:
            data = s.recv(4096)
            inflight -= 1
            last_rx = time.monotonic()
            if data[2] & 0x02:
                tc += 1
            else:
                full += 1
        except BlockingIOError:
            if time.monotonic() - last_rx > 0.005:  # the rest were dropped
                inflight = 0
                last_rx = time.monotonic()
            time.sleep(0.0005)
    time.sleep(0.2)
    while True:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            break
        if data[2] & 0x02:
            tc += 1
        else:
            full += 1
    s.close()
    return sent, full, tc


@pytest.mark.integration
def test_flood_from_one_client_is_limited_others_are_not(zone_file):
    z = zone_file("127.0.0.2 listed\n")
    pkt = question("2.0.0.127.bl.test", "TXT", qid=99).pack()
    with Serve([f"bl.test:ip4set:{z}"], ["--public", "--rrl-rate", "50", "--rrl-slip", "2",
                                        "--rrl-window", "2"]) as s:
        time.sleep(2.5)  # (the start-up probes from 127.0.0.1 are forgotten)
        sent, full, tc = flood(s.port, "127.0.0.2", 3.0, pkt)
        assert sent > 2000, "a flood"
        # BIND's accounting: the first second's credit, then debt: about 50 in all
        assert 40 <= full <= 50 * 3
        limited = sent - full
        assert tc > 100 and abs(tc - limited / 2) < limited * 0.2 + 20
        # another client: 127.0.0.3 shares 127.0.0.2's /24 account, 127.0.1.3 is in
        # another prefix: all answered, fully
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.1.3", 0))
        other.settimeout(2)
        for i in range(40):
            other.sendto(pkt, ("127.0.0.1", s.port))
            assert not other.recv(4096)[2] & 0x02
        other.close()
        # malformed input while limited: no crash, the other prefix still answered
        g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        g.bind(("127.0.0.2", 0))
        for n in range(2000):
            g.sendto(bytes((n * 7 + i) % 256 for i in range(n % 60)), ("127.0.0.1", s.port))
        g.close()
        assert s.proc.poll() is None
        r = s.query("2.0.0.127.bl.test", "TXT")
        assert r.header.rcode == 0
    assert "public mode" not in s.log


@pytest.mark.integration
def test_without_public_mode_nothing_is_limited(zone_file):
    z = zone_file("127.0.0.2 listed\n")
    pkt = question("2.0.0.127.bl.test", "A", qid=98).pack()
    with Serve([f"bl.test:ip4set:{z}"]) as s:
        sent, full, tc = flood(s.port, "127.0.0.2", 1.0, pkt)
    assert tc == 0 and full >= sent * 0.95 and sent > 500


@pytest.mark.integration
@pytest.mark.parametrize("public", [False, True])
def test_a_non_loopback_address_without_public_mode_is_warned_about(zone_file, public):
    """Bound on the wildcard (no query is sent anywhere): a warning suggesting --public,
    none with it."""
    from support.cli import cli_process
    from support.dns import wait_answer
    from support.ports import free_port
    from support.processes import stop
    z = zone_file("127.0.0.2 listed\n")
    port = free_port("0.0.0.0")
    p = cli_process("serve", "--zone", f"bl.test:ip4set:{z}", "--listen", f"0.0.0.0:{port}",
                    *(["--public"] if public else []))
    try:
        assert wait_answer(port, "bl.test", "SOA", timeout=60, alive=lambda: p.poll() is None)
    finally:
        stop(p)
    err = p.stderr.read() if p.stderr else ""
    warned = f"serving on 0.0.0.0:{port}, not a loopback address, without public mode" in err
    assert warned != public, err
    assert ("consider --public" in err) != public


@pytest.mark.integration
def test_per_address_accounts_from_the_config(tmp_path, zone_file):
    """[server] public and rrl_ipv4_prefix = 32 from a config: 127.0.0.2 flooding is
    limited, 127.0.0.3 (the same /24) is not."""
    z = zone_file("127.0.0.2 listed\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\npublic = true\nrrl_rate = 30\nrrl_slip = 0\n'
                   'rrl_ipv4_prefix = 32\n')
    pkt = question("2.0.0.127.bl.test", "A", qid=97).pack()
    with Serve([f"bl.test:ip4set:{z}"], ["--config", str(cfg)]) as s:
        sent, full, tc = flood(s.port, "127.0.0.2", 2.0, pkt)
        assert sent > 1000 and 20 <= full <= 30 * 2 and tc == 0  # slip 0: all dropped
        sent3, full3, tc3 = flood(s.port, "127.0.0.3", 0.5, pkt)
        assert 20 <= full3 <= 30 and tc3 == 0  # its own account: its own first second


@pytest.mark.integration
def test_public_mode_answers_any_minimally_and_hides_the_version(zone_file):
    z = zone_file(":127.0.0.2:listed here\n127.0.0.2\n")
    with Serve([f"bl.test:ip4set:{z}"], ["--public"]) as s:
        r = s.query("2.0.0.127.bl.test", "ANY")
        assert [rr.rtype for rr in r.rr] == [dnslib.QTYPE.A]  # RFC 8482: no TXT
        v = question("version.bind", "TXT", qid=5)
        v.q.qclass = dnslib.CLASS.CH
        rep = dnslib.DNSRecord.parse(s.raw(v.pack()))
        assert rep.header.rcode == dnslib.RCODE.REFUSED and not rep.rr
        # over TCP ANY is still answered in full
        t = dnslib.DNSRecord.parse(s.tcp([question("2.0.0.127.bl.test", "ANY").pack()])[0])
        assert sorted(rr.rtype for rr in t.rr) == [dnslib.QTYPE.A, dnslib.QTYPE.TXT]
