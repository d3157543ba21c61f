"""The acl and generic parsers (formats/acl.py, formats/generic.py): rbldnsd's syntax,
bad lines as file:line warnings that lose nothing else, per-file defaults, snapshots,
zone specs (the global ACL), and the decision's outcome for each ACL action."""
from __future__ import annotations

import pytest

from rblmirror.data.dataset import Dataset
from rblmirror.data.formats.acl import keyword
from rblmirror.dns.answer import NOERROR, NXDOMAIN, REFUSED, T_A, T_ANY, T_MX, T_TXT
from rblmirror.dns.zone import Zone
from rblmirror.errors import ZoneSpecError
from rblmirror.zonespec import ZoneSpec


def test_generic_lines_as_rbldnsd_reads_them(tmp_path):
    p = tmp_path / "g"
    p.write_text('@ A 127.0.0.9\nA1 A 2\nb 10m TXT "x y"\nc IN MX 10 Mail.Example.\n'
                 "d A 1.2.3.4 junk\nbad X y\nmx MX 70000 a.b\nnoexch MX 5\ne 1x A 1.1.1.1\n"
                 '$TTL 77\nf A 10.2\nq TXT "q" tail"\n')
    ds = Dataset.from_file(p, "generic")
    assert [(w.line, w.message) for w in ds.warnings] == [
        (6, "invalid/unrecognized entry"), (7, "invalid/unrecognized entry"),
        (8, "invalid/unrecognized entry"), (9, "invalid/unrecognized entry")]
    assert str(ds.warnings[0]) == f"{p}:6: invalid/unrecognized entry"
    assert ds.records == [
        ("", T_A, 2100, bytes([127, 0, 0, 9])), ("a1", T_A, 2100, bytes([0, 0, 0, 2])),
        ("b", T_TXT, 600, b"\x03x y"), ("c", T_MX, 2100, b"\x00\x0a\x04Mail\x07Example\x00"),
        ("d", T_A, 2100, bytes([1, 2, 3, 4])), ("f", T_A, 77, bytes([10, 0, 0, 2])),
        ("q", T_TXT, 77, b'\x07q" tail')]
    snap = tmp_path / "g.snap"
    ds.save(snap)
    back = Dataset.load(snap)
    assert back.records == ds.records and back.groups == ds.groups
    assert back.names.match("c") == ds.names.match("c") and ds.names.match("c")[0] >= 0


def test_acl_keywords_defaults_and_warnings(tmp_path):
    assert [keyword(x) for x in ("ref", "REFUSE", "b", "e x", "pass:", "refusex", "1", "")] \
        == ["refuse", "refuse", "ignore", "empty", "pass", None, None, None]
    a = tmp_path / "a1"
    a.write_text("10.0.0.0/8\n:empty\n10.1.0.0/16\n10.2.0.0/16 =bogus\n10.3.0.1/16\n"
                 "10.4.0.0/16 :127.0.0.7:blocked $\n10.1.0.0/16 :pass\nnot-an-address\n")
    b = tmp_path / "a2"
    b.write_text("192.0.2.0/24\n")  # a new file: the default is ignore again
    ds = Dataset.from_files([a, b], "acl")
    assert [(w.file, w.line, w.message) for w in ds.warnings] == [
        (str(a), 4, "invalid keyword"), (str(a), 5, "invalid range (non-zero host part)"),
        (str(a), 7, "duplicated entry for 10.1.0.0/16"), (str(a), 8, "invalid address")]

    def act(ip: str):
        vid = ds.index.lookup4(int.from_bytes(bytes(int(x) for x in ip.split(".")), "big"))
        return None if vid < 0 else ds.values(vid)[0]
    assert act("10.9.9.9").a == "ignore" and act("10.1.2.3").a == "empty"
    assert act("10.4.0.1").a == "127.0.0.7" and act("10.4.0.1").txt == "blocked $"
    assert act("192.0.2.9").a == "ignore" and act("11.0.0.1") is None
    snap = tmp_path / "a.snap"
    ds.save(snap)
    assert Dataset.load(snap).values(ds.index.lookup4(0x0A040001)) == ds.values(
        ds.index.lookup4(0x0A040001))


def test_zone_specs_and_the_global_acl(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("127.0.0.5 :refuse\n127.0.0.6 :empty\n127.0.0.7 :127.0.0.9:you $\n"
                   "127.0.0.8 =ignore\n")
    z = tmp_path / "z"
    z.write_text("10.0.0.0/8 :3:listed\n")
    g = tmp_path / "g"
    g.write_text("foo TXT hello\nfoo MX 5 mx.test\n")
    assert ZoneSpec.parse(f":acl:{acl}").name == ""
    with pytest.raises(ZoneSpecError, match="missing domain name"):
        ZoneSpec.parse(f":ip4set:{z}")
    with pytest.raises(ZoneSpecError, match="global acl specified more than once"):
        Zone.from_specs([f"bl.test:ip4set:{z}", f":acl:{acl}", f":acl:{acl}"])
    with pytest.raises(ZoneSpecError, match="repeated ACL definition"):
        Zone.from_specs([f"bl.test:acl:{acl}", f"bl.test:acl:{acl}"])
    zones = Zone.from_specs([f"bl.test:ip4set:{z}", f"bl.test:generic:{g}", f":acl:{acl}",
                             f"other.test:ip4set:{z}"])
    assert all(x.global_acl is zones[0].global_acl is not None for x in zones)
    bl = zones[0]
    name = ["3", "2", "1", "10"]
    assert bl.answer(name, T_TXT, peer="127.0.0.1").answer[0].data == b"listed"
    assert bl.answer(name, T_TXT, peer="127.0.0.5").rcode == REFUSED
    assert bl.answer([], T_ANY, peer="127.0.0.5").rcode == REFUSED  # the apex too
    assert bl.answer(name, T_A, peer="127.0.0.6").rcode == NXDOMAIN
    got = bl.answer(name, T_ANY, peer="127.0.0.7")
    assert [(r.rtype, r.data) for r in got.answer] == [(T_A, "127.0.0.9"), (T_TXT, b"you 127.0.0.7")]
    assert bl.answer(name, T_A, peer="127.0.0.8").drop
    assert bl.answer(["foo"], T_MX, peer="127.0.0.1").answer[0].data == b"\x00\x05\x02mx\x04test\x00"
    nodata = bl.answer(["foo"], T_TXT, peer="127.0.0.6")  # empty: a generic name is NODATA
    assert nodata.rcode == NOERROR and not nodata.answer
    assert zones[1].answer(name, T_A, peer="127.0.0.5").rcode == REFUSED  # global: every zone
