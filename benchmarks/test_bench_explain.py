"""explain's text reading (tools/bounce.parse): a real-shaped bounce (the corpus's Postfix
DSN, headers and returned message included) and the worst case it accepts, MAX_TEXT of
text with no wording it knows (every token tried by every pattern)."""
from __future__ import annotations

from pathlib import Path

from rblmirror.data import catalogue as cat
from rblmirror.tools.bounce import MAX_TEXT, parse

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "bounces"


def _names() -> tuple[list[str], list[str]]:
    c = cat.load()
    return [z for x in c for z in x.zones], list(c.by_alias())


def test_parse_a_bounce(benchmark):
    zones, names = _names()
    text = (CORPUS / "postfix_dsn.txt").read_text()
    b = benchmark(parse, text, zones, names)
    assert (b.subject, b.named, b.mta) == ("203.0.113.7", "zen.spamhaus.org", "postfix")


def test_parse_the_largest_text(benchmark):
    zones, names = _names()
    text = ("listed a [1 blocked using . x " * (MAX_TEXT // 31 + 1))[:MAX_TEXT]
    b = benchmark(parse, text, zones, names)
    assert b.subject is None and b.named is None
