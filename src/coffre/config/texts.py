"""Texts people read, in French, Dutch and English, from gettext catalogues read with Babel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("fr", "nl", "en")


@cache
def catalogue(root: Path, language: str) -> dict[str, str]:
    """msgid -> translation of `root/<language>/LC_MESSAGES/messages.po` (English is the
    msgid itself)."""
    path = root / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        messages = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in messages if m.id and m.string and not m.fuzzy}
