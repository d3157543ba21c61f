"""The README's Postfix, postscreen, unbound, SpamAssassin, Exim and rspamd blocks are
exactly what `rblmirror snippets` prints for the zones the mail tests run
(tests/test_mail_*.py), so the manual shows the very lines the tests put in front of real
Postfix, unbound, SpamAssassin, Exim and rspamd. Each block follows a
`<!-- snippet: KIND -->` marker."""
from __future__ import annotations

import pytest

from support.mailzones import CASES, readme_block, snippet

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", sorted(CASES))
def test_readme_shows_the_tested_snippet(kind):
    assert readme_block(kind) == snippet(kind)
