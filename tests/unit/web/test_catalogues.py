"""Every text a page shows is in the French and Dutch catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coffre.identity import passwords as rules
from coffre.web import account, i18n, passwords, signin, signup

_TEMPLATES = Path(signin.__file__).parent / "templates"
_LITERAL = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')\s*\)""")

# Sentences the pages show that are not written in a template: the pages' own, and the
# services' refusals these pages display.
_SHOWN = [
    signin.PASSKEY_REFUSED,
    account.NO_CREDENTIAL,
    *account.NOTICES.values(),
    passwords.DIFFERENT,
    passwords.WRONG_CURRENT,
    signup.DIFFERENT,
    "Give the e-mail address your practice has on file.",
    "This link is not valid any more; ask for a new one.",
    "This record already has an account: sign in, or choose a new password from the sign-in page.",
    "Wrong username or password.",
    "Too many attempts; try again in {minutes} minutes.",
    "This reset link is not valid any more; ask for a new one.",
    f"The password must be at least {rules.MIN_LENGTH} characters long.",
    f"The password must be at least {rules.MIN_LENGTH_PATIENT} characters long.",
    f"The password must be at most {rules.MAX_LENGTH} characters long.",
    "This password is one of the most common; choose another.",
    "The password must not contain your name or username.",
    "This password is too easy to guess; a few unrelated words help.",
    "Sign in again to change your second factor.",
    "This passkey is already registered.",
    "The passkey's registration could not be verified.",
]


def _in_templates() -> set[str]:
    found = set()
    for template in _TEMPLATES.glob("*.html"):
        for pair in _LITERAL.findall(template.read_text(encoding="utf-8")):
            found.add(pair[0] or pair[1])
    return found


def test_the_templates_are_read() -> None:
    assert {"Sign in", "Forgot your password?", "Add a passkey"} <= _in_templates()


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_every_page_text_is_translated(language: str) -> None:
    table = i18n.catalogue(language)
    missing = sorted(t for t in _in_templates() | set(_SHOWN) if not table.get(t, "").strip())
    assert missing == []
