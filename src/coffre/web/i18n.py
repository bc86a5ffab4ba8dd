"""Page texts in French, Dutch and English, from gettext catalogues read with Babel."""

from __future__ import annotations

from pathlib import Path

from babel import Locale, negotiate_locale

from coffre.config.texts import LANGUAGES
from coffre.config.texts import catalogue as _catalogue

LOCALES = LANGUAGES
DEFAULT = "en"
_ROOT = Path(__file__).parent / "locales"


def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation for one language (English is the msgid itself)."""
    return _catalogue(_ROOT, language)


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
