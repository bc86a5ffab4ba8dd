"""Page texts in French, Dutch and English, from gettext catalogues read with Babel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po

LOCALES = ("fr", "nl", "en")
DEFAULT = "en"
_ROOT = Path(__file__).parent / "locales"


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation for one language (English is the msgid itself)."""
    path = _ROOT / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        messages = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in messages if m.id and m.string and not m.fuzzy}


def choose(query: str | None, accept_language: str | None) -> str:
    """The language asked by ?lang=, else the best of Accept-Language, else English."""
    if query in LOCALES:
        return str(query)
    wanted = []
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            wanted.append(tag)
    found = negotiate_locale(wanted, list(LOCALES), sep="_") if wanted else None
    if found is None and wanted:
        # "fr_BE" or "nl_BE" negotiate to their language.
        bases = [w.split("_")[0].lower() for w in wanted]
        found = next((b for b in bases if b in LOCALES), None)
    return found or DEFAULT


def translator(language: str):  # type: ignore[no-untyped-def]
    table = catalogue(language)

    def gettext(message: str) -> str:
        return table.get(message, message)

    return gettext


def language_name(code: str) -> str:
    return str(Locale.parse(code).get_display_name(code)).capitalize()
