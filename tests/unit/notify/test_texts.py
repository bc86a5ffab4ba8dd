"""The patient notification texts in French and Dutch."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coffre.config.texts import catalogue
from coffre.notify import Notification, NotificationKind, Recipient, outbox, render

_ROOT = Path(outbox.__file__).parent / "locales"
_ENGLISH = [text for pair in outbox._TEXTS.values() for text in pair] + list(outbox._WORDS.values())
_PARAMS = {
    "at": "2026-11-23T10:00:00+00:00",
    "until": "2026-11-23T14:00:00+00:00",
    "by": "you",
    "subject": "Dr Anne Martin",
    "relationship": "teleconsultation",
    "reason": "urgent-care",
    "patient": "5f0c2d1e-0000-4000-8000-000000000001",
    "grant": "9a1b2c3d-0000-4000-8000-000000000002",
    "link": "https://coffre.example/reset#token",
    "username": "p-k7m2x9qa",
}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _notification(kind: NotificationKind) -> Notification:
    return Notification(
        id="n-1",
        recipient=Recipient.PATIENT,
        recipient_id="p-1",
        kind=kind,
        params=dict(_PARAMS),
        created_at=datetime(2026, 11, 23, 10, tzinfo=UTC),
        delivered_at=None,
        journal_seq=None,
    )


def test_every_kind_has_texts() -> None:
    assert set(outbox._TEXTS) == set(NotificationKind)


@pytest.mark.parametrize("language", ["fr", "nl"])
@pytest.mark.parametrize("english", _ENGLISH)
def test_every_text_is_translated_with_its_placeholders(language: str, english: str) -> None:
    translation = catalogue(_ROOT, language).get(english, "")
    assert translation.strip()
    assert _placeholders(translation) == _placeholders(english)


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_catalogues_hold_no_other_texts(language: str) -> None:
    assert set(catalogue(_ROOT, language)) <= set(_ENGLISH)


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_render_fills_every_placeholder_in_each_language(kind: NotificationKind) -> None:
    rendered = {language: render(_notification(kind), language) for language in ("fr", "nl", "en")}
    for subject, body in rendered.values():
        assert subject and body
        assert "{" not in subject and "}" not in subject
        assert "{" not in body and "}" not in body
    assert len({subject for subject, _ in rendered.values()}) == 3
    assert len({body for _, body in rendered.values()}) == 3


def test_french_dates_are_in_paris_time() -> None:
    _, body = render(_notification(NotificationKind.CONSENT_GRANTED), "fr")
    assert "23 novembre 2026, 11:00" in body
    assert "par vous." in body


def test_dutch_reads_door_u() -> None:
    _, body = render(_notification(NotificationKind.CONSENT_GRANTED), "nl")
    assert "23 november 2026, 11:00" in body
    assert "door u." in body


def test_break_the_glass_ends_in_paris_time() -> None:
    _, body = render(_notification(NotificationKind.BREAK_GLASS), "fr")
    assert "(soins urgents)" in body
    assert "23 novembre 2026, 15:00" in body


def test_unknown_language_falls_back_to_english() -> None:
    notification = _notification(NotificationKind.RELATIONSHIP_STARTED)
    assert render(notification, "de") == render(notification, "en")
    subject, body = render(notification, "de")
    assert subject == "A care relationship was recorded"
    assert body == (
        "A care relationship (teleconsultation) with Dr Anne Martin was recorded on "
        "23 November 2026, 11:00 by you."
    )
