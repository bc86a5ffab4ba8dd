"""Keyed blind indexes: find a patient by an identifier without storing it in clear.

Each value is normalised, prefixed with its kind, and hashed with HMAC-SHA256 under the
blind-index key (its own key, never a data key). The database holds only the digests;
without the key they cannot be tested against a list of guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import unicodedata
from collections.abc import Sequence
from enum import StrEnum


class IndexKind(StrEnum):
    NATIONAL_ID = "national-id"
    EMAIL = "email"
    PHONE = "phone"
    FAMILY_BIRTH = "family-birth"
    MEMBER = "member"  # an insurer's member number, keyed by the insurer
    FAMILY = "family"  # the family name alone: a professional's relatives
    ADDRESS = "address"  # postcode and street line: a professional's household, neighbours


def normalise_name(value: str) -> str:
    """Case, accents, spaces, hyphens, apostrophes removed: 'Le Goff-Hélias' -> 'legoffhelias'."""
    decomposed = unicodedata.normalize("NFKD", value)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in letters.casefold() if c.isalnum())


# The ligatures no Unicode decomposition turns into their letters ('Hautecœur' is written
# 'Hautecoeur' as often), and those letters.
_LIGATURES = {"œ": "oe", "æ": "ae"}
_PAIRS = re.compile("(oe|ae)")
# The spellings a search tries at most: every choice for four pairs of letters.
MAX_SPELLINGS = 16


def name_spellings(value: str) -> list[str]:
    """`normalise_name(value)` first, then the other ways to write it with or without the
    ligatures œ and æ ('hautecoeur', 'hautecœur'): a name is stored as it was registered, and
    found however it is typed. At most MAX_SPELLINGS (the first pairs vary first)."""
    as_typed = normalise_name(value)
    folded = as_typed
    for ligature, letters in _LIGATURES.items():
        folded = folded.replace(ligature, letters)
    parts = _PAIRS.split(folded)  # the pairs at odd positions
    ligature_of = {letters: ligature for ligature, letters in _LIGATURES.items()}
    choices = [(p, ligature_of[p]) if i % 2 else (p,) for i, p in enumerate(parts)]
    spellings = dict.fromkeys([as_typed])
    for chosen in itertools.product(*choices):
        if len(spellings) >= MAX_SPELLINGS:
            break
        spellings.setdefault("".join(chosen))
    return list(spellings)


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
    import phonenumbers  # its metadata takes a tenth of a second: loaded when a phone is read

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
_NOT_ALNUM = re.compile(r"[\W_]+")
# A French (5 digits) or Belgian (4 digits) postcode standing alone.
_POSTCODE = re.compile(r"(?<![\w-])\d{4,5}(?![\w-])")
_HOUSE_NUMBER = re.compile(r"^\d+\s*(?:[a-z]|bis|ter|quater)?$", re.IGNORECASE)


def _collapsed(value: str) -> str:
    """Accents dropped, casefolded, every run of spaces and punctuation one space."""
    decomposed = unicodedata.normalize("NFKD", value)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", letters.casefold()).strip()


def normalise_address(street: str, postcode: str) -> str:
    """'75011|12 rue des lilas' from ('12, Rue des Lilas', '75 011'); '' unless both parts
    have something left to compare."""
    code = _collapsed(postcode).replace(" ", "")
    line = _collapsed(street)
    return f"{code}|{line}" if code and line else ""


def split_address(text: str) -> tuple[str, str] | None:
    """(street line, postcode) of an address written on one line as 'STREET, POSTCODE CITY'
    ('12 rue des Lilas, 75011 Paris', 'Rue Haute 5, 1000 Bruxelles'): the postcode is the
    last number of 4 or 5 digits, the street line what comes first before it
    (`street_line`). None when either is missing."""
    codes = list(_POSTCODE.finditer(text))
    if not codes:
        return None
    street = street_line(re.split(r"[,;\n]", text[: codes[-1].start()]))
    return (street, codes[-1].group()) if street else None


def street_line(lines: Sequence[str]) -> str:
    """The street line among an address's lines: the first one, with the next when the
    first is only a house number ('12', 'rue des Lilas')."""
    parts = [line.strip() for line in lines if line and line.strip()]
    if len(parts) > 1 and _HOUSE_NUMBER.match(parts[0]):
        return f"{parts[0]} {parts[1]}"
    return parts[0] if parts else ""


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

    def family_birth_spellings(self, family: str, birth_date: str) -> list[bytes]:
        """What a search by family name and birth date looks for: the digest of every
        spelling of the name (`name_spellings`), the one as typed first."""
        birth = birth_date.strip()
        return [
            self.digest(IndexKind.FAMILY_BIRTH, f"{name}|{birth}")
            for name in name_spellings(family)
        ]

    def family(self, family: str) -> bytes | None:
        """The family name alone; None when nothing is left of it once normalised."""
        name = normalise_name(family)
        return self.digest(IndexKind.FAMILY, name) if name else None

    def address(self, street: str, postcode: str) -> bytes | None:
        """A postal address by its postcode and street line; None without both."""
        normalised = normalise_address(street, postcode)
        return self.digest(IndexKind.ADDRESS, normalised) if normalised else None
