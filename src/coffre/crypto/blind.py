"""Keyed blind indexes: find a patient by an identifier without storing it in clear.

Each value is normalised, prefixed with its kind, and hashed with HMAC-SHA256 under the
blind-index key (its own key, never a data key). The database holds only the digests;
without the key they cannot be tested against a list of guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from enum import StrEnum

import phonenumbers


class IndexKind(StrEnum):
    NATIONAL_ID = "national-id"
    EMAIL = "email"
    PHONE = "phone"
    FAMILY_BIRTH = "family-birth"
    MEMBER = "member"  # an insurer's member number, keyed by the insurer


def normalise_name(value: str) -> str:
    """Case, accents, spaces, hyphens, apostrophes removed: 'Le Goff-Hélias' -> 'legoffhelias'."""
    decomposed = unicodedata.normalize("NFKD", value)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in letters.casefold() if c.isalnum())


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, regions: tuple[str, ...]) -> list[str]:
    """E.164 forms of a phone number, one per region tried for a national number; [] if none."""
    text = value.strip()
    if text.startswith("tel:"):
        text = text[4:]
    candidates = [None] if text.startswith("+") or text.startswith("00") else list(regions)
    if text.startswith("00"):
        text = "+" + text[2:]
    forms: list[str] = []
    for region in candidates:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            form = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if form not in forms:
                forms.append(form)
    return forms


_ID_CLEAN = re.compile(r"[\s.\-/]")


def normalise_national_id(system: str, value: str) -> str:
    return f"{system.strip()}|{_ID_CLEAN.sub('', value).upper()}"


class BlindIndex:
    """Computes blind-index digests under one key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a blind-index key is at least 32 bytes")
        self._key = key

    def digest(self, kind: IndexKind, normalised: str) -> bytes:
        message = kind.value.encode() + b"\x00" + normalised.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def national_id(self, system: str, value: str) -> bytes:
        return self.digest(IndexKind.NATIONAL_ID, normalise_national_id(system, value))

    def member(self, insurer_id: str, member_id: str) -> bytes:
        """An insurer's member number, bound to that insurer."""
        return self.digest(IndexKind.MEMBER, f"{insurer_id}\x00{member_id.strip().upper()}")

    def email(self, value: str) -> bytes:
        return self.digest(IndexKind.EMAIL, normalise_email(value))

    def phones(self, value: str, regions: tuple[str, ...]) -> list[bytes]:
        return [self.digest(IndexKind.PHONE, form) for form in normalise_phone(value, regions)]

    def family_birth(self, family: str, birth_date: str) -> bytes:
        return self.digest(IndexKind.FAMILY_BIRTH, f"{normalise_name(family)}|{birth_date.strip()}")
